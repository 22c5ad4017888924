package httpapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/plugboard/plugboard/internal/httpapi"
	"github.com/plugboard/plugboard/internal/outbound"
	"github.com/plugboard/plugboard/internal/telemetry"
	"github.com/plugboard/plugboard/internal/webhooks"
)

// metricNames are the metrics Plugboard defines; docs/operating.md describes each.
var metricNames = []string{
	"plugboard_http_requests_total",
	"plugboard_http_request_duration_seconds",
	"plugboard_proxy_upstream_duration_seconds",
	"plugboard_proxy_upstream_response_bytes_total",
	"plugboard_oauth_refreshes_total",
	"plugboard_oauth_refresh_backoffs_total",
	"plugboard_cache_lookups_total",
	"plugboard_change_feed_watching",
	"plugboard_events_emitted_total",
	"plugboard_webhook_deliveries_total",
	"plugboard_webhook_delivery_duration_seconds",
	"plugboard_webhook_deliveries_pending",
	"plugboard_store_connections_open",
	"plugboard_store_connections_in_use",
	"plugboard_store_connections_idle",
	"plugboard_store_connections_max_open",
	"plugboard_store_wait_count_total",
	"plugboard_store_wait_duration_seconds_total",
}

var ulidLike = regexp.MustCompile(`[0-9A-HJKMNP-TV-Z]{26}`)

// TestMetricsScrape serves the API with metrics on, makes the calls an operator would want to
// see (creates, proxied calls, failed calls, a refresh that fails, one held back by the backoff,
// one that succeeds, a webhook delivery), scrapes the metrics over HTTP and checks every metric by
// name, the labels that matter, that no label value is an id, and that no secret the test stored
// or sent appears anywhere in the scrape.
func TestMetricsScrape(t *testing.T) {
	m := telemetry.NewMetrics()
	outCfg := outbound.Config{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Resolver: outbound.NoDNSResolver(), RequestTimeout: 3 * time.Second}
	h := newHarnessWith(t, outCfg, func(c *httpapi.Config) { c.Metrics = m })
	st, ok := h.store.(telemetry.Store)
	if !ok {
		t.Fatalf("the store %T has no pool figures", h.store)
	}
	m.WatchStore(st)

	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer rcv.Close()
	h.must(201, h.do("POST", "/webhook-endpoints", obj{"url": rcv.URL + "/hook", "eventTypes": arr{"connection.created"}}))

	// An API key connection: created, called twice through the proxy (the second from the cache).
	const apiSecret = "SECRET-metrics-api-key-value-5150"
	up := newUpstream(t)
	connID := h.apiKeyConnection(up.srv.URL, apiSecret)
	h.must(200, h.do("GET", "/connections/"+connID+"/proxy/v1/things?page=2", nil))
	h.must(200, h.do("GET", "/connections/"+connID+"/proxy/v1/things", nil))
	// Failed calls: an unknown connection, a create without a body that fits.
	h.must(404, h.do("GET", "/connections/"+ulid.Make().String()+"/proxy/v1/things", nil))
	h.must(400, h.do("POST", "/connections", obj{"connection": obj{}}))

	// An OAuth 2.0 connection whose token expires: a refresh the provider refuses, one held back by
	// the backoff, then one that works.
	p := newGoProviderTTL(t, time.Hour)
	oa := h.oauthSetup(oauth2Configs(p.AuthorizeURL, p.TokenURL, p.ClientID, p.ClientSecret, false))
	h.must(201, h.do("PUT", "/systems/"+oa.systemID, obj{"templateBaseUrl": up.srv.URL}))
	code, state := p.authorize(t, h.initialise(oa, p.AuthorizeURL, cliRedirect, nil).String())
	var oc connectionView
	h.must(201, h.do("POST", "/connections", codeConnection(oa.templates["oauth2-code"], "main", code, state))).JSON(t, &oc)
	h.advance(time.Hour + time.Minute)
	p.rejectNext(1)
	h.must(400, h.do("GET", "/connections/"+oc.ID+"/proxy/data", nil))
	h.must(400, h.do("GET", "/connections/"+oc.ID+"/proxy/data", nil))
	h.advance(31 * time.Second)
	h.must(200, h.do("GET", "/connections/"+oc.ID+"/proxy/data", nil))

	worker := webhooks.New(webhooks.Config{Store: h.store, Vault: h.keys, Now: h.clock, Metrics: m,
		Client: outbound.New(outCfg).HTTPClient(nil)})
	if err := worker.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}

	scrapeSrv := httptest.NewServer(m.Handler())
	defer scrapeSrv.Close()
	res, err := http.Get(scrapeSrv.URL)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("the scrape does not parse: %v", err)
	}

	for _, name := range metricNames {
		if families[name] == nil {
			t.Errorf("the scrape has no %s", name)
		}
	}
	for name := range families {
		if strings.HasPrefix(name, "plugboard_") && !contains(metricNames, name) {
			t.Errorf("%s is not in this test's list (nor, probably, in docs/operating.md)", name)
		}
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if families[name] == nil {
			t.Errorf("the scrape has no %s: the Go and process collectors are missing", name)
		}
	}

	// The figures that say the calls above were seen, by their labels.
	const proxyRoute = "/o/{organisation_id}/connections/{connection_id}/proxy/{path...}"
	for _, want := range []struct {
		name   string
		labels map[string]string
		min    float64
	}{
		{"plugboard_http_requests_total", map[string]string{"route": "/o/{organisation_id}/connections", "method": "POST", "status": "201"}, 2},
		{"plugboard_http_requests_total", map[string]string{"route": "/o/{organisation_id}/connections", "method": "POST", "status": "400"}, 1},
		{"plugboard_http_requests_total", map[string]string{"route": proxyRoute, "method": "GET", "status": "200"}, 3},
		{"plugboard_http_requests_total", map[string]string{"route": proxyRoute, "method": "GET", "status": "404"}, 1},
		{"plugboard_http_request_duration_seconds", map[string]string{"route": proxyRoute, "method": "GET"}, 6},
		{"plugboard_proxy_upstream_duration_seconds", map[string]string{"status_class": "2xx"}, 3},
		{"plugboard_proxy_upstream_response_bytes_total", nil, 6},
		{"plugboard_oauth_refreshes_total", map[string]string{"outcome": "failed", "error_code": "upstream_rejected"}, 1},
		{"plugboard_oauth_refreshes_total", map[string]string{"outcome": "ok", "error_code": ""}, 1},
		{"plugboard_oauth_refresh_backoffs_total", nil, 1},
		{"plugboard_cache_lookups_total", map[string]string{"cache": "credentials", "result": "hit"}, 1},
		{"plugboard_cache_lookups_total", map[string]string{"cache": "credentials", "result": "miss"}, 1},
		{"plugboard_cache_lookups_total", map[string]string{"cache": "api_keys", "result": "hit"}, 1},
		{"plugboard_cache_lookups_total", map[string]string{"cache": "api_keys", "result": "miss"}, 1},
		{"plugboard_cache_lookups_total", map[string]string{"cache": "systems", "result": "miss"}, 1},
		{"plugboard_events_emitted_total", map[string]string{"type": "connection.created"}, 2},
		{"plugboard_events_emitted_total", map[string]string{"type": "credential.refresh_failed"}, 1},
		{"plugboard_webhook_deliveries_total", map[string]string{"outcome": "delivered"}, 2},
		{"plugboard_webhook_delivery_duration_seconds", nil, 2},
		{"plugboard_store_connections_open", nil, 1},
	} {
		if got, ok := value(families[want.name], want.labels); !ok || got < want.min {
			t.Errorf("%s%v = %v (found: %v), want at least %v", want.name, want.labels, got, ok, want.min)
		}
	}
	if got, ok := value(families["plugboard_webhook_deliveries_pending"], nil); !ok || got != 0 {
		t.Errorf("pending deliveries %v (%v) after the worker ran, want 0", got, ok)
	}

	// No label value is an id; no secret or id appears anywhere in the scrape.
	for name, f := range families {
		for _, metric := range f.GetMetric() {
			for _, l := range metric.GetLabel() {
				if ulidLike.MatchString(l.GetValue()) {
					t.Errorf("%s has an id as label %s: %s", name, l.GetName(), l.GetValue())
				}
			}
		}
	}
	secrets := []string{apiSecret, h.key, p.ClientSecret, p.Password, connID, oc.ID, h.org.String()}
	up.mu.Lock()
	for _, r := range up.reqs {
		if a := r.Header.Get("Authorization"); a != "" {
			secrets = append(secrets, strings.TrimPrefix(a, "Bearer "))
		}
	}
	up.mu.Unlock()
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("the scrape holds %q", s)
		}
	}

	// docs/operating.md describes every metric.
	doc, err := readOperatingDoc()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range metricNames {
		if !strings.Contains(doc, "`"+name+"`") {
			t.Errorf("docs/operating.md does not describe %s", name)
		}
	}
}

func readOperatingDoc() (string, error) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "operating.md"))
	return string(b), err
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// value sums the samples of f whose labels include want (a histogram's count, a counter's or a
// gauge's value); ok is false when none matches.
func value(f *dto.MetricFamily, want map[string]string) (sum float64, ok bool) {
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		ok = true
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum, ok
}
