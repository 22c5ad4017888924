package httpapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/plugboard/plugboard/internal/httpapi"
	"github.com/plugboard/plugboard/internal/outbound"
	"github.com/plugboard/plugboard/internal/telemetry"
)

// BenchmarkProxyTelemetry measures a warm proxied call (API key and connection cached) with metrics
// off, as serve runs without --metrics-addr, and on. Its allocations per call are the steadier
// figure on a busy machine; docs/benchmarks.md has both.
//
//	go test ./internal/httpapi -run '^$' -bench BenchmarkProxyTelemetry -benchmem -count 5
func BenchmarkProxyTelemetry(b *testing.B) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":42,"name":"Ada"}`)
	}))
	defer upstream.Close()
	outCfg := outbound.Config{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Resolver: outbound.NoDNSResolver(), RequestTimeout: 10 * time.Second}
	for _, bc := range []struct {
		name    string
		metrics *telemetry.Metrics
	}{{"metrics=off", nil}, {"metrics=on", telemetry.NewMetrics()}} {
		b.Run(bc.name, func(b *testing.B) {
			h := newHarnessWith(b, outCfg, func(c *httpapi.Config) { c.Metrics = bc.metrics })
			connID := h.apiKeyConnection(upstream.URL, "SECRET-bench-key")
			url := h.srv.URL + "/o/" + h.org.String() + "/connections/" + connID + "/proxy/v1/customers/42"
			client := h.srv.Client()
			call := func() {
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				req.Header.Set("Authorization", "Bearer "+h.key)
				res, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					b.Fatalf("status %d", res.StatusCode)
				}
			}
			call() // warm: the key and the opened connection are cached from here on
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				call()
			}
		})
	}
}
