package httpapi_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/apitest"
	"github.com/plugboard/plugboard/internal/httpapi"
	"github.com/plugboard/plugboard/internal/outbound"
	"github.com/plugboard/plugboard/internal/pgtest"
	"github.com/plugboard/plugboard/internal/sqlstore"
	"github.com/plugboard/plugboard/internal/testlog"
	"github.com/plugboard/plugboard/internal/vault"
)

// TestPostgresOutageIsUnavailable cuts the network between the server and PostgreSQL (a TCP proxy
// in front of it) and restores it: meanwhile reads and writes answer 503 unavailable with
// Retry-After and /readyz says the store is unavailable; afterwards everything answers again, and
// the log told the outage once when it began and once when it ended.
func TestPostgresOutageIsUnavailable(t *testing.T) {
	dbURL := pgtest.URL(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := pgtest.NewProxy(t, u.Host)
	u.Host = proxy.Addr

	logs := &testlog.Buffer{}
	logger := apitest.Logger(logs)
	ctx := context.Background()
	store, err := sqlstore.OpenWith(ctx, u.String(), sqlstore.Options{Migrate: true, Logger: logger})
	if err != nil {
		t.Fatalf("open through the proxy: %v", err)
	}
	t.Cleanup(func() { store.Close() })
	h := serveStore(t, store, logger, true)
	h.pgURL, h.logs = dbURL, logs

	system := func(name string) obj {
		return obj{"name": name, "domain": name + ".example", "templateBaseUrl": "https://api." + name + ".example",
			"authSchemeConfigs": arr{schemeConfigs()[0]}}
	}
	h.must(201, h.do("POST", "/systems", system("before")))
	h.must(200, h.do("GET", "/systems", nil))
	h.must(200, h.do("GET", "//readyz", nil))

	proxy.Cut()
	for _, c := range []struct {
		name, method, path string
		body               any
	}{
		{"read", "GET", "/systems", nil},
		{"write", "POST", "/systems", system("during")},
		{"readiness", "GET", "//readyz", nil},
		{"read again", "GET", "/systems", nil},
	} {
		r := h.do(c.method, c.path, c.body)
		if r.Status != 503 {
			t.Fatalf("%s during the outage: status %d, want 503: %s", c.name, r.Status, r.Body)
		}
		e := r.Error(t)
		if e.Code != "unavailable" {
			t.Errorf("%s during the outage: code %q, want unavailable", c.name, e.Code)
		}
		if got := r.Header.Get("Retry-After"); got != "1" {
			t.Errorf("%s during the outage: Retry-After %q, want 1", c.name, got)
		}
		if c.name == "readiness" && !strings.Contains(e.Details, "store: unavailable") {
			t.Errorf("/readyz details %q do not name the store's state", e.Details)
		}
	}

	proxy.Restore()
	h.must(200, h.do("GET", "/systems", nil))
	h.must(201, h.do("POST", "/systems", system("after")))
	h.must(200, h.do("GET", "//readyz", nil))

	out := logs.String()
	if n := strings.Count(out, `msg="store unavailable"`); n != 1 {
		t.Errorf("the log says %d times that the store is unavailable, want once:\n%s", n, out)
	}
	if n := strings.Count(out, `msg="store available again"`); n != 1 {
		t.Errorf("the log says %d times that the store is available again, want once:\n%s", n, out)
	}
	if strings.Contains(out, "level=ERROR") {
		t.Errorf("the outage was logged as errors:\n%s", out)
	}
}

// serveStore serves the API on store for a test that opened the store itself, with a new
// organisation and key; validate checks every answer against the contract (costly under load).
func serveStore(t *testing.T, store plugboard.Store, logger *slog.Logger, validate bool) *harness {
	t.Helper()
	keys, err := vault.Parse(vault.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, store: store, keys: keys, logs: &testlog.Buffer{}}
	h.org, h.key = h.newOrg("served")
	h.srv = httptest.NewUnstartedServer(nil)
	var handler http.Handler = httpapi.New(httpapi.Config{Store: store, Keys: keys, Logger: logger,
		Outbound: outbound.New(outbound.Config{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
			Resolver: outbound.NoDNSResolver(), RequestTimeout: 3 * time.Second}),
		PublicURL: "http://" + h.srv.Listener.Addr().String(), Now: time.Now})
	if validate {
		handler = apitest.Validator(t, handler)
	}
	h.srv.Config.Handler = handler
	h.srv.Start()
	t.Cleanup(h.srv.Close)
	return h
}
