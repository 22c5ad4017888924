package sqlstore_test

import (
	"context"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/pgtest"
	"github.com/plugboard/plugboard/internal/sqlstore"
	"github.com/plugboard/plugboard/internal/storetest"
	"github.com/plugboard/plugboard/internal/testlog"
)

// TestPostgresChangeFeedNoticesSilentLoss: a feed whose connection stops carrying anything,
// without being closed (packets dropped), says Watching(false) once a check goes unanswered, and
// Watching(true) again once the network is back, and logs each once. ChangeFeedCheck is short so
// the test is quick.
func TestPostgresChangeFeedNoticesSilentLoss(t *testing.T) {
	u, err := url.Parse(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := pgtest.NewProxy(t, u.Host)
	u.Host = proxy.Addr
	logs := &testlog.Buffer{}
	db, err := sqlstore.OpenWith(t.Context(), u.String(), sqlstore.Options{Migrate: true, ChangeFeedCheck: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatalf("open through the proxy: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	events := storetest.NewFeedRecorder(nil)
	done := make(chan struct{})
	ctx, cancel := context.WithCancel(t.Context())
	go func() { defer close(done); db.WatchChanges(ctx, events) }()
	t.Cleanup(func() { cancel(); <-done })

	events.Want(t, true)
	proxy.Stall()
	events.Want(t, false)
	proxy.Resume()
	events.Want(t, true)
	// The log says the loss once and the return once (after the new session's first check),
	// however many attempts to connect failed in between.
	for !strings.Contains(logs.String(), "change feed back") {
		time.Sleep(10 * time.Millisecond) // the test's own timeout ends this if it is never said
	}
	if lost, back := strings.Count(logs.String(), "change feed lost"), strings.Count(logs.String(), "change feed back"); lost != 1 || back != 1 {
		t.Errorf("the log said the loss %d times and the return %d times, want once each:\n%s", lost, back, logs)
	}
}

// BenchmarkChangeFeedDelivery measures how long after a write commits on one store handle (one
// replica) a watcher on another hears of it: the window in which that replica can still answer
// from what it opened before. Per op: one credential update, then the wait for its change.
//
//	PLUGBOARD_TEST_DATABASE_URL=... go test ./internal/sqlstore -run XXX -bench ChangeFeedDelivery
func BenchmarkChangeFeedDelivery(b *testing.B) {
	url := pgtest.URL(b)
	ctx := b.Context()
	writer, err := sqlstore.OpenWith(ctx, url, sqlstore.Options{Migrate: true})
	if err != nil {
		b.Fatal(err)
	}
	defer writer.Close()
	watcher, err := sqlstore.OpenWith(ctx, url, sqlstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer watcher.Close()
	org, ids := seedConnections(b, writer, 100)
	events := storetest.NewFeedRecorder(nil)
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); watcher.WatchChanges(wctx, events) }()
	defer func() { cancel(); <-done }()
	events.Want(b, true)
	creds := make([]*plugboard.Credential, len(ids))
	for i, id := range ids {
		c, err := writer.GetConnection(ctx, org, id)
		if err != nil {
			b.Fatal(err)
		}
		creds[i] = &c.Credentials[0].Credential
	}
	var delivery time.Duration
	for i := 0; b.Loop(); i++ {
		cred := creds[i%len(creds)]
		cred.UpdatedAt = time.Now().UTC().Truncate(time.Microsecond)
		if err := writer.UpdateCredential(ctx, cred); err != nil {
			b.Fatal(err)
		}
		committed := time.Now()
		e := events.Heard(b)
		delivery += time.Since(committed)
		if c, ok := e.(plugboard.Change); !ok || c.ID != ids[i%len(ids)] {
			b.Fatalf("heard %v, want connection %s", e, ids[i%len(ids)])
		}
	}
	b.ReportMetric(float64(delivery.Microseconds())/float64(b.N), "µs-after-commit/op")
}

// BenchmarkUpdateCredentialAnnounced measures what announcing changes costs writers: concurrent
// credential updates (each a refresh's write: one row, its own transaction) on a schema with the
// change feed's triggers, and on one without them, in the same run. A transaction that NOTIFYs
// takes a lock for the whole server through its commit, so announced commits queue.
//
//	PLUGBOARD_TEST_DATABASE_URL=... go test ./internal/sqlstore -run XXX -bench UpdateCredentialAnnounced
func BenchmarkUpdateCredentialAnnounced(b *testing.B) {
	for _, announced := range []bool{true, false} {
		name := "announced"
		if !announced {
			name = "silent"
		}
		b.Run(name, func(b *testing.B) {
			u := pgtest.URL(b)
			ctx := b.Context()
			s, err := sqlstore.OpenWith(ctx, u, sqlstore.Options{Migrate: true})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			if !announced {
				for _, trig := range []string{"connections_changed ON connections", "connection_credentials_changed ON connection_credentials",
					"expired_credentials_changed ON expired_credentials", "credentials_changed ON credentials",
					"systems_changed ON systems", "auth_scheme_configs_changed ON auth_scheme_configs"} {
					if err := sqlstore.ExecForTest(ctx, s, "DROP TRIGGER "+trig); err != nil {
						b.Fatal(err)
					}
				}
			}
			org, ids := seedConnections(b, s, 1000)
			creds := make(chan *plugboard.Credential, len(ids))
			for _, id := range ids {
				c, err := s.GetConnection(ctx, org, id)
				if err != nil {
					b.Fatal(err)
				}
				creds <- &c.Credentials[0].Credential
			}
			b.SetParallelism(8) // 16 writers on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					cred := <-creds
					cred.UpdatedAt = time.Now().UTC().Truncate(time.Microsecond)
					if err := s.UpdateCredential(ctx, cred); err != nil {
						b.Error(err)
					}
					creds <- cred
				}
			})
		})
	}
}
