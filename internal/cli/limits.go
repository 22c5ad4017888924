package cli

import (
	"fmt"
	"time"

	"github.com/plugboard/plugboard/internal/access"
	"github.com/plugboard/plugboard/internal/ratelimit"
)

// Limits on what callers may cost: requests per API key and per proxied connection (each replica
// counts its own), and forced token refreshes per credential.
const (
	// EnvRateLimitPerKey is "RATE[,BURST]": requests per second per API key, with an optional burst
	// (default: the rate rounded up). Unset, "0" or "off": no limit.
	EnvRateLimitPerKey = "PLUGBOARD_RATE_LIMIT_PER_KEY"
	// EnvRateLimitPerConnection is the same for proxied calls per connection.
	EnvRateLimitPerConnection = "PLUGBOARD_RATE_LIMIT_PER_CONNECTION"
	// EnvForceRefreshInterval is the least time between forced refreshes of one credential
	// (default 10s; "0" removes the bound).
	EnvForceRefreshInterval = "PLUGBOARD_FORCE_REFRESH_INTERVAL"
)

// LimitsConfig is what serve reads from the limit variables.
type LimitsConfig struct {
	PerKey               ratelimit.Limit
	PerConnection        ratelimit.Limit
	ForceRefreshInterval time.Duration // negative: no bound
}

// limitsFromEnv reads the limit variables; a malformed value is an error naming the variable.
func limitsFromEnv(getenv func(string) string) (LimitsConfig, error) {
	var cfg LimitsConfig
	var err error
	if cfg.PerKey, err = ratelimit.Parse(getenv(EnvRateLimitPerKey)); err != nil {
		return cfg, fmt.Errorf("%s: %w", EnvRateLimitPerKey, err)
	}
	if cfg.PerConnection, err = ratelimit.Parse(getenv(EnvRateLimitPerConnection)); err != nil {
		return cfg, fmt.Errorf("%s: %w", EnvRateLimitPerConnection, err)
	}
	cfg.ForceRefreshInterval = access.DefaultForceRefreshInterval
	if v := getenv(EnvForceRefreshInterval); v != "" {
		d, err := time.ParseDuration(v)
		if v == "0" {
			d, err = 0, nil
		}
		if err != nil || d < 0 {
			return cfg, fmt.Errorf("%s: %q is not a duration such as 10s (0 removes the bound)", EnvForceRefreshInterval, v)
		}
		cfg.ForceRefreshInterval = d
		if d == 0 {
			cfg.ForceRefreshInterval = -1 // access.Config: negative means no bound
		}
	}
	return cfg, nil
}
