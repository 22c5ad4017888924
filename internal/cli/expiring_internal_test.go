package cli

import (
	"testing"
	"time"
)

// TestParseExpiringLead: a positive duration, or 0/off for never; anything else names the flag.
func TestParseExpiringLead(t *testing.T) {
	for in, want := range map[string]time.Duration{"72h": 72 * time.Hour, "90m": 90 * time.Minute, "0": -1, "off": -1, "OFF": -1} {
		if got, err := parseExpiringLead(in); err != nil || got != want {
			t.Errorf("%q: %v %v, want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1h", "soon", "3"} {
		if _, err := parseExpiringLead(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}
