package connectpage_test

import (
	"context"
	"encoding/base64"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
)

// TestBrowserPopupForms drives embed.js's popup mode and the forms TestBrowser does not type in:
// an app on another origin opens the page in a popup with embed.js; in it the end user connects
// an HMAC system (signing secret), a basic-auth system (username and password) and an api-key
// system on their own instance (the base URL field of a template with allowBaseUrlOverride). The
// opener hears plugboard:connected with each connection's id, only from the page's origin, and
// plugboard:closed on Done, which closes the popup; an opener on an origin the session does not
// allow hears nothing. Each connection is checked over the API and through the proxy, and no
// secret stays in the page. It also checks what the page shows for a link without its token and
// for a token that is not valid (as docs/connect.md says).
//
// Switched on by PLUGBOARD_TEST_BROWSER=1.
func TestBrowserPopupForms(t *testing.T) {
	chromium, axe := browserPrerequisites(t)
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	// The apps are reached as localhost, the page as 127.0.0.1: another site, as an app's would be.
	app, other := embeddingApp(t, base), embeddingApp(t, base)
	appOrigin := strings.Replace(app.URL, "127.0.0.1", "localhost", 1)
	otherOrigin := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	pb := startPlugboard(t, srv, nil, []string{appOrigin, otherOrigin})
	up, own := newUpstream(t), newUpstream(t)

	const (
		hmacSecret = "SECRET-browser-hmac-5d1e"
		username   = "ada"
		password   = "SECRET-browser-password-c07a"
		ownKey     = "SECRET-browser-own-key-88b2"
	)
	system := func(name string, config obj) string {
		var sys struct {
			ID string `json:"id"`
		}
		pb.must(201, "POST", "/systems", obj{"name": name, "domain": strings.ToLower(strings.ReplaceAll(name, " ", "")) + ".example",
			"templateBaseUrl": up.srv.URL, "authSchemeConfigs": arr{config}}, &sys)
		return sys.ID
	}
	signed := system("Signed Ledger", obj{"type": "hmac", "hmac": obj{"id": "hmac", "description": "Signing secret", "name": "X-Signature",
		"in": "header", "algorithm": "sha256", "digestInputs": arr{"body"}, "encoding": "hex", "prefix": "v1="}})
	books := system("Basic Books", obj{"type": "basic-auth", "basicAuth": obj{"id": "basic", "description": "Username and password"}})
	instance := system("Own Instance", obj{"type": "api-key", "apiKey": obj{"id": "api-key", "description": "API key", "name": "X-Api-Key", "in": "header"}})
	shop := pb.project("Shop")
	env := shop.env
	template := func(systemID, name, config string, override bool) string {
		return shop.template(systemID, name, obj{"authSchemeConfigIds": arr{config}, "allowBaseUrlOverride": override})
	}
	tplHMAC := template(signed, "Signed Ledger", "hmac", false)
	tplBasic := template(books, "Basic Books", "basic", false)
	tplOwn := template(instance, "Own Instance", "api-key", true)
	var sess struct {
		ID, Token, URL string
	}
	pb.must(201, "POST", "/connect-sessions", obj{"endUser": obj{"externalId": "customer-42"}, "environmentId": env,
		"allowedOrigins": arr{appOrigin}}, &sess)
	pageURL, _, _ := strings.Cut(sess.URL, "#")

	browser := startBrowser(t, chromium, nil)
	tab := newTab(t, browser)

	// What the page shows for a broken link: no token, or one that is not a session's.
	within(t, tab, "opening the page without its token", 30*time.Second, chromedp.Navigate(pageURL))
	waitJS(t, tab, "the missing token's message", `document.body.innerText.indexOf('This link is incomplete; ask the app for a new link.') >= 0`)
	within(t, tab, "opening the page with a wrong token", 30*time.Second, chromedp.Navigate("about:blank"),
		chromedp.Navigate(pageURL+"#token=pbcs_"+strings.Repeat("A", 43)))
	waitJS(t, tab, "the wrong token's message", `document.body.innerText.indexOf('This connect session has expired; ask the app for a new link.') >= 0`)

	// openPopup opens the app at origin in popup mode and clicks its button; it returns the app's
	// tab and the popup.
	openPopup := func(origin string) (context.Context, context.Context, target.ID) {
		t.Helper()
		appTab := newTab(t, browser)
		within(t, appTab, "opening the app at "+origin, 30*time.Second, chromedp.Navigate(origin+"/app.html?mode=popup#"+url.QueryEscape(sess.URL)),
			chromedp.WaitVisible(chromedp.ID("open")))
		win, id := popup(t, browser, appTab, chromedp.Click(chromedp.ID("open")), pageURL, "Connect your accounts")
		// The first Run on a context ties the devtools session to the context it gets: run it on
		// win itself, not on a child with a deadline that ends it.
		if err := chromedp.Do(win); err != nil {
			t.Fatalf("attaching to the popup: %v", err)
		}
		within(t, win, "the page in the popup", 30*time.Second, chromedp.WaitVisible(chromedp.ID("done")))
		return appTab, win, id
	}
	connected := func(win context.Context, tpl string) {
		t.Helper()
		waitJS(t, win, "template "+tpl+" connected", `document.querySelector('[data-template="`+tpl+`"]').dataset.state === 'connected'`)
	}
	field := func(tpl, name string) chromedp.ID { return chromedp.ID("f-" + tpl + "-" + name) }

	// An opener on an origin the session does not list: the page works in the popup, but its
	// messages are addressed to the listed origins only, so this opener hears none. A marker the
	// popup posts afterwards arrives after anything the page posted before it.
	otherTab, win, winID := openPopup(otherOrigin)
	within(t, win, "connecting the HMAC system", 20*time.Second, chromedp.Click(chromedp.ID("connect-"+tplHMAC)),
		chromedp.WaitVisible(field(tplHMAC, "secret")), chromedp.SendKeys(field(tplHMAC, "secret"), hmacSecret+"\r"))
	connected(win, tplHMAC)
	assertNoSecretInPage(t, win, hmacSecret)
	checkAxe(t, win, axe, "the page in a popup")
	within(t, win, "posting the marker", 10*time.Second, chromedp.Evaluate[chromedp.Void](`window.opener.postMessage({type: 'marker'}, '*')`))
	waitJS(t, otherTab, "the marker reached the opener", `window.messages.some(function(m){return m.data && m.data.type==='marker'})`)
	if got, err := chromedp.Run(otherTab, chromedp.Evaluate[string](`JSON.stringify({events: window.events, messages: window.messages.filter(function(m){
  return !(m.data && m.data.type==='marker')})})`)); err != nil || got != `{"events":[],"messages":[]}` {
		t.Errorf("an opener on an origin the session does not allow heard %s (%v)", got, err)
	}
	if _, err := chromedp.CallBrowser(browser, target.CloseTarget, target.CloseTargetParams{TargetID: winID}); err != nil {
		t.Fatalf("closing the popup: %v", err)
	}
	connHMAC := userConnection(t, pb, env, tplHMAC)
	h := proxyCall(t, pb, up, connHMAC)
	if sig := h.Get("X-Signature"); !regexp.MustCompile(`^v1=[0-9a-f]{64}$`).MatchString(sig) {
		t.Errorf("the proxy sent X-Signature %q, want v1= and a hex SHA-256 HMAC", sig)
	}

	// The allowed app: basic auth, then an own instance with its base URL; the app hears each.
	appTab, win, _ := openPopup(appOrigin)
	within(t, win, "connecting with a username and password", 20*time.Second, chromedp.Click(chromedp.ID("connect-"+tplBasic)),
		chromedp.WaitVisible(field(tplBasic, "username")), chromedp.SendKeys(field(tplBasic, "username"), username),
		chromedp.SendKeys(field(tplBasic, "password"), password+"\r"))
	connected(win, tplBasic)
	within(t, win, "connecting an own instance", 20*time.Second, chromedp.Click(chromedp.ID("connect-"+tplOwn)),
		chromedp.WaitVisible(field(tplOwn, "baseUrl")), chromedp.SendKeys(field(tplOwn, "baseUrl"), own.srv.URL+"/api/v2"),
		chromedp.SendKeys(field(tplOwn, "key"), ownKey+"\r"))
	connected(win, tplOwn)
	for _, secret := range []string{password, ownKey} {
		assertNoSecretInPage(t, win, secret)
	}
	connBasic, connOwn := userConnection(t, pb, env, tplBasic), userConnection(t, pb, env, tplOwn)
	waitJS(t, appTab, "the app heard both connections", `window.events.filter(function(e){return e.type==='connected'}).length === 2`)
	heard := appHeard(t, appTab)
	if e := heard.Events; e[0].ConnectionID != connBasic || e[0].TemplateID != tplBasic || e[1].ConnectionID != connOwn || e[1].TemplateID != tplOwn {
		t.Errorf("the app heard %+v, want connection %s of %s, then %s of %s", e, connBasic, tplBasic, connOwn, tplOwn)
	}
	for _, m := range heard.Messages {
		if m.Origin != base {
			t.Errorf("the app got a message from %s: %v", m.Origin, m.Data)
		}
	}
	if h := proxyCall(t, pb, up, connBasic); h.Get("Authorization") != "Basic "+base64.StdEncoding.EncodeToString([]byte(username+":"+password)) {
		t.Errorf("the proxy sent Authorization %q, want the username and password typed", h.Get("Authorization"))
	}
	var c struct {
		BaseURL string `json:"baseUrl"`
	}
	pb.must(200, "GET", "/connections/"+connOwn, nil, &c)
	if c.BaseURL != own.srv.URL {
		t.Errorf("the own instance's connection has base URL %q, want %q", c.BaseURL, own.srv.URL)
	}
	if h := proxyCall(t, pb, own, connOwn); h.Get("X-Api-Key") != ownKey {
		t.Errorf("the own instance got X-Api-Key %q, want the key typed", h.Get("X-Api-Key"))
	}

	if v := cspViolations(t, win); len(v) > 0 {
		t.Errorf("the page in the popup broke its Content-Security-Policy: %v", v)
	}
	// Done: the app hears plugboard:closed and embed.js closes the popup.
	within(t, win, "pressing Done", 10*time.Second, chromedp.Click(chromedp.ID("done")))
	waitJS(t, appTab, "the app heard Done", `window.events.some(function(e){return e.type==='closed'&&e.reason==='done'})`)
	waitJS(t, appTab, "the popup is closed", `window.handle.window.closed`)
	for i, b := range pb.bodies {
		for _, secret := range []string{hmacSecret, password, ownKey} {
			if strings.Contains(string(b), secret) {
				t.Errorf("API answer %d holds the secret %q", i, secret)
			}
		}
	}
	for _, secret := range []string{hmacSecret, password, ownKey, sess.Token} {
		if strings.Contains(pb.logs.String(), secret) {
			t.Errorf("the server log holds the secret %q", secret)
		}
	}
}
