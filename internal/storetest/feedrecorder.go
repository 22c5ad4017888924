package storetest

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/plugboard/plugboard"
)

// FeedRecorder is a plugboard.ChangeWatcher for tests of a change feed: it passes what the feed
// says to Next (when set: the Service or API under test), then queues it, so that a test waits
// for the feed instead of sleeping. While held (Hold), a Watching(true) waits for Release before it
// is passed on, so that a test can look at what happens while the feed is lost.
type FeedRecorder struct {
	Next    plugboard.ChangeWatcher
	events  chan any
	holding atomic.Bool
	release chan struct{}
}

// NewFeedRecorder returns a recorder passing on to next (nil: to nobody).
func NewFeedRecorder(next plugboard.ChangeWatcher) *FeedRecorder {
	return &FeedRecorder{Next: next, events: make(chan any, 1024), release: make(chan struct{})}
}

// Changed passes c on, then queues it.
func (r *FeedRecorder) Changed(c plugboard.Change) {
	if r.Next != nil {
		r.Next.Changed(c)
	}
	r.events <- c
}

// Watching passes on on, then queues it; Watching(true) waits first while the recorder is held.
func (r *FeedRecorder) Watching(on bool) {
	if on && r.holding.Load() {
		<-r.release
	}
	if r.Next != nil {
		r.Next.Watching(on)
	}
	r.events <- on
}

// Hold makes the next Watching(true) wait for Release. It can be used once.
func (r *FeedRecorder) Hold() { r.holding.Store(true) }

// Release lets a held Watching(true) through.
func (r *FeedRecorder) Release() { close(r.release) }

// feedWait bounds the wait for what a feed must say; it fails a broken feed, it measures nothing.
const feedWait = 30 * time.Second

// Heard returns what the feed says next: a plugboard.Change, or a bool for Watching.
func (r *FeedRecorder) Heard(t testing.TB) any {
	t.Helper()
	select {
	case e := <-r.events:
		return e
	case <-time.After(feedWait):
		t.Fatalf("the feed said nothing in %v", feedWait)
		return nil
	}
}

// Want fails unless what the feed says next is what (a plugboard.Change, or a bool for Watching).
func (r *FeedRecorder) Want(t testing.TB, what any) {
	t.Helper()
	if got := r.Heard(t); got != what {
		t.Fatalf("the feed said %v, want %v", got, what)
	}
}

// WantEventually passes over what the feed says until it says what.
func (r *FeedRecorder) WantEventually(t testing.TB, what any) {
	t.Helper()
	for r.Heard(t) != what {
	}
}

// NextChange returns the next change the feed announces; it fails if the feed says Watching first.
func (r *FeedRecorder) NextChange(t testing.TB, step string) plugboard.Change {
	t.Helper()
	e := r.Heard(t)
	c, ok := e.(plugboard.Change)
	if !ok {
		t.Fatalf("%s: the feed said Watching(%v), want a change", step, e)
	}
	return c
}
