package httpapi

import (
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
)

// TestKeyUseSampling: a use is due on a key's first request, then not again until a full
// KeyUseInterval after the last recorded one, per key; a clock that steps back does not silence
// a key.
func TestKeyUseSampling(t *testing.T) {
	var u keyUseSampler
	org, a, b := ulid.Make(), ulid.Make(), ulid.Make()
	t0 := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		key  ulid.ULID
		at   time.Duration
		want bool
	}{
		{a, 0, true},
		{a, time.Second, false},
		{b, time.Second, true},
		{a, KeyUseInterval - time.Nanosecond, false},
		{a, KeyUseInterval, true},
		{a, KeyUseInterval + 30*time.Second, false},
		{b, KeyUseInterval + time.Second, true},
		{a, 10 * time.Second, true}, // the clock stepped back
		{a, 11 * time.Second, false},
	} {
		if got := u.due(org, c.key, t0.Add(c.at)); got != c.want {
			t.Errorf("key %v at +%v: due %v, want %v", c.key == a, c.at, got, c.want)
		}
	}
}
