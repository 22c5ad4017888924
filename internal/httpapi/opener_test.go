package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/plugboard/plugboard/internal/oauth1test"
)

// postTarget matches the callback page's call that hands the result to the opener.
var postTarget = regexp.MustCompile(`postMessage\(result,\s*("(?:[^"\\]|\\.)*")\)`)

// postedTo returns the target origin the callback page posts its result to, and the result. It
// reads the rendered script and, when Node.js is installed, also runs it against a stub opener
// to be sure a browser would post there.
func postedTo(t *testing.T, page []byte) (string, map[string]string) {
	t.Helper()
	if bytes.Contains(page, []byte(`"*"`)) {
		t.Errorf("the callback page still names the wildcard origin \"*\"")
	}
	m := postTarget.FindSubmatch(page)
	if m == nil {
		t.Fatalf("no postMessage(result, \"...\") in the callback page")
	}
	var rendered string
	if err := json.Unmarshal(m[1], &rendered); err != nil {
		t.Fatalf("target origin %s: %v", m[1], err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return rendered, nil
	}
	script := regexp.MustCompile(`(?s)<script>(.*)</script>`).FindSubmatch(page)
	if script == nil {
		t.Fatalf("no script in the callback page")
	}
	cmd := exec.Command(node, "-e", `
const src = require("fs").readFileSync(0, "utf8");
let posted = null, closed = false;
const win = {opener: {postMessage(message, origin) { posted = {message, origin}; }}, close() { closed = true; }};
new Function("window", src)(win);
process.stdout.write(JSON.stringify({posted, closed}));`)
	cmd.Stdin = bytes.NewReader(script[1])
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("run the callback page's script: %v", err)
	}
	var run struct {
		Posted *struct {
			Message map[string]string `json:"message"`
			Origin  string            `json:"origin"`
		} `json:"posted"`
		Closed bool `json:"closed"`
	}
	if err := json.Unmarshal(out, &run); err != nil || run.Posted == nil || !run.Closed {
		t.Fatalf("the callback page's script did not post and close: %s (%v)", out, err)
	}
	if run.Posted.Origin != rendered {
		t.Errorf("the script posted to %q, the page reads %q", run.Posted.Origin, rendered)
	}
	return run.Posted.Origin, run.Posted.Message
}

// TestOAuth2CallbackPostsOnlyToOpenerOrigin: the callback page hands code and state only to the
// origin the flow was initialised with (openerOrigin), or else to Plugboard's own public origin;
// never to any window that happens to be the opener. Origins outside the allow-list are refused.
func TestOAuth2CallbackPostsOnlyToOpenerOrigin(t *testing.T) {
	h := newHarness(t)
	p := newGoProvider(t)
	st := h.oauthSetup(oauth2Configs(p.AuthorizeURL, p.TokenURL, p.ClientID, p.ClientSecret, true))
	callback := func(u *url.URL) ([]byte, string, string) {
		code, state := p.authorize(t, u.String())
		page := h.must(200, h.doAs("", h.org, "GET", "//oauth2/callback?"+url.Values{"code": {code}, "state": {state}}.Encode(), nil))
		return page.Body, code, state
	}

	// With openerOrigin: exactly that origin.
	page, code, state := callback(h.initialise(st, p.AuthorizeURL, "", obj{"openerOrigin": "https://app.example"}))
	origin, msg := postedTo(t, page)
	if origin != "https://app.example" {
		t.Errorf("posted to %q, want https://app.example", origin)
	}
	if msg != nil && (msg["code"] != code || msg["state"] != state || msg["source"] != "plugboard") {
		t.Errorf("posted %v", msg)
	}

	// Without it: the server's own public origin.
	page, _, _ = callback(h.initialise(st, p.AuthorizeURL, "", nil))
	if origin, _ := postedTo(t, page); origin != h.srv.URL {
		t.Errorf("posted to %q, want the public URL's origin %q", origin, h.srv.URL)
	}

	// A provider's refusal goes the same way.
	u := h.initialise(st, p.AuthorizeURL, "", obj{"openerOrigin": "https://app.example"})
	page = h.must(200, h.doAs("", h.org, "GET", "//oauth2/callback?"+url.Values{"error": {"access_denied"}, "state": {u.Query().Get("state")}}.Encode(), nil)).Body
	if origin, _ := postedTo(t, page); origin != "https://app.example" {
		t.Errorf("refusal posted to %q", origin)
	}

	// Origins not on the allow-list, or not origins at all, are refused naming the field.
	for _, bad := range []string{"https://evil.example", "*", "null", "https://app.example/path", "https://app.example?x=1",
		"https://user@app.example", "javascript:alert(1)", "app.example", "ftp://app.example"} {
		body := obj{"authorizeUrl": p.AuthorizeURL, "clientId": p.ClientID, "credential": obj{"id": st.credentialID}, "openerOrigin": bad}
		r := h.must(400, h.do("POST", "/systems/"+st.systemID+"/oauth2/initialise", body))
		e := r.Error(t)
		if e.Code != "invalid_argument" || strings.Join(e.fieldNames(), ",") != "openerOrigin" {
			t.Errorf("openerOrigin %q: %+v", bad, e)
		}
	}
}

// TestOAuth1CallbackPostsOnlyToOpenerOrigin is the same for OAuth 1.0a flows.
func TestOAuth1CallbackPostsOnlyToOpenerOrigin(t *testing.T) {
	h := newHarness(t)
	config := func(p *oauth1test.Provider) obj {
		return obj{"type": "oauth1", "oauth1": obj{"id": "oauth1", "description": "", "consumerKey": p.ConsumerKey, "consumerSecret": p.ConsumerSecret,
			"signatureMethod": "sha1", "tempCredentialEndpoint": obj{"url": p.RequestTokenURL},
			"resourceOwnerAuthorizationEndpoint": obj{"url": p.AuthorizeURL}, "tokenEndpoint": obj{"url": p.AccessTokenURL}}}
	}
	// A refused origin is checked before any provider is called.
	var sys struct {
		ID string `json:"id"`
	}
	offline := &oauth1test.Provider{ConsumerKey: "ck", ConsumerSecret: "cs", RequestTokenURL: "https://provider.example/request_token",
		AuthorizeURL: "https://provider.example/authorize", AccessTokenURL: "https://provider.example/access_token"}
	h.must(201, h.do("POST", "/systems", obj{"name": "OAuth1", "domain": "d", "templateBaseUrl": "", "authSchemeConfigs": arr{config(offline)}})).JSON(t, &sys)
	for _, bad := range []string{"https://evil.example", "*", "https://app.example/"} {
		r := h.must(400, h.do("POST", "/systems/"+sys.ID+"/oauth1/initialise", obj{"credential": obj{"id": zeroID}, "openerOrigin": bad}))
		if e := r.Error(t); e.Code != "invalid_argument" || strings.Join(e.fieldNames(), ",") != "openerOrigin" {
			t.Errorf("openerOrigin %q: %+v", bad, e)
		}
	}

	t.Run("provider", func(t *testing.T) {
		p := oauth1test.Start(t, oauth1test.Config{})
		h := newHarness(t)
		h.must(201, h.do("POST", "/systems", obj{"name": "OAuth1", "domain": "d", "templateBaseUrl": "", "authSchemeConfigs": arr{config(p)}})).JSON(t, &sys)
		for _, tc := range []struct{ opener, want string }{{"https://app.example", "https://app.example"}, {"", h.srv.URL}} {
			body := obj{"credential": obj{"id": zeroID}}
			if tc.opener != "" {
				body["openerOrigin"] = tc.opener
			}
			var res struct {
				URL string `json:"url"`
			}
			h.must(200, h.do("POST", "/systems/"+sys.ID+"/oauth1/initialise", body)).JSON(t, &res)
			back := p.Authorize(t, res.URL)
			page := h.must(200, h.doAs("", h.org, "GET", "//oauth1/callback?"+back.RawQuery, nil))
			origin, msg := postedTo(t, page.Body)
			if origin != tc.want {
				t.Errorf("openerOrigin %q: posted to %q, want %q", tc.opener, origin, tc.want)
			}
			if msg != nil && msg["oauth_verifier"] != back.Query().Get("oauth_verifier") {
				t.Errorf("posted %v", msg)
			}
		}
	})
}
