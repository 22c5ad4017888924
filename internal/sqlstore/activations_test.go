package sqlstore_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/pgtest"
	"github.com/plugboard/plugboard/internal/sqlstore"
)

// TestActivationsOfConnectionsWrittenBeforeMigration11 writes end users' connections into a schema
// at version 10, as an older build did, then opens the store: migration 11 gives each end user one
// activation per environment its connections are linked into, and none to static connections.
func TestActivationsOfConnectionsWrittenBeforeMigration11(t *testing.T) {
	urls := map[string]string{"sqlite": filepath.Join(t.TempDir(), "old.db")}
	if os.Getenv(pgtest.EnvURL) != "" {
		urls["postgres"] = pgtest.URL(t)
	}
	for name, url := range urls {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			raw, q, err := sqlstore.OpenRawAt(ctx, url, 10)
			if err != nil {
				t.Fatal(err)
			}
			org, sys, proj, prod, stag := ulid.Make(), ulid.Make(), ulid.Make(), ulid.Make(), ulid.Make()
			tProd, tStag, tStatic, user := ulid.Make(), ulid.Make(), ulid.Make(), ulid.Make()
			c1, c2, c3, c4 := ulid.Make(), ulid.Make(), ulid.Make(), ulid.Make()
			s := func(ids ...ulid.ULID) []any {
				out := make([]any, len(ids))
				for i, id := range ids {
					out[i] = id.String()
				}
				return out
			}
			for _, stmt := range []struct {
				sql  string
				args []any
			}{
				{"INSERT INTO organisations (organisation_id, name, created_at) VALUES (?, 'old', 0)", s(org)},
				{"INSERT INTO systems (organisation_id, id, name, domain, template_base_url, labels, created_at, updated_at) VALUES (?, ?, 's', 's', '', '{}', 0, 0)", s(org, sys)},
				{"INSERT INTO projects (organisation_id, id, name, created_at, updated_at) VALUES (?, ?, 'p', 0, 0)", s(org, proj)},
				{"INSERT INTO environments (organisation_id, id, project_id, name, created_at, updated_at) VALUES (?, ?, ?, 'production', 0, 0)", s(org, prod, proj)},
				{"INSERT INTO environments (organisation_id, id, project_id, name, created_at, updated_at) VALUES (?, ?, ?, 'staging', 0, 0)", s(org, stag, proj)},
				{"INSERT INTO connection_templates (organisation_id, id, project_id, environment_id, system_id, name, dynamic, auth_scheme_config_ids, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'd', TRUE, '[]', 0, 0)", s(org, tProd, proj, prod, sys)},
				{"INSERT INTO connection_templates (organisation_id, id, project_id, environment_id, system_id, name, dynamic, auth_scheme_config_ids, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'd', TRUE, '[]', 0, 0)", s(org, tStag, proj, stag, sys)},
				{"INSERT INTO connection_templates (organisation_id, id, project_id, environment_id, system_id, name, dynamic, auth_scheme_config_ids, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 's', FALSE, '[]', 0, 0)", s(org, tStatic, proj, prod, sys)},
				{"INSERT INTO end_users (organisation_id, id, external_id, display_name, created_at, updated_at) VALUES (?, ?, 'u', '', 0, 0)", s(org, user)},
				{"INSERT INTO connections (organisation_id, id, template_id, system_id, end_user_id, name, base_url, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'a', '', 1000, 0)", s(org, c1, tProd, sys, user)},
				{"INSERT INTO connections (organisation_id, id, template_id, system_id, end_user_id, name, base_url, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'b', '', 2000, 0)", s(org, c2, tProd, sys, user)},
				{"INSERT INTO connections (organisation_id, id, template_id, system_id, end_user_id, name, base_url, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'c', '', 3000, 0)", s(org, c3, tStag, sys, user)},
				{"INSERT INTO connections (organisation_id, id, template_id, system_id, end_user_id, name, base_url, created_at, updated_at) VALUES (?, ?, ?, ?, '', 'static', '', 0, 0)", s(org, c4, tStatic, sys)},
				{"INSERT INTO connection_links (organisation_id, template_id, connection_id) VALUES (?, ?, ?)", s(org, tProd, c1)},
				{"INSERT INTO connection_links (organisation_id, template_id, connection_id) VALUES (?, ?, ?)", s(org, tProd, c2)},
				{"INSERT INTO connection_links (organisation_id, template_id, connection_id) VALUES (?, ?, ?)", s(org, tStag, c3)},
				{"INSERT INTO connection_links (organisation_id, template_id, connection_id) VALUES (?, ?, ?)", s(org, tStatic, c4)},
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
			acts, err := store.ListActivations(ctx, org, plugboard.ActivationFilter{})
			if err != nil {
				t.Fatal(err)
			}
			if len(acts) != 2 {
				t.Fatalf("%d activations, want 2", len(acts))
			}
			byEnv := map[ulid.ULID]plugboard.Activation{}
			for _, a := range acts {
				byEnv[a.EnvironmentID] = a
				if a.EndUserID != user {
					t.Errorf("activation %s is of end user %s, want %s", a.ID, a.EndUserID, user)
				}
			}
			connIDs := func(a plugboard.Activation) []ulid.ULID {
				var out []ulid.ULID
				for _, c := range a.Connections {
					out = append(out, c.ID)
				}
				return out
			}
			if got := connIDs(byEnv[prod]); len(got) != 2 || got[0] != c1 || got[1] != c2 {
				t.Errorf("production activation's connections %v, want %v %v", got, c1, c2)
			}
			if got := connIDs(byEnv[stag]); len(got) != 1 || got[0] != c3 {
				t.Errorf("staging activation's connections %v, want %v", got, c3)
			}
			if ts := byEnv[prod].CreatedAt.UnixNano(); ts != 1000 {
				t.Errorf("production activation created at %d, want 1000 (its oldest connection)", ts)
			}
		})
	}
}
