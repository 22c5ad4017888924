package sqlstore_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/pgtest"
	"github.com/plugboard/plugboard/internal/sqlstore"
	"github.com/plugboard/plugboard/internal/vault"
)

// TestKeyIDsOfRowsWrittenBeforeMigration7 writes sealed rows into a schema at version 4, as an
// older build did, then opens the store: migration 7 gives each row the key id its value names.
func TestKeyIDsOfRowsWrittenBeforeMigration7(t *testing.T) {
	urls := map[string]string{"sqlite": filepath.Join(t.TempDir(), "old.db")}
	if os.Getenv(pgtest.EnvURL) != "" {
		urls["postgres"] = pgtest.URL(t)
	}
	for name, url := range urls {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			raw, q, err := sqlstore.OpenRawAt(ctx, url, 4)
			if err != nil {
				t.Fatal(err)
			}
			v, _ := vault.Parse(vault.NewKey())
			org, cred, sys := ulid.Make(), ulid.Make(), ulid.Make()
			sealed, _ := v.SealCredential(org, cred, []byte("secret"))
			cfgSealed, _ := v.SealConfig(org, sys, "oauth1", []byte("consumer-secret"))
			for _, stmt := range []struct {
				sql  string
				args []any
			}{
				{"INSERT INTO organisations (organisation_id, name, created_at) VALUES (?, 'old', 0)", []any{org.String()}},
				{"INSERT INTO credentials (organisation_id, id, type, name, sealed, errors, created_at, updated_at) VALUES (?, ?, 'string', 'c', ?, '[]', 0, 0)",
					[]any{org.String(), cred.String(), sealed}},
				{"INSERT INTO credentials (organisation_id, id, type, name, errors, created_at, updated_at) VALUES (?, ?, 'string', 'none', '[]', 0, 0)",
					[]any{org.String(), ulid.Make().String()}},
				{"INSERT INTO systems (organisation_id, id, name, domain, template_base_url, labels, created_at, updated_at) VALUES (?, ?, 's', 's', '', '{}', 0, 0)",
					[]any{org.String(), sys.String()}},
				{"INSERT INTO auth_scheme_configs (organisation_id, system_id, id, position, type, sealed) VALUES (?, ?, 'oauth1', 0, 'oauth1', ?)",
					[]any{org.String(), sys.String(), cfgSealed}},
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
			counts, err := store.CountSealed(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := []plugboard.SealedCount{
				{Table: "credentials", KeyID: v.PrimaryKeyID(), Count: 1},
				{Table: "auth_scheme_configs", KeyID: v.PrimaryKeyID(), Count: 1},
			}
			if len(counts) != len(want) || counts[0] != want[0] || counts[1] != want[1] {
				t.Errorf("counts %+v, want %+v", counts, want)
			}
		})
	}
}
