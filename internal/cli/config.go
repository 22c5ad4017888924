package cli

import (
	"github.com/plugboard/plugboard/internal/httpapi"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/plugboard/plugboard/internal/logging"
	"github.com/plugboard/plugboard/internal/outbound"
	"github.com/plugboard/plugboard/internal/ratelimit"
)

// Environment variables that code outside the settings table names (in errors and help). Every
// variable is in the table (settings.go); a constant is only needed where other code names it.
const (
	EnvAddr          = "PLUGBOARD_ADDR"
	EnvDataDir       = "PLUGBOARD_DATA_DIR"
	EnvDatabaseURL   = "PLUGBOARD_DATABASE_URL"
	EnvEncryptionKey = "PLUGBOARD_ENCRYPTION_KEY"
	EnvLogFormat     = "PLUGBOARD_LOG_FORMAT"
	EnvPublicURL     = "PLUGBOARD_PUBLIC_URL"
	// EnvProxyAccessLog says which proxied calls the request log records (httpapi.ProxyAccessLog).
	EnvProxyAccessLog = "PLUGBOARD_PROXY_ACCESS_LOG"
	EnvMigrate        = "PLUGBOARD_MIGRATE"
	// EnvReturnURLOrigins lists, comma-separated, the origins OAuth flows may return browsers to.
	EnvReturnURLOrigins = "PLUGBOARD_RETURN_URL_ORIGINS"
	// EnvConnectSessionTTL is how long a connect session for the hosted connect page lasts.
	EnvConnectSessionTTL = "PLUGBOARD_CONNECT_SESSION_TTL"
	// EnvEventRetention is how long events are kept (default 720h, 30 days).
	EnvEventRetention = "PLUGBOARD_EVENT_RETENTION"
	// EnvSQLiteWriteWait bounds how long an SQLite write waits for its turn (default 10s).
	EnvSQLiteWriteWait = "PLUGBOARD_SQLITE_WRITE_WAIT"
	// EnvRefreshSkew is how long before expiry tokens are refreshed when used (default 60s).
	EnvRefreshSkew = "PLUGBOARD_REFRESH_SKEW"
	// EnvCredentialExpiringLead is --credential-expiring-lead's variable.
	EnvCredentialExpiringLead = "PLUGBOARD_CREDENTIAL_EXPIRING_LEAD"
	// EnvOrgPurgeAfter is how long a deleted organisation's records are kept before they are purged.
	EnvOrgPurgeAfter = "PLUGBOARD_ORG_PURGE_AFTER"

	// Proxy limits: a proxied call may take longer and return more than a token request.
	EnvProxyTimeout          = "PLUGBOARD_PROXY_TIMEOUT"
	EnvProxyMaxResponseBytes = "PLUGBOARD_PROXY_MAX_RESPONSE_BYTES"

	// EnvRateLimitPerKey is "RATE[,BURST]": requests per second per API key, with an optional burst
	// (default: the rate rounded up). Unset, "0" or "off": no limit.
	EnvRateLimitPerKey = "PLUGBOARD_RATE_LIMIT_PER_KEY"
	// EnvRateLimitPerConnection is the same for proxied calls per connection.
	EnvRateLimitPerConnection = "PLUGBOARD_RATE_LIMIT_PER_CONNECTION"
	// EnvForceRefreshInterval is the least time between forced refreshes of one credential
	// (default 10s; "0" removes the bound).
	EnvForceRefreshInterval = "PLUGBOARD_FORCE_REFRESH_INTERVAL"

	// EnvRewrapInterval is how often serve looks for a requested rewrap (default 30s).
	EnvRewrapInterval = "PLUGBOARD_REWRAP_INTERVAL"
	// EnvRewrapRate caps the values a background rewrap re-seals per second (default 200).
	EnvRewrapRate = "PLUGBOARD_REWRAP_RATE"

	EnvWebhookRetrySchedule = "PLUGBOARD_WEBHOOK_RETRY_SCHEDULE"
	EnvWebhookDisableAfter  = "PLUGBOARD_WEBHOOK_DISABLE_AFTER"
	EnvWebhookSecretOverlap = "PLUGBOARD_WEBHOOK_SECRET_OVERLAP"
	EnvWebhookTimeout       = "PLUGBOARD_WEBHOOK_TIMEOUT"

	// EnvInboundMaxBodyBytes bounds a delivery's body (413 above it, before verification).
	EnvInboundMaxBodyBytes = "PLUGBOARD_INBOUND_MAX_BODY_BYTES"
	// EnvInboundEventBodyBytes is how much of a delivery's body its inbound.received event keeps.
	EnvInboundEventBodyBytes = "PLUGBOARD_INBOUND_EVENT_BODY_BYTES"
	// EnvInboundRateLimit is "RATE[,BURST]": verified deliveries per second per connection, per
	// process, as the other rate limits. Unset, "0" or "off": no limit.
	EnvInboundRateLimit = "PLUGBOARD_INBOUND_RATE_LIMIT_PER_CONNECTION"
)

// Defaults that are not another package's.
const (
	DefaultAddr    = "127.0.0.1:8901"
	DefaultDataDir = "./data"
	// KeyFileName is the master key file generated in the data dir when no key is configured.
	KeyFileName = "master.key"
	// DatabaseFileName is the SQLite file in the data dir when no database URL is configured.
	DatabaseFileName = "plugboard.db"

	DefaultProxyTimeout     = 5 * time.Minute
	DefaultProxyMaxResponse = 1 << 30

	// DefaultOrgPurgeAfter is the grace period of deleted organisations: 30 days.
	DefaultOrgPurgeAfter = 30 * 24 * time.Hour
	// defaultOrgPurgeAfterText is DefaultOrgPurgeAfter as the help texts write it.
	defaultOrgPurgeAfterText = "720h (30 days)"

	// DefaultRewrapInterval is EnvRewrapInterval's default.
	DefaultRewrapInterval = 30 * time.Second
	// DefaultRewrapRate is EnvRewrapRate's default, and --rate's.
	DefaultRewrapRate = 200
)

// Config is everything the commands read from flags and the environment, loaded once per
// invocation from the settings table (settings.go), each field by its one entry there; LoadConfig
// loads serve's. The fields after the settings are not settings: whoever calls Serve sets them.
type Config struct {
	Addr          string
	PublicURL     string
	DataDir       string
	DatabaseURL   string
	EncryptionKey string // secret: from the environment only, never logged
	LogFormat     string
	// Migrate applies pending PostgreSQL migrations before serving.
	Migrate bool

	// Outbound is the guard and limits for calls to providers: AllowPrivateNetworks, AllowCIDRs
	// and RootCAs (from OutboundCAFile) are settings, the rest outbound's defaults.
	Outbound       outbound.Config
	OutboundCAFile string
	// ReturnURLOrigins are the origins OAuth flows may return browsers to, besides our own.
	ReturnURLOrigins []string
	// ConnectSessionTTL is how long a connect session lasts.
	ConnectSessionTTL time.Duration
	// ProxyTimeout and ProxyMaxResponseBytes are the proxy's limits (the same guard).
	ProxyTimeout          time.Duration
	ProxyMaxResponseBytes int64

	// RefreshSkew is how long before its expiry a token is refreshed when used.
	RefreshSkew time.Duration
	// Limits are serve's rate limits and forced-refresh bound.
	Limits LimitsConfig
	// CredentialExpiringLead is how long before a credential's expiresAt serve emits
	// credential.expiring; negative for never.
	CredentialExpiringLead time.Duration
	// OrgPurgeAfter is the grace period of deleted organisations.
	OrgPurgeAfter time.Duration
	// EventRetention is how long events are kept.
	EventRetention time.Duration
	// SQLiteWriteWait bounds an SQLite write's wait in the write queue.
	SQLiteWriteWait time.Duration
	// RewrapInterval and RewrapRate drive the background rewrapper.
	RewrapInterval time.Duration
	RewrapRate     float64
	// Webhooks are the webhook delivery settings.
	Webhooks WebhookConfig
	// Inbound are the inbound webhook endpoint's sizes and rate limit.
	Inbound InboundConfig
	// ProxyAccessLog says which proxied calls the request log records.
	ProxyAccessLog httpapi.ProxyAccessLog
	// MetricsAddr is where serve serves Prometheus metrics; empty for none (internal/telemetry).
	MetricsAddr string

	// Listener, when set, is where Serve accepts connections instead of listening on Addr.
	Listener net.Listener
	// Stdout receives what serve prints once for people (the first start's API key); nil discards.
	Stdout io.Writer
	// Stderr receives the log; nil discards.
	Stderr io.Writer
	// Getenv reads the standard OTEL_* variables that switch tracing on (internal/telemetry); nil
	// reads none, so tracing is off.
	Getenv func(string) string

	// stage, when set (tests), is told each step of Serve's shutdown as it completes.
	stage func(string)
}

// LimitsConfig are the limits on what callers may cost: requests per API key and per proxied
// connection (each replica counts its own), and forced token refreshes per credential.
type LimitsConfig struct {
	PerKey               ratelimit.Limit
	PerConnection        ratelimit.Limit
	ForceRefreshInterval time.Duration // negative: no bound
}

// InboundConfig is what serve passes to the inbound endpoint (POST /hooks/...).
type InboundConfig struct {
	MaxBodyBytes, EventBodyBytes int64
	RateLimit                    ratelimit.Limit
}

// maxInboundBytes bounds both inbound sizes: a delivery is held in memory whole to be verified.
const maxInboundBytes = 64 << 20

// WebhookConfig are the webhook delivery settings.
type WebhookConfig struct {
	Schedule      []time.Duration
	DisableAfter  time.Duration
	SecretOverlap time.Duration
	Timeout       time.Duration
}

// databaseURL returns the configured URL, or the SQLite file in the data dir.
func (c Config) databaseURL() string {
	if c.DatabaseURL != "" {
		return c.DatabaseURL
	}
	return filepath.Join(c.DataDir, DatabaseFileName)
}

// proxyOutbound is the outbound configuration for the proxy: the same guard, its own limits.
func (c Config) proxyOutbound() outbound.Config {
	p := c.Outbound
	p.RequestTimeout, p.ResponseHeaderTimeout, p.MaxResponseBytes = c.ProxyTimeout, c.ProxyTimeout, c.ProxyMaxResponseBytes
	return p
}

// logger is the log Serve writes, in the configured format, buffered (internal/logging); Serve
// closes the writer last, so that every line is written before it returns.
func (c Config) logger() (*slog.Logger, *logging.Writer) {
	w := c.Stderr
	if w == nil {
		w = io.Discard
	}
	return logging.New(w, c.LogFormat)
}

func (c Config) note(stage string) {
	if c.stage != nil {
		c.stage(stage)
	}
}
