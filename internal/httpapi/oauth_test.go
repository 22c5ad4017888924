package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plugboard/plugboard/internal/outbound"
)

// oauthSetup is a system with OAuth 2.0 configs pointing at a provider, and a template per config.
type oauthSetup struct {
	systemID     string
	templates    map[string]string // config id -> template id
	credentialID string            // the authorization-code grant's client credential
}

func oauth2Configs(authorizeURL, tokenURL, clientID, clientSecret string, pkce bool) arr {
	return arr{
		obj{"type": "oauth2", "oauth2": obj{"id": "oauth2-code", "description": "code", "authorizeUrl": authorizeURL, "tokenUrl": tokenURL,
			"scopes": arr{obj{"name": "read"}}, "defaultScopes": arr{"read"}, "pkce": pkce,
			"grant": obj{"type": "authorizationCode", "authorizationCode": obj{"clientId": clientID, "clientSecret": clientSecret}}}},
		obj{"type": "oauth2", "oauth2": obj{"id": "oauth2-password", "description": "password", "tokenUrl": tokenURL,
			"scopes": arr{}, "defaultScopes": arr{"read"},
			"grant": obj{"type": "password", "password": obj{"clientId": clientID, "clientSecret": clientSecret}}}},
	}
}

func (h *harness) oauthSetup(configs arr) oauthSetup {
	h.t.Helper()
	var sys struct {
		ID                string `json:"id"`
		AuthSchemeConfigs []struct {
			Oauth2 struct {
				Grant struct {
					AuthorizationCode struct {
						CredentialID   string `json:"credentialId"`
						OrganisationID string `json:"organisationId"`
						ClientSecret   string `json:"clientSecret"`
					} `json:"authorizationCode"`
				} `json:"grant"`
			} `json:"oauth2"`
		} `json:"authSchemeConfigs"`
	}
	h.must(201, h.do("POST", "/systems", obj{"name": "Provider", "domain": "provider.test", "templateBaseUrl": "", "authSchemeConfigs": configs})).JSON(h.t, &sys)
	grant := sys.AuthSchemeConfigs[0].Oauth2.Grant.AuthorizationCode
	if grant.CredentialID == zeroID || grant.OrganisationID != h.org.String() || grant.ClientSecret != "" {
		h.t.Fatalf("grant credential not bound: %+v", grant)
	}
	var proj struct {
		ID           string                `json:"id"`
		Environments []struct{ ID string } `json:"environments"`
	}
	h.must(200, h.do("POST", "/projects", obj{"name": "P"})).JSON(h.t, &proj)
	st := oauthSetup{systemID: sys.ID, templates: map[string]string{}, credentialID: grant.CredentialID}
	for _, c := range configs {
		id := c.(obj)["oauth2"].(obj)["id"].(string)
		var tpl struct {
			ID string `json:"connectionTemplateId"`
		}
		h.must(200, h.do("POST", "/projects/"+proj.ID+"/connection-templates", obj{"systemId": sys.ID, "name": id, "environmentId": proj.Environments[0].ID})).JSON(h.t, &tpl)
		h.must(200, h.do("PUT", "/projects/"+proj.ID+"/connection-templates/"+tpl.ID, obj{"authSchemeConfigIds": arr{id}}))
		st.templates[id] = tpl.ID
	}
	return st
}

// initialise starts a flow as Versori's CLI does and returns the authorize URL.
func (h *harness) initialise(st oauthSetup, authorizeURL, redirect string, extra obj) *url.URL {
	h.t.Helper()
	body := obj{"authorizeUrl": authorizeURL, "clientId": "go-client", "credential": obj{"id": st.credentialID, "organisationId": h.org.String()},
		"disableOfflineAccess": false, "scopes": arr{"read"}, "redirectUrl": redirect}
	for k, v := range extra {
		body[k] = v
	}
	var res struct {
		URL string `json:"url"`
	}
	h.must(200, h.do("POST", "/systems/"+st.systemID+"/oauth2/initialise", body)).JSON(h.t, &res)
	u, err := url.Parse(res.URL)
	if err != nil {
		h.t.Fatal(err)
	}
	return u
}

func codeConnection(templateID, name, code, state string) obj {
	return obj{"connectionTemplateId": templateID, "connection": obj{"name": name, "credentials": arr{obj{
		"id": zeroID, "authSchemeConfig": obj{"type": "oauth2", "oauth2": obj{"id": "oauth2-code"}},
		"credential": obj{"id": zeroID, "organisationId": zeroID, "type": "oauth2-code", "data": obj{"oauth2Code": obj{"code": code, "state": state}}},
	}}}}
}

const cliRedirect = "http://127.0.0.1:62168/oauth/callback"

func TestOAuth2AuthorizationCodeWithPKCE(t *testing.T) {
	h := newHarness(t)
	p := newGoProvider(t)
	st := h.oauthSetup(oauth2Configs(p.AuthorizeURL, p.TokenURL, p.ClientID, p.ClientSecret, true))

	u := h.initialise(st, p.AuthorizeURL, cliRedirect, nil)
	q := u.Query()
	for k, want := range map[string]string{"response_type": "code", "client_id": "go-client", "redirect_uri": cliRedirect,
		"prompt": "login", "code_challenge_method": "S256", "scope": "read offline_access"} {
		if q.Get(k) != want {
			t.Errorf("authorize URL %s = %q, want %q", k, q.Get(k), want)
		}
	}
	if len(q.Get("state")) < 40 || len(q.Get("code_challenge")) != 43 {
		t.Errorf("state %q, challenge %q", q.Get("state"), q.Get("code_challenge"))
	}
	code, state := p.authorize(t, u.String())
	var c connectionView
	h.must(201, h.do("POST", "/connections", codeConnection(st.templates["oauth2-code"], "main", code, state))).JSON(t, &c)
	cred := c.Credentials[0].Credential
	if cred.Type != "oauth2-token" {
		t.Fatalf("stored type %q, want oauth2-token", cred.Type)
	}
	tok := cred.Data["oauth2Token"].(map[string]any)
	if tok["refreshToken"] != "" || tok["accessToken"] != nil && tok["accessToken"] != "" {
		t.Errorf("token values shown: %v", tok)
	}
	if scopes := tok["scopes"].([]any); len(scopes) == 0 {
		t.Errorf("no granted scopes: %v", tok)
	}
	stored := openStoredSecret(t, h, cred.ID)
	if !strings.Contains(stored, "accessToken") || !strings.Contains(stored, "refreshToken") {
		t.Errorf("tokens not stored: %d bytes of secrets", len(stored))
	}
	if p.grantCount("authorization_code") != 1 {
		t.Errorf("%d code exchanges at the provider", p.grantCount("authorization_code"))
	}

	// The state is single use.
	r := h.must(400, h.do("POST", "/connections", codeConnection(st.templates["oauth2-code"], "again", code, state)))
	assertField(t, r.Error(t), "connection.credentials[0].credential.data.oauth2Code.state", "has already been used")
}

func assertField(t *testing.T, e apiError, field, message string) {
	t.Helper()
	for _, f := range e.Fields {
		if f.Field == field && strings.Contains(f.Message, message) {
			return
		}
	}
	t.Errorf("error %+v does not say %q at %s", e, message, field)
}

func TestOAuth2StateErrors(t *testing.T) {
	h := newHarness(t)
	p := newGoProvider(t)
	st := h.oauthSetup(oauth2Configs(p.AuthorizeURL, p.TokenURL, p.ClientID, p.ClientSecret, true))
	field := "connection.credentials[0].credential.data.oauth2Code.state"

	r := h.must(400, h.do("POST", "/connections", codeConnection(st.templates["oauth2-code"], "a", "code", "made-up")))
	assertField(t, r.Error(t), field, "is not a state this server issued")

	u := h.initialise(st, p.AuthorizeURL, cliRedirect, nil)
	code, state := p.authorize(t, u.String())
	h.advance(11 * time.Minute)
	r = h.must(400, h.do("POST", "/connections", codeConnection(st.templates["oauth2-code"], "b", code, state)))
	assertField(t, r.Error(t), field, "has expired")
	// An expired state is used up too.
	r = h.must(400, h.do("POST", "/connections", codeConnection(st.templates["oauth2-code"], "b", code, state)))
	assertField(t, r.Error(t), field, "has already been used")

	// Another organisation's state is unknown here.
	u = h.initialise(st, p.AuthorizeURL, cliRedirect, nil)
	_, state = p.authorize(t, u.String())
	otherOrg, otherKey := h.newOrg("other")
	r = h.doAs(otherKey, otherOrg, "POST", "/connections", codeConnection(st.templates["oauth2-code"], "c", "code", state))
	if r.Status != 400 && r.Status != 404 {
		t.Errorf("other organisation: %d %s", r.Status, r.Body)
	}
}

func TestOAuth2WrongVerifierAndSecret(t *testing.T) {
	h := newHarness(t)
	p := newGoProvider(t)
	st := h.oauthSetup(oauth2Configs(p.AuthorizeURL, p.TokenURL, p.ClientID, p.ClientSecret, true))

	// A code issued for flow A, exchanged with flow B's state: B's verifier does not match A's challenge.
	codeA, _ := p.authorize(t, h.initialise(st, p.AuthorizeURL, cliRedirect, nil).String())
	_, stateB := p.authorize(t, h.initialise(st, p.AuthorizeURL, cliRedirect, nil).String())
	r := h.must(400, h.do("POST", "/connections", codeConnection(st.templates["oauth2-code"], "a", codeA, stateB)))
	if e := r.Error(t); e.Code != "upstream_rejected" || !strings.Contains(e.Message, "invalid_grant") {
		t.Errorf("wrong verifier: %+v", e)
	}

	// A wrong client secret, merge-patched into the grant's credential.
	h.must(201, h.do("PUT", "/systems/"+st.systemID+"/auth-scheme-configs/oauth2-code", obj{"type": "oauth2", "oauth2": obj{
		"id": "oauth2-code", "description": "code", "authorizeUrl": p.AuthorizeURL, "tokenUrl": p.TokenURL, "pkce": true,
		"scopes": arr{}, "defaultScopes": arr{"read"},
		"grant": obj{"type": "authorizationCode", "authorizationCode": obj{"credentialId": st.credentialID, "organisationId": h.org.String(),
			"clientSecret": "SECRET-wrong-client-secret"}}}}))
	code, state := p.authorize(t, h.initialise(st, p.AuthorizeURL, cliRedirect, nil).String())
	r = h.must(400, h.do("POST", "/connections", codeConnection(st.templates["oauth2-code"], "b", code, state)))
	e := r.Error(t)
	if e.Code != "upstream_rejected" || !strings.Contains(e.Message, "invalid_client") {
		t.Errorf("wrong secret: %+v", e)
	}
	if strings.Contains(string(r.Body), "SECRET") {
		t.Errorf("the error shows a secret: %s", r.Body)
	}
	// Mixed ids are refused.
	r = h.must(400, h.do("PUT", "/systems/"+st.systemID+"/auth-scheme-configs/oauth2-code", obj{"type": "oauth2", "oauth2": obj{
		"id": "oauth2-code", "description": "", "authorizeUrl": p.AuthorizeURL, "tokenUrl": p.TokenURL,
		"grant": obj{"type": "authorizationCode", "authorizationCode": obj{"credentialId": st.credentialID, "clientSecret": "x"}}}}))
	assertField(t, r.Error(t), "oauth2.grant.authorizationCode.credentialId", "set both")
}

func TestOAuth2ProviderFailures(t *testing.T) {
	h := newHarness(t) // its outbound client gives up after 3s
	p := newGoProvider(t)
	st := h.oauthSetup(oauth2Configs(p.AuthorizeURL, p.TokenURL, p.ClientID, p.ClientSecret, false))

	code, state := p.authorize(t, h.initialise(st, p.AuthorizeURL, cliRedirect, nil).String())
	p.failNext(1)
	r := h.must(502, h.do("POST", "/connections", codeConnection(st.templates["oauth2-code"], "a", code, state)))
	if e := r.Error(t); e.Code != "upstream_unavailable" || !strings.Contains(e.Message, "HTTP 503") {
		t.Errorf("provider 5xx: %+v", e)
	}

	code, state = p.authorize(t, h.initialise(st, p.AuthorizeURL, cliRedirect, nil).String())
	p.stallNext(1, 10*time.Second)
	r = h.must(504, h.do("POST", "/connections", codeConnection(st.templates["oauth2-code"], "b", code, state)))
	if e := r.Error(t); e.Code != "upstream_timeout" {
		t.Errorf("provider timeout: %+v", e)
	}
}

func TestOAuth2TokenURLOnPrivateAddressIsRefused(t *testing.T) {
	h := newHarnessWith(t, outbound.Config{Resolver: outbound.NoDNSResolver()}) // the guard as in production
	p := newGoProvider(t)
	st := h.oauthSetup(oauth2Configs(p.AuthorizeURL, p.TokenURL, p.ClientID, p.ClientSecret, false))
	code, state := p.authorize(t, h.initialise(st, p.AuthorizeURL, cliRedirect, nil).String())
	r := h.must(400, h.do("POST", "/connections", codeConnection(st.templates["oauth2-code"], "a", code, state)))
	e := r.Error(t)
	if e.Code != "upstream_refused" || !strings.Contains(e.Message, "PLUGBOARD_ALLOW_PRIVATE_NETWORKS") {
		t.Errorf("guard: %+v", e)
	}
	if p.grantCount("authorization_code") != 0 {
		t.Errorf("the provider was called")
	}
}

func TestOAuth2PasswordAndClientCredentials(t *testing.T) {
	h := newHarness(t)
	p := newGoProvider(t)
	st := h.oauthSetup(oauth2Configs(p.AuthorizeURL, p.TokenURL, p.ClientID, p.ClientSecret, false))
	pw := func(password string) obj {
		return obj{"connectionTemplateId": st.templates["oauth2-password"], "connection": obj{"name": "pw-" + password, "credentials": arr{obj{
			"id": zeroID, "authSchemeConfig": obj{"type": "oauth2", "oauth2": obj{"id": "oauth2-password"}},
			"credential": obj{"type": "oauth2-password", "data": obj{"oauth2Password": obj{"username": p.Username, "password": password}}},
		}}}}
	}
	var c connectionView
	h.must(201, h.do("POST", "/connections", pw(p.Password))).JSON(t, &c)
	if c.Credentials[0].Credential.Type != "oauth2-token" || p.grantCount("password") != 1 {
		t.Errorf("password grant: %+v, %d grants", c.Credentials[0].Credential, p.grantCount("password"))
	}
	r := h.must(400, h.do("POST", "/connections", pw("SECRET-wrong-password")))
	if e := r.Error(t); e.Code != "upstream_rejected" || strings.Contains(string(r.Body), "SECRET-wrong-password") {
		t.Errorf("wrong password: %+v", e)
	}
}

func TestOAuth2InitialiseChecks(t *testing.T) {
	h := newHarness(t)
	p := newGoProvider(t)
	st := h.oauthSetup(oauth2Configs(p.AuthorizeURL, p.TokenURL, p.ClientID, p.ClientSecret, false))
	path := "/systems/" + st.systemID + "/oauth2/initialise"
	base := func() obj {
		return obj{"authorizeUrl": p.AuthorizeURL, "clientId": "go-client", "credential": obj{"id": st.credentialID, "organisationId": h.org.String()}}
	}
	b := base()
	b["clientId"] = "someone-else"
	assertField(t, h.must(400, h.do("POST", path, b)).Error(t), "clientId", "does not match")
	b = base()
	b["additionalParams"] = "redirect_uri=http://evil.example/"
	assertField(t, h.must(400, h.do("POST", path, b)).Error(t), "additionalParams", "redirect_uri")
	b = base()
	b["credential"] = obj{"id": zeroID}
	h.must(400, h.do("POST", path, b))

	// Defaults: offline_access unless disabled; no prompt when approval_prompt is given.
	b = base()
	b["disableOfflineAccess"] = true
	b["additionalParams"] = "approval_prompt=force&access_type=offline"
	var res struct {
		URL string `json:"url"`
	}
	h.must(200, h.do("POST", path, b)).JSON(t, &res)
	u, _ := url.Parse(res.URL)
	q := u.Query()
	if slices.Contains(strings.Fields(q.Get("scope")), "offline_access") || q.Has("prompt") || q.Get("access_type") != "offline" {
		t.Errorf("authorize URL %s", res.URL)
	}
	if !strings.HasSuffix(q.Get("redirect_uri"), "/oauth2/callback") {
		t.Errorf("without a redirectUrl the flow should use Plugboard's callback: %s", q.Get("redirect_uri"))
	}
}

func TestOAuth2Callback(t *testing.T) {
	h := newHarness(t)
	p := newGoProvider(t)
	st := h.oauthSetup(oauth2Configs(p.AuthorizeURL, p.TokenURL, p.ClientID, p.ClientSecret, true))

	// Without a return URL: a page hands code and state to the opener.
	u := h.initialise(st, p.AuthorizeURL, "", nil)
	code, state := p.authorize(t, u.String())
	page := h.must(200, h.doAs("", h.org, "GET", "//oauth2/callback?"+url.Values{"code": {code}, "state": {state}}.Encode(), nil))
	if !strings.Contains(string(page.Body), "window.opener.postMessage") || !strings.Contains(string(page.Body), code) {
		t.Errorf("callback page: %s", page.Body)
	}
	// The page does not consume the state: the exchange does.
	var c connectionView
	h.must(201, h.do("POST", "/connections", codeConnection(st.templates["oauth2-code"], "via-page", code, state))).JSON(t, &c)

	// With a return URL: a redirect carrying code and state.
	u = h.initialise(st, p.AuthorizeURL, "", obj{"returnUrl": "https://app.example/connected?x=1"})
	code, state = p.authorize(t, u.String())
	r := h.must(302, h.doAsNoRedirect("//oauth2/callback?"+url.Values{"code": {code}, "state": {state}}.Encode()))
	loc, _ := url.Parse(r.Header.Get("Location"))
	if loc.Host != "app.example" || loc.Query().Get("code") != code || loc.Query().Get("state") != state || loc.Query().Get("x") != "1" {
		t.Errorf("redirect to %s", loc)
	}
	// Unknown and used states are refused.
	h.must(400, h.doAs("", h.org, "GET", "//oauth2/callback?state=nope&code=x", nil))
	h.must(400, h.doAs("", h.org, "GET", "//oauth2/callback?"+url.Values{"code": {"x"}, "state": {c.Credentials[0].ID}}.Encode(), nil))
}

// TestOAuth2Hardening covers what a review of the flows found: token endpoints' redirects are
// not followed, a config can bind only its own grant credential, a stored secret never follows a
// token URL to another origin, return URLs are limited to allowed origins, and additional
// parameters cannot override the token request's own.
func TestOAuth2Hardening(t *testing.T) {
	h := newHarness(t)
	p := newGoProvider(t)
	st := h.oauthSetup(oauth2Configs(p.AuthorizeURL, p.TokenURL, p.ClientID, p.ClientSecret, false))

	// A 307 from the token endpoint is an answer, not an instruction: nothing is sent on.
	var followed int
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { followed++ }))
	defer sink.Close()
	code, state := p.authorize(t, h.initialise(st, p.AuthorizeURL, cliRedirect, nil).String())
	p.redirectNext(sink.URL + "/steal")
	r := h.must(400, h.do("POST", "/connections", codeConnection(st.templates["oauth2-code"], "a", code, state)))
	if e := r.Error(t); e.Code != "upstream_rejected" || followed != 0 {
		t.Errorf("redirect: %+v, followed %d times", e, followed)
	}

	// Another system's config cannot name this one's grant credential.
	var other struct {
		ID string `json:"id"`
	}
	cfg := obj{"type": "oauth2", "oauth2": obj{"id": "oauth2-code", "description": "", "authorizeUrl": p.AuthorizeURL, "tokenUrl": sink.URL + "/token",
		"grant": obj{"type": "authorizationCode", "authorizationCode": obj{"credentialId": st.credentialID, "organisationId": h.org.String()}}}}
	r = h.must(400, h.do("POST", "/systems", obj{"name": "thief", "domain": "d", "templateBaseUrl": "", "authSchemeConfigs": arr{cfg}}))
	assertField(t, r.Error(t), "authSchemeConfigs[0].oauth2.grant.authorizationCode.credentialId", "is not the client credential of this config's grant")
	_ = other

	// Moving the token URL to another origin needs the secret again, from a key that may not read
	// it (internal/trust).
	admin := h.keyWith("admin")
	moved := obj{"type": "oauth2", "oauth2": obj{"id": "oauth2-code", "description": "", "authorizeUrl": p.AuthorizeURL, "tokenUrl": sink.URL + "/token",
		"grant": obj{"type": "authorizationCode", "authorizationCode": obj{"credentialId": st.credentialID, "organisationId": h.org.String()}}}}
	r = h.must(400, h.doAs(admin, h.org, "PUT", "/systems/"+st.systemID+"/auth-scheme-configs/oauth2-code", moved))
	assertField(t, r.Error(t), "oauth2.grant.authorizationCode.clientSecret", "must be sent again")
	moved["oauth2"].(obj)["grant"].(obj)["authorizationCode"].(obj)["clientSecret"] = "SECRET-new-secret-for-new-host"
	h.must(201, h.doAs(admin, h.org, "PUT", "/systems/"+st.systemID+"/auth-scheme-configs/oauth2-code", moved))

	// Return URLs only go to allowed origins.
	body := obj{"authorizeUrl": p.AuthorizeURL, "clientId": p.ClientID, "credential": obj{"id": st.credentialID}, "returnUrl": "https://evil.example/phish"}
	assertField(t, h.must(400, h.do("POST", "/systems/"+st.systemID+"/oauth2/initialise", body)).Error(t), "returnUrl", "allowed origin")

	// Additional parameters cannot replace the token request's own.
	code, state = "c", "s"
	b := codeConnection(st.templates["oauth2-code"], "b", code, state)
	b["connection"].(obj)["credentials"].(arr)[0].(obj)["credential"].(obj)["data"].(obj)["oauth2Code"].(obj)["additionalParams"] = "redirect_uri=https://other.example/"
	r = h.must(400, h.do("POST", "/connections", b))
	assertField(t, r.Error(t), "connection.credentials[0].credential.data.oauth2Code.additionalParams", "redirect_uri")
}
