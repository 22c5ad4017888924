package sqlstore_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/pgtest"
	"github.com/plugboard/plugboard/internal/sqlstore"
)

// checkPurgeCoversEveryTable: a purge must leave nothing of an organisation behind, so every table
// with an organisation_id column has to be in the purge list (a new table fails here by name).
func checkPurgeCoversEveryTable(t *testing.T, db *sqlstore.DB) {
	t.Helper()
	tables, err := sqlstore.TablesWithOrganisation(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) == 0 {
		t.Fatal("found no table with organisation_id")
	}
	for _, table := range tables {
		if !slices.Contains(sqlstore.PurgeOrder, table) {
			t.Errorf("table %s holds organisations' rows but PurgeOrganisation does not empty it (add it to purgeOrder)", table)
		}
	}
}

func TestSQLitePurgeCoversEveryTable(t *testing.T) {
	checkPurgeCoversEveryTable(t, openFile(t, filepath.Join(t.TempDir(), "plugboard.db")))
}

func TestPostgresPurgeCoversEveryTable(t *testing.T) {
	checkPurgeCoversEveryTable(t, openPostgres(t))
}

// TestMustExistCreatesNothing: with MustExist, a missing SQLite file (or its directory) is not
// created, and a file or database without Plugboard's schema is refused; an existing store opens.
func TestMustExistCreatesNothing(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "plugboard.db")
	_, err := sqlstore.OpenWith(ctx, path, sqlstore.Options{MustExist: true})
	if !plugboard.IsCode(err, plugboard.ENotFound) || !strings.Contains(err.Error(), path) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the data directory was created: %v", err)
	}
	if _, err := sqlstore.Migrate(ctx, path); !plugboard.IsCode(err, plugboard.ENotFound) {
		t.Errorf("Migrate on a missing file: %v", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("Migrate created the file: %v", err)
	}

	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := sqlstore.OpenWith(ctx, path, sqlstore.Options{MustExist: true}); !plugboard.IsCode(err, plugboard.ENotFound) {
		t.Errorf("empty file: %v", err)
	}

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	openFile(t, path).Close() // what serve does on its first start
	db, err := sqlstore.OpenWith(ctx, path, sqlstore.Options{MustExist: true})
	if err != nil {
		t.Fatalf("existing store: %v", err)
	}
	db.Close()
}

func TestPostgresMustExistRefusesEmptySchema(t *testing.T) {
	url := pgtest.URL(t)
	_, err := sqlstore.OpenWith(t.Context(), url, sqlstore.Options{MustExist: true})
	var e *plugboard.Error
	if !plugboard.IsCode(err, plugboard.ENotFound) || !asError(err, &e) || !strings.Contains(e.Details, "plugboard migrate") {
		t.Fatalf("empty schema: %v", err)
	}
	if _, err := sqlstore.Migrate(t.Context(), url); err != nil {
		t.Fatal(err)
	}
	db, err := sqlstore.OpenWith(t.Context(), url, sqlstore.Options{MustExist: true})
	if err != nil {
		t.Fatalf("migrated schema: %v", err)
	}
	db.Close()
}

func TestLocationNamesTheStoreWithoutPassword(t *testing.T) {
	abs, _ := filepath.Abs("data/plugboard.db")
	for url, want := range map[string]string{
		"data/plugboard.db":             "the SQLite file " + abs,
		"sqlite:///srv/pb/plugboard.db": "the SQLite file /srv/pb/plugboard.db",
		"postgres://pb:s3cret@db.internal:5433/plugboard?search_path=tenant_a&sslmode=require": `the PostgreSQL database "plugboard" on db.internal:5433 as user pb, schema tenant_a`,
	} {
		if got := sqlstore.Location(url); got != want {
			t.Errorf("Location(%q) = %q, want %q", url, got, want)
		}
	}
}
