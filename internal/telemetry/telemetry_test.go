package telemetry_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/telemetry"
	"github.com/plugboard/plugboard/internal/telemetry/otlptest"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// TestTracingFromEnv: tracing is off unless the standard variables ask for it, and a protocol or
// exporter it cannot honour is refused rather than silently ignored.
func TestTracingFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		on      bool
		errPart string
	}{
		{name: "nothing set", env: nil},
		{name: "endpoint", env: map[string]string{telemetry.EnvOTLPEndpoint: "http://127.0.0.1:4318"}, on: true},
		{name: "traces endpoint", env: map[string]string{telemetry.EnvOTLPTracesEndpoint: "http://127.0.0.1:4318/v1/traces"}, on: true},
		{name: "exporter otlp", env: map[string]string{telemetry.EnvTracesExporter: "otlp"}, on: true},
		{name: "exporter none wins", env: map[string]string{telemetry.EnvTracesExporter: "none", telemetry.EnvOTLPEndpoint: "http://127.0.0.1:4318"}},
		{name: "sdk disabled wins", env: map[string]string{telemetry.EnvSDKDisabled: "true", telemetry.EnvOTLPEndpoint: "http://127.0.0.1:4318"}},
		{name: "grpc refused", env: map[string]string{telemetry.EnvOTLPEndpoint: "http://127.0.0.1:4317", telemetry.EnvOTLPProtocol: "grpc"},
			errPart: "only http/protobuf"},
		{name: "zipkin refused", env: map[string]string{telemetry.EnvTracesExporter: "zipkin"}, errPart: "only otlp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := telemetry.TracingFromEnv(context.Background(), envOf(tc.env))
			if tc.errPart != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errPart) {
					t.Fatalf("err %v, want one saying %q", err, tc.errPart)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (tr != nil) != tc.on {
				t.Fatalf("tracing on: %v, want %v", tr != nil, tc.on)
			}
			_ = tr.Shutdown(context.Background())
		})
	}
}

// TestTracingExportsOverOTLP switches tracing on with OTEL_EXPORTER_OTLP_ENDPOINT pointing at a
// real OTLP/HTTP receiver and checks that a request's server span, its store call's span and its
// outbound call's client span arrive in one trace; that the upstream got the trace context; and
// that the query string (where an API key may be placed) is not in the outbound span.
func TestTracingExportsOverOTLP(t *testing.T) {
	recv := otlptest.New(t)
	ctx := context.Background()
	tr, err := telemetry.TracingFromEnv(ctx, envOf(map[string]string{telemetry.EnvOTLPEndpoint: recv.URL,
		telemetry.EnvServiceName: "plugboard-test"}))
	if err != nil || tr == nil {
		t.Fatalf("tracing: %v, %v", tr, err)
	}
	db, err := tr.OpenDB("sqlite", filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	var mu sync.Mutex
	var traceparent string
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		traceparent = r.Header.Get("Traceparent")
		mu.Unlock()
		_, _ = io.WriteString(w, "ok")
	}))
	defer upstream.Close()
	client := &http.Client{Transport: tr.Transport(http.DefaultTransport)}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /things/{id}", func(w http.ResponseWriter, r *http.Request) {
		var n int
		if err := db.QueryRowContext(r.Context(), "SELECT 1").Scan(&n); err != nil {
			t.Error(err)
		}
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, upstream.URL+"/v1/x?api_key=SECRET-in-query", nil)
		res, err := client.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		res.Body.Close()
		telemetry.NameServerSpan(r.Context(), r.Method, telemetry.RouteTemplate(r.Pattern))
	})
	srv := httptest.NewServer(tr.Handler(mux))
	defer srv.Close()
	res, err := http.Get(srv.URL + "/things/01J00000000000000000000000")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if err := tr.Shutdown(ctx); err != nil { // sends what the batch holds
		t.Fatal(err)
	}

	server := recv.Named("GET /things/{id}")
	if len(server) != 1 {
		t.Fatalf("server spans %v; all: %v", server, names(recv.Spans()))
	}
	if server[0].Kind != "SPAN_KIND_SERVER" || server[0].Attrs["http.route"] != "/things/{id}" ||
		server[0].Resource["service.name"] != "plugboard-test" {
		t.Errorf("server span %+v", server[0])
	}
	out := recv.Named("outbound GET")
	if len(out) != 1 || out[0].TraceID != server[0].TraceID || out[0].Kind != "SPAN_KIND_CLIENT" {
		t.Fatalf("outbound spans %+v", out)
	}
	if u := out[0].Attrs["url.full"]; u != upstream.URL+"/v1/x" {
		t.Errorf("url.full %q: the query must be gone", u)
	}
	var store []otlptest.Span
	for _, s := range recv.Spans() {
		if strings.HasPrefix(s.Name, "sql.") && s.TraceID == server[0].TraceID {
			store = append(store, s)
		}
	}
	if len(store) == 0 || store[0].Attrs["db.system.name"] != "sqlite" {
		t.Errorf("no store span in the request's trace: %v", names(recv.Spans()))
	}
	for _, s := range recv.Spans() {
		for k, v := range s.Attrs {
			if strings.Contains(v, "SECRET") {
				t.Errorf("span %s attribute %s holds the query's secret: %s", s.Name, k, v)
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(traceparent, server[0].TraceID) {
		t.Errorf("upstream got traceparent %q, want one of trace %s", traceparent, server[0].TraceID)
	}
}

func names(spans []otlptest.Span) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}

// TestTracingOffAddsNothing: with tracing off (a nil *Tracing), the handler, the transport and the
// database are the plain ones, and no trace context reaches an upstream, even when the incoming
// request carried one.
func TestTracingOffAddsNothing(t *testing.T) {
	var tr *telemetry.Tracing
	var got []string
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Get("Traceparent")+r.Header.Get("Tracestate"))
	}))
	defer upstream.Close()
	if tr.Transport(http.DefaultTransport) != http.DefaultTransport {
		t.Error("a transport was wrapped with tracing off")
	}
	h := http.NotFoundHandler()
	if tr.Handler(h) == nil || tr.Provider() != nil {
		t.Error("tracing off has a provider")
	}
	client := &http.Client{Transport: tr.Transport(http.DefaultTransport)}
	res, err := client.Get(upstream.URL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if len(got) != 1 || got[0] != "" {
		t.Errorf("upstream got trace context %q with tracing off", got)
	}
	db, err := tr.OpenDB("sqlite", filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
}

// TestNilMetricsRecordNothing: every recording method is safe on nil, which is how metrics are off.
func TestNilMetricsRecordNothing(t *testing.T) {
	var m *telemetry.Metrics
	m.HTTPRequest("/", "GET", 200, time.Millisecond)
	m.ProxyUpstream(200, time.Millisecond)
	m.ProxyBytes(10)
	m.Refresh(errors.New("x"))
	m.RefreshBackoff()
	m.CacheLookup(telemetry.CacheAPIKeys, true)
	m.EventEmitted("connection.created")
	m.WebhookDelivery(telemetry.DeliveryDelivered, time.Millisecond)
	m.WatchStore(nil)
}

// TestMetricsLabels: odd methods fold into OTHER, statuses into classes, refresh failures into
// their error codes; and Start serves the registry on its own listener, at /metrics only.
func TestMetricsLabels(t *testing.T) {
	tel, err := telemetry.Start(context.Background(), telemetry.Config{MetricsAddr: "127.0.0.1:0", Getenv: envOf(nil)})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	m := tel.Metrics
	m.HTTPRequest("/o/{organisation_id}/connections", "BREW", 400, time.Millisecond)
	m.ProxyUpstream(0, time.Millisecond)
	m.ProxyUpstream(503, time.Millisecond)
	m.Refresh(plugboard.Errorf(plugboard.EUpstreamRejected, "no"))
	m.Refresh(errors.New("not ours"))
	m.Refresh(nil)
	text := scrape(t, "http://"+tel.MetricsAddr()+telemetry.MetricsPath)
	for _, want := range []string{
		`plugboard_http_requests_total{method="OTHER",route="/o/{organisation_id}/connections",status="400"} 1`,
		`plugboard_proxy_upstream_duration_seconds_count{status_class="error"} 1`,
		`plugboard_proxy_upstream_duration_seconds_count{status_class="5xx"} 1`,
		`plugboard_oauth_refreshes_total{error_code="upstream_rejected",outcome="failed"} 1`,
		`plugboard_oauth_refreshes_total{error_code="internal",outcome="failed"} 1`,
		`plugboard_oauth_refreshes_total{error_code="",outcome="ok"} 1`,
		"go_goroutines ", "process_cpu_seconds_total ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
	res, err := http.Get("http://" + tel.MetricsAddr() + "/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("GET / on the metrics listener: %d", res.StatusCode)
	}
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("scrape: %d %v", res.StatusCode, err)
	}
	return string(b)
}
