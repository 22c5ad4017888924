package sqlstore_test

import (
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/pgtest"
	"github.com/plugboard/plugboard/internal/sqlstore"
)

// TestSQLiteStatementCache checks that an SQLite store prepares each statement once, however often
// it runs and on however many connections, and that a cached statement used inside a transaction
// belongs to the transaction: it sees the transaction's writes, and its writes roll back with it.
func TestSQLiteStatementCache(t *testing.T) {
	ctx := t.Context()
	db := openFile(t, filepath.Join(t.TempDir(), "plugboard.db"))
	org := &plugboard.Organisation{ID: ulid.Make(), Name: "Acme"}
	if err := db.CreateOrganisation(ctx, org); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetOrganisation(ctx, org.ID); err != nil {
		t.Fatal(err)
	}
	prepared := sqlstore.StmtsPrepared(db)
	if prepared == 0 || sqlstore.StmtsCached(db) != int(prepared) {
		t.Fatalf("after a write and a read: %d statements prepared, %d cached", prepared, sqlstore.StmtsCached(db))
	}
	// Many reads, concurrently (so on several of the read pool's connections), and more writes of
	// the same statements prepare nothing more.
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 16 {
		wg.Go(func() {
			for range 20 {
				got, err := db.GetOrganisation(ctx, org.ID)
				if err == nil && got.Name != "Acme" {
					err = errors.New("read " + got.Name)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for range 5 {
		if err := db.CreateOrganisation(ctx, &plugboard.Organisation{ID: ulid.Make(), Name: "More"}); err != nil {
			t.Fatal(err)
		}
	}
	if got := sqlstore.StmtsPrepared(db); got != prepared {
		t.Errorf("the same statements again prepared %d more", got-prepared)
	}

	// Inside a transaction: the cached INSERT and SELECT run on the transaction's connection.
	inTx := &plugboard.Organisation{ID: ulid.Make(), Name: "Rolled back"}
	boom := errors.New("boom")
	err := db.InTx(ctx, func(tx plugboard.Store) error {
		if err := tx.CreateOrganisation(ctx, inTx); err != nil {
			return err
		}
		got, err := tx.GetOrganisation(ctx, inTx.ID)
		if err != nil {
			return err
		}
		if got.Name != inTx.Name {
			t.Errorf("read in the transaction: %+v", got)
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx = %v", err)
	}
	if _, err := db.GetOrganisation(ctx, inTx.ID); !plugboard.IsCode(err, plugboard.ENotFound) {
		t.Errorf("the write made through a cached statement in a rolled-back transaction: %v", err)
	}
	committed := &plugboard.Organisation{ID: ulid.Make(), Name: "Committed"}
	if err := db.InTx(ctx, func(tx plugboard.Store) error { return tx.CreateOrganisation(ctx, committed) }); err != nil {
		t.Fatal(err)
	}
	if got, err := db.GetOrganisation(ctx, committed.ID); err != nil || got.Name != "Committed" {
		t.Errorf("after commit: %+v, %v", got, err)
	}

	// Closed, the store runs nothing; the cache is emptied.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if n := sqlstore.StmtsCached(db); n != 0 {
		t.Errorf("%d statements still cached after Close", n)
	}
}

// TestSQLiteStatementCacheFromTransactions checks that statements first met inside transactions
// (on the writer's only connection, which the transaction holds) are prepared without waiting for
// that connection, are cached once it is free, and then serve later transactions.
func TestSQLiteStatementCacheFromTransactions(t *testing.T) {
	ctx := t.Context()
	db := openFile(t, filepath.Join(t.TempDir(), "plugboard.db"))
	org := &plugboard.Organisation{ID: ulid.Make(), Name: "Acme"}
	write := func() {
		t.Helper()
		err := db.InTx(ctx, func(tx plugboard.Store) error {
			if err := tx.CreateOrganisation(ctx, org); err != nil {
				return err
			}
			got, err := tx.GetOrganisation(ctx, org.ID)
			if err == nil && got.Name != org.Name {
				t.Errorf("read in the transaction: %+v", got)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	cachedBefore := sqlstore.StmtsCached(db)
	write() // returns although the statements' preparation waits for the transaction's connection
	// The preparation runs in the background once the writer's connection is free; wait for it.
	deadline := time.Now().Add(time.Minute)
	for sqlstore.StmtsCached(db) < cachedBefore+2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := sqlstore.StmtsCached(db); got < cachedBefore+2 {
		t.Fatalf("statements met in a transaction were not cached: %d cached, had %d", got, cachedBefore)
	}
	prepared := sqlstore.StmtsPrepared(db)
	for range 5 {
		org = &plugboard.Organisation{ID: ulid.Make(), Name: "More"}
		write()
	}
	if got := sqlstore.StmtsPrepared(db); got != prepared {
		t.Errorf("the same statements in later transactions prepared %d more", got-prepared)
	}
}

// TestPostgresStatementsPreparedOnce checks that on PostgreSQL a statement run many times is
// prepared once on its connection (pgx's statement cache), not parsed anew on each call.
func TestPostgresStatementsPreparedOnce(t *testing.T) {
	ctx := t.Context()
	url := pgtest.URL(t)
	db, err := sqlstore.OpenWith(ctx, url, sqlstore.Options{Migrate: true, MaxOpenConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	org := &plugboard.Organisation{ID: ulid.Make(), Name: "Acme"}
	if err := db.CreateOrganisation(ctx, org); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if _, err := db.GetOrganisation(ctx, org.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := db.GetConnection(ctx, org.ID, ulid.Make()); !plugboard.IsCode(err, plugboard.ENotFound) {
			t.Fatalf("GetConnection of a missing connection = %v", err)
		}
	}
	for _, text := range []string{"FROM organisations WHERE organisation_id = $1", "LEFT JOIN connection_credentials cc"} {
		n, err := sqlstore.PreparedOnSession(ctx, db, text)
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("%d statements containing %q prepared on the session after 10 calls, want 1", n, text)
		}
	}
}
