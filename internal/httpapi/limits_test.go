package httpapi_test

import (
	"net/http"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/plugboard/plugboard/internal/httpapi"
	"github.com/plugboard/plugboard/internal/outbound"
	"github.com/plugboard/plugboard/internal/ratelimit"
)

// newLimitedHarness is newHarness with the server's Config adjusted by opts.
func newLimitedHarness(t *testing.T, opts ...func(*httpapi.Config)) *harness {
	t.Helper()
	return newHarnessWith(t, outbound.Config{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Resolver: outbound.NoDNSResolver(), RequestTimeout: 3 * time.Second}, opts...)
}

// hourly is a limit of burst requests, then one an hour: the time a test takes adds nothing that
// counts, and the harness's clock (advance) refills the bucket.
func hourly(burst int) ratelimit.Limit {
	return ratelimit.Limit{PerSecond: 1.0 / 3600, Burst: burst}
}

// assertRateLimited checks a 429 with the spec's Error, code rate_limited, and a Retry-After of
// about an hour (the bucket refills one request per hour).
func assertRateLimited(t *testing.T, r response, what string) {
	t.Helper()
	if r.Status != http.StatusTooManyRequests || r.Error(t).Code != "rate_limited" {
		t.Fatalf("%s: %d %s, want 429 rate_limited", what, r.Status, r.Body)
	}
	after, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || after < 3000 || after > 3600 {
		t.Errorf("%s: Retry-After %q, want the seconds until the next token (about 3600)", what, r.Header.Get("Retry-After"))
	}
}

// TestRateLimitPerKey: each API key has its own bucket; over it, 429 with Retry-After; requests
// without a valid key cost nothing; the bucket refills with the server's clock.
func TestRateLimitPerKey(t *testing.T) {
	h := newLimitedHarness(t, func(c *httpapi.Config) { c.KeyRateLimit = hourly(3) })
	other := h.keyWith("connections:read")

	// Unauthenticated requests are refused before any bucket (even with a valid key's prefix).
	for range 5 {
		h.must(401, h.doAs("", h.org, "GET", "/connections", nil))
		h.must(401, h.doAs(h.key+"x", h.org, "GET", "/connections", nil))
	}
	for i := range 3 {
		if r := h.do("GET", "/connections", nil); r.Status != 200 {
			t.Fatalf("request %d within the burst: %d %s", i+1, r.Status, r.Body)
		}
	}
	assertRateLimited(t, h.do("GET", "/connections", nil), "the 4th request")
	// Every operation draws on the same bucket, refused before scope or body are looked at.
	assertRateLimited(t, h.do("POST", "/projects", obj{"name": "p"}), "a write")
	// The proxy's refusal is marked as Plugboard's own.
	r := h.do("GET", "/connections/"+zeroID+"/proxy/x", nil)
	assertRateLimited(t, r, "the proxy")
	if r.Header.Get(httpapi.HeaderError) != "true" {
		t.Errorf("the proxy's 429 lacks %s", httpapi.HeaderError)
	}
	// Another key of the same organisation has its own bucket.
	h.must(200, h.doAs(other, h.org, "GET", "/connections", nil))

	h.advance(time.Hour)
	h.must(200, h.do("GET", "/connections", nil))
	assertRateLimited(t, h.do("GET", "/connections", nil), "after one token came back")
}

// TestRateLimitPerConnection: proxied calls are limited per connection, apart from the key's
// limit and from other connections; the refused call never reaches the upstream.
func TestRateLimitPerConnection(t *testing.T) {
	h := newLimitedHarness(t, func(c *httpapi.Config) { c.ConnectionRateLimit = hourly(2) })
	up := newUpstream(t)
	a := h.apiKeyConnection(up.srv.URL, "SECRET-a")
	var av, b connectionView
	h.must(200, h.do("GET", "/connections/"+a, nil)).JSON(t, &av)
	h.must(201, h.do("POST", "/connections", obj{"connectionTemplateId": av.ConnectionTemplateID,
		"connection": obj{"name": "b", "credentials": arr{obj{"id": zeroID, "authSchemeConfig": configByID("api-key"),
			"credential": obj{"type": "string", "data": obj{"string": obj{"value": "SECRET-b"}}}}}}})).JSON(t, &b)

	h.must(200, h.do("GET", "/connections/"+a+"/proxy/one", nil))
	h.must(200, h.do("GET", "/connections/"+a+"/proxy/two", nil))
	r := h.do("GET", "/connections/"+a+"/proxy/three", nil)
	assertRateLimited(t, r, "the 3rd call on a connection")
	if r.Header.Get(httpapi.HeaderError) != "true" {
		t.Errorf("the proxy's 429 lacks %s", httpapi.HeaderError)
	}
	up.mu.Lock()
	reached := len(up.reqs)
	up.mu.Unlock()
	if reached != 2 {
		t.Errorf("the upstream received %d requests, want 2", reached)
	}
	h.must(200, h.do("GET", "/connections/"+b.ID+"/proxy/one", nil))
	// The rest of the API is not limited per connection.
	for range 2 {
		h.must(200, h.do("GET", "/connections/"+a, nil))
	}
	h.advance(time.Hour)
	h.must(200, h.do("GET", "/connections/"+a+"/proxy/four", nil))
}

// TestForcedRefreshesAreBounded: 100 forced refreshes in a row cost one refresh at a real
// authorization server per interval; the skipped ones use the current token and say so, on the
// proxy and on the access endpoint.
func TestForcedRefreshesAreBounded(t *testing.T) {
	const interval = time.Hour // longer than any run, so only advance moves past it
	h := newLimitedHarness(t, func(c *httpapi.Config) { c.ForceRefreshInterval = interval })
	// Tokens live a day: however slow the run, and with the server's clock moved on by two
	// intervals, none expires during the test.
	p := newGoProviderTTL(t, 24*time.Hour)
	up := newUpstream(t)
	st := h.oauthSetup(oauth2Configs(p.AuthorizeURL, p.TokenURL, p.ClientID, p.ClientSecret, false))
	h.must(201, h.do("PUT", "/systems/"+st.systemID, obj{"templateBaseUrl": up.srv.URL}))
	code, state := p.authorize(t, h.initialise(st, p.AuthorizeURL, cliRedirect, nil).String())
	var c connectionView
	h.must(201, h.do("POST", "/connections", codeConnection(st.templates["oauth2-code"], "main", code, state))).JSON(t, &c)
	forced := func() response {
		return h.doWithHeader(h.key, "GET", "/connections/"+c.ID+"/proxy/data", httpapi.HeaderForceRefresh, "true")
	}

	// The token was stored just now: a forced refresh is skipped.
	if r := forced(); r.Status != 200 || r.Header.Get(httpapi.HeaderRefresh) != "skipped" || p.grantCount("refresh_token") != 0 {
		t.Fatalf("forced right after the exchange: %d, %s %q, %d refreshes", r.Status, httpapi.HeaderRefresh,
			r.Header.Get(httpapi.HeaderRefresh), p.grantCount("refresh_token"))
	}
	h.advance(interval)
	skipped := 0
	for i := range 100 {
		r := forced()
		if r.Status != 200 {
			t.Fatalf("forced call %d: %d %s", i, r.Status, r.Body)
		}
		switch r.Header.Get(httpapi.HeaderRefresh) {
		case "skipped":
			skipped++
		case "":
			if i != 0 {
				t.Errorf("forced call %d refreshed", i)
			}
		default:
			t.Errorf("forced call %d: %s %q", i, httpapi.HeaderRefresh, r.Header.Get(httpapi.HeaderRefresh))
		}
	}
	if got := p.grantCount("refresh_token"); got != 1 || skipped != 99 {
		t.Errorf("100 forced calls: %d refreshes, %d skipped; want 1 and 99", got, skipped)
	}
	up.mu.Lock()
	tokens := map[string]bool{}
	for _, r := range up.reqs[len(up.reqs)-99:] {
		tokens[r.Header.Get("Authorization")] = true
	}
	up.mu.Unlock()
	if len(tokens) != 1 {
		t.Errorf("the skipped calls sent %d different tokens, want the refreshed one", len(tokens))
	}
	// An unforced call carries no such header.
	if r := h.do("GET", "/connections/"+c.ID+"/proxy/data", nil); r.Header.Get(httpapi.HeaderRefresh) != "" {
		t.Errorf("unforced call: %s %q", httpapi.HeaderRefresh, r.Header.Get(httpapi.HeaderRefresh))
	}

	// The access endpoint's forceRefresh shares the bound.
	r := h.must(200, h.do("POST", "/connections/"+c.ID+"/access", obj{"forceRefresh": true}))
	if r.Header.Get(httpapi.HeaderRefresh) != "skipped" || p.grantCount("refresh_token") != 1 {
		t.Errorf("access within the interval: %s %q, %d refreshes", httpapi.HeaderRefresh, r.Header.Get(httpapi.HeaderRefresh), p.grantCount("refresh_token"))
	}
	h.advance(interval)
	r = h.must(200, h.do("POST", "/connections/"+c.ID+"/access", obj{"forceRefresh": true}))
	if r.Header.Get(httpapi.HeaderRefresh) != "" || p.grantCount("refresh_token") != 2 {
		t.Errorf("access after the interval: %s %q, %d refreshes", httpapi.HeaderRefresh, r.Header.Get(httpapi.HeaderRefresh), p.grantCount("refresh_token"))
	}
	if r := forced(); r.Header.Get(httpapi.HeaderRefresh) != "skipped" || p.grantCount("refresh_token") != 2 {
		t.Errorf("proxy right after the access endpoint's refresh: %q, %d refreshes", r.Header.Get(httpapi.HeaderRefresh), p.grantCount("refresh_token"))
	}
}
