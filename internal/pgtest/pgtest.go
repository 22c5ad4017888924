// Package pgtest gives tests a PostgreSQL database of their own: a fresh schema in the database
// named by PLUGBOARD_TEST_DATABASE_URL, dropped when the test ends, so runs never collide. Tests
// that need PostgreSQL skip, naming the variable, when it is unset. Imported only by tests.
package pgtest

import (
	"context"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/oklog/ulid/v2"
)

// EnvURL names the variable that switches PostgreSQL tests on, for example
// PLUGBOARD_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable
const EnvURL = "PLUGBOARD_TEST_DATABASE_URL"

// BaseURL returns the configured database URL, or skips the test.
func BaseURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		t.Skipf("PostgreSQL tests are off: set %s (for example postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to run them", EnvURL)
	}
	return u
}

// URL creates a schema for the test and returns a URL whose connections use it (search_path).
// The schema is dropped when the test ends.
func URL(t testing.TB) string {
	t.Helper()
	base := BaseURL(t)
	schema := "pbt_" + strings.ToLower(ulid.Make().String())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to %s: %v", EnvURL, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return WithSearchPath(base, schema)
}

// WithSearchPath adds search_path=schema to a PostgreSQL URL.
func WithSearchPath(base, schema string) string {
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + url.QueryEscape(schema)
}

// Schema returns the search_path of a URL made by URL.
func Schema(u string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return parsed.Query().Get("search_path")
}

// LockWaitOr returns true once a PostgreSQL session whose application_name is app waits for a
// lock another session holds, or false when done is closed first. Tests name their sessions after
// their schema (application_name=Schema(url)), so that this sees theirs alone. It polls
// pg_stat_activity; it never decides by how long something took.
func LockWaitOr(t testing.TB, app string, done <-chan struct{}) bool {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, BaseURL(t))
	if err != nil {
		t.Fatalf("connect to %s: %v", EnvURL, err)
	}
	defer conn.Close(ctx)
	for {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE application_name = $1 AND wait_event_type = 'Lock'`, app).Scan(&n); err != nil {
			t.Fatalf("read pg_stat_activity: %v", err)
		}
		if n > 0 {
			return true
		}
		select {
		case <-done:
			return false
		case <-time.After(10 * time.Millisecond):
		}
	}
}
