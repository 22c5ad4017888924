package httpapi_test

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard/internal/httpapi"
	"github.com/plugboard/plugboard/internal/ratelimit"
)

// TestConnectionRateLimitSurvivesCallsToMadeUpConnections: the per-connection bucket is taken
// before anything checks that the connection exists, so every made-up connection id under the
// caller's organisation adds a bucket. Past ratelimit.MaxBuckets the limiter forgets every bucket,
// so one key (with the per-key limit off, its default) can refill the bucket of any connection of
// the organisation at will: the per-connection limit is bypassed by proxying to
// MaxBuckets random ids, each answered 404.
func TestConnectionRateLimitSurvivesCallsToMadeUpConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("sends ratelimit.MaxBuckets requests")
	}
	h := newLimitedHarness(t, func(c *httpapi.Config) { c.ConnectionRateLimit = hourly(1) })
	up := newUpstream(t)
	a := h.apiKeyConnection(up.srv.URL, "SECRET-a")
	h.must(200, h.do("GET", "/connections/"+a+"/proxy/one", nil))
	assertRateLimited(t, h.do("GET", "/connections/"+a+"/proxy/two", nil), "the 2nd call")

	var next atomic.Int64
	var wg sync.WaitGroup
	client := h.srv.Client()
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= ratelimit.MaxBuckets {
				req, _ := http.NewRequest("GET", h.srv.URL+"/o/"+h.org.String()+"/connections/"+ulid.Make().String()+"/proxy/x", nil)
				req.Header.Set("Authorization", "Bearer "+h.key)
				res, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				res.Body.Close()
			}
		}()
	}
	wg.Wait()

	r := h.do("GET", "/connections/"+a+"/proxy/three", nil)
	if r.Status != http.StatusTooManyRequests {
		t.Errorf("after %d calls to made-up connections, the exhausted connection's call got %d, want 429: the limiter was reset",
			ratelimit.MaxBuckets, r.Status)
	}
}
