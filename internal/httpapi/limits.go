package httpapi

import (
	"net/http"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/ratelimit"
)

// HeaderRefresh tells a caller that asked for a forced refresh (X-Plugboard-Force-Refresh, or the
// access endpoint's forceRefresh) that none was made: the token had been refreshed within the
// forced-refresh interval, and the current one was used. Its only value is "skipped".
const HeaderRefresh = "X-Plugboard-Refresh"

// RefreshSkipped is HeaderRefresh's value.
const RefreshSkipped = "skipped"

// limits are the per-process rate limits: one token bucket per API key, one per connection on the
// proxy. Each replica keeps its own, so N replicas let through up to N times the rate.
type limits struct {
	perKey        *ratelimit.Keyed[[2]ulid.ULID] // by organisation and key id
	perConnection *ratelimit.Keyed[[2]ulid.ULID] // by organisation and connection id
	// perInbound counts verified webhook deliveries per connection (organisation and connection
	// id), apart from proxied calls: a sender cannot use up the integration's proxy budget.
	perInbound *ratelimit.Keyed[[2]ulid.ULID]
}

func newLimits(cfg Config) limits {
	return limits{perKey: ratelimit.New[[2]ulid.ULID](cfg.KeyRateLimit),
		perConnection: ratelimit.New[[2]ulid.ULID](cfg.ConnectionRateLimit),
		perInbound:    ratelimit.New[[2]ulid.ULID](cfg.InboundRateLimit)}
}

// allowKey takes a token from the bucket of the request's API key. It runs right after the key is
// authenticated, so requests without a valid key cost no bucket, and before anything reads the body.
func (s *Server) allowKey(w http.ResponseWriter, key *plugboard.APIKey) error {
	ok, wait := s.limits.perKey.Allow([2]ulid.ULID{key.OrganisationID, key.ID}, s.now())
	if ok {
		return nil
	}
	return rateLimited(w, wait, "API key", "PLUGBOARD_RATE_LIMIT_PER_KEY")
}

// allowConnection takes a token from a connection's bucket, for a proxied call.
func (s *Server) allowConnection(w http.ResponseWriter, orgID, connID ulid.ULID) error {
	ok, wait := s.limits.perConnection.Allow([2]ulid.ULID{orgID, connID}, s.now())
	if ok {
		return nil
	}
	return rateLimited(w, wait, "connection", "PLUGBOARD_RATE_LIMIT_PER_CONNECTION")
}

// rateLimited sets Retry-After and returns the 429 to write.
func rateLimited(w http.ResponseWriter, wait time.Duration, what, setting string) error {
	after := ratelimit.RetryAfter(wait)
	w.Header().Set("Retry-After", after)
	return &plugboard.Error{Code: plugboard.ERateLimited,
		Message: "too many requests for this " + what + "; retry after " + after + " s",
		Details: "the limit is set per Plugboard process by " + setting + "; see the Retry-After header"}
}
