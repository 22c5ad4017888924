package httpapi_test

import (
	"net/url"
	"testing"
)

// sessionOAuth is a system with an OAuth 2.0 authorization-code config at the Go provider (its
// config's redirectUrl names another listener, as a CLI's would), a dynamic template of it, and
// the means to run the connect page's popup flow.
type sessionOAuth struct {
	t          *testing.T
	h          *harness
	p          *goProvider
	projectID  string
	envID      string
	templateID string
}

func newSessionOAuth(t *testing.T) *sessionOAuth {
	t.Helper()
	h := newHarness(t)
	p := newGoProvider(t)
	var sys struct {
		ID string `json:"id"`
	}
	h.must(201, h.do("POST", "/systems", obj{"name": "Provider", "domain": "provider.test", "templateBaseUrl": "https://api.provider.test",
		"authSchemeConfigs": arr{obj{"type": "oauth2", "oauth2": obj{"id": "oauth2-code", "description": "Sign in", "authorizeUrl": p.AuthorizeURL,
			"tokenUrl": p.TokenURL, "scopes": arr{obj{"name": "read"}}, "defaultScopes": arr{"read"}, "pkce": true, "redirectUrl": cliRedirect,
			"grant": obj{"type": "authorizationCode", "authorizationCode": obj{"clientId": p.ClientID, "clientSecret": p.ClientSecret}}}}}})).JSON(t, &sys)
	var proj struct {
		ID           string                `json:"id"`
		Environments []struct{ ID string } `json:"environments"`
	}
	h.must(200, h.do("POST", "/projects", obj{"name": "P"})).JSON(t, &proj)
	var tpl struct {
		ID string `json:"connectionTemplateId"`
	}
	h.must(200, h.do("POST", "/projects/"+proj.ID+"/connection-templates", obj{"systemId": sys.ID, "name": "provider",
		"environmentId": proj.Environments[0].ID, "dynamic": true})).JSON(t, &tpl)
	return &sessionOAuth{t: t, h: h, p: p, projectID: proj.ID, envID: proj.Environments[0].ID, templateID: tpl.ID}
}

func (o *sessionOAuth) session(externalID string) connectSession {
	return o.h.newConnectSession(obj{"endUser": obj{"externalId": externalID}, "environmentId": o.envID})
}

// start begins the popup flow of the session (a reconnect of connectionID when given) and returns
// the provider's authorize URL.
func (o *sessionOAuth) start(cs connectSession, connectionID string) *url.URL {
	o.h.t.Helper()
	body := obj{"templateId": o.templateID, "authSchemeConfigId": "oauth2-code"}
	if connectionID != "" {
		body["connectionId"] = connectionID
	}
	var res struct {
		URL string `json:"url"`
	}
	o.h.must(200, o.h.page(cs.Token, "POST", "/oauth", body)).JSON(o.h.t, &res)
	u, err := url.Parse(res.URL)
	if err != nil {
		o.h.t.Fatal(err)
	}
	return u
}

// callback is the provider's redirect to Plugboard's callback, answered with the popup's result.
func (o *sessionOAuth) callback(code, state string) map[string]any {
	o.t.Helper()
	return popupResult(o.t, o.h.doAsNoRedirect("//oauth2/callback?"+url.Values{"code": {code}, "state": {state}}.Encode()))
}

// A connect session's flow sends the provider Plugboard's own callback as redirect_uri, never the
// config's redirectUrl (which names a listener the page's popup is not at), and finishes there.
func TestConnectSessionOAuthRedirectsToPlugboard(t *testing.T) {
	o := newSessionOAuth(t)
	cs := o.session("redirect-user")
	authorize := o.start(cs, "")
	if got, want := authorize.Query().Get("redirect_uri"), o.h.srv.URL+"/oauth2/callback"; got != want {
		t.Fatalf("redirect_uri %q, want %q", got, want)
	}
	res := o.callback(o.p.authorize(t, authorize.String()))
	if res["ok"] != true {
		t.Fatalf("result %v", res)
	}
}
