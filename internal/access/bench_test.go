package access_test

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard/internal/access"
	"github.com/plugboard/plugboard/internal/benchkit"
	"github.com/plugboard/plugboard/internal/pgtest"
	"github.com/plugboard/plugboard/internal/sqlstore"
	"github.com/plugboard/plugboard/internal/vault"
)

// BenchmarkPrepareCold measures the proxy's cold path below HTTP: Prepare on connections called
// round-robin, each forgotten first, so that every call reads its connection from the store,
// opens its sealed credential and joins it (the system stays cached, as under load). The
// connections are like the proxy benchmark's: an api-key config and one string credential.
func BenchmarkPrepareCold(b *testing.B) {
	const n = 10000
	for _, store := range []struct {
		name string
		url  func(b *testing.B) string
	}{
		{"sqlite", func(b *testing.B) string { return filepath.Join(b.TempDir(), "plugboard.db") }},
		{"postgres", func(b *testing.B) string { return pgtest.URL(b) }},
	} {
		b.Run(store.name, func(b *testing.B) {
			ctx := context.Background()
			st, err := sqlstore.OpenWith(ctx, store.url(b), sqlstore.Options{Migrate: true})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			keys, err := vault.Parse(vault.NewKey())
			if err != nil {
				b.Fatal(err)
			}
			org, ids := coldConnections(b, st, keys, n)
			svc := access.New(access.Config{Store: st, Keys: keys})
			// open makes one cold call on the next connection round-robin.
			var next atomic.Uint64
			open := func(b *testing.B) bool {
				id := ids[(next.Add(1)-1)%uint64(len(ids))]
				svc.Forget(org, id)
				p, err := svc.Prepare(ctx, org, id, access.Options{})
				if err != nil {
					b.Error(err)
					return false
				}
				if p.Credentials[0].Data.String == nil || p.Credentials[0].Data.String.Value == "" {
					b.Error("credential not opened")
					return false
				}
				return true
			}
			// Concurrency 1 is one goroutine; 32 is 32 goroutines (RunParallel starts
			// parallelism x GOMAXPROCS of them).
			for _, c := range []int{1, 32} {
				b.Run(fmt.Sprintf("c=%d", c), func(b *testing.B) {
					b.ReportAllocs()
					cpu := processCPU()
					if c == 1 {
						for b.Loop() {
							if !open(b) {
								return
							}
						}
					} else {
						b.SetParallelism(max(1, c/runtime.GOMAXPROCS(0)))
						b.RunParallel(func(pb *testing.PB) {
							for pb.Next() {
								if !open(b) {
									return
								}
							}
						})
					}
					// The machine may be shared: CPU time per call says more than wall time.
					b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
				})
			}
		})
	}
}

// processCPU returns the CPU time the process has used, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// coldConnections stores an organisation with an api-key system and n connections holding a
// sealed string credential each (benchkit.Connections), and returns the organisation and their ids.
func coldConnections(b *testing.B, st *sqlstore.DB, keys *vault.Vault, n int) (ulid.ULID, []ulid.ULID) {
	b.Helper()
	org, ids, err := benchkit.Connections(context.Background(), st, keys, n)
	if err != nil {
		b.Fatal(err)
	}
	return org, ids
}
