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
// HTTP handler for a new end user each time (so each create writes two events, end_user.created and
// connection.created, in its transaction), against the same create on a server whose event log is
// off. The two servers, each with its own store, take turns within one loop, so both see the same
// machine; it reports each one's time per create and their ratio. SQLite by default;
// PLUGBOARD_TEST_STORE=postgres runs it on PostgreSQL. docs/benchmarks.md has the figures.
func BenchmarkCreateConnectionEvents(b *testing.B) {
	type side struct {
		h       *harness
		tpl     string
		elapsed time.Duration
	}
	open := func(off bool) *side {
		h := newHarnessWith(b, outbound.Config{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
			Resolver: outbound.NoDNSResolver(), RequestTimeout: 3 * time.Second}, func(c *httpapi.Config) {
			c.Events = events.New(events.Options{Now: c.Now, Off: off})
		})
		return &side{h: h, tpl: h.fixture().templates["api-key"]}
	}
	off, on := open(true), open(false)
	s := sample{"string", "api-key", "string", obj{"string": obj{"value": "bench-value"}}, nil}
	n := 0
	for b.Loop() {
		for _, sd := range []*side{off, on} {
			start := time.Now()
			sd.h.must(201, sd.h.do("POST", "/connections", connectionBody(sd.tpl, fmt.Sprintf("c%d", n), s, configByID("api-key"))))
			sd.elapsed += time.Since(start)
		}
		n++
	}
	b.ReportMetric(float64(off.elapsed.Nanoseconds())/float64(n), "ns/create-outbox-off")
	b.ReportMetric(float64(on.elapsed.Nanoseconds())/float64(n), "ns/create-outbox-on")
	b.ReportMetric(float64(on.elapsed)/float64(off.elapsed), "on/off")
}
