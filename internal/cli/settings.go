package cli

// The settings table: every setting the commands read, one entry each, with its flag, variable,
// default, help and parser. Flags are registered from it, `serve --help` and the README's
// Configuration table are written from it, and Config is filled from it once per invocation;
// nothing else reads the environment. Adding a setting is one entry here plus its Config field.

import (
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/plugboard/plugboard/internal/access"
	"github.com/plugboard/plugboard/internal/connect"
	"github.com/plugboard/plugboard/internal/events"
	"github.com/plugboard/plugboard/internal/httpapi"
	"github.com/plugboard/plugboard/internal/outbound"
	"github.com/plugboard/plugboard/internal/ratelimit"
	"github.com/plugboard/plugboard/internal/sqlstore"
	"github.com/plugboard/plugboard/internal/telemetry"
	"github.com/plugboard/plugboard/internal/webhooks"
)

// envPrefix starts every setting's variable; the flag is the rest, lower case, with dashes.
const envPrefix = "PLUGBOARD_"

// scope says which commands take a setting.
type scope int

const (
	// forServe settings are read by serve only.
	forServe scope = iota
	// forStore settings are read by serve and by every admin command (which store, which keys).
	forStore
	// forOrgs settings are read by serve and the orgs commands that purge or say when.
	forOrgs
	// forKeys settings are read by serve and the master-keys commands.
	forKeys
	// forOutbound settings (the guard on calls out) are read by serve and `systems import`, which
	// fetches documents.
	forOutbound
)

// takes reports whether the command named name reads settings of scope s.
func (s scope) takes(name string) bool {
	switch s {
	case forStore:
		return true
	case forOrgs:
		return name == "serve" || name == "orgs list" || name == "orgs delete" || name == "orgs purge"
	case forKeys:
		return name == "serve" || strings.HasPrefix(name, "master-keys ")
	case forOutbound:
		return name == "serve" || name == "systems import"
	}
	return name == "serve"
}

// setting is one entry of the settings table.
type setting struct {
	// env is the variable, PLUGBOARD_...; the flag is derived from it (flagName).
	env string
	// secret settings are read from the environment only, never a flag (a flag shows in ps and
	// shell history), and never logged.
	secret bool
	// isBool flags may be given without a value (--migrate).
	isBool bool
	// value names the value in help, "DURATION".
	value string
	// def is the default, as it would be written on the command line; "" for none.
	def string
	// defDoc is how help and the README show the default when def does not say it ("off").
	defDoc string
	// help is one line for the README's table and --help (which drops its backquotes).
	help string
	// doc is said after help in the README only (markdown: links, details).
	doc string
	// scope says which commands take it.
	scope scope
	// set parses and checks the value (the flag's if given, else the variable's if not empty,
	// else def) into c. Its error need not name the setting: load adds the flag and variable.
	set func(c *Config, v string) error
}

// flagName is the setting's flag, without dashes: PLUGBOARD_PROXY_TIMEOUT is --proxy-timeout.
// Secrets have none.
func (s setting) flagName() string {
	if s.secret {
		return ""
	}
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(s.env, envPrefix)), "_", "-")
}

// name is how errors name the setting: "--proxy-timeout (PLUGBOARD_PROXY_TIMEOUT)".
func (s setting) name() string {
	if s.secret {
		return s.env
	}
	return "--" + s.flagName() + " (" + s.env + ")"
}

// plainHelp is help for a terminal, without markdown's backquotes.
func (s setting) plainHelp() string { return strings.ReplaceAll(s.help, "`", "") }

// shownDefault is the default as help and the README show it.
func (s setting) shownDefault() string {
	if s.defDoc != "" {
		return s.defDoc
	}
	return s.def
}

// settings is the settings table, in the order help and the README list it.
func settings() []setting {
	return []setting{
		{env: EnvAddr, value: "ADDR", def: DefaultAddr, help: "address to listen on",
			set: func(c *Config, v string) error { c.Addr = v; return nil }},
		{env: EnvDataDir, value: "DIR", def: DefaultDataDir, scope: forStore,
			help: "directory of the SQLite file and the generated master key",
			set:  func(c *Config, v string) error { c.DataDir = v; return nil }},
		{env: EnvDatabaseURL, value: "URL", defDoc: "DATA_DIR/" + DatabaseFileName, scope: forStore,
			help: "an SQLite file path, or `postgres://...`",
			doc:  "(see [Running on PostgreSQL](#running-on-postgresql))",
			set:  func(c *Config, v string) error { c.DatabaseURL = v; return nil }},
		{env: EnvEncryptionKey, secret: true, defDoc: "generated file", scope: forKeys,
			help: "master keys: comma-separated base64 32-byte keys, the first seals, any opens",
			doc:  "(see below). A secret: environment only, never a flag",
			set:  func(c *Config, v string) error { c.EncryptionKey = v; return nil }},
		{env: EnvMigrate, isBool: true, def: "false", defDoc: "off",
			help: "apply pending PostgreSQL migrations before serving (SQLite always migrates)",
			set:  func(c *Config, v string) (err error) { c.Migrate, err = parseBool(v); return err }},
		{env: EnvLogFormat, value: "FORMAT", def: "text", help: "log format: `text` or `json` (log/slog)",
			set: func(c *Config, v string) error {
				if v != "text" && v != "json" {
					return fmt.Errorf("%q is neither text nor json", v)
				}
				c.LogFormat = v
				return nil
			}},
		{env: EnvPublicURL, value: "URL", defDoc: "http://ADDR",
			help: "base URL browsers and webhook senders reach Plugboard at, for the OAuth callbacks and the inbound webhook URLs",
			doc:  "(a config that signs the `url` verifies this URL)",
			set:  func(c *Config, v string) error { c.PublicURL = v; return nil }},
		{env: outbound.EnvAllowPrivateNetworks, isBool: true, def: "false", scope: forOutbound,
			help: "let calls to providers reach private addresses (never cloud metadata)",
			set: func(c *Config, v string) (err error) {
				c.Outbound.AllowPrivateNetworks, err = parseBool(v)
				return err
			}},
		{env: outbound.EnvAllowCIDRs, value: "CIDRS", scope: forOutbound,
			help: "comma-separated prefixes providers may be reached at, e.g. `10.1.0.0/16`",
			set:  func(c *Config, v string) (err error) { c.Outbound.AllowCIDRs, err = parseCIDRs(v); return err }},
		{env: outbound.EnvCAFile, value: "FILE", scope: forOutbound,
			help: "PEM CA certificates trusted for calls to providers, besides the system's",
			set: func(c *Config, v string) (err error) {
				c.OutboundCAFile = strings.TrimSpace(v)
				c.Outbound.RootCAs, err = loadCAFile(c.OutboundCAFile)
				return err
			}},
		{env: EnvReturnURLOrigins, value: "ORIGINS",
			help: "comma-separated origins OAuth flows may send browsers back to (besides Plugboard's own)",
			set:  func(c *Config, v string) error { c.ReturnURLOrigins = strings.Split(v, ","); return nil }},
		{env: EnvConnectSessionTTL, value: "DURATION", def: fmtDuration(connect.DefaultSessionTTL),
			help: "how long a connect session (`POST /o/{org}/connect-sessions`) and its hosted page's link last",
			doc:  "(see [docs/api.md](docs/api.md#connect-sessions))",
			set:  func(c *Config, v string) (err error) { c.ConnectSessionTTL, err = positiveDuration(v); return err }},
		{env: EnvProxyTimeout, value: "DURATION", def: fmtDuration(DefaultProxyTimeout), help: "how long a proxied call may take",
			set: func(c *Config, v string) (err error) { c.ProxyTimeout, err = positiveDuration(v); return err }},
		{env: EnvProxyMaxResponseBytes, value: "N", def: strconv.Itoa(DefaultProxyMaxResponse),
			help: "the largest upstream response the proxy passes on",
			set: func(c *Config, v string) error {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil || n <= 0 {
					return fmt.Errorf("%q is not a positive number of bytes", v)
				}
				c.ProxyMaxResponseBytes = n
				return nil
			}},
		{env: EnvRefreshSkew, value: "DURATION", def: fmtDuration(access.DefaultSkew),
			help: "how long before its expiry an OAuth 2.0 access token is refreshed when a call uses it",
			doc:  "([docs/calling.md](docs/calling.md#the-proxy))",
			set:  func(c *Config, v string) (err error) { c.RefreshSkew, err = positiveDuration(v); return err }},
		{env: EnvOrgPurgeAfter, value: "DURATION", def: fmtDuration(DefaultOrgPurgeAfter), scope: forOrgs,
			help: "how long a deleted organisation's records are kept before they are purged",
			set:  func(c *Config, v string) (err error) { c.OrgPurgeAfter, err = positiveDuration(v); return err }},
		{env: EnvEventRetention, value: "DURATION", def: fmtDuration(events.DefaultRetention),
			help: "how long events are kept; older ones are deleted by one replica every 10 minutes",
			doc:  "(`GET /o/{org}/events`, [docs/events.md](docs/events.md))",
			set:  func(c *Config, v string) (err error) { c.EventRetention, err = positiveDuration(v); return err }},
		{env: EnvSQLiteWriteWait, value: "DURATION", def: fmtDuration(sqlstore.DefaultSQLiteWriteWait),
			help: "on SQLite, how long a write waits for its turn at the one writer (writes queue in arrival order); past it the request answers `503 unavailable` with `Retry-After`",
			doc:  "([docs/operating.md](docs/operating.md))",
			set:  func(c *Config, v string) (err error) { c.SQLiteWriteWait, err = positiveDuration(v); return err }},
		{env: EnvRateLimitPerKey, value: "RATE[,BURST]", defDoc: "off",
			help: "`RATE[,BURST]`: requests per second each API key may make (burst: the rate rounded up when left out), e.g. `50,100`; over it, `429 rate_limited` with `Retry-After`",
			doc:  "Per process: N replicas let through up to N times the rate",
			set:  func(c *Config, v string) (err error) { c.Limits.PerKey, err = ratelimit.Parse(v); return err }},
		{env: EnvRateLimitPerConnection, value: "RATE[,BURST]", defDoc: "off",
			help: "`RATE[,BURST]`: proxied calls per second per connection, whatever the key; per process, like the above",
			set:  func(c *Config, v string) (err error) { c.Limits.PerConnection, err = ratelimit.Parse(v); return err }},
		{env: EnvForceRefreshInterval, value: "DURATION", def: fmtDuration(access.DefaultForceRefreshInterval),
			help: "the least time between forced refreshes of one credential; within it the current token is used; `0` removes the bound",
			doc:  "(`X-Plugboard-Force-Refresh`, `forceRefresh`; the answer says `X-Plugboard-Refresh: skipped`)",
			set: func(c *Config, v string) (err error) {
				c.Limits.ForceRefreshInterval, err = parseForceRefreshInterval(v)
				return err
			}},
		{env: EnvCredentialExpiringLead, value: "DURATION", def: fmtDuration(access.DefaultExpiringLead),
			help: "how long before a credential's `expiresAt` the `credential.expiring` event is emitted (once per credential and expiry time); `0` or `off` for never",
			doc:  "Expired credentials are refused at once and deleted within a minute whatever this says ([docs/api.md](docs/api.md#credential-expiry))",
			set: func(c *Config, v string) (err error) {
				c.CredentialExpiringLead, err = parseExpiringLead(v)
				return err
			}},
		{env: EnvRewrapInterval, value: "DURATION", def: fmtDuration(DefaultRewrapInterval),
			help: "how often `serve` looks for a requested background rewrap",
			doc:  "(see [Rotating master keys](#rotating-master-keys))",
			set:  func(c *Config, v string) (err error) { c.RewrapInterval, err = positiveDuration(v); return err }},
		{env: EnvRewrapRate, value: "N", def: strconv.Itoa(DefaultRewrapRate),
			help: "the most sealed values a background rewrap re-seals per second",
			set: func(c *Config, v string) error {
				r, err := strconv.ParseFloat(v, 64)
				if err != nil || r <= 0 {
					return fmt.Errorf("%q is not a positive number of values per second", v)
				}
				c.RewrapRate = r
				return nil
			}},
		{env: EnvWebhookRetrySchedule, value: "DURATIONS", def: fmtSchedule(webhooks.DefaultSchedule),
			help: "the waits before each retry of a failed webhook delivery (each plus up to 20% jitter); a delivery gets one attempt more than the list has waits",
			doc:  "About 27.5 hours with the default (see [docs/events.md](docs/events.md#webhooks))",
			set: func(c *Config, v string) (err error) {
				c.Webhooks.Schedule, err = webhooks.ParseSchedule(v)
				return err
			}},
		{env: EnvWebhookDisableAfter, value: "DURATION", def: fmtDuration(webhooks.DefaultDisableAfter),
			help: "a webhook endpoint whose deliveries have failed, with no success, for this long is disabled",
			doc:  "(with a `webhook_endpoint.disabled` event)",
			set:  func(c *Config, v string) (err error) { c.Webhooks.DisableAfter, err = positiveDuration(v); return err }},
		{env: EnvWebhookSecretOverlap, value: "DURATION", def: fmtDuration(webhooks.DefaultSecretOverlap),
			help: "how long a webhook endpoint's previous signing secret keeps signing beside the new one after `rotate-secret`",
			set:  func(c *Config, v string) (err error) { c.Webhooks.SecretOverlap, err = positiveDuration(v); return err }},
		{env: EnvWebhookTimeout, value: "DURATION", def: fmtDuration(webhooks.DefaultTimeout),
			help: "how long one webhook delivery attempt may take",
			set:  func(c *Config, v string) (err error) { c.Webhooks.Timeout, err = positiveDuration(v); return err }},
		{env: EnvInboundMaxBodyBytes, value: "N", def: strconv.Itoa(httpapi.DefaultInboundMaxBodyBytes),
			help: "the largest webhook delivery `POST /hooks/...` takes (1 MiB by default); a larger one is `413 request_too_large` before its signature is checked",
			doc:  "(see [docs/events.md](docs/events.md#inbound-webhooks))",
			set:  func(c *Config, v string) (err error) { c.Inbound.MaxBodyBytes, err = byteCount(v); return err }},
		{env: EnvInboundEventBodyBytes, value: "N", def: strconv.Itoa(httpapi.DefaultInboundEventBodyBytes),
			help: "how much of a delivery's body its `inbound.received` event keeps, sealed (64 KiB by default); the event says `truncated` when it keeps less",
			set:  func(c *Config, v string) (err error) { c.Inbound.EventBodyBytes, err = byteCount(v); return err }},
		{env: EnvInboundRateLimit, value: "RATE[,BURST]", defDoc: "off",
			help: "`RATE[,BURST]`: verified webhook deliveries per second per connection; over it, `429 rate_limited` with `Retry-After`, nothing stored; per process, like the other limits",
			set:  func(c *Config, v string) (err error) { c.Inbound.RateLimit, err = ratelimit.Parse(v); return err }},
		{env: EnvProxyAccessLog, value: "MODE", def: "all",
			help: "which proxied calls the request log records: " + httpapi.ProxyAccessLogValues + "; failures (400 and above) are logged unless `off`, server errors always at ERROR; other requests are always logged",
			set: func(c *Config, v string) (err error) {
				c.ProxyAccessLog, err = httpapi.ParseProxyAccessLog(v)
				return err
			}},
		{env: telemetry.EnvMetricsAddr, value: "ADDR", defDoc: "off",
			help: "address of a listener of its own serving Prometheus metrics at `/metrics` (never on the API's port), e.g. `127.0.0.1:9464`; tracing is switched on by the standard `OTEL_EXPORTER_OTLP_*` variables instead",
			doc:  "(both: [docs/operating.md](docs/operating.md))",
			set:  func(c *Config, v string) error { c.MetricsAddr = v; return nil }},
	}
}

// settingValue is a setting's flag: it remembers whether the command line gave it.
type settingValue struct {
	v      string
	given  bool
	isBool bool
}

func (f *settingValue) String() string {
	if f == nil {
		return ""
	}
	return f.v
}
func (f *settingValue) Set(v string) error { f.v, f.given = v, true; return nil }
func (f *settingValue) IsBoolFlag() bool   { return f.isBool }

// settingFlags are the settings one command takes, with their flags once registered.
type settingFlags struct {
	list  []setting
	flags []*settingValue
}

// registerSettings registers the flags of the settings the command named name takes.
func registerSettings(fs *flag.FlagSet, name string) *settingFlags {
	sf := &settingFlags{}
	for _, s := range settings() {
		if !s.scope.takes(name) {
			continue
		}
		sf.list = append(sf.list, s)
		if s.secret {
			sf.flags = append(sf.flags, nil)
			continue
		}
		v := &settingValue{isBool: s.isBool}
		sf.flags = append(sf.flags, v)
		fs.Var(v, s.flagName(), s.plainHelp()+" (env "+s.env+")")
		fs.Lookup(s.flagName()).DefValue = s.shownDefault()
	}
	return sf
}

// load fills cfg from the flags given, else the environment, else the defaults, and checks every
// value. An error names the flag and the variable.
func (sf *settingFlags) load(cfg *Config, getenv func(string) string) error {
	for i, s := range sf.list {
		v := s.def
		if f := sf.flags[i]; f != nil && f.given {
			v = f.v
		} else if e := getenv(s.env); e != "" {
			v = e
		}
		if err := s.set(cfg, v); err != nil {
			return fmt.Errorf("%s: %w", s.name(), err)
		}
	}
	return nil
}

// settingsSynopsis is the usage line's part for the settings the command named name takes.
func settingsSynopsis(name string) string {
	if name == "serve" {
		return "[SETTINGS]"
	}
	var parts []string
	for _, s := range settings() {
		switch {
		case !s.scope.takes(name) || s.secret:
		case s.isBool:
			parts = append(parts, "[--"+s.flagName()+"]")
		default:
			parts = append(parts, "[--"+s.flagName()+" "+s.value+"]")
		}
	}
	return strings.Join(parts, " ")
}

// settingsHelp describes, for --help, the settings the command named name takes.
func settingsHelp(name string) string {
	var b strings.Builder
	b.WriteString("\nSettings (each flag has its environment variable; the flag wins):\n")
	var secrets []setting
	for _, s := range settings() {
		if !s.scope.takes(name) {
			continue
		}
		if s.secret {
			secrets = append(secrets, s)
			continue
		}
		line := "  --" + s.flagName()
		if s.value != "" {
			line += " " + s.value
		}
		fmt.Fprintf(&b, "%s\n        %s (env %s)", line, s.plainHelp(), s.env)
		if d := s.shownDefault(); d != "" && d != "false" {
			fmt.Fprintf(&b, " (default %s)", d)
		}
		b.WriteString("\n")
	}
	if len(secrets) > 0 {
		b.WriteString("\nEnvironment only (secrets are never flags):\n")
		for _, s := range secrets {
			fmt.Fprintf(&b, "  %s\n        %s (default %s)\n", s.env, s.plainHelp(), s.shownDefault())
		}
	}
	return b.String()
}

// SettingsTable is the README's Configuration table, written from the settings table.
func SettingsTable() string {
	var b strings.Builder
	b.WriteString("| flag | environment | default | meaning |\n|---|---|---|---|\n")
	cell := func(s string) string {
		if s == "" {
			return ""
		}
		return "`" + s + "`"
	}
	for _, s := range settings() {
		flagCell := ""
		if !s.secret {
			flagCell = cell("--" + s.flagName())
		}
		def := cell(s.def)
		if s.defDoc != "" {
			def = s.defDoc
			if strings.ContainsAny(def, "/:_") {
				def = cell(def)
			}
		}
		meaning := s.help
		if s.doc != "" {
			if strings.HasPrefix(s.doc, "(") {
				meaning += " " + s.doc
			} else {
				meaning += ". " + s.doc
			}
		}
		switch s.scope {
		case forStore:
			meaning += "; also the admin commands"
		case forOrgs:
			meaning += "; also `orgs list`, `orgs delete`, `orgs purge`"
		case forKeys:
			meaning += "; also the `master-keys` commands"
		case forOutbound:
			meaning += "; also `systems import`"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", flagCell, cell(s.env), def, strings.ReplaceAll(meaning, "|", "\\|"))
	}
	return b.String()
}

// SettingNames lists every setting's variable, for the tests that check code and docs against it.
func SettingNames() []string {
	var out []string
	for _, s := range settings() {
		out = append(out, s.env)
	}
	return out
}

// LoadConfig reads serve's Config once from args (serve's flags) and getenv, as `plugboard serve`
// does, for running Serve in process.
func LoadConfig(args []string, getenv func(string) string) (Config, error) {
	fs := flag.NewFlagSet("plugboard serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	sf := registerSettings(fs, "serve")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg := Config{Getenv: getenv}
	return cfg, sf.load(&cfg, getenv)
}

// fmtDuration writes d as a setting's default is written: 72h, 5m, 30s (not 72h0m0s).
func fmtDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func fmtSchedule(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = fmtDuration(d)
	}
	return strings.Join(parts, ",")
}

func positiveDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a positive duration such as 30s", v)
	}
	return d, nil
}

func parseBool(v string) (bool, error) {
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		return false, fmt.Errorf("%q is not a boolean (use true or false)", v)
	}
	return b, nil
}

// parseForceRefreshInterval: a duration, or 0 for no bound (access.Config: negative).
func parseForceRefreshInterval(v string) (time.Duration, error) {
	if v == "0" {
		return -1, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration such as 10s (0 removes the bound)", v)
	}
	if d == 0 {
		return -1, nil
	}
	return d, nil
}

// parseExpiringLead reads --credential-expiring-lead: a positive duration, or "0"/"off" for never
// (access.SweeperConfig: negative).
func parseExpiringLead(v string) (time.Duration, error) {
	if v == "0" || strings.EqualFold(v, "off") {
		return -1, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a duration such as 72h (0 or off for never)", v)
	}
	return d, nil
}

// parseCIDRs reads comma-separated prefixes; spaces and empty items are ignored, host bits are
// cleared (10.1.2.3/16 means 10.1.0.0/16).
func parseCIDRs(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for item := range strings.SplitSeq(v, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		p, err := netip.ParsePrefix(item)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR prefix (e.g. 10.1.0.0/16, or 10.1.2.3/32 for one address): %w", item, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// loadCAFile reads a PEM file of CA certificates into the system's pool; "" is no file (nil: the
// system's roots).
func loadCAFile(path string) (*x509.CertPool, error) {
	if path == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}

// byteCount reads a size: a whole number of bytes from 1 to maxInboundBytes.
func byteCount(v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 1 || n > maxInboundBytes {
		return 0, fmt.Errorf("%q is not a whole number of bytes from 1 to %d", v, maxInboundBytes)
	}
	return n, nil
}
