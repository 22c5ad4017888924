// Command connections measures how GetConnection and ListConnections latency changes as the store
// grows. It bulk-loads a small data set, measures, grows it to full size, and measures again, in
// the same run, through the real HTTP handler (API key check, store, JSON) called in process.
//
//	go run ./bench/connections -database-url 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable' -connections 1000000 -orgs 1000
//	go run ./bench/connections -connections 100000 -orgs 100
//
// With a PostgreSQL URL it works in a schema of its own, dropped at the end (keep it with -keep).
// Without -database-url it uses an SQLite file in a temporary directory. docs/benchmarks.md has
// the figures.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/apikey"
	"github.com/plugboard/plugboard/internal/httpapi"
	"github.com/plugboard/plugboard/internal/sqlstore"
	"github.com/plugboard/plugboard/internal/vault"
)

type config struct {
	url         string
	connections int
	orgs        int
	small       int
	smallOrgs   int
	samples     int
	batch       int
	keep        bool
}

// tenant is one organisation of the benchmark with what requests need.
type tenant struct {
	id         ulid.ULID
	key        string
	systemID   ulid.ULID
	templateID ulid.ULID
	conns      []ulid.ULID
}

func main() {
	var cfg config
	flag.StringVar(&cfg.url, "database-url", "", "PostgreSQL URL; empty means an SQLite file in a temporary directory")
	flag.IntVar(&cfg.connections, "connections", 100_000, "connections at full size")
	flag.IntVar(&cfg.orgs, "orgs", 100, "organisations at full size")
	flag.IntVar(&cfg.small, "small", 1_000, "connections at the small size")
	flag.IntVar(&cfg.smallOrgs, "small-orgs", 10, "organisations holding the small size")
	flag.IntVar(&cfg.samples, "samples", 2_000, "requests measured per operation and size")
	flag.IntVar(&cfg.batch, "batch", 20_000, "connections per bulk insert")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the PostgreSQL schema afterwards")
	flag.Parse()
	if err := run(context.Background(), cfg); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, cfg config) error {
	if cfg.smallOrgs > cfg.orgs || cfg.small > cfg.connections || cfg.connections%cfg.orgs != 0 || cfg.small%cfg.smallOrgs != 0 {
		return fmt.Errorf("need small-orgs <= orgs, small <= connections, and both sizes divisible by their organisations")
	}
	url, cleanup, err := prepareDatabase(ctx, cfg)
	if err != nil {
		return err
	}
	defer cleanup()
	store, err := sqlstore.OpenWith(ctx, url, sqlstore.Options{Migrate: true})
	if err != nil {
		return err
	}
	defer store.Close()
	keys, err := vault.Parse(vault.NewKey())
	if err != nil {
		return err
	}
	handler := httpapi.New(httpapi.Config{Store: store, Keys: keys})

	backend := "SQLite"
	if sqlstore.IsPostgres(url) {
		backend = "PostgreSQL"
	}
	fmt.Printf("# %s: %d connections across %d organisations, then %d across %d; %d samples per row\n\n",
		backend, cfg.small, cfg.smallOrgs, cfg.connections, cfg.orgs, cfg.samples)

	start := time.Now()
	tenants, err := createTenants(ctx, store, cfg.orgs)
	if err != nil {
		return err
	}
	log.Printf("created %d organisations in %s", len(tenants), time.Since(start).Round(time.Millisecond))

	// Small size: the first smallOrgs organisations share cfg.small connections.
	if err := load(ctx, store, keys, tenants[:cfg.smallOrgs], cfg.small/cfg.smallOrgs, cfg.batch); err != nil {
		return err
	}
	if err := store.Analyze(ctx); err != nil {
		return err
	}
	small := measure(handler, tenants[:cfg.smallOrgs], cfg.samples)

	// Full size: every organisation reaches connections/orgs.
	start = time.Now()
	per := cfg.connections / cfg.orgs
	for i := range tenants {
		if err := load(ctx, store, keys, tenants[i:i+1], per-len(tenants[i].conns), cfg.batch); err != nil {
			return err
		}
	}
	log.Printf("loaded %d connections in %s", cfg.connections, time.Since(start).Round(time.Millisecond))
	if err := store.Analyze(ctx); err != nil {
		return err
	}
	full := measure(handler, tenants, cfg.samples)

	fmt.Println("| operation | size | p50 | p90 | p99 | mean |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, op := range operations {
		for _, r := range []struct {
			size string
			res  map[string][]time.Duration
		}{{fmt.Sprintf("%d", cfg.small), small}, {fmt.Sprintf("%d", cfg.connections), full}} {
			d := r.res[op.name]
			fmt.Printf("| %s | %s | %s | %s | %s | %s |\n", op.name, r.size, pct(d, 50), pct(d, 90), pct(d, 99), mean(d))
		}
	}
	fmt.Println()
	for _, op := range operations {
		fmt.Printf("%s: p50 at full size is %.2fx the small size's, p99 %.2fx\n", op.name,
			float64(pct(full[op.name], 50))/float64(pct(small[op.name], 50)),
			float64(pct(full[op.name], 99))/float64(pct(small[op.name], 99)))
	}
	return nil
}

// prepareDatabase returns the URL to benchmark on: a new schema on PostgreSQL, a temporary SQLite
// file otherwise, and a function that removes it.
func prepareDatabase(ctx context.Context, cfg config) (string, func(), error) {
	if cfg.url == "" {
		dir, err := os.MkdirTemp("", "plugboard-bench-")
		if err != nil {
			return "", nil, err
		}
		return filepath.Join(dir, "bench.db"), func() { os.RemoveAll(dir) }, nil
	}
	conn, err := pgx.Connect(ctx, cfg.url)
	if err != nil {
		return "", nil, err
	}
	defer conn.Close(ctx)
	schema := "bench_" + strings.ToLower(ulid.Make().String())
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return "", nil, err
	}
	sep := "?"
	if strings.Contains(cfg.url, "?") {
		sep = "&"
	}
	drop := func() {
		if cfg.keep {
			log.Printf("kept schema %s", schema)
			return
		}
		c, err := pgx.Connect(context.Background(), cfg.url)
		if err != nil {
			log.Printf("drop schema %s: %v", schema, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			log.Printf("drop schema %s: %v", schema, err)
		}
	}
	return cfg.url + sep + "search_path=" + schema, drop, nil
}

// createTenants makes organisations with an API key, a system with an api-key scheme, a project
// and a template, through the store as the API would.
func createTenants(ctx context.Context, store plugboard.Store, n int) ([]*tenant, error) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	config := []byte(`{"type":"api-key","apiKey":{"id":"api-key","description":"","name":"X-Api-Key","in":"header"}}`)
	out := make([]*tenant, n)
	for i := range n {
		t := &tenant{id: ulid.Make()}
		err := store.InTx(ctx, func(tx plugboard.Store) error {
			if err := tx.CreateOrganisation(ctx, &plugboard.Organisation{ID: t.id, Name: fmt.Sprintf("org-%d", i), CreatedAt: now}); err != nil {
				return err
			}
			key, keyID, hash, err := apikey.New(t.id)
			if err != nil {
				return err
			}
			t.key = key
			if err := tx.CreateAPIKey(ctx, &plugboard.APIKey{ID: keyID, OrganisationID: t.id, Hash: hash, CreatedAt: now}); err != nil {
				return err
			}
			sys := &plugboard.System{ID: ulid.Make(), OrganisationID: t.id, Name: "System", Domain: "api.example",
				TemplateBaseURL: "https://api.example", CreatedAt: now, UpdatedAt: now,
				AuthSchemeConfigs: []plugboard.AuthSchemeConfig{{ID: "api-key", Type: "api-key", Config: config}}}
			if err := tx.CreateSystem(ctx, sys); err != nil {
				return err
			}
			t.systemID = sys.ID
			p := &plugboard.Project{ID: ulid.Make(), OrganisationID: t.id, Name: "Project", CreatedAt: now, UpdatedAt: now}
			p.Environments = []plugboard.Environment{{ID: ulid.Make(), OrganisationID: t.id, ProjectID: p.ID, Name: "production", CreatedAt: now, UpdatedAt: now}}
			if err := tx.CreateProject(ctx, p); err != nil {
				return err
			}
			tpl := &plugboard.ConnectionTemplate{ID: ulid.Make(), OrganisationID: t.id, ProjectID: p.ID, EnvironmentID: p.Environments[0].ID,
				SystemID: sys.ID, Name: "template", CreatedAt: now, UpdatedAt: now}
			t.templateID = tpl.ID
			return tx.CreateTemplate(ctx, tpl)
		})
		if err != nil {
			return nil, err
		}
		out[i] = t
	}
	return out, nil
}

// load adds n static connections with one sealed API key each to every tenant given.
func load(ctx context.Context, store *sqlstore.DB, keys *vault.Vault, tenants []*tenant, n, batch int) error {
	if n <= 0 {
		return nil
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	var buf []plugboard.Connection
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		err := store.BulkInsertConnections(ctx, buf)
		buf = buf[:0]
		return err
	}
	for _, t := range tenants {
		for range n {
			c := plugboard.Connection{ID: ulid.Make(), OrganisationID: t.id, TemplateID: t.templateID, SystemID: t.systemID,
				Name: fmt.Sprintf("conn-%d", len(t.conns)), BaseURL: "https://customer.example", CreatedAt: now, UpdatedAt: now}
			credID := ulid.Make()
			sealed, err := keys.SealCredential(t.id, credID, []byte(`{"value":"bench-secret"}`))
			if err != nil {
				return err
			}
			c.Credentials = []plugboard.ConnectionCredential{{ID: ulid.Make(), AuthSchemeConfigID: "api-key", Credential: plugboard.Credential{
				ID: credID, OrganisationID: t.id, Type: "string", Public: []byte(`{"value":""}`), Sealed: sealed, CreatedAt: now, UpdatedAt: now}}}
			buf = append(buf, c)
			t.conns = append(t.conns, c.ID)
			if len(buf) >= batch {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	return flush()
}

// operations are the requests measured, each against a random tenant.
var operations = []struct {
	name string
	path func(r *rand.Rand, t *tenant) string
}{
	{"GetConnection", func(r *rand.Rand, t *tenant) string {
		return "/connections/" + t.conns[r.IntN(len(t.conns))].String()
	}},
	{"ListConnections first page (20)", func(r *rand.Rand, t *tenant) string {
		return "/connections?first=20"
	}},
	{"ListConnections page after a cursor (20)", func(r *rand.Rand, t *tenant) string {
		return "/connections?first=20&after=" + t.conns[r.IntN(len(t.conns))].String()
	}},
}

// measure times samples requests of each operation, one at a time, after a warm-up.
func measure(h http.Handler, tenants []*tenant, samples int) map[string][]time.Duration {
	r := rand.New(rand.NewPCG(1, 2))
	out := map[string][]time.Duration{}
	for _, op := range operations {
		for i := range samples + samples/10 {
			t := tenants[r.IntN(len(tenants))]
			req := httptest.NewRequest("GET", "/o/"+t.id.String()+op.path(r, t), nil)
			req.Header.Set("Authorization", "Bearer "+t.key)
			rec := httptest.NewRecorder()
			start := time.Now()
			h.ServeHTTP(rec, req)
			d := time.Since(start)
			if rec.Code != 200 {
				log.Fatalf("%s: status %d: %s", op.name, rec.Code, rec.Body.String())
			}
			if i >= samples/10 { // the first tenth warms caches and is not counted
				out[op.name] = append(out[op.name], d)
			}
		}
	}
	return out
}

func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)].Round(time.Microsecond)
}

func mean(d []time.Duration) time.Duration {
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return (sum / time.Duration(len(d))).Round(time.Microsecond)
}
