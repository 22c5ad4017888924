package httpapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"html/template"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/access"
	"github.com/plugboard/plugboard/internal/credentials"
	"github.com/plugboard/plugboard/internal/oauth"
)

// StateTTL is how long a connect flow may take from initialise to exchange.
const StateTTL = 10 * time.Minute

// stateSecrets is what a flow keeps sealed between initialise and exchange.
type stateSecrets struct {
	CodeVerifier  string   `json:"codeVerifier,omitempty"`
	Scopes        []string `json:"scopes,omitempty"` // requested, for when the provider does not say what it granted
	RequestToken  string   `json:"requestToken,omitempty"`
	RequestSecret string   `json:"requestSecret,omitempty"`
}

// grantMember returns the grant member of an oauth2 config that holds client credentials, with its
// JSON path; nil for the client credentials grant.
func grantMember(c *api.AuthSchemeConfigOAuth2) (ids *grantIDs, path string) {
	switch c.Grant.Type {
	case api.AuthorizationCode:
		if g := c.Grant.AuthorizationCode; g != nil {
			return &grantIDs{&g.CredentialID, &g.OrganisationID, g.ClientID, &g.ClientSecret}, "oauth2.grant.authorizationCode"
		}
	case api.Password:
		if g := c.Grant.Password; g != nil {
			return &grantIDs{&g.CredentialID, &g.OrganisationID, g.ClientID, &g.ClientSecret}, "oauth2.grant.password"
		}
	}
	return nil, ""
}

// grantIDs points into a grant member's fields (the two grant members share a shape but not a type).
type grantIDs struct {
	credentialID   *ulid.ULID
	organisationID *ulid.ULID
	clientID       *string
	clientSecret   **string
}

// bindGrantCredential keeps an OAuth 2.0 config's client secret in a credential of its own, as the
// spec describes: with neither credentialId nor organisationId set, a credential is created from
// clientId and clientSecret and both ids are filled in; with both set, that credential is updated
// (JSON Merge Patch: fields left out stay); any other mix is a 400. The secret never stays in the
// config. prefix is the config's JSON path ("" or "authSchemeConfigs[2]").
//
// kept names the clientSecret field when the stored secret is kept (sent empty), so that the
// caller can rule on it if the config now sends it somewhere new.
func (s *Server) bindGrantCredential(ctx context.Context, tx plugboard.Store, orgID, systemID ulid.ULID, cfg *api.AuthSchemeConfig, prefix string) (kept string, err error) {
	if cfg.Type != api.AuthSchemeTypeOauth2 || cfg.Oauth2 == nil {
		return "", nil
	}
	g, path := grantMember(cfg.Oauth2)
	if g == nil {
		return "", nil
	}
	if prefix != "" {
		path = prefix + "." + path
	}
	secret := ""
	if *g.clientSecret != nil {
		secret = **g.clientSecret
	}
	clientID := ""
	if g.clientID != nil {
		clientID = *g.clientID
	}
	zero := ulid.ULID{}
	now := s.timestamp()
	switch {
	case *g.credentialID == zero && *g.organisationID == zero:
		var errs []plugboard.FieldError
		if clientID == "" {
			errs = append(errs, plugboard.FieldError{Field: path + ".clientId", Message: "is required to create the grant's client credential"})
		}
		if secret == "" && !cfg.Oauth2.MTLSEnabled {
			// Only a client that authenticates with its certificate (mTLS) has no secret.
			errs = append(errs, plugboard.FieldError{Field: path + ".clientSecret", Message: "is required to create the grant's client credential (unless mtlsEnabled)"})
		}
		if len(errs) > 0 {
			return "", plugboard.Invalid("invalid auth scheme config", errs...)
		}
		cred := api.Credential{Type: api.CredentialTypeOauth2Client, Data: &api.CredentialData{Oauth2Client: &api.CredentialDataOAuth2Client{
			ClientID: clientID, ClientSecret: secret, TokenURL: cfg.Oauth2.TokenURL}}}
		stored, err := s.sealStandalone(orgID, newID(), cred, now)
		if err != nil {
			return "", err
		}
		stored.Name = grantCredentialName(systemID, credentials.ConfigID(*cfg))
		if err := tx.CreateCredential(ctx, stored); err != nil {
			return "", err
		}
		*g.credentialID, *g.organisationID = stored.ID, orgID
	case *g.credentialID != zero && *g.organisationID != zero:
		if *g.organisationID != orgID {
			return "", plugboard.Invalid("invalid auth scheme config", plugboard.FieldError{Field: path + ".organisationId",
				Message: "must be this organisation: credentials of other organisations cannot be used"})
		}
		old, err := tx.GetCredential(ctx, orgID, *g.credentialID)
		if plugboard.IsCode(err, plugboard.ENotFound) {
			return "", plugboard.Invalid("invalid auth scheme config", plugboard.FieldError{Field: path + ".credentialId", Message: "no such credential"})
		} else if err != nil {
			return "", err
		}
		// Only the credential this config's grant created may be named: another credential (a
		// connection's, another config's) would have its secret sent to this config's token URL.
		if old.Type != string(api.CredentialTypeOauth2Client) || old.Name != grantCredentialName(systemID, credentials.ConfigID(*cfg)) {
			return "", plugboard.Invalid("invalid auth scheme config", plugboard.FieldError{Field: path + ".credentialId",
				Message: "is not the client credential of this config's grant; leave both ids unset to create one"})
		}
		data, err := s.openCredential(old)
		if err != nil {
			return "", err
		}
		if secret == "" && data.Oauth2Client.ClientSecret != "" {
			kept = path + ".clientSecret"
		}
		if clientID != "" {
			data.Oauth2Client.ClientID = clientID
		}
		if secret != "" {
			data.Oauth2Client.ClientSecret = secret
		}
		data.Oauth2Client.TokenURL = cfg.Oauth2.TokenURL
		updated, err := s.sealStandalone(orgID, old.ID, api.Credential{Type: api.CredentialTypeOauth2Client, Data: &data}, now)
		if err != nil {
			return "", err
		}
		updated.Name, updated.CreatedAt = old.Name, old.CreatedAt
		if err := tx.UpdateCredential(ctx, updated); err != nil {
			return "", err
		}
		if g.clientID == nil || *g.clientID == "" {
			id := data.Oauth2Client.ClientID
			setClientID(cfg.Oauth2, id)
		}
	default:
		return "", plugboard.Invalid("invalid auth scheme config",
			plugboard.FieldError{Field: path + ".credentialId", Message: "set both credentialId and organisationId, or neither"})
	}
	empty := ""
	*g.clientSecret = &empty
	return kept, nil
}

// grantCredentialName names the client credential a config's grant created, binding it to that
// system and config.
func grantCredentialName(systemID ulid.ULID, configID string) string {
	return "grant client of system " + systemID.String() + " config " + configID
}

// deleteGrantCredential deletes, in tx, the client credential an OAuth 2.0 config's grant created,
// as the config goes: nothing else can reach it after. A credential the config names but did not
// create (its name binds it to another system or config) is not the config's to delete.
func deleteGrantCredential(ctx context.Context, tx plugboard.Store, orgID, systemID ulid.ULID, c plugboard.AuthSchemeConfig) error {
	if c.Type != string(api.AuthSchemeTypeOauth2) {
		return nil
	}
	cfg, err := publicConfig(c)
	if err != nil {
		return err
	}
	g, _ := grantMember(cfg.Oauth2)
	if g == nil || *g.credentialID == (ulid.ULID{}) {
		return nil
	}
	cred, err := tx.GetCredential(ctx, orgID, *g.credentialID)
	if plugboard.IsCode(err, plugboard.ENotFound) {
		return nil
	} else if err != nil {
		return err
	}
	if cred.Type != string(api.CredentialTypeOauth2Client) || cred.Name != grantCredentialName(systemID, c.ID) {
		return nil
	}
	return tx.DeleteCredential(ctx, orgID, cred.ID)
}

func setClientID(c *api.AuthSchemeConfigOAuth2, id string) {
	switch {
	case c.Grant.AuthorizationCode != nil:
		c.Grant.AuthorizationCode.ClientID = &id
	case c.Grant.Password != nil:
		c.Grant.Password.ClientID = &id
	}
}

// sealStandalone splits and seals a credential that belongs to no connection.
func (s *Server) sealStandalone(orgID, id ulid.ULID, c api.Credential, now time.Time) (*plugboard.Credential, error) {
	out := &plugboard.Credential{ID: id, OrganisationID: orgID, CreatedAt: now, UpdatedAt: now}
	if err := access.SealInto(s.keys, out, c.Type, c.Data); err != nil {
		return nil, err
	}
	return out, nil
}

// grantClient returns the client id and secret an oauth2 config's grant credential holds.
func (s *Server) grantClient(ctx context.Context, st plugboard.Store, orgID ulid.ULID, cfg *api.AuthSchemeConfigOAuth2) (id, secret string, err error) {
	return access.GrantClient(ctx, st, s.keys, orgID, cfg)
}

// reservedAuthorizeParams are set by Plugboard; additionalParams may not override them.
var reservedAuthorizeParams = []string{"response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method"}

// InitialiseOAuth2Connection implements api.StrictServerInterface: it returns the provider's
// authorize URL for the system's OAuth 2.0 config whose grant credential the request names, and
// records the flow's state (with the PKCE verifier) for the exchange.
func (s *Server) InitialiseOAuth2Connection(ctx context.Context, req api.InitialiseOAuth2ConnectionRequestObject) (api.InitialiseOAuth2ConnectionResponseObject, error) {
	b := req.Body
	if b == nil {
		return nil, bodyRequired()
	}
	orgID := req.OrganisationId
	var errs []plugboard.FieldError
	if b.Credential.ID == (ulid.ULID{}) {
		errs = append(errs, plugboard.FieldError{Field: "credential.id", Message: "is required: the id of the config's grant credential"})
	}
	if b.Credential.OrganisationID != (ulid.ULID{}) && b.Credential.OrganisationID != orgID {
		errs = append(errs, plugboard.FieldError{Field: "credential.organisationId", Message: "must be this organisation"})
	}
	if b.ClientID == "" {
		errs = append(errs, plugboard.FieldError{Field: "clientId", Message: "is required"})
	}
	if b.RedirectURL != "" && !absoluteHTTP(b.RedirectURL) {
		errs = append(errs, plugboard.FieldError{Field: "redirectUrl", Message: "must be an absolute http(s) URL"})
	}
	if b.ReturnURL != "" && (!absoluteHTTP(b.ReturnURL) || !s.allowedReturnURL(b.ReturnURL)) {
		errs = append(errs, plugboard.FieldError{Field: "returnUrl", Message: "must be an http(s) URL on an allowed origin (PLUGBOARD_RETURN_URL_ORIGINS, or this server's own)"})
	}
	openerOrigin, fe := s.openerOrigin(b.OpenerOrigin)
	if fe != nil {
		errs = append(errs, *fe)
	}
	errs = append(errs, credentials.CheckURLUserinfo("authorizeUrl", b.AuthorizeURL)...)
	errs = append(errs, credentials.CheckURLUserinfo("redirectUrl", b.RedirectURL)...)
	errs = append(errs, credentials.CheckURLUserinfo("returnUrl", b.ReturnURL)...)
	extra, err := url.ParseQuery(b.AdditionalParams)
	if err != nil {
		errs = append(errs, plugboard.FieldError{Field: "additionalParams", Message: "is not a URL-encoded query string"})
	}
	for _, p := range reservedAuthorizeParams {
		if extra.Has(p) {
			errs = append(errs, plugboard.FieldError{Field: "additionalParams", Message: fmt.Sprintf("must not set %s, which Plugboard sets", p)})
		}
	}
	if b.Prompt != nil && extra.Has("prompt") {
		errs = append(errs, plugboard.FieldError{Field: "additionalParams", Message: "must not set prompt when the prompt field is given"})
	}
	if len(errs) > 0 {
		return nil, plugboard.Invalid("invalid OAuth 2.0 initialise request", errs...)
	}
	sys, err := s.store.GetSystem(ctx, orgID, req.SystemId)
	if err != nil {
		return nil, err
	}
	cfg, err := s.oauth2ConfigByCredential(sys, b.Credential.ID)
	if err != nil {
		return nil, err
	}
	clientID, _, err := s.grantClient(ctx, s.store, orgID, cfg.Oauth2)
	if err != nil {
		return nil, err
	}
	if clientID != b.ClientID {
		return nil, plugboard.Invalid("invalid OAuth 2.0 initialise request",
			plugboard.FieldError{Field: "clientId", Message: "does not match the client id stored with the credential"})
	}
	redirect := b.RedirectURL
	if redirect == "" {
		redirect = cfg.Oauth2.RedirectURL
	}
	if redirect == "" {
		redirect = s.publicURL + "/oauth2/callback"
	}
	scopes := b.Scopes
	if len(scopes) == 0 {
		scopes = cfg.Oauth2.DefaultScopes
	}
	if !b.DisableOfflineAccess && !slices.Contains(scopes, "offline_access") {
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
	case b.Prompt != nil && *b.Prompt != "":
		// "consent+select_account" lists prompts; the + is a separator, sent as a space.
		params.Set("prompt", strings.ReplaceAll(*b.Prompt, "+", " "))
	case b.Prompt == nil && !extra.Has("approval_prompt") && !extra.Has("prompt"):
		params.Set("prompt", "login")
	}
	secrets := stateSecrets{Scopes: scopes}
	if cfg.Oauth2.Pkce {
		secrets.CodeVerifier = oauth.NewVerifier()
		params.Set("code_challenge", oauth.S256Challenge(secrets.CodeVerifier))
		params.Set("code_challenge_method", "S256")
	}
	authURL, err := oauth.AuthorizeURL(b.AuthorizeURL, params)
	if err != nil {
		return nil, plugboard.Invalid("invalid OAuth 2.0 initialise request", plugboard.FieldError{Field: "authorizeUrl", Message: err.Error()})
	}
	now := s.timestamp()
	st := &plugboard.OAuthState{ID: stateID, OrganisationID: orgID, Kind: "oauth2", SystemID: sys.ID, ConfigID: cfg.Oauth2.ID,
		RedirectURI: redirect, ReturnURL: b.ReturnURL, OpenerOrigin: openerOrigin, ClientID: clientID, CreatedAt: now, ExpiresAt: now.Add(StateTTL)}
	{
		raw, _ := json.Marshal(secrets)
		if st.Sealed, err = s.keys.SealState(orgID, stateID, raw); err != nil {
			return nil, err
		}
	}
	if err := s.store.CreateOAuthState(ctx, st); err != nil {
		return nil, err
	}
	return api.InitialiseOAuth2Connection200JSONResponse{URL: authURL}, nil
}

// oauth2ConfigByCredential finds the system's OAuth 2.0 config whose grant credential is credID.
func (s *Server) oauth2ConfigByCredential(sys *plugboard.System, credID ulid.ULID) (*api.AuthSchemeConfig, error) {
	for _, c := range sys.AuthSchemeConfigs {
		if c.Type != string(api.AuthSchemeTypeOauth2) {
			continue
		}
		cfg, err := publicConfig(c)
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

func absoluteHTTP(v string) bool {
	u, err := url.Parse(v)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// callbackPage hands the result of a flow to the window that opened it, and says so to the user.
// Origin is the one origin the browser may deliver the result to (rendered as a JavaScript string by
// html/template); without one, nothing is posted.
var callbackPage = template.Must(template.New("callback").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Plugboard</title></head>
<body><p>{{.Text}}</p>
{{if .Origin}}<script>
(function () {
  var result = {{.Result}};
  if (window.opener) { window.opener.postMessage(result, {{.Origin}}); window.close(); }
})();
</script>{{end}}</body></html>`))

// openerOriginProblem says what an openerOrigin must be.
const openerOriginProblem = "must be an origin, scheme://host[:port] with no path, on an allowed origin (PLUGBOARD_RETURN_URL_ORIGINS, or this server's own)"

// openerOrigin checks an initialise request's openerOrigin and returns it as the browser writes
// origins (scheme and host lower-cased); "" when absent.
func (s *Server) openerOrigin(raw string) (string, *plugboard.FieldError) {
	if raw == "" {
		return "", nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Opaque != "" ||
		u.Path != "" || u.RawPath != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#") ||
		!s.allowedReturnURL(raw) {
		return "", &plugboard.FieldError{Field: "openerOrigin", Message: openerOriginProblem}
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

// publicOrigin is the origin of the server's public URL, "" if it has none.
func (s *Server) publicOrigin() string {
	u, err := url.Parse(s.publicURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return ""
	}
	return strings.ToLower(u.Scheme + "://" + u.Host)
}

// callbackResponse renders the page, or redirects to the flow's return URL with params. The page
// posts only to the origin the flow was initialised with, else to the server's own.
func (s *Server) callbackResponse(st *plugboard.OAuthState, params url.Values, text string) (redirect *string, page *bytes.Buffer, err error) {
	if returnURL := st.ReturnURL; returnURL != "" {
		u, err := url.Parse(returnURL)
		if err != nil {
			return nil, nil, plugboard.Internal(err)
		}
		q := u.Query()
		for k, vs := range params {
			q[k] = vs
		}
		u.RawQuery = q.Encode()
		loc := u.String()
		return &loc, nil, nil
	}
	result := map[string]string{"source": "plugboard"}
	for k := range params {
		result[k] = params.Get(k)
	}
	origin := st.OpenerOrigin
	if origin == "" {
		origin = s.publicOrigin()
	}
	var buf bytes.Buffer
	err = callbackPage.Execute(&buf, map[string]any{"Text": text, "Result": result, "Origin": origin})
	return nil, &buf, err
}

// lookupState finds a state for a callback, which has no API key: the organisation is in the state.
func (s *Server) lookupState(ctx context.Context, state, kind string) (*plugboard.OAuthState, error) {
	unknown := plugboard.Invalid("unknown OAuth state", plugboard.FieldError{Field: "state", Message: "is not a state this server issued"})
	orgID, ok := oauth.StateOrganisation(state)
	if !ok {
		return nil, unknown
	}
	st, err := s.store.GetOAuthState(ctx, orgID, oauth.StateID(state))
	if plugboard.IsCode(err, plugboard.ENotFound) {
		return nil, unknown
	} else if err != nil {
		return nil, err
	}
	switch {
	case st.Kind != kind:
		return nil, unknown
	case st.ConsumedAt != nil:
		return nil, plugboard.Invalid("OAuth state already used", plugboard.FieldError{Field: "state", Message: "has already been used"})
	case !s.timestamp().Before(st.ExpiresAt):
		return nil, plugboard.Invalid("OAuth state expired", plugboard.FieldError{Field: "state", Message: "has expired; start the flow again"})
	}
	return st, nil
}

// OAuth2Callback implements api.StrictServerInterface: the provider's redirect for flows that have
// no listener of their own. It checks the state and hands code and state to the opener (a page
// that posts them to window.opener) or to the return URL given at initialise.
func (s *Server) OAuth2Callback(ctx context.Context, req api.OAuth2CallbackRequestObject) (api.OAuth2CallbackResponseObject, error) {
	p := req.Params
	state := deref(p.State)
	st, err := s.lookupState(ctx, state, "oauth2")
	if err != nil {
		return nil, err
	}
	params := url.Values{"state": {state}}
	text := "Connected. You can close this window."
	if e := deref(p.Error); e != "" {
		params.Set("error", e)
		if d := deref(p.ErrorDescription); d != "" {
			params.Set("error_description", d)
		}
		text = "The provider did not grant access. You can close this window."
	} else {
		params.Set("code", deref(p.Code))
	}
	loc, page, err := s.callbackResponse(st, params, text)
	if err != nil {
		return nil, err
	}
	if loc != nil {
		return api.OAuth2Callback302Response{Headers: api.OAuth2Callback302ResponseHeaders{Location: loc}}, nil
	}
	return api.OAuth2Callback200TexthtmlResponse{Body: page, ContentLength: int64(page.Len())}, nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// consumeState takes a state for an exchange, once, naming the field for every refusal.
func (s *Server) consumeState(ctx context.Context, orgID ulid.ULID, state, kind, field string) (*plugboard.OAuthState, error) {
	bad := func(msg string) error {
		return plugboard.Invalid("invalid OAuth state", plugboard.FieldError{Field: field, Message: msg})
	}
	stateOrg, ok := oauth.StateOrganisation(state)
	if !ok || stateOrg != orgID {
		return nil, bad("is not a state this server issued")
	}
	st, err := s.store.ConsumeOAuthState(ctx, orgID, oauth.StateID(state), s.timestamp())
	switch {
	case plugboard.IsCode(err, plugboard.ENotFound):
		return nil, bad("is not a state this server issued")
	case plugboard.IsCode(err, plugboard.EConflict):
		return nil, bad("has already been used")
	case err != nil:
		return nil, err
	case st.Kind != kind:
		return nil, bad("was issued for another kind of flow")
	case !s.timestamp().Before(st.ExpiresAt):
		return nil, bad("has expired; start the flow again")
	}
	return st, nil
}

// openState returns a state's sealed data.
func (s *Server) openState(st *plugboard.OAuthState) (stateSecrets, error) {
	var out stateSecrets
	if st.Sealed == nil {
		return out, nil
	}
	raw, err := s.keys.OpenState(st.OrganisationID, st.ID, st.Sealed)
	if err != nil {
		return out, err
	}
	err = json.Unmarshal(raw, &out)
	return out, err
}

// exchangeCredentials turns credentials that need a provider (oauth2-code, oauth2-password) into
// the tokens they stand for, and proves oauth2-client credentials by fetching a token. It runs
// outside any store transaction, since it waits on the provider. It returns the credentials to
// store and, by index, those it produced (which the caller stores without re-validating).
//
// Every credential that needs no provider is validated first, so that a request bound to fail
// does not use up a flow's state and code. existing holds the connection's stored credentials on
// update (nil on create).
func (s *Server) exchangeCredentials(ctx context.Context, orgID ulid.ULID, sys *plugboard.System, in []api.ConnectionCredential,
	offered []api.AuthSchemeConfig, prefix string, existing []plugboard.ConnectionCredential) ([]api.ConnectionCredential, map[int]bool, error) {
	out := slices.Clone(in)
	produced := map[int]bool{}
	exchanges := false
	var errs []plugboard.FieldError
	for i, cc := range in {
		if cc.Credential == nil || !credentials.NeedsExchange(cc.Credential.Type) {
			continue
		}
		exchanges = true
		_, fields := credentials.ValidateCredential(cc, offered, orgID, fmt.Sprintf("%s[%d]", prefix, i))
		errs = append(errs, fields...)
	}
	if exchanges && existing == nil {
		for i, cc := range in {
			if cc.Credential != nil && credentials.NeedsExchange(cc.Credential.Type) {
				continue
			}
			_, fields := credentials.ValidateCredential(cc, offered, orgID, fmt.Sprintf("%s[%d]", prefix, i))
			errs = append(errs, fields...)
		}
	}
	if len(errs) > 0 {
		return nil, nil, plugboard.Invalid("invalid credentials", errs...)
	}
	for i, cc := range in {
		if cc.Credential == nil {
			continue
		}
		typ := cc.Credential.Type
		if !credentials.NeedsExchange(typ) && typ != api.CredentialTypeOauth2Client {
			continue
		}
		if typ == api.CredentialTypeOauth2Client && (cc.Credential.Data == nil || cc.Credential.Data.Oauth2Client == nil ||
			cc.Credential.Data.Oauth2Client.ClientSecret == "" && !newCertificateClient(cc, existing == nil)) {
			// Sent back without its secret (an update keeping the stored one, proven when stored),
			// or malformed: validation in the transaction has the last word. A new client that
			// authenticates with its certificate alone has no secret and is proven like any other.
			continue
		}
		path := fmt.Sprintf("%s[%d]", prefix, i)
		cfg, errs := credentials.ValidateCredential(cc, offered, orgID, path)
		if len(errs) > 0 {
			return nil, nil, plugboard.Invalid("invalid credentials", errs...)
		}
		tlsConfig, err := s.mtlsConfig(ctx, orgID, cfg, in, existing)
		if err != nil {
			return nil, nil, err
		}
		data := cc.Credential.Data
		var tok *oauth.Token
		switch typ {
		case api.CredentialTypeOauth2Code:
			tok, err = s.exchangeCode(ctx, orgID, sys, cfg, data.Oauth2Code, tlsConfig, path+".credential.data.oauth2Code")
		case api.CredentialTypeOauth2Password:
			id, secret, gerr := s.grantClient(ctx, s.store, orgID, cfg.Oauth2)
			if gerr != nil {
				return nil, nil, gerr
			}
			ep := oauth.Endpoint{TokenURL: cfg.Oauth2.TokenURL, ClientID: id, ClientSecret: secret, TLS: tlsConfig,
				SecretInForm: cfg.Oauth2.TokenEndpointAuthMethod == api.AuthSchemeConfigOAuth2TokenEndpointAuthMethodClientSecretPost}
			tok, err = s.oauth.Password(ctx, ep, data.Oauth2Password.Username, data.Oauth2Password.Password, cfg.Oauth2.DefaultScopes)
		case api.CredentialTypeOauth2Client:
			c := data.Oauth2Client
			if msg := credentials.TokenParamsProblem(c.AdditionalParams); msg != "" {
				return nil, nil, plugboard.Invalid("invalid credentials", plugboard.FieldError{Field: path + ".credential.data.oauth2Client.additionalParams", Message: msg})
			}
			params, _ := url.ParseQuery(c.AdditionalParams)
			ep := oauth.Endpoint{TokenURL: c.TokenURL, ClientID: c.ClientID, ClientSecret: c.ClientSecret, TLS: tlsConfig, Params: params,
				SecretInForm: c.TokenEndpointAuthMethod == api.CredentialDataOAuth2ClientTokenEndpointAuthMethodClientSecretPost}
			_, err = s.oauth.ClientCredentials(ctx, ep, c.Scopes)
			if err != nil {
				return nil, nil, err
			}
			continue // stored as given: the token only proved the credentials
		case api.CredentialTypeOauth1:
			tok1, err := s.exchangeOAuth1(ctx, orgID, sys, cfg.Oauth1.ID, data.Oauth1, path+".credential.data.oauth1")
			if err != nil {
				return nil, nil, err
			}
			params := []api.AdditionalParam{}
			for k, vs := range tok1.Params {
				for _, v := range vs {
					params = append(params, api.AdditionalParam{Name: k, Value: &v})
				}
			}
			slices.SortFunc(params, func(a, b api.AdditionalParam) int { return strings.Compare(a.Name, b.Name) })
			cred := *cc.Credential
			cred.Type = api.CredentialTypeOauth1Token
			cred.Data = &api.CredentialData{Oauth1Token: &api.CredentialDataOAuth1Token{Token: tok1.Token, TokenSecret: tok1.TokenSecret, AdditionalParams: params}}
			out[i].Credential = &cred
			produced[i] = true
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		cred := *cc.Credential
		cred.Type = api.CredentialTypeOauth2Token
		tokData := &api.CredentialDataOAuth2Token{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken,
			TokenType: tok.TokenType, ExpiresAt: tok.ExpiresAt, Scopes: tok.Scopes}
		cred.Data = &api.CredentialData{Oauth2Token: tokData}
		out[i].Credential = &cred
		produced[i] = true
	}
	return out, produced, nil
}

// newCertificateClient reports whether cc is an oauth2-client credential that authenticates with
// its certificate alone (mTLSEnabled, no client secret) and is new: the connection is being
// created, or cc names no stored credential (one it names may keep a stored secret).
func newCertificateClient(cc api.ConnectionCredential, creating bool) bool {
	isNew := creating || cc.ID == (ulid.ULID{}) && cc.Credential.ID == (ulid.ULID{})
	return isNew && credentials.CertificateAuthenticates(cc.Credential.Data.Oauth2Client)
}

// exchangeCode consumes the flow's state and trades the code for tokens.
func (s *Server) exchangeCode(ctx context.Context, orgID ulid.ULID, sys *plugboard.System, cfg *api.AuthSchemeConfig,
	code *api.CredentialDataOAuth2Code, tlsConfig *tls.Config, path string) (*oauth.Token, error) {
	// Checked before the state is used up, so a malformed request does not cost the user the flow.
	if msg := credentials.TokenParamsProblem(code.AdditionalParams); msg != "" {
		return nil, plugboard.Invalid("invalid credentials", plugboard.FieldError{Field: path + ".additionalParams", Message: msg})
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
	id, secret, err := s.grantClient(ctx, s.store, orgID, cfg.Oauth2)
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
	ep := oauth.Endpoint{TokenURL: cfg.Oauth2.TokenURL, ClientID: id, ClientSecret: secret, TLS: tlsConfig, Params: params,
		SecretInForm: cfg.Oauth2.TokenEndpointAuthMethod == api.AuthSchemeConfigOAuth2TokenEndpointAuthMethodClientSecretPost}
	return s.oauth.ExchangeCode(ctx, ep, code.Code, st.RedirectURI, secrets.CodeVerifier, secrets.Scopes)
}

// mtlsConfig returns the TLS settings for a config with mtlsEnabled: the certificate credential
// named by mtlsCredentialId, or else the certificate credential sent with the connection.
func (s *Server) mtlsConfig(ctx context.Context, orgID ulid.ULID, cfg *api.AuthSchemeConfig, creds []api.ConnectionCredential,
	existing []plugboard.ConnectionCredential) (*tls.Config, error) {
	return access.MTLSConfig(ctx, s.store, s.keys, orgID, *cfg, s.now(), func() (*api.CredentialDataCertificate, error) {
		for _, cc := range creds {
			if cc.Credential == nil || cc.Credential.Type != api.CredentialTypeCertificate || cc.Credential.Data == nil {
				continue
			}
			if cert := cc.Credential.Data.Certificate; cert == nil || cert.Key != "" {
				return cert, nil
			}
			// Sent back as read, without its key: use the stored one.
			return s.storedCertificate(cc, existing)
		}
		return nil, nil
	})
}

// fullConfig returns a stored config with its sealed secrets (an OAuth 1.0a consumer secret).
func (s *Server) fullConfig(orgID, systemID ulid.ULID, c plugboard.AuthSchemeConfig) (api.AuthSchemeConfig, error) {
	return access.FullConfig(s.keys, orgID, systemID, c)
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
func (s *Server) oauth1Config(orgID ulid.ULID, sys *plugboard.System, credID ulid.ULID) (*api.AuthSchemeConfig, error) {
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

// InitialiseOAuth1Connection implements api.StrictServerInterface: it obtains temporary
// credentials from the provider, records them sealed with the flow's state, and returns the URL to
// send the user to. The provider sends the user back to /oauth1/callback with the verifier.
func (s *Server) InitialiseOAuth1Connection(ctx context.Context, req api.InitialiseOAuth1ConnectionRequestObject) (api.InitialiseOAuth1ConnectionResponseObject, error) {
	b := req.Body
	if b == nil {
		return nil, bodyRequired()
	}
	orgID := req.OrganisationId
	if errs := credentials.CheckURLUserinfo("returnUrl", b.ReturnURL); len(errs) > 0 {
		return nil, plugboard.Invalid("invalid OAuth 1.0a initialise request", errs...)
	}
	if b.ReturnURL != "" && (!absoluteHTTP(b.ReturnURL) || !s.allowedReturnURL(b.ReturnURL)) {
		return nil, plugboard.Invalid("invalid OAuth 1.0a initialise request", plugboard.FieldError{Field: "returnUrl",
			Message: "must be an http(s) URL on an allowed origin (PLUGBOARD_RETURN_URL_ORIGINS, or this server's own)"})
	}
	openerOrigin, fe := s.openerOrigin(b.OpenerOrigin)
	if fe != nil {
		return nil, plugboard.Invalid("invalid OAuth 1.0a initialise request", *fe)
	}
	if b.Credential.OrganisationID != (ulid.ULID{}) && b.Credential.OrganisationID != orgID {
		return nil, plugboard.Invalid("invalid OAuth 1.0a initialise request", plugboard.FieldError{Field: "credential.organisationId", Message: "must be this organisation"})
	}
	sys, err := s.store.GetSystem(ctx, orgID, req.SystemId)
	if err != nil {
		return nil, err
	}
	cfg, err := s.oauth1Config(orgID, sys, b.Credential.ID)
	if err != nil {
		return nil, err
	}
	ep, err := oauth1Endpoints(cfg.Oauth1)
	if err != nil {
		return nil, err
	}
	state, stateID := oauth.NewState(orgID)
	callback := s.publicURL + "/oauth1/callback?" + url.Values{"state": {state}}.Encode()
	token, secret, authURL, err := s.oauth.RequestToken(ctx, ep, callback)
	if err != nil {
		return nil, err
	}
	raw, _ := json.Marshal(stateSecrets{RequestToken: token, RequestSecret: secret})
	now := s.timestamp()
	st := &plugboard.OAuthState{ID: stateID, OrganisationID: orgID, Kind: "oauth1", SystemID: sys.ID, ConfigID: cfg.Oauth1.ID,
		RedirectURI: callback, ReturnURL: b.ReturnURL, OpenerOrigin: openerOrigin, ClientID: ep.ConsumerKey, CreatedAt: now, ExpiresAt: now.Add(StateTTL)}
	if st.Sealed, err = s.keys.SealState(orgID, stateID, raw); err != nil {
		return nil, err
	}
	if err := s.store.CreateOAuthState(ctx, st); err != nil {
		return nil, err
	}
	return api.InitialiseOAuth1Connection200JSONResponse{URL: authURL}, nil
}

// OAuth1Callback implements api.StrictServerInterface: the provider's redirect after the user
// authorises. It checks the state and that the token is the flow's, and hands state, token and
// verifier to the opener or the return URL; CreateConnection does the exchange.
func (s *Server) OAuth1Callback(ctx context.Context, req api.OAuth1CallbackRequestObject) (api.OAuth1CallbackResponseObject, error) {
	p := req.Params
	state := deref(p.State)
	st, err := s.lookupState(ctx, state, "oauth1")
	if err != nil {
		return nil, err
	}
	secrets, err := s.openState(st)
	if err != nil {
		return nil, err
	}
	if deref(p.OauthToken) != secrets.RequestToken || deref(p.OauthVerifier) == "" {
		return nil, plugboard.Invalid("the provider's redirect does not belong to this flow",
			plugboard.FieldError{Field: "oauth_token", Message: "is not this flow's temporary token, or oauth_verifier is missing"})
	}
	params := url.Values{"state": {state}, "oauth_token": {secrets.RequestToken}, "oauth_verifier": {deref(p.OauthVerifier)}}
	loc, page, err := s.callbackResponse(st, params, "Connected. You can close this window.")
	if err != nil {
		return nil, err
	}
	if loc != nil {
		return api.OAuth1Callback302Response{Headers: api.OAuth1Callback302ResponseHeaders{Location: loc}}, nil
	}
	return api.OAuth1Callback200TexthtmlResponse{Body: page, ContentLength: int64(page.Len())}, nil
}

// exchangeOAuth1 consumes an OAuth 1.0a flow's state and trades its temporary credentials and the
// verifier for token credentials.
func (s *Server) exchangeOAuth1(ctx context.Context, orgID ulid.ULID, sys *plugboard.System, cfgID string, d *api.CredentialDataOAuth1, path string) (*oauth.OAuth1Token, error) {
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

// storedCertificate opens the stored certificate credential a request names by its ids, unless it
// is past its stored expiresAt (credential_expired: a stored secret that has expired is never
// presented, whatever expiresAt the request sends with it).
func (s *Server) storedCertificate(cc api.ConnectionCredential, existing []plugboard.ConnectionCredential) (*api.CredentialDataCertificate, error) {
	for i := range existing {
		ex := &existing[i]
		if (cc.ID != (ulid.ULID{}) && cc.ID == ex.ID) || (cc.Credential.ID != (ulid.ULID{}) && cc.Credential.ID == ex.Credential.ID) {
			if err := access.Unexpired(&ex.Credential, fmt.Sprintf("the certificate credential of auth scheme config %q", ex.AuthSchemeConfigID), s.now()); err != nil {
				return nil, err
			}
			data, err := s.openCredential(&ex.Credential)
			if err != nil {
				return nil, err
			}
			if data.Certificate != nil {
				return data.Certificate, nil
			}
		}
	}
	return nil, plugboard.Invalid("the certificate credential has no key: send it, or send the stored credential's ids")
}
