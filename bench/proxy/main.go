// Command proxy measures what Plugboard's proxy costs against a bare reverse proxy. In one run it
// starts, all on 127.0.0.1 and in this process:
//
//   - an upstream API answering a fixed ~200-byte JSON body, which checks the API key it is sent;
//   - a bare net/http/httputil.ReverseProxy in front of it, adding the key as one fixed header;
//   - Plugboard's real handler (httpapi.New) on a real store, with one connection whose credential
//     is an API key sent in a header, created through the API as a user would;
//
// and drives each with an in-process load generator over keep-alive connections: the upstream
// directly (for reference), the bare proxy, Plugboard's proxy and Plugboard's access endpoint,
// at each concurrency, interleaved in rounds (every other round in reverse order) so that drift
// affects every target alike. The last column counts the connections Plugboard read from the
// store for each target: the misses of its opened-connection cache.
//
//	go run ./bench/proxy
//	go run ./bench/proxy -database-url 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable'
//
// With a PostgreSQL URL it works in a schema of its own, dropped at the end (keep it with -keep).
// Without -database-url it uses an SQLite file in a temporary directory. With -cpuprofile it makes
// one more run of Plugboard's proxy at the highest concurrency, after the measured ones, under the
// CPU profiler; samples carry a pprof label "target" (plugboard, upstream, loadgen), so
//
//	go tool pprof -tagfocus=target=plugboard -top proxy.pprof
//
// shows the server's own costs. With -rate-limit RATE,BURST a second Plugboard handler on the same
// store, with that limit per API key and per connection, is measured in the same rounds (its
// proxy and access endpoint), to show what the limiter costs; set it high enough that nothing is
// refused, since any answer but 200 stops the run. With -metrics a Plugboard handler with Prometheus
// metrics on (internal/telemetry) is measured the same way, to show what they cost; without it the
// handlers measured have metrics off, as serve has without --metrics-addr. docs/benchmarks.md has
// the figures.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/access"
	"github.com/plugboard/plugboard/internal/benchkit"
	"github.com/plugboard/plugboard/internal/httpapi"
	"github.com/plugboard/plugboard/internal/logging"
	"github.com/plugboard/plugboard/internal/outbound"
	"github.com/plugboard/plugboard/internal/ratelimit"
	"github.com/plugboard/plugboard/internal/sqlstore"
	"github.com/plugboard/plugboard/internal/telemetry"
	"github.com/plugboard/plugboard/internal/vault"
)

// secret is the API key the connection holds and the bare proxy adds; the upstream refuses
// requests without it, so every measured answer proves the credential was applied.
const secret = "sk_bench_0123456789abcdef"

// upstreamBody is the upstream's answer: a small fixed JSON document.
var upstreamBody = []byte(`{"id":"01JBENCH000000000000000000","object":"customer","name":"Ada Lovelace",` +
	`"email":"ada@example.com","plan":"pro","active":true,"balance":1250,"currency":"EUR",` +
	`"created":"2026-01-01T00:00:00Z","tags":["a","b"]}`)

type config struct {
	url         string
	requests    []int
	concurrency []int
	rounds      int
	warmup      float64
	maxDuration time.Duration
	logFormat   string
	cpuprofile  string
	profile     string
	keep        bool
	rateLimit   ratelimit.Limit
	metrics     bool
	mtls        bool
	connections int
	logFile     string
	proxyLog    httpapi.ProxyAccessLog
}

func main() {
	var cfg config
	var requests, concurrency string
	flag.StringVar(&cfg.url, "database-url", "", "PostgreSQL URL; empty means an SQLite file in a temporary directory")
	flag.StringVar(&concurrency, "concurrency", "1,32", "comma-separated concurrency levels")
	flag.StringVar(&requests, "requests", "5000,20000", "measured requests per target at each concurrency level, in the same order (one value applies to all)")
	flag.IntVar(&cfg.rounds, "rounds", 4, "rounds the requests are split into; each round runs every target once, in turn")
	flag.Float64Var(&cfg.warmup, "warmup", 0.1, "warm-up requests per target before each concurrency level, as a fraction of its requests")
	flag.DurationVar(&cfg.maxDuration, "max-duration", 2*time.Minute, "bound on one target's measured time at one concurrency level")
	flag.StringVar(&cfg.logFormat, "log-format", "text", "Plugboard's request log: text or json (as plugboard serve), written to io.Discard; none disables it")
	flag.StringVar(&cfg.profile, "profile", "", "with -cpuprofile, profile the Plugboard proxy target whose name contains this (mTLS, round-robin) instead of the plain one")
	flag.StringVar(&cfg.cpuprofile, "cpuprofile", "", "write a CPU profile of an extra Plugboard proxy run at the highest concurrency to this file")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the PostgreSQL schema afterwards")
	flag.BoolVar(&cfg.mtls, "mtls", false, "also measure a connection with a client certificate against an upstream over TLS that requires it, and a bare proxy presenting the same certificate")
	flag.IntVar(&cfg.connections, "connections", 0, "also measure Plugboard's proxy over this many connections called round-robin (after a warm-up pass over all of them), and the first call of each of as many more connections as that case makes (the cold path: every call reads the store); 0 for none")
	flag.StringVar(&cfg.logFile, "log-file", "", "write Plugboard's request log to this file instead of discarding it (as a deployment logs to a file)")
	var proxyLog string
	flag.StringVar(&proxyLog, "proxy-access-log", "all", "which proxied calls Plugboard logs (as PLUGBOARD_PROXY_ACCESS_LOG): "+httpapi.ProxyAccessLogValues)
	var rateLimit string
	flag.StringVar(&rateLimit, "rate-limit", "", "also measure Plugboard with this limit per API key and per connection (RATE,BURST, as PLUGBOARD_RATE_LIMIT_PER_KEY); set it so that nothing is refused")
	flag.BoolVar(&cfg.metrics, "metrics", false, "also measure Plugboard with Prometheus metrics on (as serve --metrics-addr)")
	flag.Parse()
	var err error
	if cfg.proxyLog, err = httpapi.ParseProxyAccessLog(proxyLog); err != nil {
		log.Fatalf("-proxy-access-log: %v", err)
	}
	if cfg.rateLimit, err = ratelimit.Parse(rateLimit); err != nil {
		log.Fatalf("-rate-limit: %v", err)
	}
	if cfg.concurrency, err = intList(concurrency); err != nil {
		log.Fatalf("-concurrency: %v", err)
	}
	if cfg.requests, err = intList(requests); err != nil {
		log.Fatalf("-requests: %v", err)
	}
	switch {
	case len(cfg.requests) == 1:
		for len(cfg.requests) < len(cfg.concurrency) {
			cfg.requests = append(cfg.requests, cfg.requests[0])
		}
	case len(cfg.requests) != len(cfg.concurrency):
		log.Fatalf("-requests needs one value, or one per -concurrency level")
	}
	if cfg.rounds < 1 {
		log.Fatalf("-rounds must be at least 1")
	}
	if err := run(context.Background(), cfg); err != nil {
		log.Fatal(err)
	}
}

func intList(s string) ([]int, error) {
	var out []int
	for item := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(item))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive integer", item)
		}
		out = append(out, n)
	}
	return out, nil
}

// target is one thing the load generator drives.
type target struct {
	name   string
	method string
	url    string
	header http.Header
	body   []byte
	// urls, when set, are called round-robin instead of url.
	urls []string
	next atomic.Uint64
	// warmPass warms the target up with at least one call to each of urls.
	warmPass bool
	// fresh calls each of urls once, never again (the cold path): no warm-up, and the run fails
	// rather than come back to one already called.
	fresh bool
}

func (t *target) pick() string {
	if len(t.urls) == 0 {
		return t.url
	}
	i := t.next.Add(1) - 1
	if t.fresh && i >= uint64(len(t.urls)) {
		return "" // once fails on it
	}
	return t.urls[i%uint64(len(t.urls))]
}

func run(ctx context.Context, cfg config) error {
	profiling := cfg.cpuprofile != ""

	// The upstream API.
	var upstreamNew atomic.Int64
	upstreamHandler := labelled(profiling, "upstream", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.Header.Get("X-Api-Key") != secret {
			http.Error(w, `{"error":"unauthorised"}`, http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(upstreamBody)))
		_, _ = w.Write(upstreamBody)
	}))
	countNew := func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			upstreamNew.Add(1)
		}
	}
	upstreamURL, stopUpstream, err := serve(upstreamHandler, countNew, nil)
	if err != nil {
		return err
	}
	defer stopUpstream()

	// The bare reverse proxy: rewrite to the upstream, add one fixed header. Its transport keeps
	// as many idle upstream connections per host as Plugboard's outbound client (64), so that the
	// comparison is of the proxies, not of Go's default of 2 idle connections per host.
	up, err := url.Parse(upstreamURL)
	if err != nil {
		return err
	}
	bareTransport := http.DefaultTransport.(*http.Transport).Clone()
	bareTransport.MaxIdleConns, bareTransport.MaxIdleConnsPerHost = 256, 64
	bare := &httputil.ReverseProxy{Transport: bareTransport, Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(up)
		pr.Out.Header.Set("X-Api-Key", secret)
	}}
	bareURL, stopBare, err := serve(labelled(profiling, "bare", bare), nil, nil)
	if err != nil {
		return err
	}
	defer stopBare()

	// Plugboard on a real store.
	dbURL, cleanup, err := prepareDatabase(ctx, cfg)
	if err != nil {
		return err
	}
	defer cleanup()
	store, err := sqlstore.OpenWith(ctx, dbURL, sqlstore.Options{Migrate: true})
	if err != nil {
		return err
	}
	defer store.Close()
	keys, err := vault.Parse(vault.NewKey())
	if err != nil {
		return err
	}
	var logOut io.Writer = io.Discard
	if cfg.logFile != "" {
		f, err := os.Create(cfg.logFile)
		if err != nil {
			return err
		}
		defer f.Close()
		logOut = f
	}
	// The log is built as serve builds it (internal/logging), buffered.
	var logger *slog.Logger
	switch cfg.logFormat {
	case "text", "json":
		var w *logging.Writer
		logger, w = logging.New(logOut, cfg.logFormat)
		defer w.Close()
	case "none":
		logger = slog.New(slog.DiscardHandler)
	default:
		return fmt.Errorf("-log-format: %q is not text, json or none", cfg.logFormat)
	}
	// The upstream is on 127.0.0.1; nothing may be looked up in DNS.
	out := outbound.New(outbound.Config{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Resolver: outbound.NoDNSResolver()})
	// The handlers read the store through a counter of connection reads, which tells cache misses
	// of the opened-connection cache (each reads its connection once) from hits.
	counted := &countingStore{Store: store}
	pbHandler := httpapi.New(httpapi.Config{Store: counted, Keys: keys, Logger: logger, Outbound: out, Proxy: out,
		ProxyAccessLog: cfg.proxyLog})
	// The store's change feed (PostgreSQL) heard by the handler, as serve has it, so that opened
	// connections are kept as long as serve keeps them.
	if err := watchChanges(ctx, store, pbHandler, sqlstore.IsPostgres(dbURL)); err != nil {
		return err
	}
	pbURL, stopPB, err := serve(labelled(profiling, "plugboard", pbHandler), nil, nil)
	if err != nil {
		return err
	}
	defer stopPB()
	var limitedURL string
	if cfg.rateLimit.On() {
		limited := httpapi.New(httpapi.Config{Store: counted, Keys: keys, Logger: logger, Outbound: out, Proxy: out,
			KeyRateLimit: cfg.rateLimit, ConnectionRateLimit: cfg.rateLimit, ProxyAccessLog: cfg.proxyLog})
		var stop func()
		if limitedURL, stop, err = serve(labelled(profiling, "plugboard-limited", limited), nil, nil); err != nil {
			return err
		}
		defer stop()
	}
	var meteredURL string
	if cfg.metrics {
		metered := httpapi.New(httpapi.Config{Store: counted, Keys: keys, Logger: logger, Outbound: out, Proxy: out,
			Metrics: telemetry.NewMetrics()})
		var stop func()
		if meteredURL, stop, err = serve(labelled(profiling, "plugboard-metrics", metered), nil, nil); err != nil {
			return err
		}
		defer stop()
	}

	client := &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 1024,
		IdleConnTimeout:     2 * time.Minute,
		DisableCompression:  true,
	}}
	orgID, key, err := benchkit.CreateOrganisation(ctx, store, "bench-proxy")
	if err != nil {
		return err
	}
	api := &apiClient{client: client, base: pbURL + "/o/" + orgID.String(), key: key}
	connID, err := api.apiKeyConnection(upstreamURL, "Upstream", nil)
	if err != nil {
		return err
	}
	// The many-connection cases: cfg.connections connections called round-robin, and as many
	// more as the cold case calls in all (its check, its measured calls, a profiled run), each
	// called once.
	var manyURLs, freshURLs []string
	if cfg.connections > 1 {
		fresh := 1
		for _, n := range cfg.requests {
			fresh += n
		}
		if profiling {
			fresh += slices.Max(cfg.requests)
		}
		ids, err := copies(ctx, store, keys, orgID, connID, cfg.connections-1+fresh)
		if err != nil {
			return fmt.Errorf("creating %d connections: %w", cfg.connections+fresh, err)
		}
		for i, id := range ids {
			u := api.base + "/connections/" + id + "/proxy/v1/customers/42"
			if i < cfg.connections {
				manyURLs = append(manyURLs, u)
			} else {
				freshURLs = append(freshURLs, u)
			}
		}
	}
	// The mTLS case: the same upstream over TLS, requiring a client certificate the bench CA issued;
	// a bare proxy presenting it (64 idle connections per host, as above), and a connection holding
	// it beside the API key.
	var mtlsBareURL, mtlsConnID string
	if cfg.mtls {
		p, err := newPKI()
		if err != nil {
			return err
		}
		tlsUpstreamURL, stop, err := serve(upstreamHandler, countNew, &tls.Config{Certificates: []tls.Certificate{p.server},
			ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: p.pool, MinVersion: tls.VersionTLS12})
		if err != nil {
			return err
		}
		defer stop()
		tlsUp, err := url.Parse(tlsUpstreamURL)
		if err != nil {
			return err
		}
		mtlsTransport := bareTransport.Clone()
		mtlsTransport.TLSClientConfig = &tls.Config{Certificates: []tls.Certificate{p.client}, RootCAs: p.pool, MinVersion: tls.VersionTLS12}
		mtlsBare := &httputil.ReverseProxy{Transport: mtlsTransport, Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(tlsUp)
			pr.Out.Header.Set("X-Api-Key", secret)
		}}
		if mtlsBareURL, stop, err = serve(labelled(profiling, "bare", mtlsBare), nil, nil); err != nil {
			return err
		}
		defer stop()
		if mtlsConnID, err = api.apiKeyConnection(tlsUpstreamURL, "Upstream over mTLS", p); err != nil {
			return err
		}
	}

	bearer := http.Header{"Authorization": {"Bearer " + key}}
	targets := []*target{
		{name: "upstream, direct (reference)", method: "GET", url: upstreamURL + "/v1/customers/42", header: http.Header{"X-Api-Key": {secret}}},
		{name: "bare ReverseProxy", method: "GET", url: bareURL + "/v1/customers/42", header: http.Header{}},
		{name: "Plugboard proxy", method: "GET", url: api.base + "/connections/" + connID + "/proxy/v1/customers/42", header: bearer},
		{name: "Plugboard access (POST)", method: "POST", url: api.base + "/connections/" + connID + "/access",
			header: http.Header{"Authorization": {"Bearer " + key}, "Content-Type": {"application/json"}}, body: []byte(`{}`)},
	}
	if cfg.mtls {
		targets = append(targets,
			&target{name: "bare ReverseProxy, mTLS", method: "GET", url: mtlsBareURL + "/v1/customers/42", header: http.Header{}},
			&target{name: "Plugboard proxy, mTLS", method: "GET", url: api.base + "/connections/" + mtlsConnID + "/proxy/v1/customers/42", header: bearer})
	}
	if len(manyURLs) > 0 {
		targets = append(targets,
			&target{name: fmt.Sprintf("Plugboard proxy, %d connections round-robin", len(manyURLs)),
				method: "GET", urls: manyURLs, header: bearer, warmPass: true},
			&target{name: "Plugboard proxy, first call of each connection (cold)",
				method: "GET", urls: freshURLs, header: bearer, fresh: true})
	}
	if limitedURL != "" {
		limitedBase := limitedURL + "/o/" + orgID.String()
		targets = append(targets,
			&target{name: "Plugboard proxy, limits on", method: "GET", url: limitedBase + "/connections/" + connID + "/proxy/v1/customers/42", header: bearer},
			&target{name: "Plugboard access (POST), limits on", method: "POST", url: limitedBase + "/connections/" + connID + "/access",
				header: http.Header{"Authorization": {"Bearer " + key}, "Content-Type": {"application/json"}}, body: []byte(`{}`)})
	}
	if meteredURL != "" {
		meteredBase := meteredURL + "/o/" + orgID.String()
		targets = append(targets,
			&target{name: "Plugboard proxy, metrics on", method: "GET", url: meteredBase + "/connections/" + connID + "/proxy/v1/customers/42", header: bearer})
	}
	// Every target must answer as expected before anything is measured.
	for _, t := range targets {
		status, body, err := once(client, t)
		if err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
		if status != 200 {
			return fmt.Errorf("%s: status %d: %s", t.name, status, body)
		}
		if t.body == nil && !bytes.Equal(body, upstreamBody) {
			return fmt.Errorf("%s: unexpected body %s", t.name, body)
		}
		if t.body != nil && !bytes.Contains(body, []byte(secret)) {
			return fmt.Errorf("%s: the answer lacks the credential: %s", t.name, body)
		}
	}

	backend := "SQLite"
	if sqlstore.IsPostgres(dbURL) {
		backend = "PostgreSQL"
	}
	limits := ""
	if cfg.rateLimit.On() {
		limits = "; limits on: " + cfg.rateLimit.String() + " per key and per connection"
	}
	if cfg.metrics {
		limits += "; a handler with metrics on measured too"
	}
	fmt.Printf("# %s store; upstream answers %d bytes of JSON; %d rounds interleaved; GOMAXPROCS=%d; log %s%s\n\n",
		backend, len(upstreamBody), cfg.rounds, runtime.GOMAXPROCS(0), cfg.logFormat, limits)

	type row struct {
		t     *target
		c     int
		res   result
		conns int64
		reads int64
	}
	var rows []row
	byKey := map[string]result{}
	readsByKey := map[string]int64{}
	for i, c := range cfg.concurrency {
		n := cfg.requests[i]
		// Warm up: every target, at this concurrency, not counted.
		for _, t := range targets {
			warm := max(int(float64(n)*cfg.warmup), c)
			switch {
			case t.fresh:
				continue
			case t.warmPass:
				warm = max(warm, len(t.urls))
			}
			if _, err := load(client, t, warm, c, cfg.maxDuration, ""); err != nil {
				return fmt.Errorf("warm-up %s: %w", t.name, err)
			}
		}
		res := make([]result, len(targets))
		conns := make([]int64, len(targets))
		reads := make([]int64, len(targets))
		for round := range cfg.rounds {
			per := n / cfg.rounds
			if round < n%cfg.rounds {
				per++
			}
			// Every other round runs the targets in reverse order, so that no target always runs
			// right after the same one, or always first or last in a round, while the load on the
			// machine changes.
			order := make([]int, len(targets))
			for j := range order {
				order[j] = j
				if round%2 == 1 {
					order[j] = len(targets) - 1 - j
				}
			}
			for _, j := range order {
				t := targets[j]
				before, readsBefore := upstreamNew.Load(), counted.reads.Load()
				r, err := load(client, t, per, c, cfg.maxDuration/time.Duration(cfg.rounds), "")
				if err != nil {
					return fmt.Errorf("%s at concurrency %d: %w", t.name, c, err)
				}
				conns[j] += upstreamNew.Load() - before
				reads[j] += counted.reads.Load() - readsBefore
				res[j].add(r)
			}
		}
		for j, t := range targets {
			rows = append(rows, row{t: t, c: c, res: res[j], conns: conns[j], reads: reads[j]})
			byKey[fmt.Sprintf("%s/%d", t.name, c)] = res[j]
			readsByKey[fmt.Sprintf("%s/%d", t.name, c)] = reads[j]
		}
		log.Printf("concurrency %d done", c)
	}

	fmt.Println("| target | concurrency | requests | requests/s | p50 | p90 | p99 | upstream connections opened | connections read from the store |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		note := ""
		if r.res.stopped {
			note = " (stopped at -max-duration)"
		}
		fmt.Printf("| %s | %d | %d%s | %.0f | %s | %s | %s | %d | %d |\n", r.t.name, r.c, len(r.res.lat), note, r.res.rate(),
			pct(r.res.lat, 50), pct(r.res.lat, 90), pct(r.res.lat, 99), r.conns, r.reads)
	}
	fmt.Println()
	for _, c := range cfg.concurrency {
		b, p, a := byKey[fmt.Sprintf("bare ReverseProxy/%d", c)], byKey[fmt.Sprintf("Plugboard proxy/%d", c)], byKey[fmt.Sprintf("Plugboard access (POST)/%d", c)]
		ratio := p.rate() / b.rate()
		added := pct(p.lat, 50) - pct(b.lat, 50)
		fmt.Printf("concurrency %d: Plugboard proxy throughput %.2fx the bare proxy's (target >= 0.9x: %s); "+
			"added p50 %s (target < 0.5ms: %s); added p99 %s; access endpoint %.0f requests/s, p50 %s\n",
			c, ratio, verdict(ratio >= 0.9), added, verdict(added < 500*time.Microsecond), pct(p.lat, 99)-pct(b.lat, 99),
			a.rate(), pct(a.lat, 50))
		if cfg.mtls {
			mb, mp := byKey[fmt.Sprintf("bare ReverseProxy, mTLS/%d", c)], byKey[fmt.Sprintf("Plugboard proxy, mTLS/%d", c)]
			ratio := mp.rate() / mb.rate()
			fmt.Printf("concurrency %d, mTLS: Plugboard proxy throughput %.2fx the bare proxy's with the same certificate (target >= 0.8x: %s); added p50 %s\n",
				c, ratio, verdict(ratio >= 0.8), pct(mp.lat, 50)-pct(mb.lat, 50))
		}
		if len(manyURLs) > 0 {
			key := fmt.Sprintf("Plugboard proxy, %d connections round-robin/%d", len(manyURLs), c)
			m := byKey[key]
			ratio := m.rate() / b.rate()
			fmt.Printf("concurrency %d, %d connections round-robin: Plugboard proxy throughput %.2fx the bare proxy's (target >= 0.5x: %s); added p50 %s; %d of %d calls read their connection from the store\n",
				c, len(manyURLs), ratio, verdict(ratio >= 0.5), pct(m.lat, 50)-pct(b.lat, 50), readsByKey[key], len(m.lat))
			key = fmt.Sprintf("Plugboard proxy, first call of each connection (cold)/%d", c)
			m = byKey[key]
			fmt.Printf("concurrency %d, first call of each connection (cold): Plugboard proxy throughput %.2fx the bare proxy's; added p50 %s; %d of %d calls read their connection from the store\n",
				c, m.rate()/b.rate(), pct(m.lat, 50)-pct(b.lat, 50), readsByKey[key], len(m.lat))
		}
		if cfg.rateLimit.On() {
			lp, la := byKey[fmt.Sprintf("Plugboard proxy, limits on/%d", c)], byKey[fmt.Sprintf("Plugboard access (POST), limits on/%d", c)]
			fmt.Printf("concurrency %d, limits on: proxy throughput %.2fx limits off (target >= 0.95x: %s), added p50 %s; "+
				"access endpoint %.2fx, added p50 %s\n", c, lp.rate()/p.rate(), verdict(lp.rate()/p.rate() >= 0.95),
				pct(lp.lat, 50)-pct(p.lat, 50), la.rate()/a.rate(), pct(la.lat, 50)-pct(a.lat, 50))
		}
		if cfg.metrics {
			mp := byKey[fmt.Sprintf("Plugboard proxy, metrics on/%d", c)]
			fmt.Printf("concurrency %d, metrics on: proxy throughput %.2fx metrics off, added p50 %s, added p99 %s\n",
				c, mp.rate()/p.rate(), pct(mp.lat, 50)-pct(p.lat, 50), pct(mp.lat, 99)-pct(p.lat, 99))
		}
	}

	if profiling {
		c := slices.Max(cfg.concurrency)
		n := cfg.requests[slices.Index(cfg.concurrency, c)]
		f, err := os.Create(cfg.cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		profiled := targets[2]
		for _, t := range targets {
			if strings.HasPrefix(t.name, "Plugboard proxy, ") && strings.Contains(t.name, cfg.profile) {
				profiled = t
			}
		}
		r, err := load(client, profiled, n, c, cfg.maxDuration, "loadgen")
		pprof.StopCPUProfile()
		if err != nil {
			return err
		}
		log.Printf("CPU profile of %d requests of %s at concurrency %d (%.0f requests/s) in %s", len(r.lat), profiled.name, c, r.rate(), cfg.cpuprofile)
	}
	return nil
}

// watchChanges runs the store's change feed for w, as serve does, until ctx ends, and returns
// once the feed is heard (PostgreSQL) or at once (SQLite, which has none).
func watchChanges(ctx context.Context, store *sqlstore.DB, w plugboard.ChangeWatcher, postgres bool) error {
	if !postgres {
		go store.WatchChanges(ctx, w)
		return nil
	}
	heard := make(chan struct{})
	var once sync.Once
	go store.WatchChanges(ctx, firstWatching{w, func() { once.Do(func() { close(heard) }) }})
	select {
	case <-heard:
		return nil
	case <-time.After(30 * time.Second):
		return errors.New("the store's change feed did not start in 30s")
	}
}

// firstWatching passes the feed on and calls heard when it is watching.
type firstWatching struct {
	plugboard.ChangeWatcher
	heard func()
}

func (f firstWatching) Watching(on bool) {
	f.ChangeWatcher.Watching(on)
	if on {
		f.heard()
	}
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// serve starts h on a new 127.0.0.1 listener with the timeouts plugboard serve uses; over TLS
// when tlsConfig is set.
func serve(h http.Handler, connState func(net.Conn, http.ConnState), tlsConfig *tls.Config) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ConnState: connState,
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second,
		ErrorLog: log.New(io.Discard, "", 0)}
	scheme := "http://"
	if tlsConfig != nil {
		srv.TLSConfig = tlsConfig
		ln = tls.NewListener(ln, tlsConfig)
		scheme = "https://"
	}
	go func() { _ = srv.Serve(ln) }()
	return scheme + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// labelled tags the work of h with a pprof label when profiling, so a profile can be split by
// server; otherwise it returns h unchanged.
func labelled(on bool, name string, h http.Handler) http.Handler {
	if !on {
		return h
	}
	labels := pprof.Labels("target", name)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pprof.Do(r.Context(), labels, func(ctx context.Context) { h.ServeHTTP(w, r.WithContext(ctx)) })
	})
}

// result is what one load run measured.
type result struct {
	lat     []time.Duration
	elapsed time.Duration
	stopped bool
}

func (r *result) add(o result) {
	r.lat = append(r.lat, o.lat...)
	r.elapsed += o.elapsed
	r.stopped = r.stopped || o.stopped
}

func (r result) rate() float64 {
	if r.elapsed == 0 {
		return 0
	}
	return float64(len(r.lat)) / r.elapsed.Seconds()
}

// load sends n requests to t from c workers, each waiting for its answer before sending the
// next, and returns every request's latency. It stops early once maxDuration has passed.
func load(client *http.Client, t *target, n, c int, maxDuration time.Duration, label string) (result, error) {
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		stopped  atomic.Bool
	)
	lat := make([][]time.Duration, c)
	start := time.Now()
	deadline := start.Add(maxDuration)
	for w := range c {
		lat[w] = make([]time.Duration, 0, n/c+1)
		wg.Go(func() {
			work := func(context.Context) {
				for next.Add(1) <= int64(n) {
					if time.Now().After(deadline) {
						stopped.Store(true)
						return
					}
					t0 := time.Now()
					status, body, err := once(client, t)
					d := time.Since(t0)
					if err == nil && status != 200 {
						err = fmt.Errorf("status %d: %s", status, body)
					}
					if err != nil {
						mu.Lock()
						if firstErr == nil {
							firstErr = err
						}
						mu.Unlock()
						return
					}
					lat[w] = append(lat[w], d)
				}
			}
			if label != "" {
				pprof.Do(context.Background(), pprof.Labels("target", label), work)
			} else {
				work(context.Background())
			}
		})
	}
	wg.Wait()
	r := result{elapsed: time.Since(start), stopped: stopped.Load()}
	for _, l := range lat {
		r.lat = append(r.lat, l...)
	}
	return r, firstErr
}

// countingStore counts the connections read from the store (GetConnection outside a transaction):
// each is a miss of the opened-connection cache.
type countingStore struct {
	plugboard.Store
	reads atomic.Int64
}

func (s *countingStore) GetConnection(ctx context.Context, orgID, id ulid.ULID) (*plugboard.Connection, error) {
	s.reads.Add(1)
	return s.Store.GetConnection(ctx, orgID, id)
}

// once sends one request of t and reads the whole answer.
func once(client *http.Client, t *target) (int, []byte, error) {
	var body io.Reader
	if t.body != nil {
		body = bytes.NewReader(t.body)
	}
	u := t.pick()
	if u == "" {
		return 0, nil, fmt.Errorf("%s: every connection was called already", t.name)
	}
	req, err := http.NewRequest(t.method, u, body)
	if err != nil {
		return 0, nil, err
	}
	for k, v := range t.header {
		req.Header[k] = v
	}
	res, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	return res.StatusCode, data, err
}

// apiClient calls Plugboard's API as the organisation.
type apiClient struct {
	client *http.Client
	base   string // .../o/{org}
	key    string
}

func (a *apiClient) do(method, path string, in, out any, want int) error {
	data, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequest(method, a.base+path, bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.key)
	req.Header.Set("Content-Type", "application/json")
	res, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode != want {
		return fmt.Errorf("%s %s: status %d, want %d: %s", method, path, res.StatusCode, want, body)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(body, out)
}

type obj = map[string]any

// apiKeyConnection creates, through the API, a system at base taking an API key in the X-Api-Key
// header, a project, a template and a connection holding secret, and returns the connection's id.
// With cert, the system takes a client certificate too and the connection holds cert's.
func (a *apiClient) apiKeyConnection(base, name string, cert *pki) (string, error) {
	scheme := obj{"type": "api-key", "apiKey": obj{"id": "api-key", "description": "key in header", "name": "X-Api-Key", "in": "header"}}
	schemes := []any{scheme}
	creds := []any{obj{"id": "00000000000000000000000000", "authSchemeConfig": scheme,
		"credential": obj{"type": "string", "data": obj{"string": obj{"value": secret}}}}}
	if cert != nil {
		certScheme := obj{"type": "certificate", "certificate": obj{"id": "cert", "description": "client certificate"}}
		schemes = append(schemes, certScheme)
		creds = append(creds, obj{"id": "00000000000000000000000000", "authSchemeConfig": certScheme,
			"credential": obj{"type": "certificate", "data": obj{"certificate": obj{"certificate": cert.clientPEM, "key": cert.clientKeyPEM, "ca": cert.caPEM}}}})
	}
	var sys struct {
		ID string `json:"id"`
	}
	if err := a.do("POST", "/systems", obj{"name": name, "domain": "upstream.example", "templateBaseUrl": base,
		"authSchemeConfigs": schemes}, &sys, 201); err != nil {
		return "", err
	}
	var proj struct {
		ID           string `json:"id"`
		Environments []struct {
			ID string `json:"id"`
		} `json:"environments"`
	}
	if err := a.do("POST", "/projects", obj{"name": name}, &proj, 200); err != nil {
		return "", err
	}
	if len(proj.Environments) == 0 {
		return "", errors.New("the project has no environment")
	}
	var tpl struct {
		ID string `json:"connectionTemplateId"`
	}
	if err := a.do("POST", "/projects/"+proj.ID+"/connection-templates", obj{"systemId": sys.ID, "name": "upstream",
		"environmentId": proj.Environments[0].ID}, &tpl, 200); err != nil {
		return "", err
	}
	var conn struct {
		ID string `json:"id"`
	}
	err := a.do("POST", "/connections", obj{"connectionTemplateId": tpl.ID, "connection": obj{"name": "bench",
		"credentials": creds}}, &conn, 201)
	return conn.ID, err
}

// copies adds n connections like the one given (same template, a copy of each credential sealed
// anew) in bulk, and returns their ids with its own first: for the round-robin case, whose
// connections would take minutes to create through the API.
func copies(ctx context.Context, store *sqlstore.DB, keys *vault.Vault, orgID ulid.ULID, connID string, n int) ([]string, error) {
	id, err := ulid.Parse(connID)
	if err != nil {
		return nil, err
	}
	orig, err := store.GetConnection(ctx, orgID, id)
	if err != nil {
		return nil, err
	}
	ids := []string{connID}
	now := time.Now().UTC().Truncate(time.Microsecond)
	var batch []plugboard.Connection
	for i := range n {
		c := plugboard.Connection{ID: ulid.Make(), OrganisationID: orgID, TemplateID: orig.TemplateID, SystemID: orig.SystemID,
			Name: fmt.Sprintf("bench-%d", i), BaseURL: orig.BaseURL, CreatedAt: now, UpdatedAt: now}
		for _, cc := range orig.Credentials {
			cred := cc.Credential
			secrets, err := access.OpenSecrets(keys, &cred)
			if err != nil {
				return nil, err
			}
			cred.ID, cred.CreatedAt, cred.UpdatedAt, cred.Sealed = ulid.Make(), now, now, nil
			if secrets != nil {
				if cred.Sealed, err = keys.SealCredential(orgID, cred.ID, secrets); err != nil {
					return nil, err
				}
			}
			c.Credentials = append(c.Credentials, plugboard.ConnectionCredential{ID: ulid.Make(), AuthSchemeConfigID: cc.AuthSchemeConfigID, Credential: cred})
		}
		batch = append(batch, c)
		ids = append(ids, c.ID.String())
		if len(batch) == 2000 || i == n-1 {
			if err := store.BulkInsertConnections(ctx, batch); err != nil {
				return nil, err
			}
			batch = batch[:0]
		}
	}
	return ids, nil
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

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)].Round(time.Microsecond)
}
