package httpapi_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/access"
	"github.com/plugboard/plugboard/internal/apikey"
	"github.com/plugboard/plugboard/internal/oauth"
	"github.com/plugboard/plugboard/internal/outbound"
)

// recorder is an upstream API that keeps what it received.
type upstream struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
	body [][]byte
	// answer decides the response; 200 "ok" when nil.
	answer func(r *http.Request, n int) (int, string)
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.reqs = append(u.reqs, r.Clone(context.Background()))
		u.body = append(u.body, b)
		n := len(u.reqs)
		answer := u.answer
		u.mu.Unlock()
		status, text := 200, "ok"
		if answer != nil {
			status, text = answer(r, n)
		}
		w.Header().Set("X-Upstream", "yes")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, text)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.reqs)
}

func (u *upstream) last(t *testing.T) (*http.Request, string) {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		t.Fatal("the upstream received nothing")
	}
	return u.reqs[len(u.reqs)-1], string(u.body[len(u.body)-1])
}

// apiKeyConnection makes a system at base with an api-key scheme and a static connection holding value.
func (h *harness) apiKeyConnection(base, value string) string {
	h.t.Helper()
	var sys struct {
		ID string `json:"id"`
	}
	h.must(201, h.do("POST", "/systems", obj{"name": "Upstream", "domain": "up", "templateBaseUrl": base,
		"authSchemeConfigs": arr{configByID("api-key")}})).JSON(h.t, &sys)
	tpl := h.templateFor(sys.ID, "api-key")
	var c connectionView
	h.must(201, h.do("POST", "/connections", obj{"connectionTemplateId": tpl, "connection": obj{"name": "c", "credentials": arr{obj{
		"id": zeroID, "authSchemeConfig": configByID("api-key"),
		"credential": obj{"type": "string", "data": obj{"string": obj{"value": value}}}}}}})).JSON(h.t, &c)
	return c.ID
}

func TestProxyForwardsWithCredentials(t *testing.T) {
	h := newHarness(t)
	up := newUpstream(t)
	up.answer = func(r *http.Request, n int) (int, string) { return 201, "created by upstream" }
	conn := h.apiKeyConnection(up.srv.URL, "SECRET-proxy-key-1")

	req, _ := http.NewRequest("POST", h.srv.URL+"/o/"+h.org.String()+"/connections/"+conn+"/proxy/v1/items?x=1&y=two", strings.NewReader(`{"a":1}`))
	req.Header.Set("Authorization", "Bearer "+h.key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Custom", "kept")
	req.Header.Set("X-Plugboard-Something", "dropped")
	req.Header.Set("Connection", "X-Hop")
	req.Header.Set("X-Hop", "dropped")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 201 || string(body) != "created by upstream" || res.Header.Get("X-Upstream") != "yes" || res.Header.Get("X-Plugboard-Error") != "" {
		t.Errorf("answer %d %q %v", res.StatusCode, body, res.Header)
	}
	got, gotBody := up.last(t)
	checks := map[string]bool{
		"method":               got.Method == "POST",
		"path":                 got.URL.Path == "/v1/items",
		"query":                got.URL.RawQuery == "x=1&y=two",
		"body":                 gotBody == `{"a":1}`,
		"api key applied":      got.Header.Get("X-Api-Key") == "SECRET-proxy-key-1",
		"caller's key dropped": got.Header.Get("Authorization") == "",
		"controls dropped":     got.Header.Get("X-Plugboard-Something") == "",
		"hop-by-hop dropped":   got.Header.Get("X-Hop") == "",
		"other headers kept":   got.Header.Get("X-Custom") == "kept" && got.Header.Get("Content-Type") == "application/json",
	}
	for what, ok := range checks {
		if !ok {
			t.Errorf("upstream request: %s wrong: %s %s %v", what, got.Method, got.URL, got.Header)
		}
	}
	if strings.Contains(h.logs.String(), "SECRET-proxy-key-1") {
		t.Errorf("the log holds the applied secret")
	}
}

// TestProxyRefusesDotSegments: a proxied path with a . or .. segment, escaped or not, is not sent
// upstream, where one decoded and resolved could reach above the base URL's path: literal ones are
// cleaned away by the router (never proxied as such), escaped ones answer 400 naming the path.
func TestProxyRefusesDotSegments(t *testing.T) {
	h := newHarness(t)
	up := newUpstream(t)
	conn := h.apiKeyConnection(up.srv.URL+"/tenants/1", "SECRET-dot-key")
	for _, p := range []string{"%2E%2E/2/admin", "v1/%2e%2E/%2E%2e/x", "v1/%2E/x", "%2e", "v1/.%2E/x",
		"..%2Fadmin", "%2E%2E%2Fadmin", "v1/..%2F..%2Fadmin", "..%5Cadmin", "..;/admin", "%2E%2E;x/admin", "v1/.;p/x"} {
		res := h.doAs(h.key, h.org, "GET", "/connections/"+conn+"/proxy/"+p, nil)
		if res.Status != 400 || !strings.Contains(string(res.Body), `"path"`) {
			t.Errorf("%s: answered %d %s, want 400 naming the path", p, res.Status, res.Body)
		}
	}
	if n := up.count(); n != 0 {
		t.Errorf("the upstream was called %d times", n)
	}
	// Dots inside a segment are an ordinary name, and so is a segment that only starts with them.
	for _, p := range []string{"v1/file.v2..json", "v1/..hidden", "v1/...", "v1/a;..", "v1/%252E%252E"} {
		h.must(200, h.doAs(h.key, h.org, "GET", "/connections/"+conn+"/proxy/"+p, nil))
		if got, _ := up.last(t); got.URL.EscapedPath() != "/tenants/1/"+p {
			t.Errorf("upstream path %q, want /tenants/1/%s", got.URL.EscapedPath(), p)
		}
	}
}

func TestProxyFailuresAndOverrides(t *testing.T) {
	h := newHarness(t)
	up := newUpstream(t)
	conn := h.apiKeyConnection(up.srv.URL, "k")
	path := "/connections/" + conn + "/proxy/ping"

	// The base URL can be overridden per call (the guard still applies).
	other := newUpstream(t)
	req, _ := http.NewRequest("GET", h.srv.URL+"/o/"+h.org.String()+path, nil)
	req.Header.Set("Authorization", "Bearer "+h.key)
	req.Header.Set("X-Plugboard-Base-Url", other.srv.URL)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got, _ := other.last(t); res.StatusCode != 200 || got.URL.Path != "/ping" {
		t.Errorf("override: %d", res.StatusCode)
	}

	// An upstream that does not answer is Plugboard's Error, marked as such.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String()
	ln.Close()
	req, _ = http.NewRequest("GET", h.srv.URL+"/o/"+h.org.String()+path, nil)
	req.Header.Set("Authorization", "Bearer "+h.key)
	req.Header.Set("X-Plugboard-Base-Url", dead)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 502 || res.Header.Get("X-Plugboard-Error") != "true" || !strings.Contains(string(b), "upstream_unavailable") {
		t.Errorf("dead upstream: %d %s", res.StatusCode, b)
	}

	// An upstream's own 404 passes through unmarked.
	up.answer = func(r *http.Request, n int) (int, string) { return 404, "no such thing" }
	r := h.do("GET", path, nil)
	if r.Status != 404 || string(r.Body) != "no such thing" || r.Header.Get("X-Plugboard-Error") != "" {
		t.Errorf("upstream 404: %d %s", r.Status, r.Body)
	}
	// Unknown connections are Plugboard's 404.
	r = h.do("GET", "/connections/01ARZ3NDEKTSV4RRFFQ69G5FAV/proxy/ping", nil)
	if r.Status != 404 || r.Header.Get("X-Plugboard-Error") != "true" {
		t.Errorf("unknown connection: %d %s", r.Status, r.Body)
	}
}

func TestScopesAndAccessEndpoint(t *testing.T) {
	h := newHarness(t)
	up := newUpstream(t)
	conn := h.apiKeyConnection(up.srv.URL, "SECRET-access-key")
	keyWith := func(scopes ...string) string {
		key, id, hash, err := apikey.New(h.org)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.store.CreateAPIKey(context.Background(), &plugboard.APIKey{ID: id, OrganisationID: h.org, Hash: hash, Scopes: scopes, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		return key
	}
	proxyOnly := keyWith("connections:proxy")
	readOnly := keyWith("connections:read")

	h.must(200, h.doAs(proxyOnly, h.org, "GET", "/connections/"+conn+"/proxy/x", nil))
	r := h.must(403, h.doAs(proxyOnly, h.org, "POST", "/connections/"+conn+"/access", obj{}))
	if e := r.Error(t); e.Code != "permission_denied" || !strings.Contains(e.Message, "connections:access") {
		t.Errorf("scope error %+v", e)
	}
	h.must(403, h.doAs(proxyOnly, h.org, "GET", "/connections/"+conn, nil))
	h.must(200, h.doAs(readOnly, h.org, "GET", "/connections/"+conn, nil))
	h.must(403, h.doAs(readOnly, h.org, "GET", "/connections/"+conn+"/proxy/x", nil))
	h.must(403, h.doAs(readOnly, h.org, "GET", "/systems", nil))

	var acc struct {
		BaseURL string            `json:"baseUrl"`
		Headers map[string]string `json:"headers"`
	}
	h.must(200, h.doAs(keyWith("connections:access"), h.org, "POST", "/connections/"+conn+"/access", nil)).JSON(t, &acc)
	if acc.Headers["X-Api-Key"] != "SECRET-access-key" || acc.BaseURL != up.srv.URL {
		t.Errorf("access: %+v", acc)
	}
}

// TestProxyRefreshesOnceForManyCallers: a connection whose token has expired, called by many at
// once through the proxy, costs one refresh at a real authorization server; an upstream 401
// costs one more refresh and one retry.
func TestProxyRefreshesOnceForManyCallers(t *testing.T) {
	h := newHarness(t)
	const ttl = 3 * time.Second
	p := newGoProviderTTL(t, ttl)
	up := newUpstream(t)
	st := h.oauthSetup(oauth2Configs(p.AuthorizeURL, p.TokenURL, p.ClientID, p.ClientSecret, true))
	h.must(201, h.do("PUT", "/systems/"+st.systemID, obj{"templateBaseUrl": up.srv.URL}))
	code, state := p.authorize(t, h.initialise(st, p.AuthorizeURL, cliRedirect, nil).String())
	var c connectionView
	h.must(201, h.do("POST", "/connections", codeConnection(st.templates["oauth2-code"], "main", code, state))).JSON(t, &c)

	time.Sleep(ttl + 200*time.Millisecond) // the token has expired
	const n = 50
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := range n {
		wg.Go(func() { statuses[i] = h.do("GET", "/connections/"+c.ID+"/proxy/data", nil).Status })
	}
	wg.Wait()
	for i, st := range statuses {
		if st != 200 {
			t.Errorf("call %d: %d", i, st)
		}
	}
	if got := p.grantCount("refresh_token"); got != 1 {
		t.Errorf("%d refreshes for %d concurrent callers, want 1", got, n)
	}
	tokens := map[string]bool{}
	up.mu.Lock()
	for _, r := range up.reqs {
		tokens[r.Header.Get("Authorization")] = true
	}
	up.mu.Unlock()
	if len(tokens) != 1 {
		t.Errorf("%d different tokens reached the upstream", len(tokens))
	}

	// The upstream rejects the token once: one refresh, one retry, the body sent again.
	up.answer = func(r *http.Request, n int) (int, string) {
		if n == 51 {
			return 401, "expired"
		}
		return 200, "ok"
	}
	r := h.do("POST", "/connections/"+c.ID+"/proxy/data", `{"retry":"me"}`)
	if r.Status != 200 || p.grantCount("refresh_token") != 2 {
		t.Errorf("401 retry: %d, %d refreshes", r.Status, p.grantCount("refresh_token"))
	}
	if _, body := up.last(t); body != `{"retry":"me"}` {
		t.Errorf("the retry lost the body: %q", body)
	}
	// Forced refreshes, and their bound: TestForcedRefreshesAreBounded (tokens that live a day, so
	// that no token here expires between two calls however slow the run).
}

// TestRefreshFailuresBackOff: invalid_grant is recorded in the credential's refresh state with a
// cooldown (shown in its derived errors[]), calls within it do not reach the provider, and the next
// success clears it.
func TestRefreshFailuresBackOff(t *testing.T) {
	h := newHarness(t)
	const ttl = 2 * time.Second
	p := newGoProviderTTL(t, ttl)
	up := newUpstream(t)
	st := h.oauthSetup(oauth2Configs(p.AuthorizeURL, p.TokenURL, p.ClientID, p.ClientSecret, false))
	h.must(201, h.do("PUT", "/systems/"+st.systemID, obj{"templateBaseUrl": up.srv.URL}))
	code, state := p.authorize(t, h.initialise(st, p.AuthorizeURL, cliRedirect, nil).String())
	var c connectionView
	h.must(201, h.do("POST", "/connections", codeConnection(st.templates["oauth2-code"], "main", code, state))).JSON(t, &c)
	time.Sleep(ttl + 200*time.Millisecond)

	p.rejectNext(1)
	r := h.do("GET", "/connections/"+c.ID+"/proxy/data", nil)
	if r.Status != 400 || !strings.Contains(string(r.Body), "invalid_grant") || r.Header.Get("X-Plugboard-Error") != "true" {
		t.Fatalf("refused refresh: %d %s", r.Status, r.Body)
	}
	var got struct {
		Credentials []struct {
			Credential struct {
				Errors []string `json:"errors"`
			} `json:"credential"`
		} `json:"credentials"`
	}
	h.must(200, h.do("GET", "/connections/"+c.ID, nil)).JSON(t, &got)
	if errs := got.Credentials[0].Credential.Errors; len(errs) != 1 || !strings.HasPrefix(errs[0], "token refresh failing (upstream_rejected): 1 failed attempt since ") ||
		!strings.Contains(errs[0], "next attempt after") {
		t.Errorf("errors %v", errs)
	}
	before := p.grantCount("refresh_token")
	r = h.do("GET", "/connections/"+c.ID+"/proxy/data", nil)
	if r.Status != 400 || !strings.Contains(string(r.Body), "failed recently") || p.grantCount("refresh_token") != before {
		t.Errorf("within the cooldown: %d %s, %d refreshes (had %d)", r.Status, r.Body, p.grantCount("refresh_token"), before)
	}
	h.advance(31 * time.Second)
	h.must(200, h.do("GET", "/connections/"+c.ID+"/proxy/data", nil))
	got.Credentials = nil
	h.must(200, h.do("GET", "/connections/"+c.ID, nil)).JSON(t, &got)
	if len(got.Credentials[0].Credential.Errors) != 0 {
		t.Errorf("errors not cleared by the success: %v", got.Credentials[0].Credential.Errors)
	}
}

// TestBackgroundRefresher: a token nearing expiry is refreshed by the refresher's round, before
// anyone uses it, once.
func TestBackgroundRefresher(t *testing.T) {
	h := newHarness(t)
	const ttl = 3 * time.Second
	p := newGoProviderTTL(t, ttl)
	st := h.oauthSetup(oauth2Configs(p.AuthorizeURL, p.TokenURL, p.ClientID, p.ClientSecret, false))
	code, state := p.authorize(t, h.initialise(st, p.AuthorizeURL, cliRedirect, nil).String())
	var c connectionView
	h.must(201, h.do("POST", "/connections", codeConnection(st.templates["oauth2-code"], "main", code, state))).JSON(t, &c)
	before := openStoredSecret(t, h, c.Credentials[0].Credential.ID)

	out := outbound.New(outbound.Config{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Resolver: outbound.NoDNSResolver()})
	svc := access.New(access.Config{Store: h.store, Keys: h.keys, OAuth: oauth.New(out)})
	if n, err := svc.RefreshDueOnce(context.Background(), access.RefresherConfig{}); err != nil || n != 0 {
		t.Fatalf("a fresh token was refreshed: %d %v", n, err)
	}
	time.Sleep(ttl/2 + 200*time.Millisecond) // due at half its life
	n, err := svc.RefreshDueOnce(context.Background(), access.RefresherConfig{})
	if err != nil || n != 1 || p.grantCount("refresh_token") != 1 {
		t.Fatalf("round: refreshed %d (%v), provider counted %d", n, err, p.grantCount("refresh_token"))
	}
	if after := openStoredSecret(t, h, c.Credentials[0].Credential.ID); after == before {
		t.Errorf("the stored token did not change")
	}
	if n, _ := svc.RefreshDueOnce(context.Background(), access.RefresherConfig{}); n != 0 {
		t.Errorf("the new token was refreshed again at once")
	}
}

// TestProxySeesChangesAtOnce: the opened-connection cache is dropped when the connection or its
// system changes through this server, so the next call uses the new credential and base URL.
func TestProxySeesChangesAtOnce(t *testing.T) {
	h := newHarness(t)
	up := newUpstream(t)
	conn := h.apiKeyConnection(up.srv.URL, "first-value")
	h.must(200, h.do("GET", "/connections/"+conn+"/proxy/a", nil))
	var read map[string]any
	h.must(200, h.do("GET", "/connections/"+conn, nil)).JSON(t, &read)
	creds := read["credentials"].([]any)
	creds[0].(map[string]any)["credential"].(map[string]any)["data"] = obj{"string": obj{"value": "second-value"}}
	h.must(200, h.do("PUT", "/connections/"+conn, obj{"name": "c", "baseUrl": "", "credentials": creds}))
	h.must(200, h.do("GET", "/connections/"+conn+"/proxy/b", nil))
	if got, _ := up.last(t); got.Header.Get("X-Api-Key") != "second-value" {
		t.Errorf("after the update the proxy sent %q", got.Header.Get("X-Api-Key"))
	}
	h.must(204, h.do("DELETE", "/connections/"+conn, nil))
	if r := h.do("GET", "/connections/"+conn+"/proxy/c", nil); r.Status != 404 {
		t.Errorf("a deleted connection still proxies: %d", r.Status)
	}
}

// TestProxyReviewFixes: a GET (no body) answered 401 is retried after one refresh; several
// requests rejected with the same token cost one refresh; choosing another base URL needs the
// access scope and never downgrades https; the upstream cannot pass as Plugboard; escaped path
// segments reach the upstream as sent.
func TestProxyReviewFixes(t *testing.T) {
	h := newHarness(t)
	p := newGoProvider(t)
	up := newUpstream(t)
	st := h.oauthSetup(oauth2Configs(p.AuthorizeURL, p.TokenURL, p.ClientID, p.ClientSecret, false))
	h.must(201, h.do("PUT", "/systems/"+st.systemID, obj{"templateBaseUrl": up.srv.URL}))
	code, state := p.authorize(t, h.initialise(st, p.AuthorizeURL, cliRedirect, nil).String())
	var c connectionView
	h.must(201, h.do("POST", "/connections", codeConnection(st.templates["oauth2-code"], "main", code, state))).JSON(t, &c)

	// Requests carrying the first token are rejected; the refreshed one is accepted.
	var first string
	up.answer = func(r *http.Request, n int) (int, string) {
		if n == 1 {
			first = r.Header.Get("Authorization")
		}
		if r.Header.Get("Authorization") == first {
			return 401, "expired"
		}
		return 200, "ok"
	}
	h.must(200, h.do("GET", "/connections/"+c.ID+"/proxy/data", nil))
	if p.grantCount("refresh_token") != 1 {
		t.Errorf("GET 401: %d refreshes", p.grantCount("refresh_token"))
	}
	// Later requests use the new token; nothing more is refreshed.
	for range 3 {
		h.must(200, h.do("GET", "/connections/"+c.ID+"/proxy/data", nil))
	}
	if p.grantCount("refresh_token") != 1 {
		t.Errorf("after the refresh: %d refreshes", p.grantCount("refresh_token"))
	}

	// The upstream's X-Plugboard-* headers do not reach the caller.
	up.answer = func(r *http.Request, n int) (int, string) { return 200, "ok" }
	spoof := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Plugboard-Error", "true")
		w.WriteHeader(500)
	}))
	defer spoof.Close()
	req, _ := http.NewRequest("GET", h.srv.URL+"/o/"+h.org.String()+"/connections/"+c.ID+"/proxy/x", nil)
	req.Header.Set("Authorization", "Bearer "+h.key)
	req.Header.Set("X-Plugboard-Base-Url", spoof.URL)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 500 || res.Header.Get("X-Plugboard-Error") != "" {
		t.Errorf("spoofed marker: %d %v", res.StatusCode, res.Header)
	}

	// A proxy-only key may not send the credentials elsewhere.
	key, id, hash, _ := apikey.New(h.org)
	if err := h.store.CreateAPIKey(context.Background(), &plugboard.APIKey{ID: id, OrganisationID: h.org, Hash: hash, Scopes: []string{"connections:proxy"}, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	req, _ = http.NewRequest("GET", h.srv.URL+"/o/"+h.org.String()+"/connections/"+c.ID+"/proxy/x", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("X-Plugboard-Base-Url", spoof.URL)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 403 {
		t.Errorf("override with a proxy-only key: %d", res.StatusCode)
	}

	// Escaped segments stay escaped.
	h.must(200, h.do("GET", "/connections/"+c.ID+"/proxy/files/a%2Fb/100%25?x=1", nil))
	if got, _ := up.last(t); got.URL.EscapedPath() != "/files/a%2Fb/100%25" || got.URL.RawQuery != "x=1" {
		t.Errorf("forwarded path %q query %q", got.URL.EscapedPath(), got.URL.RawQuery)
	}
}

// TestAccessEndpointJWT: a jwt-bearer connection's access answer carries a minted token and says
// when it stops working.
func TestAccessEndpointJWT(t *testing.T) {
	h := newHarness(t)
	f := h.fixture()
	s := sample{"jwt", "jwt", "jwt-bearer", obj{"jwtBearer": obj{"algorithm": "HS256", "secret": "SECRET-jwt-key-for-access",
		"payload": obj{"iss": "plugboard-test"}, "expiresIn": "90s"}}, nil}
	var c connectionView
	h.must(201, h.do("POST", "/connections", connectionBody(f.templates["jwt"], "jwt", s, configByID("jwt")))).JSON(t, &c)
	var acc struct {
		Headers   map[string]string `json:"headers"`
		ExpiresAt time.Time         `json:"expiresAt"`
	}
	h.must(200, h.do("POST", "/connections/"+c.ID+"/access", nil)).JSON(t, &acc)
	if !strings.HasPrefix(acc.Headers["Authorization"], "Bearer ey") {
		t.Errorf("headers %v", acc.Headers)
	}
	if d := time.Until(acc.ExpiresAt); d < 60*time.Second || d > 91*time.Second {
		t.Errorf("expiresAt %v is %v away, want about 90s", acc.ExpiresAt, d)
	}
}

// TestProxyTimeoutReadingBody checks that the outbound RequestTimeout bounds a proxied call while
// its body is copied to the caller, not only until the upstream's headers: an upstream that sends
// its headers and part of a body, then stalls, is given up on, and the caller's connection is cut
// so that it cannot take the part for the whole.
func TestProxyTimeoutReadingBody(t *testing.T) {
	gaveUp := make(chan struct{})
	var once sync.Once
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	stalling := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done(): // the proxy closed the upstream connection
			once.Do(func() { close(gaveUp) })
		case <-release:
		}
	}))
	t.Cleanup(stalling.Close)
	h := newHarnessWith(t, outbound.Config{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Resolver: outbound.NoDNSResolver(), RequestTimeout: 200 * time.Millisecond})
	connID := h.apiKeyConnection(stalling.URL, "SECRET-stall")

	// The caller's own bound is far longer than the proxy's: it only keeps a failure from hanging.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet,
		h.srv.URL+"/o/"+h.org.String()+"/connections/"+connID+"/proxy/v1/stream", nil)
	req.Header.Set("Authorization", "Bearer "+h.key)
	// The status and the part are still in the proxy's buffer when it gives up, so the caller sees
	// the connection end before any response (Go's client sends an idempotent request once more).
	res, err := h.srv.Client().Do(req)
	if err == nil {
		body, rerr := io.ReadAll(res.Body)
		res.Body.Close()
		if rerr == nil {
			t.Fatalf("got %d %q and a clean end, want the connection cut", res.StatusCode, body)
		}
	}
	if ctx.Err() != nil {
		t.Fatal("the proxy did not give up on the stalled body within RequestTimeout")
	}
	select {
	case <-gaveUp:
	case <-ctx.Done():
		t.Fatal("the upstream's request was never ended")
	}
}
