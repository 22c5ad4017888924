package httpapi_test

import (
	"net/url"
	"strings"
	"testing"
	"time"
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
	projID, envID, tplID := h.dynamicTemplate(sys.ID, "provider")
	return &sessionOAuth{t: t, h: h, p: p, projectID: projID, envID: envID, templateID: tplID}
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

// The state of a connect session's popup cannot be redeemed through the API for anyone (another
// end user, or the session's own), by any of the three ways the API takes a code: POST
// /connections, PUT /connections/{id} and an activation's connection. Each is refused with 400
// naming the state field where that request has it, the state is not used up, and the session's
// popup still finishes for the session's end user.
func TestConnectSessionStateNotRedeemableThroughAPI(t *testing.T) {
	o := newSessionOAuth(t)
	h := o.h
	cs := o.session("owner")
	first := o.callback(o.p.authorize(t, o.start(cs, "").String()))
	if first["ok"] != true {
		t.Fatalf("the session's first connect: %v", first)
	}
	owned := first["connectionId"].(string)
	var before connectionView
	h.must(200, h.do("GET", "/connections/"+owned, nil)).JSON(t, &before)

	// A reconnect flow of the session's connection, its code and state sent to the API instead.
	code, state := o.p.authorize(t, o.start(cs, owned).String())
	const field = "credentials[0].credential.data.oauth2Code.state"
	for _, externalID := range []string{"intruder", "owner"} {
		body := codeConnection(o.templateID, "stolen-"+externalID, code, state)
		body["externalId"] = externalID
		refused(t, h.do("POST", "/connections", body), 400, "invalid_argument", "", "connection."+field)
		refused(t, h.do("POST", "/activations", obj{"userId": externalID, "environmentId": o.envID,
			"connections": arr{codeConnection(o.templateID, "stolen-"+externalID, code, state)}}),
			400, "invalid_argument", "", "connections[0].connection."+field)
	}
	creds := codeConnection(o.templateID, "", code, state)["connection"].(obj)["credentials"]
	refused(t, h.do("PUT", "/connections/"+owned, obj{"name": "stolen", "baseUrl": "", "credentials": creds}),
		400, "invalid_argument", "", field)
	if n := h.count("connections"); n != 1 {
		t.Fatalf("%d connections stored, want the session's one", n)
	}
	var after connectionView
	h.must(200, h.do("GET", "/connections/"+owned, nil)).JSON(t, &after)
	if after.Name != before.Name || len(after.Credentials) != 1 || after.Credentials[0].Credential.ID != before.Credentials[0].Credential.ID {
		t.Errorf("the refused PUT changed the connection: %+v, was %+v", after, before)
	}

	res := o.callback(code, state)
	if res["ok"] != true || res["connectionId"] != owned {
		t.Fatalf("the session's own reconnect callback after the refusals: %v", res)
	}
	var c connectionView
	h.must(200, h.do("GET", "/connections/"+owned, nil)).JSON(t, &c)
	var s pageSession
	h.must(200, h.page(cs.Token, "GET", "/session", nil)).JSON(t, &s)
	if c.EndUserID != s.EndUser.ID {
		t.Errorf("connection of end user %s, want the session's %s", c.EndUserID, s.EndUser.ID)
	}
}

// A template made static while the end user is at the provider, or while the code is being
// exchanged, takes no end user's connection: the popup ends with template_unavailable.
func TestConnectSessionTemplateMadeStatic(t *testing.T) {
	for _, when := range []string{"in the popup", "during the exchange"} {
		t.Run(when, func(t *testing.T) {
			o := newSessionOAuth(t)
			h := o.h
			cs := o.session("static-user")
			authorize := o.start(cs, "")
			makeStatic := func() response {
				return h.do("PUT", "/projects/"+o.projectID+"/connection-templates/"+o.templateID, obj{"dynamic": false})
			}
			var status int
			if when == "in the popup" {
				status = makeStatic().Status
			} else {
				o.p.duringNextExchange(func() { status = makeStatic().Status })
			}
			code, state := o.p.authorize(t, authorize.String())
			res := o.callback(code, state)
			if status != 200 {
				t.Fatalf("making the template static: %d", status)
			}
			if res["ok"] != false || res["code"] != "template_unavailable" || res["message"] == "" {
				t.Errorf("result %v", res)
			}
			if n := h.count("connections"); n != 0 {
				t.Errorf("%d connections stored under a static template", n)
			}
			if when == "in the popup" {
				// The flow is over: dynamic again, a replay of the redirect makes nothing.
				h.must(200, h.do("PUT", "/projects/"+o.projectID+"/connection-templates/"+o.templateID, obj{"dynamic": true}))
				if again := o.callback(code, state); again["ok"] != false || again["code"] != "state_used" {
					t.Errorf("replayed redirect: %v", again)
				}
			}
		})
	}
}

// A session revoked or expired while the provider exchange is in flight stores nothing: neither a
// new connection nor a reconnect's new credentials; the popup says the session ended.
func TestConnectSessionEndedDuringExchange(t *testing.T) {
	for _, how := range []string{"revoked", "expired"} {
		t.Run(how, func(t *testing.T) {
			o := newSessionOAuth(t)
			h := o.h
			end := func(cs connectSession) func() {
				return func() {
					if how == "revoked" {
						h.do("DELETE", "/connect-sessions/"+cs.ID, nil)
					} else {
						h.advance(31 * time.Minute)
					}
				}
			}

			// A reconnect: the end user's connection keeps its credentials.
			first := o.session("reconnect-user")
			made := o.callback(o.p.authorize(t, o.start(first, "").String()))
			if made["ok"] != true {
				t.Fatalf("first connect: %v", made)
			}
			id := made["connectionId"].(string)
			var before, after connectionView
			h.must(200, h.do("GET", "/connections/"+id, nil)).JSON(t, &before)
			cs := o.session("reconnect-user")
			authorize := o.start(cs, id)
			o.p.duringNextExchange(end(cs))
			res := o.callback(o.p.authorize(t, authorize.String()))
			if res["ok"] != false || res["code"] != "session_expired" || !strings.Contains(res["message"].(string), "expired") {
				t.Errorf("reconnect: result %v", res)
			}
			h.must(200, h.do("GET", "/connections/"+id, nil)).JSON(t, &after)
			if after.Credentials[0].Credential.ID != before.Credentials[0].Credential.ID {
				t.Error("an ended session's reconnect replaced the credentials")
			}

			// A new connection: none is stored.
			cs = o.session("new-user")
			authorize = o.start(cs, "")
			conns := h.count("connections")
			o.p.duringNextExchange(end(cs))
			res = o.callback(o.p.authorize(t, authorize.String()))
			if res["ok"] != false || res["code"] != "session_expired" {
				t.Errorf("connect: result %v", res)
			}
			if h.count("connections") != conns {
				t.Error("an ended session's flow stored a connection")
			}
		})
	}
}
