package httpapi

import (
	"context"
	"net/http"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/access"
)

// AccessConnection implements api.StrictServerInterface: what to put on a request to the
// connection's API, for callers that cannot use the proxy.
func (s *Server) AccessConnection(ctx context.Context, req api.AccessConnectionRequestObject) (api.AccessConnectionResponseObject, error) {
	force := req.Body != nil && req.Body.ForceRefresh != nil && *req.Body.ForceRefresh
	p, err := s.access.Prepare(ctx, req.OrganisationId, req.ConnectionId, access.Options{Force: force})
	if err != nil {
		return nil, err
	}
	m, err := s.access.Applier().Material(p.Credentials)
	if err != nil {
		return nil, err
	}
	if m.TLS != nil {
		return nil, plugboard.Invalid("the connection presents a TLS client certificate, which cannot be handed out; call its API through the proxy")
	}
	out := api.ConnectionAccess{BaseUrl: p.BaseURL, Headers: map[string]string{}, Query: map[string]string{}, Cookies: []api.AccessCookie{}}
	for name := range m.Headers {
		out.Headers[http.CanonicalHeaderKey(name)] = m.Headers.Get(name)
	}
	for name := range m.Query {
		out.Query[name] = m.Query.Get(name)
	}
	for _, c := range m.Cookies {
		out.Cookies = append(out.Cookies, api.AccessCookie{Name: c.Name, Value: c.Value})
	}
	expires := m.ExpiresAt // a minted JWT's
	if p.OAuth2 != nil {
		t := &api.AccessOAuth2Token{AccessToken: p.OAuth2.AccessToken, TokenType: p.OAuth2.TokenType}
		if !p.OAuth2.ExpiresAt.IsZero() {
			at := p.OAuth2.ExpiresAt
			t.ExpiresAt = &at
			if expires.IsZero() || at.Before(expires) {
				expires = at
			}
		}
		out.Oauth2 = t
	}
	if !expires.IsZero() {
		out.ExpiresAt = &expires
	}
	res := api.AccessConnection200JSONResponse{Body: out}
	if p.RefreshSkipped {
		skipped := RefreshSkipped
		res.Headers.XPlugboardRefresh = &skipped
	}
	return res, nil
}
