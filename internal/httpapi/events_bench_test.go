package httpapi_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/plugboard/plugboard/internal/events"
	"github.com/plugboard/plugboard/internal/httpapi"
	"github.com/plugboard/plugboard/internal/outbound"
)

// BenchmarkCreateConnectionEvents is what the outbox costs a write: CreateConnection through the
// HTTP handler, for a new end user each time (so each create writes two events, end_user.created
// and connection.created, in its transaction), against the same create with the event log off.
// SQLite by default; PLUGBOARD_TEST_STORE=postgres runs it on PostgreSQL. docs/benchmarks.md has
// the command and figures.
func BenchmarkCreateConnectionEvents(b *testing.B) {
	for _, mode := range []string{"outbox=off", "outbox=on"} {
		b.Run(mode, func(b *testing.B) {
			h := newHarnessWith(b, outbound.Config{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
				Resolver: outbound.NoDNSResolver(), RequestTimeout: 3 * time.Second}, func(c *httpapi.Config) {
				c.Events = events.New(events.Options{Now: c.Now, Off: mode == "outbox=off"})
			})
			tpl := h.fixture().templates["api-key"]
			s := sample{"string", "api-key", "string", obj{"string": obj{"value": "bench-value"}}, nil}
			for i := 0; b.Loop(); i++ {
				h.must(201, h.do("POST", "/connections", connectionBody(tpl, fmt.Sprintf("c%d", i), s, configByID("api-key"))))
			}
		})
	}
}
