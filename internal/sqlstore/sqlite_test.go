package sqlstore_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oklog/ulid/v2"
	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/sqlstore"
	"github.com/plugboard/plugboard/internal/storetest"
)

// openFile opens a store at path and closes it when the test ends.
func openFile(t *testing.T, url string) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.Open(t.Context(), url)
	if err != nil {
		t.Fatalf("Open(%q): %v", url, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestSQLiteContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) plugboard.Store {
		return openFile(t, filepath.Join(t.TempDir(), "plugboard.db"))
	})
}

func TestReopenKeepsDataAndMigratesOnce(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "nested", "dir", "plugboard.db") // parent directories are created
	db, err := sqlstore.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	org := &plugboard.Organisation{ID: ulid.Make(), Name: "Acme"}
	if err := db.CreateOrganisation(ctx, org); err != nil {
		t.Fatal(err)
	}
	before := migrationsApplied(t, ctx, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	for _, url := range []string{path, "sqlite://" + path, "file:" + path} {
		db := openFile(t, url)
		got, err := db.GetOrganisation(ctx, org.ID)
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		if got.Name != "Acme" {
			t.Errorf("%s: organisation %+v", url, got)
		}
		if after := migrationsApplied(t, ctx, db); after != before {
			t.Errorf("%s: schema_migrations has %d rows, had %d", url, after, before)
		}
	}
}

func migrationsApplied(t *testing.T, ctx context.Context, db *sqlstore.DB) int {
	t.Helper()
	n, err := sqlstore.CountMigrations(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no migrations recorded")
	}
	return n
}

func TestOpenRejects(t *testing.T) {
	for _, url := range []string{"", "sqlite://", "postgres://u:secret@127.0.0.1:5432/db?sslmode=bogus"} {
		if _, err := sqlstore.Open(t.Context(), url); !plugboard.IsCode(err, plugboard.EInvalid) {
			t.Errorf("Open(%q) = %v, want %s", url, err, plugboard.EInvalid)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q) error shows the password: %v", url, err)
		}
	}
}
