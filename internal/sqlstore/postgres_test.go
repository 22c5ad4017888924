package sqlstore_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/pgtest"
	"github.com/plugboard/plugboard/internal/sqlstore"
	"github.com/plugboard/plugboard/internal/storetest"
)

// openPostgres opens a migrated store on a fresh schema and closes it when the test ends.
func openPostgres(t *testing.T) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.OpenWith(t.Context(), pgtest.URL(t), sqlstore.Options{Migrate: true})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestPostgresContract(t *testing.T) {
	pgtest.BaseURL(t)
	storetest.Run(t, func(t *testing.T) plugboard.Store { return openPostgres(t) })
}

// TestPostgresRefusesOutdatedSchema checks that serve-time Open refuses an unmigrated database
// with a message naming the fix, that Migrate brings it up to date, and that replicas migrating
// at once apply each migration once.
func TestPostgresRefusesOutdatedSchema(t *testing.T) {
	url := pgtest.URL(t)
	_, err := sqlstore.Open(t.Context(), url)
	if !plugboard.IsCode(err, plugboard.EUnavailable) {
		t.Fatalf("Open on an empty schema = %v, want %s", err, plugboard.EUnavailable)
	}
	var e *plugboard.Error
	if !asError(err, &e) || !strings.Contains(e.Details, "plugboard migrate") {
		t.Errorf("the refusal does not name the fix: %+v", err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = sqlstore.Migrate(t.Context(), url)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("concurrent migrate %d: %v", i, err)
		}
	}
	db, err := sqlstore.Open(t.Context(), url)
	if err != nil {
		t.Fatalf("Open after migrate: %v", err)
	}
	defer db.Close()
	n := migrationsApplied(t, t.Context(), db)
	before, err := sqlstore.Migrate(t.Context(), url)
	if err != nil || len(before.Pending) != 0 || before.Applied != before.Latest {
		t.Errorf("second migrate: %+v %v", before, err)
	}
	if again := migrationsApplied(t, t.Context(), db); again != n {
		t.Errorf("%d migrations recorded after a second migrate, had %d", again, n)
	}
}

func asError(err error, target **plugboard.Error) bool {
	e, ok := err.(*plugboard.Error)
	if ok {
		*target = e
	}
	return ok
}

// TestPostgresTryLeadIsExclusive: one process (connection) leads a background job at a time.
func TestPostgresTryLeadIsExclusive(t *testing.T) {
	db := openPostgres(t)
	release, ok, err := db.TryLead(t.Context(), "refresher")
	if err != nil || !ok {
		t.Fatalf("first: %v %v", ok, err)
	}
	if _, ok, err := db.TryLead(t.Context(), "refresher"); err != nil || ok {
		t.Errorf("second while the first leads: %v %v", ok, err)
	}
	release()
	release2, ok, err := db.TryLead(t.Context(), "refresher")
	if err != nil || !ok {
		t.Errorf("after release: %v %v", ok, err)
	} else {
		release2()
	}
}

// TestPostgresChangeFeed runs the change feed's contract (storetest.ChangeFeed) on PostgreSQL; the
// feed's connection is cut by ending this test's own sessions on the server (they carry an
// application_name of their own), as a restart or an administrator does.
func TestPostgresChangeFeed(t *testing.T) {
	app := "pbtest_" + strings.ToLower(ulid.Make().String())
	u := pgtest.URL(t)
	db, err := sqlstore.OpenWith(t.Context(), u+"&application_name="+app, sqlstore.Options{Migrate: true})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	elsewhere := openPostgres(t)
	admin, err := pgx.Connect(t.Context(), pgtest.BaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	cut := func() {
		var n int
		err := admin.QueryRow(t.Context(), `SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid, 5000)
			FROM pg_stat_activity WHERE application_name = $1) t`, app+" changes").Scan(&n)
		if err != nil || n != 1 {
			t.Fatalf("ending the feed's session: %d ended, %v", n, err)
		}
	}
	raw := func(query string, args ...any) error {
		_, err := admin.Exec(t.Context(), query, args...)
		return err
	}
	if _, err := admin.Exec(t.Context(), "SET search_path TO "+pgx.Identifier{pgtest.Schema(u)}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	storetest.ChangeFeed(t, db, db.WatchChanges, elsewhere, cut, raw)
}
