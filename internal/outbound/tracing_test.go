package outbound_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/plugboard/plugboard/internal/outbound"
	"github.com/plugboard/plugboard/internal/telemetry"
)

// TestTracingOverOwnTransport checks that a call over a caller's own transport (Relay, as the
// proxy sends through a client certificate's kept transport) is traced like any other: it
// gets a client span and carries the trace context to the upstream.
func TestTracingOverOwnTransport(t *testing.T) {
	var got string
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("Traceparent")
	}))
	defer upstream.Close()
	exp := tracetest.NewInMemoryExporter()
	tr, err := telemetry.NewTracing(context.Background(), exp, "")
	if err != nil {
		t.Fatal(err)
	}
	c := outbound.New(outbound.Config{AllowPrivateNetworks: true, Tracing: tr})
	tp := c.NewTransport(nil)
	defer tp.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodGet, upstream.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Relay(req, nil, tp)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got == "" {
		t.Error("the upstream got no traceparent")
	}
	if err := tr.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(exp.GetSpans()) == 0 {
		t.Error("no client span recorded")
	}
}
