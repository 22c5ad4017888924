package cli

import (
	"flag"
	"fmt"
	"strconv"

	"github.com/plugboard/plugboard/internal/httpapi"
	"github.com/plugboard/plugboard/internal/ratelimit"
)

// The inbound webhook endpoint's settings (POST /hooks/...).
const (
	// EnvInboundMaxBodyBytes bounds a delivery's body (413 above it, before verification).
	EnvInboundMaxBodyBytes = "PLUGBOARD_INBOUND_MAX_BODY_BYTES"
	// EnvInboundEventBodyBytes is how much of a delivery's body its inbound.received event keeps.
	EnvInboundEventBodyBytes = "PLUGBOARD_INBOUND_EVENT_BODY_BYTES"
	// EnvInboundRateLimit is "RATE[,BURST]": verified deliveries per second per connection, per
	// process, as the other rate limits. Unset, "0" or "off": no limit.
	EnvInboundRateLimit = "PLUGBOARD_INBOUND_RATE_LIMIT_PER_CONNECTION"
)

// maxInboundBytes bounds both sizes: a delivery is held in memory whole to be verified.
const maxInboundBytes = 64 << 20

// InboundConfig is what serve passes to the inbound endpoint.
type InboundConfig struct {
	MaxBodyBytes, EventBodyBytes int64
	RateLimit                    ratelimit.Limit
}

// inboundFlags registers the inbound endpoint's flags (defaulting to their variables) and returns
// what reads them once parsed.
func inboundFlags(fs *flag.FlagSet, getenv func(string) string) func() (InboundConfig, error) {
	maxBody := fs.String("inbound-max-body-bytes", envOr(getenv, EnvInboundMaxBodyBytes, strconv.Itoa(httpapi.DefaultInboundMaxBodyBytes)),
		"the largest body, `N` bytes, of a webhook delivery to /hooks; larger ones are 413 before verification (env "+EnvInboundMaxBodyBytes+")")
	eventBody := fs.String("inbound-event-body-bytes", envOr(getenv, EnvInboundEventBodyBytes, strconv.Itoa(httpapi.DefaultInboundEventBodyBytes)),
		"the first `N` bytes of a delivery's body that its inbound.received event keeps, sealed (env "+EnvInboundEventBodyBytes+")")
	return func() (InboundConfig, error) {
		var cfg InboundConfig
		var err error
		if cfg.MaxBodyBytes, err = byteCount("--inbound-max-body-bytes", *maxBody); err != nil {
			return cfg, err
		}
		if cfg.EventBodyBytes, err = byteCount("--inbound-event-body-bytes", *eventBody); err != nil {
			return cfg, err
		}
		if cfg.RateLimit, err = ratelimit.Parse(getenv(EnvInboundRateLimit)); err != nil {
			return cfg, fmt.Errorf("%s: %w", EnvInboundRateLimit, err)
		}
		return cfg, nil
	}
}

// byteCount reads a size flag: a whole number of bytes from 1 to maxInboundBytes.
func byteCount(name, v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 || n > maxInboundBytes {
		return 0, fmt.Errorf("%s: %q is not a whole number of bytes from 1 to %d", name, v, maxInboundBytes)
	}
	return n, nil
}
