// Package cli implements the plugboard command: `serve` and the administrative commands that
// work on the same store (`migrate`, `orgs ...`, `api-keys ...`, `master-keys ...`), all listed in one table
// (commands.go) that dispatch and every help text read. Configuration comes from flags, each
// with an environment variable as its default, into an explicit Config; nothing is global.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/access"
	"github.com/plugboard/plugboard/internal/apikey"
	"github.com/plugboard/plugboard/internal/events"
	"github.com/plugboard/plugboard/internal/httpapi"
	"github.com/plugboard/plugboard/internal/oauth"
	"github.com/plugboard/plugboard/internal/outbound"
	"github.com/plugboard/plugboard/internal/sqlstore"
	"github.com/plugboard/plugboard/internal/vault"
)

// Environment variables read by the command.
const (
	EnvAddr          = "PLUGBOARD_ADDR"
	EnvDataDir       = "PLUGBOARD_DATA_DIR"
	EnvDatabaseURL   = "PLUGBOARD_DATABASE_URL"
	EnvEncryptionKey = "PLUGBOARD_ENCRYPTION_KEY"
	EnvLogFormat     = "PLUGBOARD_LOG_FORMAT"
	EnvPublicURL     = "PLUGBOARD_PUBLIC_URL"
	// EnvReturnURLOrigins lists, comma-separated, the origins OAuth flows may return browsers to.
	EnvReturnURLOrigins = "PLUGBOARD_RETURN_URL_ORIGINS"
)

// Defaults.
const (
	DefaultAddr    = "127.0.0.1:8901"
	DefaultDataDir = "./data"
	// KeyFileName is the master key file generated in the data dir when no key is configured.
	KeyFileName = "master.key"
	// DatabaseFileName is the SQLite file in the data dir when no database URL is configured.
	DatabaseFileName = "plugboard.db"
)

// Config is everything the commands read from flags and the environment.
type Config struct {
	Addr          string
	PublicURL     string
	DataDir       string
	DatabaseURL   string
	EncryptionKey string
	LogFormat     string
	// Limits are serve's rate limits and forced-refresh bound (limits.go), from the environment.
	Limits LimitsConfig
	// CredentialExpiringLead is how long before a credential's expiresAt serve emits
	// credential.expiring, as given (a duration; "0" or "off" for never).
	CredentialExpiringLead string
	// Inbound are the inbound webhook endpoint's sizes and rate limit (inbound.go).
	Inbound InboundConfig
}

// databaseURL returns the configured URL, or the SQLite file in the data dir.
func (c Config) databaseURL() string {
	if c.DatabaseURL != "" {
		return c.DatabaseURL
	}
	return filepath.Join(c.DataDir, DatabaseFileName)
}

// describe renders an error for a terminal: the domain message and details, not the Go chain.
func describe(err error) string {
	var e *plugboard.Error
	if errors.As(err, &e) && e.Code != plugboard.EInternal {
		if e.Details != "" {
			return e.Message + ": " + e.Details
		}
		return e.Message
	}
	return err.Error()
}

// storeFlags registers the flags every command that opens the store takes.
func storeFlags(fs *flag.FlagSet, cfg *Config, getenv func(string) string) {
	fs.StringVar(&cfg.DataDir, "data-dir", envOr(getenv, EnvDataDir, DefaultDataDir), "directory `DIR` of the SQLite file and the generated master key (env "+EnvDataDir+")")
	fs.StringVar(&cfg.DatabaseURL, "database-url", getenv(EnvDatabaseURL), "database `URL`: postgres://... or an SQLite file path; default DATA_DIR/"+DatabaseFileName+" (env "+EnvDatabaseURL+")")
}

func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

func newLogger(w io.Writer, format string) *slog.Logger {
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// loadKeys returns the master keyring: PLUGBOARD_ENCRYPTION_KEY if set, else a key file in the
// data dir, generated on first use. createdFile is the path of a key file it generated, "" if none.
func loadKeys(cfg Config, logger *slog.Logger) (kr *vault.Vault, createdFile string, err error) {
	if cfg.EncryptionKey != "" {
		kr, err := vault.Parse(cfg.EncryptionKey)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", EnvEncryptionKey, err)
		}
		return kr, "", nil
	}
	path := filepath.Join(cfg.DataDir, KeyFileName)
	kr, created, err := vault.LoadOrCreateFile(path)
	if err != nil {
		return nil, "", err
	}
	msg := "using the master key file in the data dir"
	if created {
		msg = "generated a master key file in the data dir"
	}
	logger.Warn(msg, "path", path, "key_id", kr.PrimaryKeyID(),
		"why", "whoever can read this file and the database can read every stored secret; in production set "+EnvEncryptionKey+" from a secret manager and keep the key away from the database")
	if created {
		return kr, path, nil
	}
	return kr, "", nil
}

// setupServe registers serve's flags and returns what runs it.
func setupServe(fs *flag.FlagSet, inv *invocation) func(context.Context) error {
	cfg, getenv := &inv.cfg, inv.getenv
	fs.StringVar(&cfg.Addr, "addr", envOr(getenv, EnvAddr, DefaultAddr), "address `ADDR` to listen on (env "+EnvAddr+")")
	storeFlags(fs, cfg, getenv)
	fs.StringVar(&cfg.LogFormat, "log-format", envOr(getenv, EnvLogFormat, "text"), "log `FORMAT`: text or json (env "+EnvLogFormat+")")
	fs.StringVar(&cfg.PublicURL, "public-url", getenv(EnvPublicURL), "base `URL` browsers and webhook senders reach this server at, for the OAuth callbacks and inbound webhook URLs; default http://ADDR (env "+EnvPublicURL+")")
	fs.StringVar(&cfg.CredentialExpiringLead, "credential-expiring-lead", envOr(getenv, EnvCredentialExpiringLead, access.DefaultExpiringLead.String()),
		"emit credential.expiring this `DURATION` before a credential's expiresAt; 0 or off for never (env "+EnvCredentialExpiringLead+")")
	migrateFirst := fs.Bool("migrate", false, "apply pending PostgreSQL migrations before serving (SQLite always migrates)")
	inbound := inboundFlags(fs, getenv)
	return func(ctx context.Context) error {
		in, err := inbound()
		if err != nil {
			return err
		}
		cfg.Inbound = in
		return runServe(ctx, *cfg, *migrateFirst, inv.stdout, inv.stderr, getenv)
	}
}

func runServe(ctx context.Context, cfg Config, migrateFirst bool, stdout, stderr io.Writer, getenv func(string) string) error {
	cfg.EncryptionKey = getenv(EnvEncryptionKey)
	limits, err := limitsFromEnv(getenv)
	if err != nil {
		return err
	}
	cfg.Limits = limits
	expiringLead, err := parseExpiringLead(cfg.CredentialExpiringLead)
	if err != nil {
		return err
	}
	logger := newLogger(stderr, cfg.LogFormat)

	keys, createdKeyFile, err := loadKeys(cfg, logger)
	if err != nil {
		return err
	}
	writeWait, err := durationEnv(getenv, EnvSQLiteWriteWait, sqlstore.DefaultSQLiteWriteWait)
	if err != nil {
		return err
	}
	store, err := sqlstore.OpenWith(ctx, cfg.databaseURL(), sqlstore.Options{Migrate: migrateFirst, SQLiteWriteWait: writeWait, Logger: logger})
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer store.Close()
	if err := checkKeys(ctx, store, keys); err != nil {
		if createdKeyFile != "" {
			// The key just generated seals nothing yet; leave the data dir as it was found.
			_ = os.Remove(createdKeyFile)
		}
		return err
	}
	if err := bootstrap(ctx, store, stdout, logger); err != nil {
		return err
	}
	grace, err := purgeAfter(getenv)
	if err != nil {
		return err
	}
	retention, err := durationEnv(getenv, EnvEventRetention, events.DefaultRetention)
	if err != nil {
		return err
	}

	outCfg, err := outbound.ConfigFromEnv(getenv)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	publicURL := cfg.PublicURL
	if publicURL == "" {
		publicURL = "http://" + ln.Addr().String()
	}
	proxyCfg, err := proxyConfig(outCfg, getenv)
	if err != nil {
		return err
	}
	out := outbound.New(outCfg)
	skew, err := durationEnv(getenv, EnvRefreshSkew, access.DefaultSkew)
	if err != nil {
		return err
	}
	eventLog := events.New(events.Options{})
	svc := access.New(access.Config{Store: store, Keys: keys, OAuth: oauth.New(out), Skew: skew, Events: eventLog,
		ForceRefreshInterval: cfg.Limits.ForceRefreshInterval})
	refresherCtx, stopRefresher := context.WithCancel(ctx)
	defer stopRefresher()
	go svc.RunRefresher(refresherCtx, access.RefresherConfig{Logger: logger})
	go svc.RunSweeper(refresherCtx, access.SweeperConfig{ExpiringLead: expiringLead, Logger: logger})
	go runPurger(refresherCtx, store, grace, logger)
	go events.RunPruner(refresherCtx, store, events.PrunerConfig{Retention: retention, Logger: logger})
	if err := startRewrapper(refresherCtx, store, keys, getenv, logger); err != nil {
		return err
	}
	whSettings, err := webhookSettingsFromEnv(getenv)
	if err != nil {
		return err
	}
	webhookCtx, stopWebhooks := context.WithCancel(ctx)
	waitWebhooks := startWebhooks(webhookCtx, store, keys, eventLog, out, whSettings, logger)
	defer func() {
		stopWebhooks()
		waitWebhooks()
	}()
	srv := &http.Server{
		Handler: httpapi.New(httpapi.Config{Store: store, Keys: keys, Logger: logger, Access: svc,
			Outbound: out, Proxy: outbound.New(proxyCfg), ProxyTimeout: proxyCfg.RequestTimeout, PublicURL: publicURL,
			ReturnURLOrigins: strings.Split(getenv(EnvReturnURLOrigins), ","),
			KeyRateLimit:     cfg.Limits.PerKey, ConnectionRateLimit: cfg.Limits.PerConnection, Events: eventLog,
			InboundMaxBodyBytes: cfg.Inbound.MaxBodyBytes, InboundEventBodyBytes: cfg.Inbound.EventBodyBytes,
			InboundRateLimit: cfg.Inbound.RateLimit, WebhookSecretOverlap: whSettings.secretOverlap}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	logger.Info("listening", "addr", ln.Addr().String(), "database", redactURL(cfg.databaseURL()))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// EnvEventRetention is how long events are kept (default 720h, 30 days).
const EnvEventRetention = "PLUGBOARD_EVENT_RETENTION"

// EnvSQLiteWriteWait bounds how long an SQLite write waits for its turn (default 10s); past it the
// request answers 503 unavailable with Retry-After.
const EnvSQLiteWriteWait = "PLUGBOARD_SQLITE_WRITE_WAIT"

// EnvRefreshSkew is how long before expiry tokens are refreshed when used (default 60s).
const EnvRefreshSkew = "PLUGBOARD_REFRESH_SKEW"

// EnvCredentialExpiringLead is --credential-expiring-lead's variable.
const EnvCredentialExpiringLead = "PLUGBOARD_CREDENTIAL_EXPIRING_LEAD"

// parseExpiringLead reads --credential-expiring-lead: a positive duration, or "0"/"off" for never
// (access.SweeperConfig: negative).
func parseExpiringLead(v string) (time.Duration, error) {
	if v == "0" || strings.EqualFold(v, "off") {
		return -1, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("--credential-expiring-lead (%s): %q is not a duration such as 72h (0 or off for never)", EnvCredentialExpiringLead, v)
	}
	return d, nil
}

func durationEnv(getenv func(string) string, name string, def time.Duration) (time.Duration, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s: %q is not a positive duration such as 30s", name, v)
	}
	return d, nil
}

// Proxy limits: a proxied call may take longer and return more than a token request.
const (
	EnvProxyTimeout          = "PLUGBOARD_PROXY_TIMEOUT"
	EnvProxyMaxResponseBytes = "PLUGBOARD_PROXY_MAX_RESPONSE_BYTES"
	DefaultProxyTimeout      = 5 * time.Minute
	DefaultProxyMaxResponse  = 1 << 30
)

// proxyConfig is the outbound configuration for the proxy: the same guard, its own limits.
func proxyConfig(base outbound.Config, getenv func(string) string) (outbound.Config, error) {
	cfg := base
	cfg.RequestTimeout, cfg.ResponseHeaderTimeout, cfg.MaxResponseBytes = DefaultProxyTimeout, DefaultProxyTimeout, DefaultProxyMaxResponse
	if v := getenv(EnvProxyTimeout); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return cfg, fmt.Errorf("%s: %q is not a positive duration such as 2m", EnvProxyTimeout, v)
		}
		cfg.RequestTimeout, cfg.ResponseHeaderTimeout = d, d
	}
	if v := getenv(EnvProxyMaxResponseBytes); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return cfg, fmt.Errorf("%s: %q is not a positive number of bytes", EnvProxyMaxResponseBytes, v)
		}
		cfg.MaxResponseBytes = n
	}
	return cfg, nil
}

// redactURL drops any password from a database URL before it is logged.
func redactURL(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		rest := u[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			cred := rest[:at]
			if c := strings.Index(cred, ":"); c >= 0 {
				cred = cred[:c] + ":xxxxx"
			}
			return u[:i+3] + cred + rest[at:]
		}
	}
	return u
}

// bootstrap creates a default organisation and an API key when the store has no organisation, and
// prints them once on stdout (never to the log).
func bootstrap(ctx context.Context, store plugboard.Store, stdout io.Writer, logger *slog.Logger) error {
	n, err := store.CountOrganisations(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	org, key, err := createOrganisation(ctx, store, "default")
	if err != nil {
		return err
	}
	logger.Info("created the default organisation", "organisation_id", org.ID.String())
	fmt.Fprintf(stdout, "Plugboard created a default organisation on first start.\n"+
		"  organisation id: %s\n"+
		"  API key:         %s\n"+
		"The key is shown once; keep it. Create more with: plugboard api-keys create --org %s\n",
		org.ID, key, org.ID)
	return nil
}

// createOrganisation creates an organisation and its first API key in one transaction.
func createOrganisation(ctx context.Context, store plugboard.Store, name string) (*plugboard.Organisation, string, error) {
	org := &plugboard.Organisation{ID: ulid.Make(), Name: name, CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	var key string
	err := store.InTx(ctx, func(tx plugboard.Store) error {
		if err := tx.CreateOrganisation(ctx, org); err != nil {
			return err
		}
		var err error
		key, err = createAPIKey(ctx, tx, org.ID)
		return err
	})
	return org, key, err
}

func createAPIKey(ctx context.Context, store plugboard.Store, orgID ulid.ULID, scopes ...string) (string, error) {
	key, id, hash, err := apikey.New(orgID)
	if err != nil {
		return "", err
	}
	k := &plugboard.APIKey{ID: id, OrganisationID: orgID, Hash: hash, Scopes: scopes, CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	if err := store.CreateAPIKey(ctx, k); err != nil {
		return "", err
	}
	return key, nil
}

// parseScopes reads the value of --scopes. A key with no scopes may do everything, so a value that
// names none (blank, only commas) or has an empty item is refused rather than read as "all": an
// operator who passes --scopes meant to restrict the key.
func parseScopes(value string) ([]string, error) {
	known := strings.Join(httpapi.Scopes, ", ")
	invalid := func(msg string) error {
		return &plugboard.Error{Code: plugboard.EInvalid, Message: "--scopes " + msg,
			Fields:  []plugboard.FieldError{{Field: "--scopes", Message: msg}},
			Details: "known scopes: " + known + "; leave --scopes out for a key that may do everything"}
	}
	if strings.TrimSpace(value) == "" {
		return nil, invalid("names no scope")
	}
	var out []string
	for _, sc := range strings.Split(value, ",") {
		sc = strings.TrimSpace(sc)
		switch {
		case sc == "":
			return nil, invalid("has an empty item")
		case !slices.Contains(httpapi.Scopes, sc):
			return nil, invalid(fmt.Sprintf("names an unknown scope %q", sc))
		case !slices.Contains(out, sc):
			out = append(out, sc)
		}
	}
	return out, nil
}
