package testlog_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/plugboard/plugboard/internal/testlog"
)

// TestBufferKeepsConcurrentWrites: lines written from many goroutines while another reads all
// arrive whole (run with -race to see the lock matter).
func TestBufferKeepsConcurrentWrites(t *testing.T) {
	var b testlog.Buffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 100 {
				fmt.Fprintf(&b, "writer %d line %d\n", i, j)
				_ = b.String()
			}
		}()
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 800 {
		t.Fatalf("got %d lines, want 800", len(lines))
	}
	seen := map[string]bool{}
	for _, l := range lines {
		seen[l] = true
	}
	for i := range 8 {
		for j := range 100 {
			if want := fmt.Sprintf("writer %d line %d", i, j); !seen[want] {
				t.Fatalf("line %q is missing or torn", want)
			}
		}
	}
}
