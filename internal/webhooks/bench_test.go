package webhooks_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/events"
	"github.com/plugboard/plugboard/internal/webhooks"
)

// BenchmarkDeliveryThroughput measures dispatching and delivering events, signed, to a local
// receiver that answers 204 at once: b.N events are committed first (untimed), then the worker
// runs until all are recorded as delivered. SQLite by default; PostgreSQL with
// PLUGBOARD_TEST_STORE=postgres.
//
//	go test -run '^$' -bench DeliveryThroughput -benchtime 2000x ./internal/webhooks/
func BenchmarkDeliveryThroughput(b *testing.B) {
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	defer rcv.Close()
	e := newEnv(b, webhooks.Config{})
	ep := &plugboard.WebhookEndpoint{ID: ulid.Make(), OrganisationID: e.org, URL: rcv.URL, Enabled: true}
	secret, _ := webhooks.NewSecret()
	var err error
	if ep.Sealed, err = (webhooks.Secrets{Current: secret}).Seal(e.v, e.org, ep.ID); err != nil {
		b.Fatal(err)
	}
	if err := e.st.CreateWebhookEndpoint(b.Context(), ep); err != nil {
		b.Fatal(err)
	}
	for range b.N {
		err := e.st.InTx(b.Context(), func(tx plugboard.Store) error {
			return e.log.Emit(b.Context(), tx, plugboard.Event{Type: events.EndUserCreated, OrganisationID: e.org, EndUserID: ulid.Make()})
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	w := webhooks.New(webhooks.Config{Store: e.st, Vault: e.v, Events: e.log, Client: loopbackClient(true), Concurrency: 16})
	b.ResetTimer()
	start := time.Now()
	if err := w.RunOnce(b.Context()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	p, err := e.st.ListWebhookAttempts(b.Context(), e.org, plugboard.AttemptFilter{EndpointID: ep.ID}, plugboard.PageRequest{First: 1})
	if err != nil || p.TotalCount != b.N {
		b.Fatalf("%d attempts for %d events: %v", p.TotalCount, b.N, err)
	}
}
