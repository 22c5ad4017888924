package connect

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/access"
	"github.com/plugboard/plugboard/internal/credentials"
	"github.com/plugboard/plugboard/internal/oauth"
)

// OAuth2Start is what starts an OAuth 2.0 authorization code flow.
type OAuth2Start struct {
	SystemID ulid.ULID
	// CredentialID names the config: the id of its grant's client credential.
	CredentialID ulid.ULID
	// CredentialOrganisationID, when set, must be the flow's organisation.
	CredentialOrganisationID ulid.ULID
	// ClientID must be the client id the grant credential holds.
	ClientID     string
	AuthorizeURL string
	// RedirectURL overrides the config's, else the server's /oauth2/callback.
	RedirectURL string
	// ReturnURL is where the callback sends the browser (on an allowed origin); OpenerOrigin the
	// one origin its page posts the result to.
	ReturnURL, OpenerOrigin string
	// Scopes override the config's defaultScopes; offline_access is added unless
	// DisableOfflineAccess.
	Scopes               []string
	DisableOfflineAccess bool
	// Prompt, when set, is the prompt parameter ("" for none; "+" separates prompts); login when nil.
	Prompt *string
	// AdditionalParams are more authorize parameters, URL-encoded.
	AdditionalParams string
	// session binds the flow to the connect session that started it.
	session *sessionBinding
}

// The paths of Plugboard's own OAuth callbacks, under the public URL. A flow the connect page
// started always ends at them: their answer is the page's result page.
const (
	OAuth2CallbackPath = "/oauth2/callback"
	OAuth1CallbackPath = "/oauth1/callback"
)

// reservedAuthorizeParams are set by Plugboard; additionalParams may not override them.
var reservedAuthorizeParams = []string{"response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method"}

// InitialiseOAuth2 returns the provider's authorize URL for the system's OAuth 2.0 config whose
// grant credential in names, and records the flow's state (with the PKCE verifier) for the
// exchange.
func (s *Service) InitialiseOAuth2(ctx context.Context, orgID ulid.ULID, in OAuth2Start) (string, error) {
	var errs []plugboard.FieldError
	if in.CredentialID == (ulid.ULID{}) {
		errs = append(errs, plugboard.FieldError{Field: "credential.id", Message: "is required: the id of the config's grant credential"})
	}
	if in.CredentialOrganisationID != (ulid.ULID{}) && in.CredentialOrganisationID != orgID {
		errs = append(errs, plugboard.FieldError{Field: "credential.organisationId", Message: "must be this organisation"})
	}
	if in.ClientID == "" {
		errs = append(errs, plugboard.FieldError{Field: "clientId", Message: "is required"})
	}
	if in.RedirectURL != "" && !absoluteHTTP(in.RedirectURL) {
		errs = append(errs, plugboard.FieldError{Field: "redirectUrl", Message: "must be an absolute http(s) URL"})
	}
	openerOrigin, fes := s.checkReturn(in.ReturnURL, in.OpenerOrigin)
	errs = append(errs, fes...)
	errs = append(errs, credentials.CheckURLUserinfo("authorizeUrl", in.AuthorizeURL)...)
	errs = append(errs, credentials.CheckURLUserinfo("redirectUrl", in.RedirectURL)...)
	errs = append(errs, credentials.CheckURLUserinfo("returnUrl", in.ReturnURL)...)
	extra, err := url.ParseQuery(in.AdditionalParams)
	if err != nil {
		errs = append(errs, plugboard.FieldError{Field: "additionalParams", Message: "is not a URL-encoded query string"})
	}
	for _, p := range reservedAuthorizeParams {
		if extra.Has(p) {
			errs = append(errs, plugboard.FieldError{Field: "additionalParams", Message: fmt.Sprintf("must not set %s, which Plugboard sets", p)})
		}
	}
	if in.Prompt != nil && extra.Has("prompt") {
		errs = append(errs, plugboard.FieldError{Field: "additionalParams", Message: "must not set prompt when the prompt field is given"})
	}
	if len(errs) > 0 {
		return "", plugboard.Invalid("invalid OAuth 2.0 initialise request", errs...)
	}
	sys, err := s.store.GetSystem(ctx, orgID, in.SystemID)
	if err != nil {
		return "", err
	}
	cfg, err := oauth2ConfigByCredential(sys, in.CredentialID)
	if err != nil {
		return "", err
	}
	clientID, _, err := access.GrantClient(ctx, s.store, s.keys, orgID, cfg.Oauth2)
	if err != nil {
		return "", err
	}
	if clientID != in.ClientID {
		return "", plugboard.Invalid("invalid OAuth 2.0 initialise request",
			plugboard.FieldError{Field: "clientId", Message: "does not match the client id stored with the credential"})
	}
	redirect := in.RedirectURL
	if redirect == "" {
		redirect = cfg.Oauth2.RedirectURL
	}
	if redirect == "" {
		redirect = s.publicURL + OAuth2CallbackPath
	}
	scopes := in.Scopes
	if len(scopes) == 0 {
		scopes = cfg.Oauth2.DefaultScopes
	}
	if !in.DisableOfflineAccess && !slices.Contains(scopes, "offline_access") {
		scopes = append(slices.Clone(scopes), "offline_access")
	}
	state, stateID := oauth.NewState(orgID)
	params := url.Values{}
	for k, vs := range extra {
		params[k] = vs
	}
	params.Set("response_type", "code")
	params.Set("client_id", clientID)
	params.Set("redirect_uri", redirect)
	params.Set("state", state)
	if len(scopes) > 0 {
		params.Set("scope", strings.Join(scopes, " "))
	}
	switch {
	case in.Prompt != nil && *in.Prompt != "":
		// "consent+select_account" lists prompts; the + is a separator, sent as a space.
		params.Set("prompt", strings.ReplaceAll(*in.Prompt, "+", " "))
	case in.Prompt == nil && !extra.Has("approval_prompt") && !extra.Has("prompt"):
		params.Set("prompt", "login")
	}
	secrets := stateSecrets{Scopes: scopes, Session: in.session}
	if cfg.Oauth2.Pkce {
		secrets.CodeVerifier = oauth.NewVerifier()
		params.Set("code_challenge", oauth.S256Challenge(secrets.CodeVerifier))
		params.Set("code_challenge_method", "S256")
	}
	authURL, err := oauth.AuthorizeURL(in.AuthorizeURL, params)
	if err != nil {
		return "", plugboard.Invalid("invalid OAuth 2.0 initialise request", plugboard.FieldError{Field: "authorizeUrl", Message: err.Error()})
	}
	now := s.timestamp()
	st := &plugboard.OAuthState{ID: stateID, OrganisationID: orgID, Kind: "oauth2", SystemID: sys.ID, ConfigID: cfg.Oauth2.ID,
		RedirectURI: redirect, ReturnURL: in.ReturnURL, OpenerOrigin: openerOrigin, ClientID: clientID, CreatedAt: now, ExpiresAt: now.Add(StateTTL)}
	if err := s.saveState(ctx, st, secrets); err != nil {
		return "", err
	}
	return authURL, nil
}

// oauth2ConfigByCredential finds the system's OAuth 2.0 config whose grant credential is credID.
func oauth2ConfigByCredential(sys *plugboard.System, credID ulid.ULID) (*api.AuthSchemeConfig, error) {
	for _, c := range sys.AuthSchemeConfigs {
		if c.Type != string(api.AuthSchemeTypeOauth2) {
			continue
		}
		cfg, err := PublicConfig(c)
		if err != nil {
			return nil, err
		}
		if g, _ := grantMember(cfg.Oauth2); g != nil && *g.credentialID == credID {
			return &cfg, nil
		}
	}
	return nil, plugboard.Invalid("invalid OAuth 2.0 initialise request",
		plugboard.FieldError{Field: "credential.id", Message: "is not the grant credential of an OAuth 2.0 config of this system"})
}

// OAuth2Redirect is what the provider's redirect after an OAuth 2.0 authorization carries.
type OAuth2Redirect struct {
	State, Code string
	// Error and ErrorDescription say why the provider did not grant access.
	Error, ErrorDescription string
}

// OAuth2Callback takes the provider's redirect for flows that have no listener of their own. It
// checks the state and hands code and state to the opener (a page that posts them to
// window.opener) or to the return URL given at initialise; the exchange comes with the
// connection's create or update.
func (s *Service) OAuth2Callback(ctx context.Context, in OAuth2Redirect) (*Callback, error) {
	st, err := s.lookupState(ctx, in.State, "oauth2")
	if err != nil {
		return s.sessionStateRefused(ctx, in.State, "oauth2", err)
	}
	if secrets, err := s.openState(st); err != nil {
		return nil, err
	} else if secrets.Session != nil {
		return s.finishSessionFlow(ctx, st, secrets.Session, in.Error, func(cfg api.AuthSchemeConfig) api.ConnectionCredential {
			return api.ConnectionCredential{AuthSchemeConfig: &cfg, Credential: &api.Credential{Type: api.CredentialTypeOauth2Code,
				Data: &api.CredentialData{Oauth2Code: &api.CredentialDataOAuth2Code{Code: in.Code, State: in.State}}}}
		})
	}
	params := url.Values{"state": {in.State}}
	text := "Connected. You can close this window."
	if in.Error != "" {
		params.Set("error", in.Error)
		if in.ErrorDescription != "" {
			params.Set("error_description", in.ErrorDescription)
		}
		text = "The provider did not grant access. You can close this window."
	} else {
		params.Set("code", in.Code)
	}
	return s.callback(st, params, text)
}

// completeOAuth2 consumes the flow's state and trades the code for tokens. path is the JSON path
// of the oauth2Code data, for field errors; cs the connect session asking (nil for the API).
func (s *Service) completeOAuth2(ctx context.Context, orgID ulid.ULID, sys *plugboard.System, cfg *api.AuthSchemeConfig,
	code *api.CredentialDataOAuth2Code, tlsConfig *tls.Config, path string, cs *plugboard.ConnectSession) (*oauth.Token, error) {
	// Checked before the state is used up, so a malformed request does not cost the user the flow.
	if msg := credentials.TokenParamsProblem(code.AdditionalParams); msg != "" {
		return nil, plugboard.Invalid("invalid credentials", plugboard.FieldError{Field: path + ".additionalParams", Message: msg})
	}
	if err := s.stateCaller(ctx, orgID, code.State, path+".state", cs); err != nil {
		return nil, err
	}
	st, err := s.consumeState(ctx, orgID, code.State, "oauth2", path+".state")
	if err != nil {
		return nil, err
	}
	if st.SystemID != sys.ID || st.ConfigID != cfg.Oauth2.ID {
		return nil, plugboard.Invalid("invalid OAuth state", plugboard.FieldError{Field: path + ".state",
			Message: "was issued for another system or auth scheme config than this connection's"})
	}
	if code.RedirectURL != "" && code.RedirectURL != st.RedirectURI {
		return nil, plugboard.Invalid("invalid credentials", plugboard.FieldError{Field: path + ".redirectUrl",
			Message: "differs from the redirect URL the flow was initialised with"})
	}
	secrets, err := s.openState(st)
	if err != nil {
		return nil, err
	}
	id, secret, err := access.GrantClient(ctx, s.store, s.keys, orgID, cfg.Oauth2)
	if err != nil {
		return nil, err
	}
	if id != st.ClientID {
		return nil, plugboard.Invalid("invalid OAuth state", plugboard.FieldError{Field: path + ".state",
			Message: "was issued for another client id than the config's credential now holds"})
	}
	params, err := url.ParseQuery(cfg.Oauth2.AdditionalTokenParams)
	if err != nil {
		return nil, plugboard.Invalid("auth scheme config has malformed additionalTokenParams")
	}
	more, _ := url.ParseQuery(code.AdditionalParams)
	for k, vs := range more {
		params[k] = vs
	}
	return s.oauth.ExchangeCode(ctx, grantEndpoint(cfg.Oauth2, id, secret, tlsConfig, params), code.Code, st.RedirectURI, secrets.CodeVerifier, secrets.Scopes)
}

// grantEndpoint is the token endpoint of an OAuth 2.0 config's grant, with its client.
func grantEndpoint(c *api.AuthSchemeConfigOAuth2, clientID, secret string, tlsConfig *tls.Config, params url.Values) oauth.Endpoint {
	return oauth.Endpoint{TokenURL: c.TokenURL, ClientID: clientID, ClientSecret: secret, TLS: tlsConfig, Params: params,
		SecretInForm: c.TokenEndpointAuthMethod == api.AuthSchemeConfigOAuth2TokenEndpointAuthMethodClientSecretPost}
}
