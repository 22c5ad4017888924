// Command creates measures how many connections Plugboard creates per second through its API,
// and what a burst of concurrent creates costs: it starts Plugboard's real handler (httpapi.New)
// in this process on a real store, with an organisation, a system taking an API key, a project and
// a template made through the API, then creates -n connections (one credential each) at each
// concurrency, over keep-alive connections on 127.0.0.1, and reports creates/s, the p50 and p99
// latency and the answers by status. Any answer but 201 is counted, not fatal.
//
//	go run ./bench/creates
//	go run ./bench/creates -database-url 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable'
//	go run ./bench/creates -baseline
//
// Without -database-url it uses a new SQLite file in a temporary directory per concurrency; with a
// PostgreSQL URL, a schema of its own per concurrency, dropped at the end. -baseline (SQLite)
// measures, in the same run, the store opened as earlier versions did (one unbounded pool, writers
// waiting on SQLite's busy timeout) after the current one. docs/benchmarks.md has the figures.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard/internal/benchkit"
	"github.com/plugboard/plugboard/internal/httpapi"
	"github.com/plugboard/plugboard/internal/outbound"
	"github.com/plugboard/plugboard/internal/sqlstore"
	"github.com/plugboard/plugboard/internal/vault"
)

func main() {
	var (
		dbURL       = flag.String("database-url", "", "PostgreSQL URL to measure on (default: a temporary SQLite file)")
		n           = flag.Int("n", 2000, "creates per concurrency")
		concurrency = flag.String("concurrency", "1,64,500", "comma-separated concurrencies")
		baseline    = flag.Bool("baseline", false, "also measure SQLite opened as before the write queue (one unbounded pool)")
	)
	flag.Parse()
	var cs []int
	for _, f := range strings.Split(*concurrency, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || c <= 0 {
			log.Fatalf("-concurrency: %q is not a positive number", f)
		}
		cs = append(cs, c)
	}
	kinds := []string{"queued"}
	if *baseline {
		if *dbURL != "" {
			log.Fatal("-baseline compares SQLite pools; leave out -database-url")
		}
		kinds = append(kinds, "single pool (before)")
	}
	store := "SQLite"
	if *dbURL != "" {
		store = "PostgreSQL"
	}
	fmt.Printf("%d creates per row, %s\n\n", *n, store)
	fmt.Printf("| store | pool | concurrency | creates/s | p50 | p99 | answers |\n|---|---|---|---|---|---|---|\n")
	// Each concurrency measures every pool in turn, so that drift (other load on the machine)
	// affects them alike.
	for _, c := range cs {
		for _, kind := range kinds {
			r, err := run(context.Background(), *dbURL, kind != "queued", *n, c)
			if err != nil {
				log.Fatal(err)
			}
			pool := kind
			if store == "PostgreSQL" {
				pool = "pool of " + strconv.Itoa(sqlstore.DefaultMaxOpenConns)
			}
			fmt.Printf("| %s | %s | %d | %.0f | %s | %s | %s |\n", store, pool, c, float64(r.n)/r.elapsed.Seconds(),
				pct(r.latencies, 50), pct(r.latencies, 99), r.answers())
		}
	}
}

// result is one concurrency's measurement.
type result struct {
	n         int
	elapsed   time.Duration
	latencies []time.Duration
	byStatus  map[int]int
	errs      int
}

func (r result) answers() string {
	var out []string
	for st, c := range r.byStatus {
		out = append(out, fmt.Sprintf("%d×%d", c, st))
	}
	sort.Strings(out)
	if r.errs > 0 {
		out = append(out, fmt.Sprintf("%d×transport error", r.errs))
	}
	return strings.Join(out, ", ")
}

// run measures n creates at concurrency c on a fresh store.
func run(ctx context.Context, baseURL string, singlePool bool, n, c int) (result, error) {
	dbURL, cleanup, err := prepareDatabase(ctx, baseURL)
	if err != nil {
		return result{}, err
	}
	defer cleanup()
	store, err := sqlstore.OpenWith(ctx, dbURL, sqlstore.Options{Migrate: true, SQLiteSinglePool: singlePool})
	if err != nil {
		return result{}, err
	}
	defer store.Close()
	keys, err := vault.Parse(vault.NewKey())
	if err != nil {
		return result{}, err
	}
	handler := httpapi.New(httpapi.Config{Store: store, Keys: keys, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Outbound: outbound.New(outbound.Config{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Resolver: outbound.NoDNSResolver()})})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return result{}, err
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: time.Minute}
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	defer srv.Close()

	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, DisableCompression: true}}
	defer client.CloseIdleConnections()
	orgID, key, err := benchkit.CreateOrganisation(ctx, store, "bench-creates")
	if err != nil {
		return result{}, err
	}
	api := &apiClient{client: client, base: "http://" + ln.Addr().String() + "/o/" + orgID.String(), key: key}
	templateID, err := api.template()
	if err != nil {
		return result{}, err
	}

	r := result{n: n, byStatus: map[int]int{}, latencies: make([]time.Duration, 0, n)}
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		next = make(chan int)
	)
	start := time.Now()
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				t0 := time.Now()
				status, err := api.create(templateID, fmt.Sprintf("bench-%d", i))
				d := time.Since(t0)
				mu.Lock()
				r.latencies = append(r.latencies, d)
				if err != nil {
					r.errs++
				} else {
					r.byStatus[status]++
				}
				mu.Unlock()
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	r.elapsed = time.Since(start)
	return r, nil
}

// apiClient calls Plugboard's API as the organisation.
type apiClient struct {
	client *http.Client
	base   string // .../o/{org}
	key    string
}

func (a *apiClient) post(path string, in any) (int, []byte, error) {
	data, err := json.Marshal(in)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequest("POST", a.base+path, bytes.NewReader(data))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.key)
	req.Header.Set("Content-Type", "application/json")
	res, err := a.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return res.StatusCode, body, err
}

type obj = map[string]any

var scheme = obj{"type": "api-key", "apiKey": obj{"id": "api-key", "description": "key in header", "name": "X-Api-Key", "in": "header"}}

// template creates, through the API, a system taking an API key in a header, a project and a
// template, and returns the template's id.
func (a *apiClient) template() (string, error) {
	must := func(want int, path string, in, out any) error {
		st, body, err := a.post(path, in)
		if err != nil {
			return err
		}
		if st != want {
			return fmt.Errorf("POST %s: status %d, want %d: %s", path, st, want, body)
		}
		return json.Unmarshal(body, out)
	}
	var sys struct {
		ID string `json:"id"`
	}
	if err := must(201, "/systems", obj{"name": "Upstream", "domain": "upstream.example", "templateBaseUrl": "https://api.upstream.example",
		"authSchemeConfigs": []any{scheme}}, &sys); err != nil {
		return "", err
	}
	var proj struct {
		ID           string `json:"id"`
		Environments []struct {
			ID string `json:"id"`
		} `json:"environments"`
	}
	if err := must(200, "/projects", obj{"name": "Bench"}, &proj); err != nil {
		return "", err
	}
	if len(proj.Environments) == 0 {
		return "", errors.New("the project has no environment")
	}
	var tpl struct {
		ID string `json:"connectionTemplateId"`
	}
	err := must(200, "/projects/"+proj.ID+"/connection-templates", obj{"systemId": sys.ID, "name": "upstream",
		"environmentId": proj.Environments[0].ID}, &tpl)
	return tpl.ID, err
}

// create creates one connection holding an API key and returns the answer's status.
func (a *apiClient) create(templateID, name string) (int, error) {
	st, _, err := a.post("/connections", obj{"connectionTemplateId": templateID, "connection": obj{"name": name,
		"credentials": []any{obj{"id": "00000000000000000000000000", "authSchemeConfig": scheme,
			"credential": obj{"type": "string", "data": obj{"string": obj{"value": "sk_bench_0123456789abcdef"}}}}}}})
	return st, err
}

// prepareDatabase returns the URL to measure on: a new schema on PostgreSQL, a temporary SQLite
// file otherwise, and a function that removes it.
func prepareDatabase(ctx context.Context, baseURL string) (string, func(), error) {
	if baseURL == "" {
		dir, err := os.MkdirTemp("", "plugboard-bench-")
		if err != nil {
			return "", nil, err
		}
		return filepath.Join(dir, "bench.db"), func() { os.RemoveAll(dir) }, nil
	}
	conn, err := pgx.Connect(ctx, baseURL)
	if err != nil {
		return "", nil, err
	}
	defer conn.Close(ctx)
	schema := "bench_" + strings.ToLower(ulid.Make().String())
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return "", nil, err
	}
	sep := "?"
	if strings.Contains(baseURL, "?") {
		sep = "&"
	}
	drop := func() {
		c, err := pgx.Connect(context.Background(), baseURL)
		if err != nil {
			log.Printf("drop schema %s: %v", schema, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			log.Printf("drop schema %s: %v", schema, err)
		}
	}
	return baseURL + sep + "search_path=" + schema, drop, nil
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)].Round(100 * time.Microsecond)
}
