package httpapi

import (
	"context"
	"net/http"
	"strconv"

	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/connect"
	"github.com/plugboard/plugboard/internal/connectpage"
)

// InitialiseOAuth2Connection implements api.StrictServerInterface: it returns the provider's
// authorize URL for the system's OAuth 2.0 config whose grant credential the request names, and
// records the flow's state (connect.Service.InitialiseOAuth2).
func (s *Server) InitialiseOAuth2Connection(ctx context.Context, req api.InitialiseOAuth2ConnectionRequestObject) (api.InitialiseOAuth2ConnectionResponseObject, error) {
	b := req.Body
	if b == nil {
		return nil, bodyRequired()
	}
	u, err := s.connect.InitialiseOAuth2(ctx, req.OrganisationId, connect.OAuth2Start{SystemID: req.SystemId,
		CredentialID: b.Credential.ID, CredentialOrganisationID: b.Credential.OrganisationID, ClientID: b.ClientID,
		AuthorizeURL: b.AuthorizeURL, RedirectURL: b.RedirectURL, ReturnURL: b.ReturnURL, OpenerOrigin: b.OpenerOrigin,
		Scopes: b.Scopes, DisableOfflineAccess: b.DisableOfflineAccess, Prompt: b.Prompt, AdditionalParams: b.AdditionalParams})
	if err != nil {
		return nil, err
	}
	return api.InitialiseOAuth2Connection200JSONResponse{URL: u}, nil
}

// OAuth2Callback implements api.StrictServerInterface: the provider's redirect for flows that have
// no listener of their own, answered with a redirect to the return URL or a page for the opener.
func (s *Server) OAuth2Callback(ctx context.Context, req api.OAuth2CallbackRequestObject) (api.OAuth2CallbackResponseObject, error) {
	p := req.Params
	cb, err := s.connect.OAuth2Callback(ctx, connect.OAuth2Redirect{State: deref(p.State), Code: deref(p.Code),
		Error: deref(p.Error), ErrorDescription: deref(p.ErrorDescription)})
	if err != nil {
		return nil, err
	}
	if cb.Session != nil {
		return sessionResult{cb.Session}, nil
	}
	if cb.Page == nil {
		return api.OAuth2Callback302Response{Headers: api.OAuth2Callback302ResponseHeaders{Location: &cb.Redirect}}, nil
	}
	return api.OAuth2Callback200TexthtmlResponse{Body: cb.Page, ContentLength: int64(cb.Page.Len())}, nil
}

// InitialiseOAuth1Connection implements api.StrictServerInterface: it obtains temporary
// credentials from the provider and returns the URL to send the user to
// (connect.Service.InitialiseOAuth1).
func (s *Server) InitialiseOAuth1Connection(ctx context.Context, req api.InitialiseOAuth1ConnectionRequestObject) (api.InitialiseOAuth1ConnectionResponseObject, error) {
	b := req.Body
	if b == nil {
		return nil, bodyRequired()
	}
	u, err := s.connect.InitialiseOAuth1(ctx, req.OrganisationId, connect.OAuth1Start{SystemID: req.SystemId,
		CredentialID: b.Credential.ID, CredentialOrganisationID: b.Credential.OrganisationID,
		ReturnURL: b.ReturnURL, OpenerOrigin: b.OpenerOrigin})
	if err != nil {
		return nil, err
	}
	return api.InitialiseOAuth1Connection200JSONResponse{URL: u}, nil
}

// OAuth1Callback implements api.StrictServerInterface: the provider's redirect after the user
// authorises, answered with a redirect to the return URL or a page for the opener.
func (s *Server) OAuth1Callback(ctx context.Context, req api.OAuth1CallbackRequestObject) (api.OAuth1CallbackResponseObject, error) {
	p := req.Params
	cb, err := s.connect.OAuth1Callback(ctx, connect.OAuth1Redirect{State: deref(p.State), Token: deref(p.OauthToken), Verifier: deref(p.OauthVerifier)})
	if err != nil {
		return nil, err
	}
	if cb.Session != nil {
		return sessionResult{cb.Session}, nil
	}
	if cb.Page == nil {
		return api.OAuth1Callback302Response{Headers: api.OAuth1Callback302ResponseHeaders{Location: &cb.Redirect}}, nil
	}
	return api.OAuth1Callback200TexthtmlResponse{Body: cb.Page, ContentLength: int64(cb.Page.Len())}, nil
}

// sessionResult answers the callback of a flow the connect page started: the page's small result
// page (connectpage.ResultPage) for its popup, with the page's headers.
type sessionResult struct{ res *connect.SessionResult }

func (r sessionResult) visit(w http.ResponseWriter) error {
	body := connectpage.ResultPage(w.Header(), r.res)
	w.Header().Set("Content-Length", strconv.Itoa(body.Len()))
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(body.Bytes())
	return err
}

func (r sessionResult) VisitOAuth2CallbackResponse(w http.ResponseWriter) error { return r.visit(w) }
func (r sessionResult) VisitOAuth1CallbackResponse(w http.ResponseWriter) error { return r.visit(w) }

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
