// Package ratelimit keeps one token bucket (golang.org/x/time/rate) per key, such as an API key or
// a connection, in the memory of one process. Buckets that have refilled are dropped, since a new
// bucket is full too: memory follows the keys active within one refill time, not every key ever
// seen. Every call takes the caller's clock, so tests drive it without sleeping.
package ratelimit

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limit is a sustained rate and a burst. The zero Limit limits nothing.
type Limit struct {
	// PerSecond is the sustained rate, in requests per second; zero or less means no limit.
	PerSecond float64
	// Burst is how many requests may come at once after a quiet spell; at least 1 when PerSecond
	// is set (Parse makes it the rate rounded up when unsaid).
	Burst int
}

// On reports whether the limit limits anything.
func (l Limit) On() bool { return l.PerSecond > 0 }

// String is the limit as Parse reads it.
func (l Limit) String() string {
	if !l.On() {
		return "off"
	}
	return strconv.FormatFloat(l.PerSecond, 'f', -1, 64) + "," + strconv.Itoa(l.Burst)
}

// Parse reads "RATE" or "RATE,BURST": requests per second (a decimal, so 0.5 is one request every
// two seconds) and the burst (a whole number, the rate rounded up when left out). "", "0" and
// "off" mean no limit.
func Parse(s string) (Limit, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" || strings.EqualFold(s, "off") {
		return Limit{}, nil
	}
	rateText, burstText, hasBurst := strings.Cut(s, ",")
	r, err := strconv.ParseFloat(strings.TrimSpace(rateText), 64)
	if err != nil || r <= 0 || math.IsInf(r, 0) || math.IsNaN(r) {
		return Limit{}, fmt.Errorf("%q: the rate must be a positive number of requests per second, such as 50 or 0.5", s)
	}
	l := Limit{PerSecond: r, Burst: int(math.Ceil(r))}
	if hasBurst {
		b, err := strconv.Atoi(strings.TrimSpace(burstText))
		if err != nil || b < 1 {
			return Limit{}, fmt.Errorf("%q: the burst must be a whole number of at least 1, as in 50,100", s)
		}
		l.Burst = b
	}
	return l, nil
}

// MaxBuckets bounds the buckets one Keyed holds. Past it, buckets that have refilled are dropped
// first; if every bucket is still in use, all are forgotten (which lets their owners start anew:
// a bound on memory wins over exactness at that size).
const MaxBuckets = 100_000

// Keyed holds a bucket per key. The zero value is not usable; make one with New. A nil *Keyed
// allows everything.
type Keyed[K comparable] struct {
	limit rate.Limit
	burst int
	// refill is how long an unused bucket takes to fill up; after that it is dropped.
	refill time.Duration

	mu        sync.Mutex
	buckets   map[K]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// New returns a Keyed with l for every key, or nil (no limit) when l is off.
func New[K comparable](l Limit) *Keyed[K] {
	if !l.On() {
		return nil
	}
	burst := max(l.Burst, 1)
	refill := time.Duration(float64(burst) / l.PerSecond * float64(time.Second))
	return &Keyed[K]{limit: rate.Limit(l.PerSecond), burst: burst, refill: max(refill, time.Second),
		buckets: map[K]*bucket{}}
}

// Allow takes one token from key's bucket at now. When the bucket is empty it takes nothing and
// returns how long until a token will be there.
func (k *Keyed[K]) Allow(key K, now time.Time) (ok bool, retryAfter time.Duration) {
	if k == nil {
		return true, 0
	}
	k.mu.Lock()
	b, found := k.buckets[key]
	if !found {
		if len(k.buckets) >= MaxBuckets {
			k.sweep(now)
			if len(k.buckets) >= MaxBuckets {
				k.buckets = map[K]*bucket{}
			}
		}
		b = &bucket{lim: rate.NewLimiter(k.limit, k.burst)}
		k.buckets[key] = b
	}
	b.seen = now
	if now.Sub(k.lastSweep) >= k.refill {
		k.sweep(now)
	}
	k.mu.Unlock()
	if b.lim.AllowN(now, 1) {
		return true, 0
	}
	// Ask the limiter when a token would come, then give the reservation back.
	r := b.lim.ReserveN(now, 1)
	if !r.OK() {
		return false, k.refill
	}
	d := r.DelayFrom(now)
	r.CancelAt(now)
	return false, d
}

// sweep drops buckets unused for a whole refill time: they are full, like a new one. k.mu is held.
func (k *Keyed[K]) sweep(now time.Time) {
	k.lastSweep = now
	for key, b := range k.buckets {
		if now.Sub(b.seen) >= k.refill {
			delete(k.buckets, key)
		}
	}
}

// Len is the number of buckets held, for tests.
func (k *Keyed[K]) Len() int {
	if k == nil {
		return 0
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.buckets)
}

// RetryAfter is a delay as the Retry-After header's whole seconds, rounded up, at least 1.
func RetryAfter(d time.Duration) string {
	return strconv.FormatInt(max(int64(math.Ceil(d.Seconds())), 1), 10)
}
