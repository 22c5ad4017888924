package sqlstore_test

import (
	"context"
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard/internal/benchkit"
	"github.com/plugboard/plugboard/internal/pgtest"
	"github.com/plugboard/plugboard/internal/sqlstore"
	"github.com/plugboard/plugboard/internal/vault"
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

// seedConnections stores an organisation with an api-key system and n connections holding one
// sealed credential each (benchkit.Connections), and returns the organisation and their ids.
func seedConnections(b *testing.B, s *sqlstore.DB, n int) (ulid.ULID, []ulid.ULID) {
	b.Helper()
	keys, err := vault.Parse(vault.NewKey())
	if err != nil {
		b.Fatal(err)
	}
	org, ids, err := benchkit.Connections(context.Background(), s, keys, n)
	if err != nil {
		b.Fatal(err)
	}
	return org, ids
}
