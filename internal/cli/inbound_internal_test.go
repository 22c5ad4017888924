package cli

import (
	"strings"
	"testing"

	"github.com/plugboard/plugboard/internal/ratelimit"
)

// TestInboundSettings: flags win over their variables, defaults apply, bad sizes are refused
// naming the flag.
func TestInboundSettings(t *testing.T) {
	parse := func(env map[string]string, args ...string) (InboundConfig, error) {
		cfg, err := LoadConfig(args, func(k string) string { return env[k] })
		return cfg.Inbound, err
	}
	cfg, err := parse(nil)
	if err != nil || cfg.MaxBodyBytes != 1<<20 || cfg.EventBodyBytes != 64<<10 || cfg.RateLimit != (ratelimit.Limit{}) {
		t.Errorf("defaults: %+v %v", cfg, err)
	}
	env := map[string]string{EnvInboundMaxBodyBytes: "2048", EnvInboundEventBodyBytes: "16", EnvInboundRateLimit: "5,10"}
	cfg, err = parse(env)
	if err != nil || cfg.MaxBodyBytes != 2048 || cfg.EventBodyBytes != 16 || cfg.RateLimit != (ratelimit.Limit{PerSecond: 5, Burst: 10}) {
		t.Errorf("from the environment: %+v %v", cfg, err)
	}
	cfg, err = parse(env, "--inbound-max-body-bytes", "4096")
	if err != nil || cfg.MaxBodyBytes != 4096 {
		t.Errorf("flag over variable: %+v %v", cfg, err)
	}
	for _, bad := range [][]string{{"--inbound-max-body-bytes", "0"}, {"--inbound-max-body-bytes", "1MiB"},
		{"--inbound-event-body-bytes", "-1"}, {"--inbound-max-body-bytes", "999999999999"}} {
		if _, err := parse(nil, bad...); err == nil || !strings.Contains(err.Error(), bad[0]) {
			t.Errorf("%v: %v, want an error naming the flag", bad, err)
		}
	}
	if _, err := parse(map[string]string{EnvInboundRateLimit: "fast"}); err == nil || !strings.Contains(err.Error(), EnvInboundRateLimit) {
		t.Errorf("bad rate limit: %v", err)
	}
}
