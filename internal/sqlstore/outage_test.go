package sqlstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/pgtest"
	"github.com/plugboard/plugboard/internal/sqlstore"
)

// TestPostgresTerminatedConnectionsRetryReads ends the store's own sessions on the server, as a
// restart or an administrator does, and checks that the next reads (a single read, a connection
// read, which runs on pgx directly, and a read-only transaction) succeed on fresh connections
// instead of failing. Only this test's sessions are ended: they carry an application_name of their own.
func TestPostgresTerminatedConnectionsRetryReads(t *testing.T) {
	base := pgtest.URL(t)
	app := "pbtest_" + strings.ToLower(ulid.Make().String())
	ctx := t.Context()
	db, err := sqlstore.OpenWith(ctx, base+"&application_name="+app, // One connection, so the reads below meet the one the server ended (database/sql would
		// otherwise often pick another, or pgx's check of a connection idle for a second would
		// find it closed), and the retry is what is tested.
		sqlstore.Options{Migrate: true, MaxOpenConns: 1})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })

	org := &plugboard.Organisation{ID: ulid.Make(), Name: "terminated"}
	if err := db.CreateOrganisation(ctx, org); err != nil {
		t.Fatal(err)
	}
	admin, err := pgx.Connect(ctx, pgtest.BaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	terminate := func() {
		t.Helper()
		// The second argument waits (up to 5 s) until each session has ended.
		var n int
		err := admin.QueryRow(ctx, `SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid, 5000)
			FROM pg_stat_activity WHERE application_name = $1) t`, app).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatal("the store has no session to terminate")
		}
	}

	for _, read := range []struct {
		name string
		run  func() error
	}{
		{"single read", func() error {
			got, err := db.GetOrganisation(ctx, org.ID)
			if err == nil && got.Name != org.Name {
				t.Errorf("read %q, want %q", got.Name, org.Name)
			}
			return err
		}},
		{"connection read (pgx's own path)", func() error {
			_, err := db.GetConnection(ctx, org.ID, ulid.Make())
			if plugboard.ErrorCode(err) == plugboard.ENotFound {
				return nil
			}
			return err
		}},
		{"read-only transaction", func() error {
			_, err := db.ListProjects(ctx, org.ID)
			return err
		}},
	} {
		t.Run(read.name, func(t *testing.T) {
			// Warm the pool, then end its sessions under it.
			if err := read.run(); err != nil {
				t.Fatal(err)
			}
			terminate()
			if err := read.run(); err != nil {
				t.Fatalf("a read after the server ended the session: %v", err)
			}
		})
	}

	// A write is not retried (it may have reached the database), but it fails as unavailable, not
	// as an internal error; the next one runs on a fresh connection.
	if _, err := db.GetOrganisation(ctx, org.ID); err != nil {
		t.Fatal(err)
	}
	terminate()
	err = db.TouchAPIKey(ctx, org.ID, ulid.Make(), time.Now())
	if err != nil && plugboard.ErrorCode(err) != plugboard.EUnavailable {
		t.Fatalf("write on a terminated session: %v (code %s), want nil or %s", err, plugboard.ErrorCode(err), plugboard.EUnavailable)
	}
	if err := db.TouchAPIKey(ctx, org.ID, ulid.Make(), time.Now()); err != nil {
		t.Fatalf("the write after: %v", err)
	}
}
