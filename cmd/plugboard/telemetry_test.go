package main_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/plugboard/plugboard/internal/telemetry/otlptest"
)

// TestTelemetryServed builds the binary and serves with --metrics-addr and an OTLP endpoint set:
// after a create, proxied calls and a failed call, the metrics listener (and only it: not the API's
// port) serves the request, proxy, cache, event and store metrics by name, with no id as a label
// and no stored secret anywhere; and once the server stops, the spans of the proxied call have
// reached a real OTLP/HTTP receiver, server, store and outbound spans in one trace, with the trace
// context sent upstream. A second server without tracing sends no trace context upstream.
func TestTelemetryServed(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	recv := otlptest.New(t)
	var mu sync.Mutex
	var traceparents []string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		traceparents = append(traceparents, r.Header.Get("Traceparent"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	defer up.Close()

	metricsAddr := freeAddr(t)
	env := append(storeEnv(t, bin), "PLUGBOARD_METRICS_ADDR="+metricsAddr, "PLUGBOARD_ALLOW_CIDRS=127.0.0.0/8",
		"OTEL_EXPORTER_OTLP_ENDPOINT="+recv.URL, "OTEL_SERVICE_NAME=plugboard-e2e")
	srv := startServer(t, bin, filepath.Join(t.TempDir(), "data"), env...)

	const secret = "SECRET-telemetry-e2e-upstream-key-2718"
	connID := apiKeyConnection(t, srv, up.URL, secret)
	for _, path := range []string{"/proxy/v1/orders?page=1", "/proxy/v1/orders"} {
		if st, body := call(t, srv, "GET", "/connections/"+connID+path, nil); st != 200 {
			t.Fatalf("proxied call: %d %s", st, body)
		}
	}
	if st, _ := call(t, srv, "GET", "/connections/01J0000000000000000000000Z", nil); st != 404 {
		t.Errorf("unknown connection: %d", st)
	}

	// The API's port has no metrics.
	res, err := http.Get(srv.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 404 {
		t.Errorf("GET /metrics on the API's port: %d, want 404", res.StatusCode)
	}

	res, err = http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	text := string(raw)
	for _, want := range []string{
		`plugboard_http_requests_total{method="POST",route="/o/{organisation_id}/connections",status="201"} 1`,
		`plugboard_http_requests_total{method="GET",route="/o/{organisation_id}/connections/{connection_id}/proxy/{path...}",status="200"} 2`,
		`plugboard_http_requests_total{method="GET",route="/o/{organisation_id}/connections/{connection_id}",status="404"} 1`,
		`plugboard_http_request_duration_seconds_bucket{`,
		`plugboard_proxy_upstream_duration_seconds_count{status_class="2xx"} 2`,
		`plugboard_proxy_upstream_response_bytes_total 22`,
		`plugboard_cache_lookups_total{cache="credentials",result="hit"} 1`,
		`plugboard_cache_lookups_total{cache="api_keys",result="hit"}`,
		`plugboard_events_emitted_total{type="connection.created"} 1`,
		`plugboard_store_connections_open `,
		`plugboard_store_wait_count_total `,
		`plugboard_webhook_deliveries_pending 0`,
		`go_goroutines `,
		`process_resident_memory_bytes `,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the scrape lacks %s", want)
		}
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		if labels, _, ok := strings.Cut(line, "}"); ok && regexp.MustCompile(`"[0-9A-HJKMNP-TV-Z]{26}"`).MatchString(labels) {
			t.Errorf("an id as a label value: %s", line)
		}
	}
	for _, s := range []string{secret, srv.key, srv.org, connID} {
		if strings.Contains(text, s) {
			t.Errorf("the scrape holds %q", s)
		}
	}

	srv.stop(t) // sends the spans still batched

	// Two proxied calls, two traces: each has its outbound span; the first, which missed the caches,
	// its store spans too.
	proxySpans := recv.Named("GET /o/{organisation_id}/connections/{connection_id}/proxy/{path...}")
	if len(proxySpans) != 2 {
		t.Fatalf("%d server spans of proxied calls, want 2; spans: %v", len(proxySpans), spanNames(recv.Spans()))
	}
	if proxySpans[0].Resource["service.name"] != "plugboard-e2e" {
		t.Errorf("service.name %q", proxySpans[0].Resource["service.name"])
	}
	outbound, store := map[string]bool{}, map[string]bool{}
	for _, s := range recv.Spans() {
		outbound[s.TraceID] = outbound[s.TraceID] || s.Name == "outbound GET"
		store[s.TraceID] = store[s.TraceID] || strings.HasPrefix(s.Name, "sql.")
		for k, v := range s.Attrs {
			if strings.Contains(v, secret) || strings.Contains(v, srv.key) || strings.Contains(v, "page=1") {
				t.Errorf("span %s attribute %s = %q holds a secret or a query", s.Name, k, v)
			}
		}
	}
	for _, p := range proxySpans {
		if !outbound[p.TraceID] {
			t.Errorf("trace %s of a proxied call has no outbound span", p.TraceID)
		}
	}
	if !store[proxySpans[0].TraceID] && !store[proxySpans[1].TraceID] {
		t.Errorf("no proxied call's trace has store spans; spans: %v", spanNames(recv.Spans()))
	}
	mu.Lock()
	sent := append([]string(nil), traceparents...)
	traceparents = nil
	mu.Unlock()
	if len(sent) != 2 || !strings.Contains(strings.Join(sent, " "), proxySpans[0].TraceID) ||
		!strings.Contains(strings.Join(sent, " "), proxySpans[1].TraceID) {
		t.Errorf("traceparents sent upstream %q, want the proxied calls' traces", sent)
	}

	// Without the OTEL variables: no trace context goes upstream.
	plain := startServer(t, bin, filepath.Join(t.TempDir(), "data"), append(storeEnvAgain(t, bin), "PLUGBOARD_ALLOW_CIDRS=127.0.0.0/8")...)
	plainConn := apiKeyConnection(t, plain, up.URL, secret)
	if st, body := call(t, plain, "GET", "/connections/"+plainConn+"/proxy/v1/orders", nil); st != 200 {
		t.Fatalf("proxied call without tracing: %d %s", st, body)
	}
	mu.Lock()
	if len(traceparents) != 1 || traceparents[0] != "" {
		t.Errorf("traceparent sent upstream with tracing off: %q", traceparents)
	}
	mu.Unlock()
	plain.stop(t)
}

// storeEnvAgain is storeEnv for a second, independent server (its own PostgreSQL schema).
func storeEnvAgain(t *testing.T, bin string) []string { return storeEnv(t, bin) }

func spanNames(spans []otlptest.Span) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}

// call makes an API request on the server's organisation with its key.
func call(t *testing.T, srv *server, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, srv.url+"/o/"+srv.org+path, rd)
	req.Header.Set("Authorization", "Bearer "+srv.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, out
}

// apiKeyConnection makes a system at base with an api-key scheme, a template and a connection
// holding value, and returns the connection's id.
func apiKeyConnection(t *testing.T, srv *server, base, value string) string {
	t.Helper()
	scheme := map[string]any{"type": "api-key", "apiKey": map[string]any{"id": "k", "description": "", "name": "X-Key", "in": "header"}}
	var sys, proj, tpl, conn struct {
		ID           string `json:"id"`
		TemplateID   string `json:"connectionTemplateId"`
		Environments []struct {
			ID string `json:"id"`
		} `json:"environments"`
	}
	postJSON(t, srv, "/systems", map[string]any{"name": "Upstream", "domain": "up", "templateBaseUrl": base,
		"authSchemeConfigs": []any{scheme}}, &sys)
	postJSON(t, srv, "/projects", map[string]any{"name": "P"}, &proj)
	postJSON(t, srv, "/projects/"+proj.ID+"/connection-templates", map[string]any{"systemId": sys.ID, "name": "t",
		"environmentId": proj.Environments[0].ID}, &tpl)
	postJSON(t, srv, "/connections", map[string]any{"connectionTemplateId": tpl.TemplateID, "connection": map[string]any{"name": "c",
		"credentials": []any{map[string]any{"id": "00000000000000000000000000", "authSchemeConfig": scheme,
			"credential": map[string]any{"id": "00000000000000000000000000", "organisationId": srv.org, "type": "string",
				"data": map[string]any{"string": map[string]any{"value": value}}}}}}}, &conn)
	return conn.ID
}
