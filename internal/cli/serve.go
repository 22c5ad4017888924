package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/plugboard/plugboard/internal/access"
	"github.com/plugboard/plugboard/internal/events"
	"github.com/plugboard/plugboard/internal/httpapi"
	"github.com/plugboard/plugboard/internal/oauth"
	"github.com/plugboard/plugboard/internal/outbound"
	"github.com/plugboard/plugboard/internal/sqlstore"
	"github.com/plugboard/plugboard/internal/telemetry"
	"github.com/plugboard/plugboard/internal/vault"
	"github.com/plugboard/plugboard/internal/webhooks"
)

// ShutdownTimeout bounds how long Serve waits for requests in flight once told to stop.
const ShutdownTimeout = 15 * time.Second

// setupServe returns what runs serve once its settings are loaded.
func setupServe(_ *flag.FlagSet, inv *invocation) func(context.Context) error {
	return func(ctx context.Context) error {
		cfg := inv.cfg
		cfg.Stdout, cfg.Stderr, cfg.Getenv = inv.stdout, inv.stderr, inv.getenv
		return Serve(ctx, cfg)
	}
}

// Serve runs the service until ctx ends, then stops it in order: the HTTP server first (requests
// in flight may finish, up to ShutdownTimeout, and the writes they left running, such as an API
// key's last use), then the background workers (change feed, refresher, expiry sweeper, purger, event pruner,
// rewrapper, webhook worker), each cancelled and waited for, then the store is closed. It returns
// once all of that is done.
//
// At start it opens the master keys (generating a key file in the data dir when none is
// configured), opens (and on SQLite migrates) the store, checks that the keys open everything
// stored, creates a default organisation on the first start, and logs which store, outbound
// policy and master key ids are in force.
func Serve(ctx context.Context, cfg Config) (err error) {
	logger, logOut := cfg.logger()
	// Deferred first, so it runs last: every line, down to the last one logged, is written.
	defer logOut.Close()
	getenv := cfg.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	tel, err := telemetry.Start(ctx, telemetry.Config{MetricsAddr: cfg.MetricsAddr, Getenv: getenv, Logger: logger})
	if err != nil {
		return err
	}
	// Deferred early, so it runs late: the spans of shutting down are sent too.
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := tel.Shutdown(sctx); err != nil {
			logger.Warn("telemetry shutdown", "err", err)
		}
	}()
	keys, createdKeyFile, err := loadKeys(cfg, logger)
	if err != nil {
		return err
	}
	store, err := sqlstore.OpenWith(ctx, cfg.databaseURL(), sqlstore.Options{Migrate: cfg.Migrate, SQLiteWriteWait: cfg.SQLiteWriteWait, Logger: logger,
		Tracing: tel.Tracing})
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	// Deferred calls run last first: the store closes after the workers have stopped.
	defer func() {
		if cerr := store.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close store: %w", cerr)
		}
		cfg.note("store closed")
	}()
	tel.Metrics.WatchStore(store)
	if err := checkKeys(ctx, store, keys); err != nil {
		if createdKeyFile != "" {
			// The key just generated seals nothing yet; leave the data dir as it was found.
			_ = os.Remove(createdKeyFile)
		}
		return err
	}
	stdout := cfg.Stdout
	if stdout == nil {
		stdout = io.Discard
	}
	if err := bootstrap(ctx, store, stdout, logger); err != nil {
		return err
	}

	ln := cfg.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Addr); err != nil {
			return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
		}
	}
	defer ln.Close()
	publicURL := cfg.PublicURL
	if publicURL == "" {
		publicURL = "http://" + ln.Addr().String()
	}
	outCfg := cfg.Outbound
	outCfg.Tracing = tel.Tracing
	out := outbound.New(outCfg)
	eventLog := events.New(events.Options{Metrics: tel.Metrics})
	svc := access.New(access.Config{Store: store, Keys: keys, OAuth: oauth.New(out), Skew: cfg.RefreshSkew, Events: eventLog,
		ForceRefreshInterval: cfg.Limits.ForceRefreshInterval, Metrics: tel.Metrics})

	// The workers' context is not ctx: they stop after the HTTP server, whose requests use them.
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	var workers sync.WaitGroup
	defer func() {
		stopWork()
		workers.Wait()
		cfg.note("workers stopped")
	}()
	start := func(name string, run func(context.Context)) {
		workers.Add(1)
		go func() {
			defer workers.Done()
			run(workCtx)
			cfg.note(name + " stopped")
		}()
	}
	start("refresher", func(ctx context.Context) { svc.RunRefresher(ctx, access.RefresherConfig{Logger: logger}) })
	start("sweeper", func(ctx context.Context) {
		svc.RunSweeper(ctx, access.SweeperConfig{ExpiringLead: cfg.CredentialExpiringLead, Logger: logger})
	})
	start("purger", func(ctx context.Context) { runPurger(ctx, store, cfg.OrgPurgeAfter, logger) })
	start("pruner", func(ctx context.Context) {
		events.RunPruner(ctx, store, events.PrunerConfig{Retention: cfg.EventRetention, Logger: logger})
	})
	start("rewrapper", func(ctx context.Context) {
		keys.RunRewrapper(ctx, store, vault.RewrapperConfig{Interval: cfg.RewrapInterval,
			RewrapOptions: vault.RewrapOptions{Rate: cfg.RewrapRate, Logger: logger}})
	})
	// Every replica runs a webhook worker: on PostgreSQL they share the work (SKIP LOCKED claims
	// with leases), on SQLite the one process serving the file does it all.
	worker := webhooks.New(webhooks.Config{Store: store, Vault: keys, Events: eventLog, Client: out.HTTPClient(nil), Logger: logger,
		Schedule: cfg.Webhooks.Schedule, DisableAfter: cfg.Webhooks.DisableAfter, Timeout: cfg.Webhooks.Timeout,
		Metrics: tel.Metrics})
	start("webhooks", worker.Run)

	proxyCfg := cfg.proxyOutbound()
	proxyCfg.Tracing = tel.Tracing
	var afterRequests sync.WaitGroup // writes requests leave running; waited for with the HTTP server
	api := httpapi.New(httpapi.Config{Store: store, Keys: keys, Logger: logger, Access: svc,
		Outbound: out, Proxy: outbound.New(proxyCfg), ProxyTimeout: proxyCfg.RequestTimeout, PublicURL: publicURL,
		ReturnURLOrigins: cfg.ReturnURLOrigins, ConnectSessionTTL: cfg.ConnectSessionTTL,
		KeyRateLimit: cfg.Limits.PerKey, ConnectionRateLimit: cfg.Limits.PerConnection, Events: eventLog,
		InboundMaxBodyBytes: cfg.Inbound.MaxBodyBytes, InboundEventBodyBytes: cfg.Inbound.EventBodyBytes,
		InboundRateLimit: cfg.Inbound.RateLimit, WebhookSecretOverlap: cfg.Webhooks.SecretOverlap,
		Background: &afterRequests, Metrics: tel.Metrics, Tracing: tel.Tracing,
		ProxyAccessLog: cfg.ProxyAccessLog})
	// Every replica's changes reach the opened-connection cache and the verified-key cache
	// (PostgreSQL; nothing on SQLite).
	start("change feed", func(ctx context.Context) { store.WatchChanges(ctx, api) })
	srv := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	logStart(logger, cfg, keys)
	logger.Info("listening", "addr", ln.Addr().String(), "database", redactURL(cfg.databaseURL()))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		afterRequests.Wait()
		cfg.note("http stopped")
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	serr := srv.Shutdown(shutdownCtx)
	if serr == nil {
		afterRequests.Wait() // no request runs now, so none adds to it
	}
	cfg.note("http stopped")
	if serr != nil {
		return fmt.Errorf("shutdown: %w", serr)
	}
	logger.Info("stopped")
	return nil
}

// logStart says which store, outbound policy and master keys are in force: key ids only.
func logStart(logger *slog.Logger, cfg Config, keys *vault.Vault) {
	url := cfg.databaseURL()
	kind := "sqlite"
	if sqlstore.IsPostgres(url) {
		kind = "postgres"
	}
	keySource := "file " + KeyFileName + " in the data dir"
	if cfg.EncryptionKey != "" {
		keySource = EnvEncryptionKey
	}
	cidrs := make([]string, len(cfg.Outbound.AllowCIDRs))
	for i, p := range cfg.Outbound.AllowCIDRs {
		cidrs[i] = netip.Prefix.String(p)
	}
	logger.Info("starting",
		"store", kind, "database", redactURL(url),
		"outbound_allow_private_networks", cfg.Outbound.AllowPrivateNetworks,
		"outbound_allow_cidrs", strings.Join(cidrs, ","),
		"outbound_ca_file", cfg.OutboundCAFile,
		"master_key_ids", strings.Join(keys.KeyIDs(), ","), "sealing_key_id", keys.PrimaryKeyID(),
		"master_keys_from", keySource)
}
