package sqlstore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/pgtest"
	"github.com/plugboard/plugboard/internal/sqlstore"
)

// BenchmarkActivationReads measures the activation reads on an environment of 1,000 activated end
// users, each with two connections (one of two credentials), and 1,000 more end users with a
// connection in another environment: an activation's connections are found through the links of
// its end user's connections, so these are the queries that derivation costs. SQLite always;
// PostgreSQL too when PLUGBOARD_TEST_DATABASE_URL is set.
//
//	go test -run '^$' -bench 'ActivationReads/sqlite/GetActivation$' -benchtime 200x ./internal/sqlstore/
//	go test -run '^$' -bench 'ActivationReads/sqlite/(GetActivationConnection|ListActivations)' -benchtime 20x ./internal/sqlstore/
func BenchmarkActivationReads(b *testing.B) {
	urls := map[string]string{"sqlite": filepath.Join(b.TempDir(), "bench.db")}
	if os.Getenv(pgtest.EnvURL) != "" {
		urls["postgres"] = pgtest.URL(b)
	}
	for _, name := range []string{"sqlite", "postgres"} {
		url, ok := urls[name]
		if !ok {
			continue
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			s, err := sqlstore.OpenWith(ctx, url, sqlstore.Options{Migrate: true})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			org, env, acts, tpl := seedActivations(b, s, 1000)
			b.Run("GetActivation", func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					if _, err := s.GetActivation(ctx, org, acts[i%len(acts)]); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("GetActivationConnection", func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					if _, err := s.GetActivationConnection(ctx, org, acts[i%len(acts)], tpl); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("ListActivations-1000", func(b *testing.B) {
				for b.Loop() {
					list, err := s.ListActivations(ctx, org, plugboard.ActivationFilter{EnvironmentID: env})
					if err != nil || len(list) != len(acts) {
						b.Fatalf("%d activations, %v", len(list), err)
					}
				}
			})
		})
	}
}

// seedActivations makes an organisation with n activated end users (two connections each) in one
// environment and n end users with one connection in another; it returns the first environment's
// activation ids and one of its templates.
func seedActivations(b *testing.B, s plugboard.Store, n int) (org, env ulid.ULID, acts []ulid.ULID, tpl ulid.ULID) {
	b.Helper()
	ctx := context.Background()
	org = ulid.Make()
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	must(s.CreateOrganisation(ctx, &plugboard.Organisation{ID: org, Name: "bench"}))
	sys := &plugboard.System{ID: ulid.Make(), OrganisationID: org, Name: "s", Domain: "s.example"}
	must(s.CreateSystem(ctx, sys))
	env, other := ulid.Make(), ulid.Make()
	p := &plugboard.Project{ID: ulid.Make(), OrganisationID: org, Name: "p",
		Environments: []plugboard.Environment{{ID: env, Name: "production"}, {ID: other, Name: "staging"}}}
	must(s.CreateProject(ctx, p))
	newTpl := func(e ulid.ULID, name string) ulid.ULID {
		t := &plugboard.ConnectionTemplate{ID: ulid.Make(), OrganisationID: org, ProjectID: p.ID, EnvironmentID: e,
			SystemID: sys.ID, Name: name, Dynamic: true}
		must(s.CreateTemplate(ctx, t))
		return t.ID
	}
	tpl, tpl2, tplOther := newTpl(env, "a"), newTpl(env, "b"), newTpl(other, "a")
	cred := func(n int) []plugboard.ConnectionCredential {
		out := make([]plugboard.ConnectionCredential, n)
		for i := range out {
			out[i] = plugboard.ConnectionCredential{ID: ulid.Make(), AuthSchemeConfigID: "api-key",
				Credential: plugboard.Credential{ID: ulid.Make(), Type: "string", Public: []byte(`{"string":{"value":""}}`), Sealed: []byte("x")}}
		}
		return out
	}
	must(s.InTx(ctx, func(tx plugboard.Store) error {
		for i := range 2 * n {
			u := &plugboard.EndUser{ID: ulid.Make(), OrganisationID: org, ExternalID: fmt.Sprintf("u-%d", i)}
			if err := tx.CreateEndUser(ctx, u); err != nil {
				return err
			}
			e, templates := env, []ulid.ULID{tpl, tpl2}
			if i >= n {
				e, templates = other, []ulid.ULID{tplOther}
			}
			a := &plugboard.Activation{ID: ulid.Make(), OrganisationID: org, EnvironmentID: e, EndUserID: u.ID}
			if _, err := tx.EnsureActivation(ctx, a); err != nil {
				return err
			}
			for j, t := range templates {
				c := &plugboard.Connection{ID: ulid.Make(), OrganisationID: org, TemplateID: t, EndUserID: u.ID,
					Name: "c", Credentials: cred(j + 1)}
				if err := tx.CreateConnection(ctx, c); err != nil {
					return err
				}
			}
			if e == env {
				acts = append(acts, a.ID)
			}
		}
		return nil
	}))
	return org, env, acts, tpl
}
