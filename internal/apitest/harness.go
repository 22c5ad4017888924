package apitest

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/apikey"
	"github.com/plugboard/plugboard/internal/pgtest"
	"github.com/plugboard/plugboard/internal/sqlstore"
)

// EnvStore switches the HTTP suites to PostgreSQL: PLUGBOARD_TEST_STORE=postgres (with
// PLUGBOARD_TEST_DATABASE_URL set) runs them on a fresh schema instead of an SQLite file.
const EnvStore = "PLUGBOARD_TEST_STORE"

// UsePostgres reports whether EnvStore asks for PostgreSQL.
func UsePostgres() bool { return os.Getenv(EnvStore) == "postgres" }

// Store is a test's own store, with where it lives for tests that read the database directly.
type Store struct {
	*sqlstore.DB
	// Path is the SQLite file; empty on PostgreSQL.
	Path string
	// URL is the PostgreSQL URL: the test's schema as search_path, and the schema's name as
	// application_name, so that a test can find its own sessions in pg_stat_activity. Empty on
	// SQLite.
	URL string
}

// OpenStore opens a new, empty store for the test: an SQLite file in t.TempDir(), or with
// EnvStore=postgres a migrated schema of its own (pgtest.URL, which skips the test when
// PLUGBOARD_TEST_DATABASE_URL is unset). The store is closed when the test ends.
func OpenStore(t testing.TB) *Store {
	t.Helper()
	ctx := context.Background()
	s := &Store{}
	var err error
	if UsePostgres() {
		s.URL = pgtest.URL(t)
		s.URL += "&application_name=" + pgtest.Schema(s.URL)
		s.DB, err = sqlstore.OpenWith(ctx, s.URL, sqlstore.Options{Migrate: true})
	} else {
		s.Path = filepath.Join(t.TempDir(), "plugboard.db")
		s.DB, err = sqlstore.Open(ctx, s.Path)
	}
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// NewOrganisation creates an organisation directly in store, with an API key of every scope, and
// returns its id and the key.
func NewOrganisation(t testing.TB, store plugboard.Store, name string) (ulid.ULID, string) {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)
	org := &plugboard.Organisation{ID: ulid.Make(), Name: name, CreatedAt: now}
	if err := store.CreateOrganisation(context.Background(), org); err != nil {
		t.Fatal(err)
	}
	return org.ID, NewKey(t, store, org.ID)
}

// NewKey creates another API key (with every scope) of an organisation directly in store and
// returns it.
func NewKey(t testing.TB, store plugboard.Store, org ulid.ULID) string {
	t.Helper()
	key, id, hash, err := apikey.New(org)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	if err := store.CreateAPIKey(context.Background(), &plugboard.APIKey{ID: id, OrganisationID: org, Hash: hash, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	return key
}

// Logger is the server's logger in tests: text at every level, debug included, written to w (a
// testlog.Buffer), so that tests searching the log for secrets see every line the server could write.
func Logger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
