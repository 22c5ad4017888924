package connectpage_test

import (
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard/internal/oidctest"
)

var update = flag.Bool("update", false, "write the screenshots docs/connect-*.png")

type obj = map[string]any
type arr = []any

// firstViewLimit is the most the first view of the page (document, script, style) may transfer.
const firstViewLimit = 100 * 1024

// TestBrowser drives the hosted connect page in headless chromium against the whole server on a
// real store and the oidc-provider peer: a backend creates a session; the end user connects an
// api-key system by typing the key (keyboard only) and an OAuth 2.0 system through the popup,
// reconnects one, disconnects one, and connects again inside an iframe on another origin that
// embeds the page with embed.js. Everything is checked over the API too (connections, the end
// user's activation, the events), the page's headers are asserted, and axe-core finds no serious
// or critical violation in light or dark. It logs the first view's size and render time; with
// -update it writes the screenshots shown in docs/connect.md.
//
// Switched on by PLUGBOARD_TEST_BROWSER=1 (and PLUGBOARD_TEST_OIDC=1 for the OAuth peer).
func TestBrowser(t *testing.T) {
	chromium, axe := browserPrerequisites(t)
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	provider := oidctest.Start(t, oidctest.Config{RedirectURIs: []string{base + "/oauth2/callback"}})
	app := embeddingApp(t, base)
	pb := startPlugboard(t, srv, provider.CAPEM, []string{app.URL})
	up := newUpstream(t)

	// The backend's side: two systems, a project, a dynamic template of each.
	const keyFirst, keySecond, keyThird = "SECRET-browser-key-one-7f3a", "SECRET-browser-key-two-91cd", "SECRET-browser-key-three-4be0"
	var acme, mail struct {
		ID string `json:"id"`
	}
	pb.must(201, "POST", "/systems", obj{"name": "Acme CRM", "domain": "acme.example", "templateBaseUrl": up.srv.URL,
		"authSchemeConfigs": arr{obj{"type": "api-key", "apiKey": obj{"id": "api-key", "description": "API key", "name": "X-Api-Key", "in": "header"}}}}, &acme)
	client := provider.Clients.Basic
	pb.must(201, "POST", "/systems", obj{"name": "Example Mail", "domain": "mail.example", "templateBaseUrl": up.srv.URL,
		"authSchemeConfigs": arr{obj{"type": "oauth2", "oauth2": obj{"id": "oauth2-code", "description": "Sign in with Example Mail",
			"authorizeUrl": provider.AuthorizeURL, "tokenUrl": provider.TokenURL, "scopes": arr{obj{"name": "read"}}, "defaultScopes": arr{"read"},
			"pkce": true, "grant": obj{"type": "authorizationCode", "authorizationCode": obj{"clientId": client.ID, "clientSecret": client.Secret}}}}}}, &mail)
	var ledger struct {
		ID string `json:"id"`
	}
	pb.must(201, "POST", "/systems", obj{"name": "Secure Ledger", "domain": "ledger.example", "templateBaseUrl": "https://ledger.example",
		"authSchemeConfigs": arr{obj{"type": "certificate", "certificate": obj{"id": "cert", "description": "Client certificate"}}}}, &ledger)
	shop := pb.project("Shop")
	env := shop.env
	tplKey := shop.template(acme.ID, "Acme CRM", obj{"authSchemeConfigIds": arr{"api-key"}})
	tplOAuth := shop.template(mail.ID, "Example Mail", obj{"authSchemeConfigIds": arr{"oauth2-code"}})
	tplCert := shop.template(ledger.ID, "Secure Ledger", obj{"authSchemeConfigIds": arr{"cert"}})

	var sess struct {
		ID, Token, URL, ExpiresAt string
	}
	pb.must(201, "POST", "/connect-sessions", obj{"endUser": obj{"externalId": "customer-42", "displayName": "Ada Lovelace"},
		"environmentId": env, "allowedOrigins": arr{app.URL}}, &sess)
	if !strings.HasPrefix(sess.URL, base+"/connect/s/"+sess.ID+"#token=") || !strings.HasPrefix(sess.Token, "pbcs_") {
		t.Fatalf("session %+v: want a url under %s/connect/s/ with the token in the fragment", sess, base)
	}
	pageURL, _, _ := strings.Cut(sess.URL, "#")

	t.Run("headers", func(t *testing.T) {
		res, body := get(t, pageURL, nil)
		if res.StatusCode != 200 || !strings.Contains(string(body), "connect.js") {
			t.Fatalf("the page: %d %s", res.StatusCode, body)
		}
		csp := res.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'",
			"form-action 'none'", "base-uri 'none'", "frame-ancestors 'self' " + app.URL} {
			if !strings.Contains(csp, want) {
				t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-") {
			t.Errorf("Content-Security-Policy %q allows unsafe sources", csp)
		}
		wantHeaders := map[string]string{"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}
		for k, v := range wantHeaders {
			if got := res.Header.Get(k); got != v {
				t.Errorf("%s: %q, want %q", k, got, v)
			}
		}
		if res.Header.Get("Set-Cookie") != "" {
			t.Errorf("the page sets a cookie: %q", res.Header.Get("Set-Cookie"))
		}
		// An unknown session: the same page, framed by nobody.
		res, _ = get(t, base+"/connect/s/"+ulid.Make().String(), nil)
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("unknown session: Content-Security-Policy %q, want frame-ancestors 'none'", csp)
		}
		// The assets, and the API without the token.
		for _, a := range []string{"/connect/assets/connect.js", "/connect/assets/connect.css", "/connect/assets/callback.js", "/connect/embed.js"} {
			res, _ := get(t, base+a, nil)
			if res.StatusCode != 200 || res.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("%s: %d, nosniff %q", a, res.StatusCode, res.Header.Get("X-Content-Type-Options"))
			}
		}
		if res, body := get(t, base+"/connect/api/session", nil); res.StatusCode != 401 {
			t.Errorf("the session without its token: %d %s", res.StatusCode, body)
		}
		if res, _ := get(t, base+"/connect/api/session", http.Header{"Authorization": {"Bearer " + sess.Token}}); res.StatusCode != 200 ||
			res.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("the session with its token: %d, Cache-Control %q", res.StatusCode, res.Header.Get("Cache-Control"))
		}
	})

	var trusted []string
	if u, err := url.Parse(provider.Issuer); err == nil {
		trusted = spkiHashes(t, u.Host, provider.CAPEM)
	}
	browser := startBrowser(t, chromium, trusted)
	tab := newTab(t, browser)

	// The first view: the token leaves the address bar; size and time are measured, against a
	// static page with one heading in the same browser as the baseline.
	within(t, tab, "opening the baseline page", 30*time.Second, chromedp.Navigate(app.URL+"/blank.html"), chromedp.WaitVisible(chromedp.CSS("h1")))
	waitJS(t, tab, "the baseline's first paint", `performance.getEntriesByName('first-contentful-paint').length > 0`)
	baseline := measureFirstView(t, tab)
	within(t, tab, "opening the page", 30*time.Second, chromedp.Navigate(sess.URL), chromedp.WaitVisible(chromedp.ID("done")))
	waitJS(t, tab, "the page's first paint", `performance.getEntriesByName('first-contentful-paint').length > 0`)
	fv := measureFirstView(t, tab)
	t.Logf("first view: %d bytes in %d requests; first contentful paint %.0f ms, template list rendered %.0f ms after navigation start "+
		"(baseline, a static page with one heading: %d bytes, first contentful paint %.0f ms)",
		fv.TransferBytes, fv.Resources+1, fv.FCP, fv.Rendered, baseline.TransferBytes, baseline.FCP)
	if fv.TransferBytes <= 0 || fv.TransferBytes > firstViewLimit {
		t.Errorf("the first view transferred %d bytes, want at most %d", fv.TransferBytes, firstViewLimit)
	}
	if loc, _ := chromedp.Run(tab, chromedp.Location()); strings.Contains(loc, "token") || loc != pageURL {
		t.Errorf("address bar %q: the token must be gone", loc)
	}
	if cookies, _ := chromedp.Run(tab, chromedp.Evaluate[string](`document.cookie`)); cookies != "" {
		t.Errorf("cookies: %q", cookies)
	}
	state := func(ctx context.Context, tpl string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(function(){var c=document.querySelector('[data-template="`+tpl+`"]');return c?c.dataset.state:''})()`))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if s := state(tab, tplKey); s != "not_connected" {
		t.Fatalf("api-key template shows %q, want not_connected", s)
	}
	checkAxe(t, tab, axe, "first view, light")
	within(t, tab, "dark scheme", 10*time.Second, colorScheme("dark"))
	checkAxe(t, tab, axe, "first view, dark")
	within(t, tab, "light scheme", 10*time.Second, colorScheme("light"))

	// Keyboard only: Tab to Connect, Enter opens the form with the key field focused; Enter on the
	// empty field shows the error next to it; typing the key and Enter connects.
	tabTo(t, tab, "connect-"+tplKey)
	within(t, tab, "opening the form", 10*time.Second, chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(chromedp.ID("f-"+tplKey+"-key")))
	waitJS(t, tab, "the key field has focus", `document.activeElement && document.activeElement.id === `+jsString("f-"+tplKey+"-key"))
	attrs, err := chromedp.Run(tab, chromedp.Attributes(chromedp.ID("f-"+tplKey+"-key")))
	if err != nil {
		t.Fatal(err)
	}
	if attrs["type"] != "password" || attrs["autocomplete"] != "off" {
		t.Errorf("the key field: %v, want type=password autocomplete=off", attrs)
	}
	within(t, tab, "submitting nothing", 10*time.Second, chromedp.KeyEvent(kb.Enter))
	waitJS(t, tab, "the field error", `document.getElementById(`+jsString("f-"+tplKey+"-key-error")+`).textContent !== ''`)
	waitJS(t, tab, "the field is marked invalid and described by its error", `(function(){var i=document.getElementById(`+jsString("f-"+tplKey+"-key")+
		`);return i.getAttribute('aria-invalid')==='true'&&i.getAttribute('aria-describedby').indexOf(i.id+'-error')>=0})()`)
	checkAxe(t, tab, axe, "a field error")
	within(t, tab, "typing the key", 10*time.Second, chromedp.KeyEvent(keyFirst), chromedp.KeyEvent(kb.Enter))
	waitJS(t, tab, "the api-key system connected", `document.querySelector('[data-template="`+tplKey+`"]').dataset.state === 'connected'`)
	assertNoSecretInPage(t, tab, keyFirst)
	connKey := userConnection(t, pb, env, tplKey)
	if h := proxyCall(t, pb, up, connKey); h.Get("X-Api-Key") != keyFirst {
		t.Errorf("the proxy sent X-Api-Key %q, want the key typed", h.Get("X-Api-Key"))
	}

	// OAuth 2.0 through the popup, logging in at the oidc-provider.
	win, _ := popup(t, browser, tab, chromedp.Click(chromedp.ID("connect-"+tplOAuth)), provider.Issuer, "")
	authorizeInPopup(t, tab, win, provider, func() bool { return state(tab, tplOAuth) == "connected" })
	connOAuth := userConnection(t, pb, env, tplOAuth)
	if h := proxyCall(t, pb, up, connOAuth); !strings.HasPrefix(h.Get("Authorization"), "Bearer ") {
		t.Errorf("the proxy sent Authorization %q, want the OAuth access token", h.Get("Authorization"))
	}

	// A client certificate: a broken PEM is refused in the browser, next to its field; the files
	// chosen are read into the form and connect.
	dir := t.TempDir()
	certFile, keyFile, caFile := filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem"), filepath.Join(dir, "service-ca.pem")
	if err := os.WriteFile(caFile, provider.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, provider.MTLSCertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, provider.MTLSKeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	field := func(name string) string { return "f-" + tplCert + "-" + name }
	within(t, tab, "a broken certificate", 20*time.Second, chromedp.Click(chromedp.ID("connect-"+tplCert)),
		chromedp.WaitVisible(chromedp.ID(field("certificate"))),
		chromedp.SendKeys(chromedp.ID(field("certificate")), "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----"),
		chromedp.SetUploadFiles(chromedp.ID(field("privateKey")+"-file"), []string{keyFile}))
	waitJS(t, tab, "the key file read into its field", `document.getElementById(`+jsString(field("privateKey"))+`).value.indexOf('PRIVATE KEY') > 0`)
	within(t, tab, "submitting it", 10*time.Second, chromedp.Click(chromedp.ID("submit-"+tplCert)))
	waitJS(t, tab, "the PEM error next to the certificate", `document.getElementById(`+jsString(field("certificate")+"-error")+`).textContent.indexOf('base64') >= 0`)
	checkAxe(t, tab, axe, "the certificate form with an error")
	within(t, tab, "choosing the certificate and CA files", 10*time.Second, chromedp.SetUploadFiles(chromedp.ID(field("certificate")+"-file"), []string{certFile}),
		chromedp.SetUploadFiles(chromedp.ID(field("ca")+"-file"), []string{caFile}))
	waitJS(t, tab, "the CA file read into its field", `document.getElementById(`+jsString(field("ca"))+`).value.indexOf('CERTIFICATE') > 0`)
	waitJS(t, tab, "the certificate accepted", `document.getElementById(`+jsString(field("certificate")+"-error")+`).textContent === ''`)
	within(t, tab, "connecting the certificate", 10*time.Second, chromedp.Click(chromedp.ID("submit-"+tplCert)))
	waitJS(t, tab, "the certificate system connected", `document.querySelector('[data-template="`+tplCert+`"]').dataset.state === 'connected'`)
	assertNoSecretInPage(t, tab, strings.Split(strings.TrimSpace(string(provider.MTLSKeyPEM)), "\n")[1])
	connCert := userConnection(t, pb, env, tplCert)
	if types := credentialTypes(pb, connCert); !slices.Equal(types, []string{"certificate"}) {
		t.Errorf("the certificate connection's credentials: %v", types)
	}

	// Reconnect the api-key system: same connection, new key.
	within(t, tab, "reconnecting", 10*time.Second, chromedp.Click(chromedp.ID("reconnect-"+tplKey)),
		chromedp.WaitVisible(chromedp.ID("f-"+tplKey+"-key")), chromedp.SendKeys(chromedp.ID("f-"+tplKey+"-key"), keySecond+"\r"))
	waitJS(t, tab, "reconnected", `document.getElementById('status').textContent.indexOf('reconnected') >= 0`)
	if again := userConnection(t, pb, env, tplKey); again != connKey {
		t.Errorf("reconnecting made connection %s, want %s replaced in place", again, connKey)
	}
	if h := proxyCall(t, pb, up, connKey); h.Get("X-Api-Key") != keySecond {
		t.Errorf("after reconnecting the proxy sent X-Api-Key %q, want the new key", h.Get("X-Api-Key"))
	}

	within(t, tab, "at 360 px", 10*time.Second, chromedp.EmulateViewport(360, 780), colorScheme("dark"))
	if w, _ := chromedp.Run(tab, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); w > 360 {
		t.Errorf("at 360 px the page is %d px wide: it scrolls sideways", w)
	}
	checkAxe(t, tab, axe, "360 px, dark")
	within(t, tab, "back to the desktop", 10*time.Second, chromedp.EmulateViewport(1280, 800), colorScheme("light"))

	// Disconnect the api-key system, confirming in the page.
	within(t, tab, "disconnecting", 10*time.Second, chromedp.Click(chromedp.ID("disconnect-"+tplKey)), chromedp.WaitVisible(chromedp.ID("confirm-yes-"+tplKey)))
	checkAxe(t, tab, axe, "the disconnect confirmation")
	within(t, tab, "confirming", 10*time.Second, chromedp.Click(chromedp.ID("confirm-yes-"+tplKey)))
	waitJS(t, tab, "disconnected", `document.querySelector('[data-template="`+tplKey+`"]').dataset.state === 'not_connected'`)
	pb.must(404, "GET", "/connections/"+connKey, nil, nil)
	// The screenshots: two systems connected, one not.
	if *update {
		for _, s := range []struct {
			name          string
			width, height int64
			scheme        string
		}{{"desktop-light", 1280, 800, "light"}, {"desktop-dark", 1280, 800, "dark"}, {"mobile-light", 360, 780, "light"}, {"mobile-dark", 360, 780, "dark"}} {
			screenshot(t, tab, s.name, s.width, s.height, s.scheme)
		}
		within(t, tab, "back to the desktop", 10*time.Second, chromedp.EmulateViewport(1280, 800), colorScheme("light"))
	}
	if v := cspViolations(t, tab); len(v) > 0 {
		t.Errorf("the page broke its Content-Security-Policy: %v", v)
	}

	// In an iframe on the app's origin: connect the api-key system again; the app hears of it.
	frameTab := newTab(t, browser)
	within(t, frameTab, "opening the app", 30*time.Second, chromedp.Navigate(app.URL+"/app.html#"+url.QueryEscape(sess.URL)),
		chromedp.WaitVisible(chromedp.CSS("iframe")))
	frames, err := chromedp.Run(frameTab, chromedp.Nodes(chromedp.CSS("iframe")))
	if err != nil {
		t.Fatal(err)
	}
	in := chromedp.FromNode(frames[0])
	within(t, frameTab, "connecting in the iframe", 30*time.Second,
		chromedp.WaitVisible(chromedp.ID("connect-"+tplKey), in), chromedp.Click(chromedp.ID("connect-"+tplKey), in),
		chromedp.WaitVisible(chromedp.ID("f-"+tplKey+"-key"), in), chromedp.SendKeys(chromedp.ID("f-"+tplKey+"-key"), keyThird+"\r", in))
	waitJS(t, frameTab, "the app got plugboard:connected", `window.events.some(function(e){return e.type==='connected'})`)
	connAgain := userConnection(t, pb, env, tplKey)
	heard := appHeard(t, frameTab)
	if e := heard.Events[0]; e.ConnectionID != connAgain || e.TemplateID != tplKey {
		t.Errorf("the app heard %+v, want connection %s of template %s", e, connAgain, tplKey)
	}
	for _, m := range heard.Messages {
		if m.Origin != base {
			t.Errorf("the app got a message from %s: %v", m.Origin, m.Data)
		}
	}
	// Done: the session completes, the app hears plugboard:closed and embed.js removes the frame.
	within(t, frameTab, "pressing Done", 10*time.Second, chromedp.Click(chromedp.ID("done"), in))
	waitJS(t, frameTab, "the app got plugboard:closed", `window.events.some(function(e){return e.type==='closed'})`)
	waitJS(t, frameTab, "the frame is gone", `document.querySelector('iframe') === null`)

	// embed.js in popup mode: the page opens in a window of its own, on the session's page; when
	// that window goes away (closed through the browser here) the app hears of it.
	// TestBrowserPopupForms drives the page inside such a popup.
	popupApp := newTab(t, browser)
	within(t, popupApp, "opening the app in popup mode", 30*time.Second, chromedp.Navigate(app.URL+"/app.html?mode=popup#"+url.QueryEscape(sess.URL)),
		chromedp.WaitVisible(chromedp.ID("open")))
	_, winID := popup(t, browser, popupApp, chromedp.Click(chromedp.ID("open")), pageURL, "Connect your accounts")
	if _, err := chromedp.CallBrowser(browser, target.CloseTarget, target.CloseTargetParams{TargetID: winID}); err != nil {
		t.Fatalf("closing the popup: %v", err)
	}
	waitJS(t, popupApp, "the app heard the popup close", `window.events.some(function(e){return e.type==='closed'&&e.reason==='window_closed'})`)

	// Over the API: the end user's activation holds the connections; the events tell the story.
	var acts []struct {
		ID   string `json:"id"`
		User struct {
			ExternalID string `json:"externalId"`
		} `json:"user"`
		Connections []struct {
			ID string `json:"id"`
		} `json:"connections"`
	}
	pb.must(200, "GET", "/environment/"+env+"/users/customer-42/activations", nil, &acts)
	if len(acts) != 1 {
		t.Fatalf("activations of customer-42: %+v", acts)
	}
	var ids []string
	for _, c := range acts[0].Connections {
		ids = append(ids, c.ID)
	}
	slices.Sort(ids)
	want := []string{connAgain, connOAuth, connCert}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Errorf("the activation holds %v, want %v", ids, want)
	}
	counts := map[string]int{}
	var kinds []string
	for _, e := range pb.events() {
		counts[e.Type]++
		kinds = append(kinds, e.Type)
	}
	for typ, n := range map[string]int{"connect_session.created": 1, "connect_session.completed": 1, "end_user.created": 1,
		"activation.created": 1, "connection.created": 4, "connection.deleted": 1} {
		if counts[typ] != n {
			t.Errorf("%d %s events, want %d (events: %v)", counts[typ], typ, n, kinds)
		}
	}
	if counts["connection.updated"] < 1 {
		t.Errorf("no connection.updated event for the reconnection (events: %v)", kinds)
	}

	// A session revoked while the end user is at the provider: the OAuth flow ends with a clear
	// message, and no connection changes.
	win, _ = popup(t, browser, tab, chromedp.Click(chromedp.ID("reconnect-"+tplOAuth)), provider.Issuer, "")
	pb.must(204, "DELETE", "/connect-sessions/"+sess.ID, nil, nil)
	expired := func() bool {
		c, cancel := context.WithTimeout(tab, 10*time.Second)
		defer cancel()
		ok, _ := chromedp.Run(c, chromedp.Evaluate[bool](`document.body.innerText.indexOf('This connect session has expired; ask the app for a new link.') >= 0`))
		return ok
	}
	authorizeInPopup(t, tab, win, provider, expired)
	if again := userConnection(t, pb, env, tplOAuth); again != connOAuth {
		t.Errorf("after the revoked flow the OAuth connection is %s, want %s untouched", again, connOAuth)
	}

	// No answer carries a secret the end user gave (the session token only in its creation's
	// answer), and the log carries none of them.
	keyLine := strings.Split(strings.TrimSpace(string(provider.MTLSKeyPEM)), "\n")[1]
	for _, secret := range []string{keyFirst, keySecond, keyThird, keyLine, client.Secret, sess.Token} {
		for i, b := range pb.bodies {
			if strings.Contains(string(b), secret) && (secret != sess.Token || !strings.Contains(string(b), `"expiresAt"`)) {
				t.Errorf("API answer %d holds the secret %q", i, secret)
			}
		}
		if strings.Contains(pb.logs.String(), secret) {
			t.Errorf("the server log holds the secret %q", secret)
		}
	}
}

// tabTo presses Tab until the element with the id has the focus.
func tabTo(t *testing.T, ctx context.Context, id string) {
	t.Helper()
	for range 40 {
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement ? document.activeElement.id : ''`))
		if err != nil {
			t.Fatal(err)
		}
		if got == id {
			visible, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.activeElement).outlineStyle`))
			if err != nil || visible == "none" {
				t.Errorf("#%s has the focus but no visible outline (%q)", id, visible)
			}
			return
		}
		within(t, ctx, "pressing Tab", 5*time.Second, chromedp.KeyEvent(kb.Tab))
	}
	t.Fatalf("Tab never reached #%s", id)
}

// authorizeInPopup logs in and approves at the oidc-provider's interaction pages in the popup,
// until done reports the page connected.
func authorizeInPopup(t *testing.T, tab, win context.Context, p *oidctest.Provider, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			text, _ := chromedp.Run(tab, chromedp.Evaluate[string](`document.body.innerText`))
			t.Fatalf("the OAuth flow did not finish; the page says:\n%s", text)
		}
		c, cancel := context.WithTimeout(win, 3*time.Second)
		form, err := chromedp.Run(c, chromedp.Evaluate[bool](`!!document.querySelector('input[name=login]')`))
		if err == nil && form {
			err = chromedp.Do(c, chromedp.SendKeys(chromedp.CSS("input[name=login]"), p.Username),
				chromedp.SendKeys(chromedp.CSS("input[name=password]"), p.Password),
				chromedp.Click(chromedp.CSS(`button[value=approve]`)))
			if err != nil {
				t.Logf("the login form: %v", err)
			}
		}
		cancel()
		time.Sleep(200 * time.Millisecond)
	}
}

// assertNoSecretInPage checks that the secret left the page: no input holds it, nor the DOM.
func assertNoSecretInPage(t *testing.T, ctx context.Context, secret string) {
	t.Helper()
	found, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(function(s){
  if (document.documentElement.outerHTML.indexOf(s) >= 0) return true;
  return Array.prototype.some.call(document.querySelectorAll('input, textarea'), function (i) { return i.value.indexOf(s) >= 0; });
})(`+jsString(secret)+`)`))
	if err != nil {
		t.Fatal(err)
	}
	if found {
		t.Errorf("the page still holds the secret after submitting it")
	}
}

// userConnection returns the id of customer-42's connection of a template, failing if there is
// none.
func userConnection(t *testing.T, pb *plugboardServer, env, tpl string) string {
	t.Helper()
	var acts []struct {
		Connections []struct {
			ID                   string `json:"id"`
			ConnectionTemplateID string `json:"connectionTemplateId"`
		} `json:"connections"`
	}
	pb.must(200, "GET", "/environment/"+env+"/users/customer-42/activations", nil, &acts)
	for _, a := range acts {
		for _, c := range a.Connections {
			if c.ConnectionTemplateID == tpl {
				return c.ID
			}
		}
	}
	t.Fatalf("customer-42 has no connection of template %s: %+v", tpl, acts)
	return ""
}

// proxyCall calls the upstream through a connection and returns the headers it brought.
func proxyCall(t *testing.T, pb *plugboardServer, up *upstream, conn string) http.Header {
	t.Helper()
	pb.must(200, "GET", "/connections/"+conn+"/proxy/ping", nil, nil)
	return up.last()
}

// heardByApp is what the embedding app's test page recorded: the events embed.js reported and
// the raw messages that reached the window.
type heardByApp struct {
	Events []struct {
		Type, ConnectionID, TemplateID, Reason string
	}
	Messages []struct {
		Origin string
		Data   map[string]any
	}
}

// appHeard reads what the app's page in tab has heard so far.
func appHeard(t *testing.T, tab context.Context) heardByApp {
	t.Helper()
	raw, err := chromedp.Run(tab, chromedp.Evaluate[[]byte](`({events: window.events, messages: window.messages})`))
	if err != nil {
		t.Fatal(err)
	}
	var heard heardByApp
	mustJSON(t, raw, &heard)
	return heard
}

func mustJSON(t *testing.T, raw []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
}
