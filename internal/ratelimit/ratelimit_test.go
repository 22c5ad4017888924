package ratelimit_test

import (
	"testing"
	"time"

	"github.com/plugboard/plugboard/internal/ratelimit"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]ratelimit.Limit{
		"": {}, "0": {}, "off": {}, " OFF ": {},
		"50": {PerSecond: 50, Burst: 50}, "0.5": {PerSecond: 0.5, Burst: 1}, "2.5": {PerSecond: 2.5, Burst: 3},
		"50,100": {PerSecond: 50, Burst: 100}, " 10 , 1 ": {PerSecond: 10, Burst: 1},
	} {
		got, err := ratelimit.Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"-1", "x", "50,", "50,0", "50,-2", "50,1.5", "NaN", "Inf", ",5"} {
		if got, err := ratelimit.Parse(in); err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", in, got)
		}
	}
}

// TestKeyedAllow drives buckets with a clock of its own: the burst, the refusal with the wait until
// the next token, separate keys, and the refill.
func TestKeyedAllow(t *testing.T) {
	k := ratelimit.New[string](ratelimit.Limit{PerSecond: 2, Burst: 3})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 {
		if ok, _ := k.Allow("a", now); !ok {
			t.Fatalf("request %d within the burst refused", i+1)
		}
	}
	ok, wait := k.Allow("a", now)
	if ok || wait != 500*time.Millisecond {
		t.Errorf("over the burst: %v, wait %s; want refused, 500ms", ok, wait)
	}
	if got := ratelimit.RetryAfter(wait); got != "1" {
		t.Errorf("Retry-After for 500ms = %q, want 1", got)
	}
	if ratelimit.RetryAfter(2100*time.Millisecond) != "3" {
		t.Errorf("Retry-After rounds up")
	}
	// A refused request takes nothing: the token comes after the same wait.
	if ok, wait2 := k.Allow("a", now); ok || wait2 != wait {
		t.Errorf("second refusal: %v, %s", ok, wait2)
	}
	if ok, _ := k.Allow("b", now); !ok {
		t.Errorf("another key shares the bucket")
	}
	if ok, _ := k.Allow("a", now.Add(500*time.Millisecond)); !ok {
		t.Errorf("refused after the wait")
	}
	if ok, _ := k.Allow("a", now.Add(500*time.Millisecond)); ok {
		t.Errorf("allowed two for one token")
	}
}

// TestKeyedForgetsIdleBuckets: buckets unused for their refill time (full again) are dropped, so
// memory follows the active keys.
func TestKeyedForgetsIdleBuckets(t *testing.T) {
	k := ratelimit.New[int](ratelimit.Limit{PerSecond: 10, Burst: 10}) // refills in 1s
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 1000 {
		k.Allow(i, now)
	}
	if k.Len() != 1000 {
		t.Fatalf("%d buckets, want 1000", k.Len())
	}
	k.Allow(-1, now.Add(2*time.Second))
	if k.Len() != 1 {
		t.Errorf("%d buckets after every other went idle, want 1", k.Len())
	}
	// Past MaxBuckets, memory stays bounded.
	for i := range ratelimit.MaxBuckets + 10 {
		k.Allow(i, now.Add(3*time.Second))
	}
	if n := k.Len(); n > ratelimit.MaxBuckets {
		t.Errorf("%d buckets, more than MaxBuckets", n)
	}
}

func TestOffAllowsEverything(t *testing.T) {
	k := ratelimit.New[string](ratelimit.Limit{})
	if k != nil {
		t.Fatal("an off limit made buckets")
	}
	for range 1000 {
		if ok, _ := k.Allow("a", time.Time{}); !ok {
			t.Fatal("refused with no limit")
		}
	}
}

// BenchmarkAllow is the limiter's cost per request: one key's bucket (the proxy's case: one key,
// one connection), from every core at once.
func BenchmarkAllow(b *testing.B) {
	k := ratelimit.New[[2]uint64](ratelimit.Limit{PerSecond: 1e9, Burst: 1e9})
	now := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			k.Allow([2]uint64{1, 2}, now)
		}
	})
}
