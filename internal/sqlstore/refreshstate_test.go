package sqlstore_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/pgtest"
	"github.com/plugboard/plugboard/internal/sqlstore"
)

// TestRefreshFailuresWrittenBeforeMigration9 writes credentials as an older build did, with the
// refresh backoff as text in errors, then opens the store: migration 9 turns the text into the
// refresh state columns (attempts, next attempt from refresh_due, failing since the last write),
// empties errors, and leaves other rows alone.
func TestRefreshFailuresWrittenBeforeMigration9(t *testing.T) {
	urls := map[string]string{"sqlite": filepath.Join(t.TempDir(), "old.db")}
	if os.Getenv(pgtest.EnvURL) != "" {
		urls["postgres"] = pgtest.URL(t)
	}
	for name, url := range urls {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			raw, q, err := sqlstore.OpenRawAt(ctx, url, 8)
			if err != nil {
				t.Fatal(err)
			}
			org, failing, odd, fine := ulid.Make(), ulid.Make(), ulid.Make(), ulid.Make()
			due := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			updated := due.Add(-4 * time.Minute)
			old := `["refresh failed (the provider refused [invalid_grant]) at 2026-01-02T03:00:05Z; attempt 4; next attempt after 2026-01-02T03:04:05Z"]`
			for _, stmt := range []struct {
				sql  string
				args []any
			}{
				{"INSERT INTO organisations (organisation_id, name, created_at) VALUES (?, 'old', 0)", []any{org.String()}},
				{"INSERT INTO credentials (organisation_id, id, type, name, errors, created_at, updated_at, refresh_due) VALUES (?, ?, 'oauth2-token', 'f', ?, 0, ?, ?)",
					[]any{org.String(), failing.String(), old, updated.UnixNano(), due.UnixNano()}},
				{"INSERT INTO credentials (organisation_id, id, type, name, errors, created_at, updated_at, refresh_due) VALUES (?, ?, 'oauth2-token', 'o', ?, 0, ?, ?)",
					[]any{org.String(), odd.String(), `["refresh failed (x) at 2026-01-02T03:00:05Z; attempt many; next attempt after 2026-01-02T03:04:05Z"]`, updated.UnixNano(), due.UnixNano()}},
				{"INSERT INTO credentials (organisation_id, id, type, name, errors, created_at, updated_at) VALUES (?, ?, 'string', 'ok', '[]', 0, 0)",
					[]any{org.String(), fine.String()}},
			} {
				if _, err := raw.ExecContext(ctx, q(stmt.sql), stmt.args...); err != nil {
					t.Fatalf("%s: %v", stmt.sql, err)
				}
			}
			raw.Close()

			store, err := sqlstore.OpenWith(ctx, url, sqlstore.Options{Migrate: true})
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			for id, want := range map[ulid.ULID]plugboard.RefreshState{
				failing: {Attempts: 4, NextAttempt: &due, FailingSince: &updated},
				odd:     {Attempts: 1, NextAttempt: &due, FailingSince: &updated},
				fine:    {},
			} {
				c, err := store.GetCredential(ctx, org, id)
				if err != nil {
					t.Fatal(err)
				}
				got := c.Refresh
				if got.Attempts != want.Attempts || got.LastError != "" || !sameTime(got.NextAttempt, want.NextAttempt) || !sameTime(got.FailingSince, want.FailingSince) {
					t.Errorf("%s: refresh state %+v, want %+v", c.Name, got, want)
				}
			}
			raw, q, err = sqlstore.OpenRawAt(ctx, url, 9)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			var n int
			if err := raw.QueryRowContext(ctx, q("SELECT COUNT(*) FROM credentials WHERE errors <> '[]'")).Scan(&n); err != nil || n != 0 {
				t.Errorf("%d credentials keep errors text (%v)", n, err)
			}
		})
	}
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}
