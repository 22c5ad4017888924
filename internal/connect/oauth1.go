package connect

import (
	"context"
	"fmt"
	"net/url"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/credentials"
	"github.com/plugboard/plugboard/internal/oauth"
)

// OAuth1Start is what starts an OAuth 1.0a flow.
type OAuth1Start struct {
	SystemID ulid.ULID
	// CredentialID picks the config by its credentialId; zero for the system's only three-legged one.
	CredentialID ulid.ULID
	// CredentialOrganisationID, when set, must be the flow's organisation.
	CredentialOrganisationID ulid.ULID
	// ReturnURL is where the callback sends the browser (on an allowed origin); OpenerOrigin the
	// one origin its page posts the result to.
	ReturnURL, OpenerOrigin string
	// session binds the flow to the connect session that started it.
	session *sessionBinding
}

// InitialiseOAuth1 obtains temporary credentials from the provider, records them sealed with the
// flow's state, and returns the URL to send the user to. The provider sends the user back to
// /oauth1/callback with the verifier.
func (s *Service) InitialiseOAuth1(ctx context.Context, orgID ulid.ULID, in OAuth1Start) (string, error) {
	if errs := credentials.CheckURLUserinfo("returnUrl", in.ReturnURL); len(errs) > 0 {
		return "", plugboard.Invalid("invalid OAuth 1.0a initialise request", errs...)
	}
	openerOrigin, errs := s.checkReturn(in.ReturnURL, in.OpenerOrigin)
	if len(errs) > 0 {
		return "", plugboard.Invalid("invalid OAuth 1.0a initialise request", errs[0])
	}
	if in.CredentialOrganisationID != (ulid.ULID{}) && in.CredentialOrganisationID != orgID {
		return "", plugboard.Invalid("invalid OAuth 1.0a initialise request", plugboard.FieldError{Field: "credential.organisationId", Message: "must be this organisation"})
	}
	sys, err := s.store.GetSystem(ctx, orgID, in.SystemID)
	if err != nil {
		return "", err
	}
	cfg, err := s.oauth1Config(orgID, sys, in.CredentialID)
	if err != nil {
		return "", err
	}
	ep, err := oauth1Endpoints(cfg.Oauth1)
	if err != nil {
		return "", err
	}
	state, stateID := oauth.NewState(orgID)
	callback := s.publicURL + OAuth1CallbackPath + "?" + url.Values{"state": {state}}.Encode()
	token, secret, authURL, err := s.oauth.RequestToken(ctx, ep, callback)
	if err != nil {
		return "", err
	}
	now := s.timestamp()
	st := &plugboard.OAuthState{ID: stateID, OrganisationID: orgID, Kind: "oauth1", SystemID: sys.ID, ConfigID: cfg.Oauth1.ID,
		RedirectURI: callback, ReturnURL: in.ReturnURL, OpenerOrigin: openerOrigin, ClientID: ep.ConsumerKey, CreatedAt: now, ExpiresAt: now.Add(StateTTL)}
	if err := s.saveState(ctx, st, stateSecrets{RequestToken: token, RequestSecret: secret, Session: in.session}); err != nil {
		return "", err
	}
	return authURL, nil
}

// oauth1Endpoints reads what the exchanges need from a full OAuth 1.0a config.
func oauth1Endpoints(c *api.AuthSchemeConfigOAuth1) (oauth.OAuth1Endpoints, error) {
	if c.TokenAuth || c.TempCredentialEndpoint == nil || c.ResourceOwnerAuthorizationEndpoint == nil || c.TokenEndpoint == nil {
		return oauth.OAuth1Endpoints{}, plugboard.Invalid(fmt.Sprintf("auth scheme config %q has no three-legged flow (tokenAuth, or endpoints missing)", c.ID))
	}
	transmission := func(e *api.Endpoint) string {
		if e.ParameterTransmission == nil {
			return oauth.TransmitHeader
		}
		return string(*e.ParameterTransmission)
	}
	return oauth.OAuth1Endpoints{ConsumerKey: c.ConsumerKey, ConsumerSecret: c.ConsumerSecret, SignatureMethod: c.SignatureMethod,
		RequestTokenURL: c.TempCredentialEndpoint.Url, AuthorizeURL: c.ResourceOwnerAuthorizationEndpoint.Url,
		AccessTokenURL:           c.TokenEndpoint.Url,
		RequestTokenTransmission: transmission(c.TempCredentialEndpoint), AccessTokenTransmission: transmission(c.TokenEndpoint)}, nil
}

// oauth1Config finds the system's OAuth 1.0a config for a flow: the one whose credentialId the
// request names, else the system's only three-legged one.
func (s *Service) oauth1Config(orgID ulid.ULID, sys *plugboard.System, credID ulid.ULID) (*api.AuthSchemeConfig, error) {
	var found []api.AuthSchemeConfig
	for _, c := range sys.AuthSchemeConfigs {
		if c.Type != string(api.AuthSchemeTypeOauth1) {
			continue
		}
		cfg, err := s.fullConfig(orgID, sys.ID, c)
		if err != nil {
			return nil, err
		}
		if credID != (ulid.ULID{}) && cfg.Oauth1.CredentialID == credID {
			return &cfg, nil
		}
		if !cfg.Oauth1.TokenAuth {
			found = append(found, cfg)
		}
	}
	if len(found) == 1 {
		return &found[0], nil
	}
	return nil, plugboard.Invalid("invalid OAuth 1.0a initialise request", plugboard.FieldError{Field: "credential.id",
		Message: "does not pick an OAuth 1.0a config of this system (with several three-legged configs, name one by its credentialId)"})
}

// OAuth1Redirect is what the provider's redirect after an OAuth 1.0a authorization carries.
type OAuth1Redirect struct {
	State, Token, Verifier string
}

// OAuth1Callback takes the provider's redirect after the user authorises. It checks the state and
// that the token is the flow's, and hands state, token and verifier to the opener or the return
// URL; the exchange comes with the connection's create or update.
func (s *Service) OAuth1Callback(ctx context.Context, in OAuth1Redirect) (*Callback, error) {
	st, err := s.lookupState(ctx, in.State, "oauth1")
	if err != nil {
		return s.sessionStateRefused(ctx, in.State, "oauth1", err)
	}
	secrets, err := s.openState(st)
	if err != nil {
		return nil, err
	}
	if in.Token != secrets.RequestToken || in.Verifier == "" {
		return nil, plugboard.Invalid("the provider's redirect does not belong to this flow",
			plugboard.FieldError{Field: "oauth_token", Message: "is not this flow's temporary token, or oauth_verifier is missing"})
	}
	if secrets.Session != nil {
		return s.finishSessionFlow(ctx, st, secrets.Session, "", func(cfg api.AuthSchemeConfig) api.ConnectionCredential {
			return api.ConnectionCredential{AuthSchemeConfig: &cfg, Credential: &api.Credential{Type: api.CredentialTypeOauth1,
				Data: &api.CredentialData{Oauth1: &api.CredentialDataOAuth1{OauthToken: in.Token, OauthVerifier: in.Verifier, State: in.State}}}}
		})
	}
	params := url.Values{"state": {in.State}, "oauth_token": {secrets.RequestToken}, "oauth_verifier": {in.Verifier}}
	return s.callback(st, params, "Connected. You can close this window.")
}

// completeOAuth1 consumes an OAuth 1.0a flow's state and trades its temporary credentials and the
// verifier for token credentials. path is the JSON path of the oauth1 data, for field errors; cs
// the connect session asking (nil for the API).
func (s *Service) completeOAuth1(ctx context.Context, orgID ulid.ULID, sys *plugboard.System, cfgID string, d *api.CredentialDataOAuth1, path string,
	cs *plugboard.ConnectSession) (*oauth.OAuth1Token, error) {
	if err := s.stateCaller(ctx, orgID, d.State, path+".state", cs); err != nil {
		return nil, err
	}
	st, err := s.consumeState(ctx, orgID, d.State, "oauth1", path+".state")
	if err != nil {
		return nil, err
	}
	if st.SystemID != sys.ID || st.ConfigID != cfgID {
		return nil, plugboard.Invalid("invalid OAuth state", plugboard.FieldError{Field: path + ".state",
			Message: "was issued for another system or auth scheme config than this connection's"})
	}
	secrets, err := s.openState(st)
	if err != nil {
		return nil, err
	}
	if d.OauthToken != secrets.RequestToken {
		return nil, plugboard.Invalid("invalid credentials", plugboard.FieldError{Field: path + ".oauthToken", Message: "is not this flow's temporary token"})
	}
	for _, c := range sys.AuthSchemeConfigs {
		if c.ID != cfgID {
			continue
		}
		full, err := s.fullConfig(orgID, sys.ID, c)
		if err != nil {
			return nil, err
		}
		ep, err := oauth1Endpoints(full.Oauth1)
		if err != nil {
			return nil, err
		}
		return s.oauth.AccessToken(ctx, ep, secrets.RequestToken, secrets.RequestSecret, d.OauthVerifier)
	}
	return nil, plugboard.Internal(fmt.Errorf("config %q vanished", cfgID))
}
