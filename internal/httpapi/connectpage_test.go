package httpapi_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"html"
	"math/big"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/httpapi"
	"github.com/plugboard/plugboard/internal/oauth1test"
	"github.com/plugboard/plugboard/internal/oidctest"
	"github.com/plugboard/plugboard/internal/outbound"
	"github.com/plugboard/plugboard/internal/ratelimit"
)

// connectSession is a created connect session as the API answers it.
type connectSession struct {
	ID        string    `json:"id"`
	Token     string    `json:"token"`
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// pageSession is the part of GET /connect/api/session the tests read.
type pageSession struct {
	ID      string `json:"id"`
	EndUser struct {
		ID         string `json:"id"`
		ExternalID string `json:"externalId"`
	} `json:"endUser"`
	AllowedOrigins []string `json:"allowedOrigins"`
	Templates      []struct {
		ID         string `json:"id"`
		State      string `json:"state"`
		Connection *struct {
			ID string `json:"id"`
		} `json:"connection"`
		Schemes []struct {
			AuthSchemeConfigID string `json:"authSchemeConfigId"`
			Flow               string `json:"flow"`
			Fields             []struct {
				Name     string `json:"name"`
				Kind     string `json:"kind"`
				MaxBytes int    `json:"maxBytes"`
			} `json:"fields"`
		} `json:"schemes"`
	} `json:"templates"`
}

func (h *harness) newConnectSession(body obj) connectSession {
	h.t.Helper()
	var cs connectSession
	h.must(201, h.do("POST", "/connect-sessions", body)).JSON(h.t, &cs)
	return cs
}

// page calls the page's API with a session token (the page's only credential).
func (h *harness) page(token, method, path string, body any) response {
	h.t.Helper()
	return h.doAs(token, h.org, method, "//connect/api"+path, body)
}

// refused checks an Error's status and code, that its message says want, and that it names field
// (when given); it returns the error.
func refused(t *testing.T, r response, status int, code, want, field string) apiError {
	t.Helper()
	var e apiError
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	r.JSON(t, &e)
	if e.Code != code || !strings.Contains(e.Message, want) {
		t.Errorf("error %+v, want code %s and a message with %q", e, code, want)
	}
	if field != "" {
		named := false
		for _, f := range e.Fields {
			named = named || f.Field == field
		}
		if !named {
			t.Errorf("error %s names no field %s", r.Body, field)
		}
	}
	return e
}

// count counts an organisation's rows of a table.
func (h *harness) count(table string) int {
	h.t.Helper()
	db, q := h.rawDB()
	defer db.Close()
	var n int
	if err := db.QueryRow(q("SELECT COUNT(*) FROM "+table+" WHERE organisation_id = ?"), h.org.String()).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

// pageHeaders checks the security headers every page answer carries.
func pageHeaders(t *testing.T, r response, frameAncestors string) {
	t.Helper()
	csp := r.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "form-action 'none'", frameAncestors} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") {
		t.Errorf("Content-Security-Policy %q allows inline code", csp)
	}
	if got := r.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control %q", got)
	}
	if got := r.Header.Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("Referrer-Policy %q", got)
	}
	if got := r.Header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options %q", got)
	}
	if r.Header.Get("Set-Cookie") != "" {
		t.Errorf("the page sets a cookie: %q", r.Header.Get("Set-Cookie"))
	}
}

// TestConnectPageFlow: a session made with an API key lets its end user, through the page's API
// and with the token alone, see their templates, connect with an API key, see it connected,
// reconnect with a new key, disconnect and finish (connect_session.completed once). No token or
// key is in any answer (but the token in the create answer) or log line.
func TestConnectPageFlow(t *testing.T) {
	h := newHarness(t)
	f := h.fixture()
	cs := h.newConnectSession(obj{"endUser": obj{"externalId": "customer-7", "displayName": "Customer Seven"}, "environmentId": f.envID,
		"templateIds": arr{f.templates["api-key"], f.templates["cert"]}, "returnUrl": "https://app.example/done",
		"allowedOrigins": arr{"https://app.example"}})
	createAnswers := len(h.responses)
	if !strings.HasPrefix(cs.Token, "pbcs_") || len(cs.Token) != len("pbcs_")+43 {
		t.Errorf("token %q", cs.Token)
	}
	if want := h.srv.URL + "/connect/s/" + cs.ID + "#token=" + cs.Token; cs.URL != want {
		t.Errorf("url %q, want %q", cs.URL, want)
	}
	if d := time.Until(cs.ExpiresAt); d < 29*time.Minute || d > 31*time.Minute {
		t.Errorf("expires at %s, want in 30 minutes", cs.ExpiresAt)
	}
	u, err := url.Parse(cs.URL)
	if err != nil {
		t.Fatal(err)
	}
	pg := h.doAsNoRedirect("/" + u.Path)
	if pg.Status != 200 || !strings.Contains(pg.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("page: %d %s", pg.Status, pg.Header.Get("Content-Type"))
	}
	pageHeaders(t, pg, "frame-ancestors 'self' https://app.example")
	if strings.Contains(string(pg.Body), "<script>") || strings.Contains(string(pg.Body), " style=") {
		t.Error("the page has inline script or style")
	}

	var s pageSession
	h.must(200, h.page(cs.Token, "GET", "/session", nil)).JSON(t, &s)
	pageHeaders(t, h.page(cs.Token, "GET", "/session", nil), "frame-ancestors 'none'")
	if s.ID != cs.ID || s.EndUser.ExternalID != "customer-7" || len(s.Templates) != 2 || s.Templates[0].State != "not_connected" {
		t.Fatalf("session %+v", s)
	}
	if sc := s.Templates[0].Schemes; len(sc) != 1 || sc[0].AuthSchemeConfigID != "api-key" || sc[0].Flow != "form" ||
		len(sc[0].Fields) != 1 || sc[0].Fields[0].Name != "key" || sc[0].Fields[0].Kind != "password" {
		t.Errorf("api-key schemes %+v", sc)
	}
	if sc := s.Templates[1].Schemes; len(sc) != 1 || len(sc[0].Fields) != 3 || sc[0].Fields[0].Kind != "pem" || sc[0].Fields[1].MaxBytes != 65536 {
		t.Errorf("certificate schemes %+v", sc)
	}

	const key1, key2 = "SECRET-page-key-one", "SECRET-page-key-two"
	var made struct {
		Connection struct {
			ID string `json:"id"`
		} `json:"connection"`
	}
	h.must(201, h.page(cs.Token, "POST", "/connections", obj{"templateId": f.templates["api-key"], "authSchemeConfigId": "api-key",
		"values": obj{"key": key1}})).JSON(t, &made)
	var c connectionView
	h.must(200, h.do("GET", "/connections/"+made.Connection.ID, nil)).JSON(t, &c)
	if c.EndUserID != s.EndUser.ID || c.ConnectionTemplateID != f.templates["api-key"] {
		t.Errorf("connection %+v is not the end user's under the template", c)
	}
	if got := openStoredSecret(t, h, c.Credentials[0].Credential.ID); !strings.Contains(got, key1) {
		t.Error("the key is not stored")
	}
	h.must(200, h.page(cs.Token, "GET", "/session", nil)).JSON(t, &s)
	if s.Templates[0].State != "connected" || s.Templates[0].Connection == nil || s.Templates[0].Connection.ID != made.Connection.ID {
		t.Errorf("after connect: %+v", s.Templates[0])
	}
	refused(t, h.page(cs.Token, "POST", "/connections", obj{"templateId": f.templates["api-key"], "authSchemeConfigId": "api-key",
		"values": obj{"key": key2}}), 409, "conflict", "reconnect", "templateId")

	h.must(200, h.page(cs.Token, "PUT", "/connections/"+made.Connection.ID, obj{"templateId": f.templates["api-key"],
		"authSchemeConfigId": "api-key", "values": obj{"key": key2}}))
	h.must(200, h.do("GET", "/connections/"+made.Connection.ID, nil)).JSON(t, &c)
	if got := openStoredSecret(t, h, c.Credentials[0].Credential.ID); !strings.Contains(got, key2) {
		t.Error("reconnect did not replace the key")
	}

	h.must(204, h.page(cs.Token, "DELETE", "/connections/"+made.Connection.ID, nil))
	h.must(404, h.do("GET", "/connections/"+made.Connection.ID, nil))
	s = pageSession{}
	h.must(200, h.page(cs.Token, "GET", "/session", nil)).JSON(t, &s)
	if s.Templates[0].State != "not_connected" || s.Templates[0].Connection != nil {
		t.Errorf("after disconnect: %+v", s.Templates[0])
	}

	h.must(204, h.page(cs.Token, "POST", "/complete", nil))
	h.must(204, h.page(cs.Token, "POST", "/complete", nil))
	var evs struct {
		Events []struct {
			Type  string `json:"type"`
			Actor string `json:"actor"`
		} `json:"events"`
	}
	h.must(200, h.do("GET", "/events?first=100", nil)).JSON(t, &evs)
	counts := map[string]int{}
	for _, e := range evs.Events {
		counts[e.Type]++
		if e.Type == "connection.created" && e.Actor != "connect_session:"+cs.ID {
			t.Errorf("connection.created by %q, want the session", e.Actor)
		}
	}
	if counts["connect_session.created"] != 1 || counts["connect_session.completed"] != 1 || counts["connection.deleted"] != 1 {
		t.Errorf("events %v", counts)
	}

	// No secret anywhere: the token only in the create answer, the keys nowhere.
	for i, body := range h.responses {
		for _, secret := range []string{key1, key2, cs.Token} {
			if secret == cs.Token && i == createAnswers-1 {
				continue
			}
			if strings.Contains(string(body), secret) {
				t.Errorf("answer %d holds a secret: %s", i, body)
			}
		}
	}
	for _, secret := range []string{key1, key2, cs.Token} {
		if strings.Contains(h.logs.String(), secret) {
			t.Errorf("the log holds a secret")
		}
	}
}

// testCertificate returns a self-signed certificate and its key, PEM-encoded.
func testCertificate(t *testing.T) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "client"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}))
}

// TestConnectPageRefusals: every bad input is refused with a clear Error, and nothing is stored:
// missing, forged, revoked and expired tokens; another organisation revoking a session; another
// end user's connection; templates not of the environment; origins not allowed; oversized
// uploads, malformed PEM and a key that does not match its certificate.
func TestConnectPageRefusals(t *testing.T) {
	h := newHarness(t)
	f := h.fixture()
	session := func() connectSession {
		return h.newConnectSession(obj{"endUser": obj{"externalId": "customer-8"}, "environmentId": f.envID,
			"allowedOrigins": arr{"https://app.example"}})
	}
	cs := session()

	t.Run("session creation", func(t *testing.T) {
		sessions, users := h.count("connect_sessions"), h.count("end_users")
		other := h.templateFor(f.systemID, "api-key") // in another project's environment
		refused(t, h.do("POST", "/connect-sessions", obj{"endUser": obj{"externalId": "x-1"}, "environmentId": f.envID,
			"templateIds": arr{other}}), 400, "invalid_argument", "invalid connect session", "templateIds[0]")
		refused(t, h.do("POST", "/connect-sessions", obj{"endUser": obj{"externalId": "x-2"}, "environmentId": f.envID,
			"allowedOrigins": arr{"https://evil.example"}}), 400, "invalid_argument", "invalid connect session", "allowedOrigins[0]")
		refused(t, h.do("POST", "/connect-sessions", obj{"endUser": obj{"externalId": "x-3"}, "environmentId": f.envID,
			"allowedOrigins": arr{"https://app.example/path"}}), 400, "invalid_argument", "invalid connect session", "allowedOrigins[0]")
		refused(t, h.do("POST", "/connect-sessions", obj{"endUser": obj{"externalId": "x-4"}, "environmentId": f.envID,
			"returnUrl": "https://evil.example/done"}), 400, "invalid_argument", "invalid connect session", "returnUrl")
		refused(t, h.do("POST", "/connect-sessions", obj{"endUser": obj{}, "environmentId": f.envID}), 400, "invalid_argument", "invalid connect session", "endUser")
		if h.count("connect_sessions") != sessions || h.count("end_users") != users {
			t.Error("a refused session stored something")
		}
		// Another organisation cannot revoke this one's session, nor tell it exists.
		org, key := h.newOrg("other")
		refused(t, h.doAs(key, org, "DELETE", "/connect-sessions/"+cs.ID, nil), 404, "not_found", "not found", "")
		h.must(200, h.page(cs.Token, "GET", "/session", nil))
	})

	t.Run("tokens", func(t *testing.T) {
		refused(t, h.page("", "GET", "/session", nil), 401, "unauthenticated", "token is required", "")
		refused(t, h.page("pbcs_"+strings.Repeat("A", 43), "GET", "/session", nil), 401, "unauthenticated", "not valid", "")
		refused(t, h.page(h.key, "GET", "/session", nil), 401, "unauthenticated", "not valid", "") // an API key is no session token
		revoked := session()
		h.must(204, h.do("DELETE", "/connect-sessions/"+revoked.ID, nil))
		h.must(204, h.do("DELETE", "/connect-sessions/"+revoked.ID, nil))
		refused(t, h.page(revoked.Token, "GET", "/session", nil), 401, "unauthenticated", "revoked", "")
		refused(t, h.page(revoked.Token, "POST", "/connections", obj{"templateId": f.templates["api-key"], "authSchemeConfigId": "api-key",
			"values": obj{"key": "k"}}), 401, "unauthenticated", "revoked", "")
		pageHeaders(t, h.doAsNoRedirect("//connect/s/"+revoked.ID), "frame-ancestors 'none'")
	})

	t.Run("another end user's connection", func(t *testing.T) {
		var theirs connectionView
		samples := storableSamples(t, "https://provider.example/token")
		body := connectionBody(f.templates["api-key"], "theirs", samples[1], configByID("api-key"))
		body["externalId"] = "someone-else"
		h.must(201, h.do("POST", "/connections", body)).JSON(t, &theirs)
		refused(t, h.page(cs.Token, "DELETE", "/connections/"+theirs.ID, nil), 404, "not_found", "connection not found", "connectionId")
		refused(t, h.page(cs.Token, "PUT", "/connections/"+theirs.ID, obj{"templateId": f.templates["api-key"], "authSchemeConfigId": "api-key",
			"values": obj{"key": "mine"}}), 404, "not_found", "connection not found", "connectionId")
		refused(t, h.page(cs.Token, "DELETE", "/connections/not-an-id", nil), 404, "not_found", "connection not found", "")
		h.must(200, h.do("GET", "/connections/"+theirs.ID, nil))
	})

	t.Run("uploads", func(t *testing.T) {
		cert, key := testCertificate(t)
		ca, otherKey := testCertificate(t)
		conns, creds := h.count("connections"), h.count("credentials")
		send := func(values obj) response {
			if _, ok := values["ca"]; !ok {
				values["ca"] = ca
			}
			return h.page(cs.Token, "POST", "/connections", obj{"templateId": f.templates["cert"], "authSchemeConfigId": "cert", "values": values})
		}
		refused(t, send(obj{"certificate": strings.Repeat("A", 70000), "privateKey": key}), 413, "request_too_large", "too large", "values.certificate")
		refused(t, h.page(cs.Token, "POST", "/connections", strings.Repeat(" ", 300<<10)), 413, "request_too_large", "larger than", "")
		refused(t, send(obj{"certificate": "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n", "privateKey": key}),
			400, "invalid_argument", "invalid certificate", "values.certificate")
		refused(t, send(obj{"certificate": strings.Replace(cert, "CERTIFICATE", "PUBLIC KEY", 2), "privateKey": key}),
			400, "invalid_argument", "invalid certificate", "values.certificate")
		refused(t, send(obj{"certificate": cert, "privateKey": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}),
			400, "invalid_argument", "invalid certificate", "values.privateKey")
		refused(t, send(obj{"certificate": cert, "privateKey": otherKey}), 400, "invalid_argument", "invalid certificate", "values.privateKey")
		refused(t, send(obj{"certificate": cert}), 400, "invalid_argument", "invalid connection", "values.privateKey")
		refused(t, send(obj{"certificate": cert, "privateKey": key, "ca": "not a certificate"}), 400, "invalid_argument", "invalid certificate", "values.ca")
		refused(t, send(obj{"certificate": cert, "privateKey": key, "extra": "x"}), 400, "invalid_argument", "invalid connection", "values.extra")
		refused(t, h.page(cs.Token, "POST", "/connections", obj{"templateId": f.templates["cert"], "authSchemeConfigId": "cert",
			"baseUrl": "https://mine.example", "values": obj{"certificate": cert, "privateKey": key, "ca": ca}}), 400, "invalid_argument", "invalid connection", "baseUrl")
		if h.count("connections") != conns || h.count("credentials") != creds {
			t.Error("a refused upload stored something")
		}
		h.must(201, send(obj{"certificate": cert, "privateKey": key}))
		keyBody := strings.Split(key, "\n")[1] // the key's first line of base64
		for i, body := range h.responses {
			if strings.Contains(string(body), keyBody) || strings.Contains(string(body), "BEGIN PRIVATE KEY") {
				t.Errorf("answer %d holds the private key: %.300s", i, body)
			}
		}
		if strings.Contains(h.logs.String(), keyBody) || strings.Contains(h.logs.String(), cs.Token) {
			t.Error("the log holds a secret")
		}
	})

	t.Run("expired", func(t *testing.T) {
		h.advance(31 * time.Minute)
		refused(t, h.page(cs.Token, "GET", "/session", nil), 401, "unauthenticated", "expired", "")
		pageHeaders(t, h.doAsNoRedirect("//connect/s/"+cs.ID), "frame-ancestors 'none'")
	})

	t.Run("organisation deleted", func(t *testing.T) {
		live := session()
		h.must(200, h.page(live.Token, "GET", "/session", nil))
		if err := h.store.DeleteOrganisation(t.Context(), h.org, h.clock()); err != nil {
			t.Fatal(err)
		}
		refused(t, h.page(live.Token, "GET", "/session", nil), 401, "unauthenticated", "not valid", "")
	})
}

var dataResult = regexp.MustCompile(`data-result="([^"]*)"`)

// popupResult reads the result page an OAuth popup ends on.
func popupResult(t *testing.T, r response) map[string]any {
	t.Helper()
	m := dataResult.FindSubmatch(r.Body)
	if r.Status != 200 || m == nil {
		t.Fatalf("callback: %d %s", r.Status, r.Body)
	}
	var out map[string]any
	response{Body: []byte(html.UnescapeString(string(m[1])))}.JSON(t, &out)
	return out
}

// TestConnectPageOAuthPopup runs the page's OAuth 2.0 popup against npm oidc-provider: the flow
// started with the session token ends, at the callback, in the result page with ok:true and the
// connection made for the session's end user; a session revoked between start and callback ends
// with ok:false, session_expired, and nothing stored. Switched on by PLUGBOARD_TEST_OIDC=1.
func TestConnectPageOAuthPopup(t *testing.T) {
	// The popup ends at Plugboard's own callback, whatever the config's redirectUrl says.
	l := listen(t)
	p := oidctest.Start(t, oidctest.Config{RedirectURIs: []string{cliRedirect, "http://" + l.Addr().String() + "/oauth2/callback"}})
	h := oidcHarnessOn(t, p, l)
	client := p.Clients.Basic
	var sys struct {
		ID string `json:"id"`
	}
	h.must(201, h.do("POST", "/systems", obj{"name": "OIDC", "domain": "oidc.example", "templateBaseUrl": "https://api.oidc.example",
		"authSchemeConfigs": arr{obj{"type": "oauth2", "oauth2": obj{"id": "oauth2-code", "description": "Sign in", "authorizeUrl": p.AuthorizeURL,
			"tokenUrl": p.TokenURL, "scopes": arr{obj{"name": "read"}}, "defaultScopes": arr{"openid", "read"}, "pkce": true,
			"redirectUrl": cliRedirect, "tokenEndpointAuthMethod": client.AuthMethod,
			"grant": obj{"type": "authorizationCode", "authorizationCode": obj{"clientId": client.ID, "clientSecret": client.Secret}}}}}})).JSON(t, &sys)
	_, envID, tplID := h.dynamicTemplate(sys.ID, "oidc")
	newSession := func() connectSession {
		return h.newConnectSession(obj{"endUser": obj{"externalId": "popup-user"}, "environmentId": envID})
	}
	start := func(cs connectSession) string {
		var s pageSession
		h.must(200, h.page(cs.Token, "GET", "/session", nil)).JSON(t, &s)
		if len(s.Templates) != 1 || len(s.Templates[0].Schemes) != 1 || s.Templates[0].Schemes[0].Flow != "popup" {
			t.Fatalf("session %+v", s)
		}
		var res struct {
			URL string `json:"url"`
		}
		h.must(200, h.page(cs.Token, "POST", "/oauth", obj{"templateId": tplID, "authSchemeConfigId": "oauth2-code"})).JSON(t, &res)
		return res.URL
	}

	t.Run("connected", func(t *testing.T) {
		cs := newSession()
		redirect := p.Authorize(t, start(cs))
		cb := h.doAsNoRedirect("//oauth2/callback?" + redirect.RawQuery)
		pageHeaders(t, cb, "frame-ancestors 'none'")
		res := popupResult(t, cb)
		if res["ok"] != true || res["templateId"] != tplID {
			t.Fatalf("result %v", res)
		}
		var c connectionView
		h.must(200, h.do("GET", "/connections/"+res["connectionId"].(string), nil)).JSON(t, &c)
		var s pageSession
		h.must(200, h.page(cs.Token, "GET", "/session", nil)).JSON(t, &s)
		if c.EndUserID != s.EndUser.ID || c.Credentials[0].Credential.Type != "oauth2-token" || s.Templates[0].State != "connected" {
			t.Errorf("connection %+v, session %+v", c, s.Templates[0])
		}
		if strings.Contains(string(cb.Body), redirect.Query().Get("code")) {
			t.Error("the result page repeats the code")
		}
		// The same redirect again: the popup says the sign-in was used, and nothing more is stored.
		again := popupResult(t, h.doAsNoRedirect("//oauth2/callback?"+redirect.RawQuery))
		if again["ok"] != false || again["code"] != "state_used" {
			t.Errorf("replayed callback: %v", again)
		}
	})

	t.Run("too slow", func(t *testing.T) {
		cs := newSession()
		authorize := start(cs)
		redirect := p.Authorize(t, authorize)
		h.advance(11 * time.Minute) // past the flow's state, within the session
		res := popupResult(t, h.doAsNoRedirect("//oauth2/callback?"+redirect.RawQuery))
		if res["ok"] != false || res["code"] != "state_expired" {
			t.Errorf("result %v", res)
		}
	})

	t.Run("revoked mid-flow", func(t *testing.T) {
		cs := newSession()
		authorize := start(cs)
		conns := h.count("connections")
		h.must(204, h.do("DELETE", "/connect-sessions/"+cs.ID, nil))
		redirect := p.Authorize(t, authorize)
		res := popupResult(t, h.doAsNoRedirect("//oauth2/callback?"+redirect.RawQuery))
		if res["ok"] != false || res["code"] != "session_expired" || !strings.Contains(res["message"].(string), "expired") {
			t.Errorf("result %v", res)
		}
		if h.count("connections") != conns {
			t.Error("a revoked session's flow stored a connection")
		}
	})
}

// TestConnectPageOAuth1Popup runs the page's OAuth 1.0a popup against the python3-oauthlib
// provider: started with the session token, it ends at Plugboard's callback in the result page
// with ok:true and the end user's connection holding token credentials; its state and verifier
// sent to the API are refused. Switched on by
// PLUGBOARD_TEST_OAUTH1=1.
func TestConnectPageOAuth1Popup(t *testing.T) {
	p := oauth1test.Start(t, oauth1test.Config{})
	h := newHarness(t)
	var sys struct {
		ID string `json:"id"`
	}
	h.must(201, h.do("POST", "/systems", obj{"name": "OAuth1", "domain": "d", "templateBaseUrl": "", "authSchemeConfigs": arr{
		obj{"type": "oauth1", "oauth1": obj{"id": "oauth1", "description": "Sign in", "consumerKey": p.ConsumerKey, "consumerSecret": p.ConsumerSecret,
			"signatureMethod":                    "sha1",
			"tempCredentialEndpoint":             obj{"url": p.RequestTokenURL},
			"resourceOwnerAuthorizationEndpoint": obj{"url": p.AuthorizeURL},
			"tokenEndpoint":                      obj{"url": p.AccessTokenURL}}}}})).JSON(t, &sys)
	_, envID, tplID := h.dynamicTemplate(sys.ID, "o1")
	cs := h.newConnectSession(obj{"endUser": obj{"externalId": "o1-user"}, "environmentId": envID})
	var res struct {
		URL string `json:"url"`
	}
	h.must(200, h.page(cs.Token, "POST", "/oauth", obj{"templateId": tplID, "authSchemeConfigId": "oauth1"})).JSON(t, &res)
	back := p.Authorize(t, res.URL)
	// The popup's state and verifier are the popup's: the API refuses them for any end user, and the
	// popup still finishes.
	q := back.Query()
	refused(t, h.do("POST", "/connections", obj{"connectionTemplateId": tplID, "externalId": "o1-intruder", "connection": obj{"name": "stolen",
		"credentials": arr{obj{"id": zeroID, "authSchemeConfig": obj{"type": "oauth1", "oauth1": obj{"id": "oauth1"}},
			"credential": obj{"type": "oauth1", "data": obj{"oauth1": obj{"state": q.Get("state"), "oauthToken": q.Get("oauth_token"),
				"oauthVerifier": q.Get("oauth_verifier")}}}}}}}), 400, "invalid_argument", "", "connection.credentials[0].credential.data.oauth1.state")
	out := popupResult(t, h.doAsNoRedirect("//oauth1/callback?"+back.RawQuery))
	if out["ok"] != true {
		t.Fatalf("result %v", out)
	}
	var c connectionView
	h.must(200, h.do("GET", "/connections/"+out["connectionId"].(string), nil)).JSON(t, &c)
	if c.Credentials[0].Credential.Type != "oauth1-token" {
		t.Errorf("credential %+v", c.Credentials[0].Credential)
	}
}

// TestConnectPageRateLimit: a session's page calls take a bucket of their own at the API keys'
// rate; over it, 429 with Retry-After. Forged tokens take none.
func TestConnectPageRateLimit(t *testing.T) {
	h := newHarnessWith(t, outbound.DefaultConfig(), func(c *httpapi.Config) { c.KeyRateLimit = ratelimit.Limit{PerSecond: 0.001, Burst: 5} })
	var sys struct {
		ID string `json:"id"`
	}
	h.must(201, h.do("POST", "/systems", obj{"name": "S", "domain": "s.example", "templateBaseUrl": "https://s.example",
		"authSchemeConfigs": arr{obj{"type": "api-key", "apiKey": obj{"id": "api-key", "description": "", "name": "X-Key", "in": "header"}}}})).JSON(t, &sys)
	_, envID, _ := h.dynamicTemplate(sys.ID, "t")
	cs := h.newConnectSession(obj{"endUser": obj{"externalId": "limited"}, "environmentId": envID})
	for range 10 {
		refused(t, h.page("pbcs_"+strings.Repeat("B", 43), "GET", "/session", nil), 401, "unauthenticated", "not valid", "")
	}
	for range 5 {
		h.must(200, h.page(cs.Token, "GET", "/session", nil))
	}
	r := h.page(cs.Token, "GET", "/session", nil)
	refused(t, r, 429, "rate_limited", "connect session", "")
	if r.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
}

// TestConnectPageNeedsAttention: a connection whose token refreshes fail, or whose credential
// expired, shows as needing attention, saying which.
func TestConnectPageNeedsAttention(t *testing.T) {
	h := newHarness(t)
	f := h.fixture()
	cs := h.newConnectSession(obj{"endUser": obj{"externalId": "attention"}, "environmentId": f.envID,
		"templateIds": arr{f.templates["api-key"], f.templates["basic"]}})
	var s pageSession
	h.must(200, h.page(cs.Token, "GET", "/session", nil)).JSON(t, &s)
	expires := h.clock().Add(time.Minute).UTC().Format(time.RFC3339Nano)
	h.must(201, h.do("POST", "/connections", obj{"connectionTemplateId": f.templates["api-key"], "externalId": "attention",
		"connection": obj{"name": "expiring", "credentials": arr{obj{"id": zeroID, "authSchemeConfig": configByID("api-key"),
			"credential": obj{"id": zeroID, "organisationId": zeroID, "type": "string", "expiresAt": expires,
				"data": obj{"string": obj{"value": "SECRET-expiring"}}}}}}}))
	var failing struct {
		Connection struct {
			ID string `json:"id"`
		} `json:"connection"`
	}
	h.must(201, h.page(cs.Token, "POST", "/connections", obj{"templateId": f.templates["basic"], "authSchemeConfigId": "basic",
		"values": obj{"username": "u", "password": "SECRET-p"}})).JSON(t, &failing)
	c, err := h.store.GetConnection(t.Context(), h.org, ulid.MustParse(failing.Connection.ID))
	if err != nil {
		t.Fatal(err)
	}
	cred := c.Credentials[0].Credential
	since := h.clock().UTC()
	cred.Refresh = plugboard.RefreshState{Attempts: 2, LastError: plugboard.EUpstreamRejected, FailingSince: &since}
	if err := h.store.UpdateCredential(t.Context(), &cred); err != nil {
		t.Fatal(err)
	}
	h.advance(2 * time.Minute)
	var got struct {
		Templates []struct {
			State, Attention, AttentionMessage string
		} `json:"templates"`
	}
	h.must(200, h.page(cs.Token, "GET", "/session", nil)).JSON(t, &got)
	if len(got.Templates) != 2 || got.Templates[0].State != "needs_attention" || got.Templates[0].Attention != "credential_expired" ||
		got.Templates[1].State != "needs_attention" || got.Templates[1].Attention != "refresh_failed" || got.Templates[1].AttentionMessage == "" {
		t.Errorf("templates %+v", got.Templates)
	}
}

// TestConnectPageBaseURL: a template with allowBaseUrlOverride offers the page a base URL field;
// the base URL the end user gives is normalised and kept on their connection.
func TestConnectPageBaseURL(t *testing.T) {
	h := newHarness(t)
	f := h.fixture()
	var tpl struct {
		AllowBaseURLOverride bool `json:"allowBaseUrlOverride"`
	}
	h.must(200, h.do("PUT", "/projects/"+f.projectID+"/connection-templates/"+f.templates["api-key"],
		obj{"allowBaseUrlOverride": true, "authSchemeConfigIds": arr{"api-key"}})).JSON(t, &tpl)
	if !tpl.AllowBaseURLOverride {
		t.Fatal("allowBaseUrlOverride not set")
	}
	cs := h.newConnectSession(obj{"endUser": obj{"externalId": "own-instance"}, "environmentId": f.envID, "templateIds": arr{f.templates["api-key"]}})
	var s struct {
		Templates []struct {
			AllowBaseURLOverride bool   `json:"allowBaseUrlOverride"`
			BaseURL              string `json:"baseUrl"`
		} `json:"templates"`
	}
	h.must(200, h.page(cs.Token, "GET", "/session", nil)).JSON(t, &s)
	if !s.Templates[0].AllowBaseURLOverride {
		t.Errorf("session %+v", s)
	}
	refused(t, h.page(cs.Token, "POST", "/connections", obj{"templateId": f.templates["api-key"], "authSchemeConfigId": "api-key",
		"baseUrl": "ftp://mine.example", "values": obj{"key": "SECRET-k"}}), 400, "invalid_argument", "invalid connection", "baseUrl")
	var made struct {
		Connection struct {
			ID string `json:"id"`
		} `json:"connection"`
	}
	h.must(201, h.page(cs.Token, "POST", "/connections", obj{"templateId": f.templates["api-key"], "authSchemeConfigId": "api-key",
		"baseUrl": "mine.example/some/path", "values": obj{"key": "SECRET-k"}})).JSON(t, &made)
	var c connectionView
	h.must(200, h.do("GET", "/connections/"+made.Connection.ID, nil)).JSON(t, &c)
	if c.BaseURL != "https://mine.example" {
		t.Errorf("base URL %q", c.BaseURL)
	}
	h.must(200, h.page(cs.Token, "GET", "/session", nil)).JSON(t, &s)
	if s.Templates[0].BaseURL != "https://mine.example" {
		t.Errorf("session base URL %q", s.Templates[0].BaseURL)
	}
}
