package sqlstore_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/pgtest"
	"github.com/plugboard/plugboard/internal/sqlstore"
)

// BenchmarkGetConnectionRead measures GetConnection, the read every miss of the proxy's
// opened-connection cache runs, on PostgreSQL: 2,000 stored connections with one sealed-sized
// credential each, read round-robin, with a cancellable context as a request's is. The
// sub-benchmarks run the same read two ways in one process: database-sql through database/sql's
// statement layer, pgx straight through pgx on a connection of the same pool (the default with
// tracing off). PostgreSQL only: it skips unless PLUGBOARD_TEST_DATABASE_URL is set.
//
//	PLUGBOARD_TEST_DATABASE_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' \
//	  go test ./internal/sqlstore -run '^$' -bench 'GetConnectionRead' -benchtime 500x -count 3
func BenchmarkGetConnectionRead(b *testing.B) {
	url := pgtest.URL(b)
	ctx := context.Background()
	s, err := sqlstore.OpenWith(ctx, url, sqlstore.Options{Migrate: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	org, ids := seedConnections(b, s, 2000)
	if !sqlstore.SetPgxRead(s, true) {
		b.Fatal("the store does not read connections through pgx by default on PostgreSQL with tracing off")
	}
	// Read every connection once first, so that neither sub-benchmark pays for the server's
	// first reads of the rows or for preparing and planning the statement (both ways share the
	// pool's connections and pgx's statement cache).
	for _, id := range ids {
		if _, err := s.GetConnection(ctx, org, id); err != nil {
			b.Fatal(err)
		}
	}
	for _, bc := range []struct {
		name string
		pgx  bool
	}{{"database-sql", false}, {"pgx", true}} {
		b.Run(bc.name, func(b *testing.B) {
			defer sqlstore.SetPgxRead(s, sqlstore.SetPgxRead(s, bc.pgx))
			rctx, cancel := context.WithCancel(ctx)
			defer cancel()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				c, err := s.GetConnection(rctx, org, ids[i%len(ids)])
				if err != nil {
					b.Fatal(err)
				}
				if len(c.Credentials) != 1 {
					b.Fatalf("connection %s has %d credentials, want 1", c.ID, len(c.Credentials))
				}
			}
		})
	}
}

// seedConnections stores an organisation with one template and n connections holding one
// credential each (a random 96-byte sealed value, the size of a sealed API key), and returns the
// organisation and the connections' ids.
func seedConnections(b *testing.B, s *sqlstore.DB, n int) (ulid.ULID, []ulid.ULID) {
	b.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	org := ulid.Make()
	must(s.CreateOrganisation(ctx, &plugboard.Organisation{ID: org, Name: "bench", CreatedAt: now}))
	sys := &plugboard.System{ID: ulid.Make(), OrganisationID: org, Name: "s", Domain: "s.example", CreatedAt: now, UpdatedAt: now}
	must(s.CreateSystem(ctx, sys))
	env := ulid.Make()
	p := &plugboard.Project{ID: ulid.Make(), OrganisationID: org, Name: "p", CreatedAt: now, UpdatedAt: now,
		Environments: []plugboard.Environment{{ID: env, Name: "production", CreatedAt: now, UpdatedAt: now}}}
	must(s.CreateProject(ctx, p))
	tpl := &plugboard.ConnectionTemplate{ID: ulid.Make(), OrganisationID: org, ProjectID: p.ID, EnvironmentID: env,
		SystemID: sys.ID, Name: "t", CreatedAt: now, UpdatedAt: now}
	must(s.CreateTemplate(ctx, tpl))
	ids := make([]ulid.ULID, 0, n)
	batch := make([]plugboard.Connection, 0, 1000)
	for i := range n {
		sealed := make([]byte, 96)
		rand.Read(sealed)
		cred := plugboard.Credential{ID: ulid.Make(), OrganisationID: org, Type: "string", Name: "key",
			Public: []byte(`{"string":{}}`), Sealed: sealed, CreatedAt: now, UpdatedAt: now}
		c := plugboard.Connection{ID: ulid.Make(), OrganisationID: org, TemplateID: tpl.ID, SystemID: sys.ID,
			Name: fmt.Sprintf("bench-%d", i), BaseURL: "https://api.s.example", CreatedAt: now, UpdatedAt: now,
			Credentials: []plugboard.ConnectionCredential{{ID: ulid.Make(), AuthSchemeConfigID: "api-key", Credential: cred}}}
		batch = append(batch, c)
		ids = append(ids, c.ID)
		if len(batch) == cap(batch) || i == n-1 {
			must(s.BulkInsertConnections(ctx, batch))
			batch = batch[:0]
		}
	}
	return org, ids
}
