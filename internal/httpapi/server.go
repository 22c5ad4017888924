// Package httpapi serves Plugboard's HTTP API: it implements the strict server interface generated
// in package api, converts between API and domain types, authenticates API keys, and turns every
// failure into the spec's Error body. Handlers never touch http.ResponseWriter; the middleware
// around them (request id, logging, recovery, body limits, authentication) does.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/access"
	"github.com/plugboard/plugboard/internal/connect"
	"github.com/plugboard/plugboard/internal/connectpage"
	"github.com/plugboard/plugboard/internal/events"
	"github.com/plugboard/plugboard/internal/inbound"
	"github.com/plugboard/plugboard/internal/oauth"
	"github.com/plugboard/plugboard/internal/outbound"
	"github.com/plugboard/plugboard/internal/ratelimit"
	"github.com/plugboard/plugboard/internal/systems"
	"github.com/plugboard/plugboard/internal/telemetry"
	"github.com/plugboard/plugboard/internal/vault"
)

// MaxBodyBytes bounds request bodies; larger ones are refused with ETooLarge.
const MaxBodyBytes = 1 << 20

// Server implements api.StrictServerInterface on a Store.
type Server struct {
	store     plugboard.Store
	keys      *vault.Vault
	logger    *slog.Logger
	now       func() time.Time
	oauth     *oauth.Client
	publicURL string
	// connect runs the OAuth flows and prepares connections' credentials.
	connect *connect.Service
	// systems creates, imports and changes systems and their auth scheme configs.
	systems *systems.Service
	// access opens connections for the proxy and the access endpoint.
	access *access.Service
	// proxyClient calls upstream APIs for the proxy, with its own timeouts and size limits.
	proxyClient *outbound.Client
	// keyCache remembers verified API keys.
	keyCache keyCache
	// keyUse decides when a key's use is next recorded (lastUsedAt).
	keyUse keyUseSampler
	// background counts the writes left running after a request (Config.Background).
	background *sync.WaitGroup
	// orgStates remembers, briefly, which organisations are live.
	orgStates orgStates
	// proxyTimeout bounds a proxied call's stream.
	proxyTimeout time.Duration
	// proxyLog says which proxied calls are logged; proxyLogged counts successful ones, to sample.
	proxyLog    ProxyAccessLog
	proxyLogged atomic.Uint64
	// ops is what the spec says of each operation: who may call it, how large its body may be.
	ops *operations
	// limits are the rate limits per API key and per proxied connection (limits.go).
	limits limits
	// events writes each change's event in the change's transaction.
	events *events.Log
	// outbound is the guarded client for calls to providers; webhook endpoint URLs are checked
	// against its address policy.
	outbound *outbound.Client
	// webhookOverlap is how long a rotated-out webhook secret keeps signing.
	webhookOverlap time.Duration
	// inbound verifies and records webhook deliveries to /hooks (inbound.go).
	inbound *inbound.Receiver
	// inboundMaxBody is the largest delivery taken.
	inboundMaxBody int64
	// metrics and tracing are nil when off (telemetry.go).
	metrics *telemetry.Metrics
	tracing *telemetry.Tracing
}

// proxyPattern is the route the proxy is served on, by hand, since it streams.
const proxyPattern = "/o/{organisation_id}/connections/{connection_id}/proxy/{path...}"

var _ api.StrictServerInterface = (*Server)(nil)

// Config is what a Server needs.
type Config struct {
	Store  plugboard.Store
	Keys   *vault.Vault
	Logger *slog.Logger
	// Now returns the current time; time.Now when nil. Tests set it.
	Now func() time.Time
	// Outbound is the guarded client for calls to providers; a default (public addresses only) when nil.
	Outbound *outbound.Client
	// PublicURL is the base URL browsers reach this server at, for the OAuth callbacks.
	PublicURL string
	// Proxy is the guarded client the proxy calls upstream APIs with; Outbound when nil.
	Proxy *outbound.Client
	// ProxyTimeout is how long a proxied call may stream, overriding the server's read and write
	// timeouts for it; 5 minutes when zero. Keep it equal to Proxy's request timeout.
	ProxyTimeout time.Duration
	// RefreshSkew is how long before expiry OAuth 2.0 tokens are refreshed; access.DefaultSkew when zero.
	RefreshSkew time.Duration
	// Access opens connections for the proxy and the access endpoint; one is made when nil. The
	// caller passes its own to run the same service's background refresher.
	Access *access.Service
	// ReturnURLOrigins are the origins (scheme://host[:port]) an OAuth flow's returnUrl may point
	// at, besides PublicURL's own: the callback redirects browsers there, so anything else would
	// make it an open redirect.
	ReturnURLOrigins []string
	// KeyRateLimit bounds each API key's requests in this process (a token bucket); off when zero.
	KeyRateLimit ratelimit.Limit
	// ConnectionRateLimit bounds proxied calls per connection in this process; off when zero.
	ConnectionRateLimit ratelimit.Limit
	// ForceRefreshInterval is passed to the access service made when Access is nil (see
	// access.Config.ForceRefreshInterval).
	ForceRefreshInterval time.Duration
	// InboundMaxBodyBytes bounds the body of a webhook delivery to /hooks (413 above it, checked
	// before the signature); DefaultInboundMaxBodyBytes when zero.
	InboundMaxBodyBytes int64
	// InboundEventBodyBytes is how much of a delivery's body its inbound.received event keeps,
	// sealed (the rest is dropped, and the event says so); DefaultInboundEventBodyBytes when zero.
	InboundEventBodyBytes int64
	// InboundRateLimit bounds verified deliveries per connection in this process; off when zero.
	InboundRateLimit ratelimit.Limit
	// Events writes the events of changes; one (with Now) is made when nil.
	Events *events.Log
	// WebhookSecretOverlap is how long a rotated-out webhook signing secret keeps signing beside the
	// new one; webhooks.DefaultSecretOverlap when zero.
	WebhookSecretOverlap time.Duration
	// Background, when set, counts the writes requests leave running after they answer (an API
	// key's last use), so that whoever closes the store can wait for them once the HTTP server
	// has stopped.
	Background *sync.WaitGroup
	// Metrics records requests, proxied calls and API key cache lookups; nil records nothing.
	Metrics *telemetry.Metrics
	// Tracing gives each request a server span; nil makes none.
	Tracing *telemetry.Tracing
	// ProxyAccessLog says which proxied calls the request log records; all of them when zero.
	ProxyAccessLog ProxyAccessLog
	// ConnectSessionTTL is how long a connect session lasts; connect.DefaultSessionTTL when zero.
	ConnectSessionTTL time.Duration
}

// Handler is the API: an http.Handler, and the watcher of its store's change feed
// (plugboard.ChangeWatcher): connection and system changes go to the access service's cache, API
// key changes to the verified-key cache, so that a key deleted through another replica is refused
// here as soon as the feed announces it.
type Handler struct {
	http.Handler
	s *Server
}

// Changed drops what a change made elsewhere made stale.
func (h *Handler) Changed(c plugboard.Change) {
	if c.Kind == plugboard.ChangedAPIKey {
		h.s.keyCache.changed(c.OrganisationID, c.ID)
		return
	}
	h.s.access.Changed(c)
}

// Watching passes the feed's state on to the access service. The key cache keeps KeyCacheTTL
// either way (the feed only makes a deletion elsewhere show sooner), but is emptied when the feed
// is heard again: a key deleted while it was lost was never announced.
func (h *Handler) Watching(on bool) {
	if on {
		h.s.keyCache.clear()
	}
	h.s.access.Watching(on)
}

// New returns the API.
func New(cfg Config) *Handler {
	out := cfg.Outbound
	if out == nil {
		out = outbound.New(outbound.DefaultConfig())
	}
	s := &Server{store: cfg.Store, keys: cfg.Keys, logger: cfg.Logger, now: cfg.Now, oauth: oauth.New(out),
		publicURL: strings.TrimSuffix(cfg.PublicURL, "/"), proxyClient: cfg.Proxy, outbound: out,
		webhookOverlap: cfg.WebhookSecretOverlap, background: cfg.Background,
		metrics: cfg.Metrics, tracing: cfg.Tracing, proxyLog: cfg.ProxyAccessLog}
	if s.background == nil {
		s.background = &sync.WaitGroup{}
	}
	if s.webhookOverlap <= 0 {
		s.webhookOverlap = defaultWebhookOverlap
	}
	if s.proxyClient == nil {
		s.proxyClient = out
	}
	s.proxyTimeout = cfg.ProxyTimeout
	if s.proxyTimeout <= 0 {
		s.proxyTimeout = 5 * time.Minute
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.events = cfg.Events
	if s.events == nil {
		s.events = events.New(events.Options{Now: s.now, Metrics: cfg.Metrics})
	}
	s.access = cfg.Access
	if s.access == nil {
		s.access = access.New(access.Config{Store: cfg.Store, Keys: cfg.Keys, OAuth: s.oauth, Now: cfg.Now, Skew: cfg.RefreshSkew,
			Events: s.events, Metrics: cfg.Metrics})
	}
	s.connect = connect.New(connect.Config{Store: cfg.Store, Keys: cfg.Keys, Access: s.access, OAuth: s.oauth, Events: s.events,
		Now: s.now, PublicURL: cfg.PublicURL, ReturnURLOrigins: cfg.ReturnURLOrigins, SessionTTL: cfg.ConnectSessionTTL})
	s.systems = systems.New(systems.Config{Store: cfg.Store, Keys: cfg.Keys, Connect: s.connect, Access: s.access, Events: s.events,
		Now: s.now, Outbound: out})
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	s.ops = mustOperations()
	s.limits = newLimits(cfg)
	s.inboundMaxBody = cfg.InboundMaxBodyBytes
	if s.inboundMaxBody <= 0 {
		s.inboundMaxBody = DefaultInboundMaxBodyBytes
	}
	s.inbound = inbound.New(inbound.Config{Store: cfg.Store, Keys: cfg.Keys, Access: s.access, Events: s.events,
		PublicURL: s.publicURL, EventBodyBytes: int(cfg.InboundEventBodyBytes), LiveOrganisation: s.requireLiveOrganisation,
		Now: s.now})
	proxy := s.guard(http.HandlerFunc(s.serveProxy))
	h := proxyRoute(s.routes(cfg, proxy), proxy)
	return &Handler{Handler: s.withTracing(s.withRequestID(s.withLogging(s.withRecovery(s.withCallbackHeaders(s.withMetrics(h)))))), s: s}
}

// routes registers every route on a new ServeMux, proxy as the proxy's handler.
func (s *Server) routes(cfg Config, proxy http.Handler) *http.ServeMux {
	strict := api.NewStrictHandlerWithOptions(s, nil, api.StrictHTTPServerOptions{
		RequestErrorHandlerFunc:  s.requestErrorInput,
		ResponseErrorHandlerFunc: s.writeError,
	})
	mux := http.NewServeMux()
	// Anything no operation matches gets the spec's Error body rather than the mux's plain text.
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, plugboard.Errorf(plugboard.ENotFound, "no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	// The proxy streams, so it is served by hand rather than through the generated strict handler.
	mux.Handle(proxyPattern, proxy)
	// The inbound webhook endpoint reads the raw body and the headers; public, as the spec says.
	mux.Handle(hooksPattern, s.guard(http.HandlerFunc(s.serveInbound)))
	// The hosted connect page and its API, authorised by connect session tokens, not API keys.
	mux.Handle("/connect/", connectpage.New(connectpage.Config{Connect: s.connect, WriteError: s.writeError,
		RateLimit: cfg.KeyRateLimit, Now: s.now}))
	// The import reads a raw document (JSON or YAML, up to 50 MB).
	mux.Handle(importPattern, s.paramsFirst(s.guard(http.HandlerFunc(s.serveImport))))
	api.HandlerWithOptions(strict, api.StdHTTPServerOptions{
		BaseRouter: mux,
		// The last runs first: the guard (key, organisation, scope, body limit), then the input check.
		Middlewares:      []api.MiddlewareFunc{s.checkInput, s.guard},
		ErrorHandlerFunc: s.paramErrorInput,
	})
	return mux
}

// withCallbackHeaders keeps the OAuth callbacks' answers (which carry codes) out of caches and
// Referer headers.
func (s *Server) withCallbackHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/oauth2/callback" || r.URL.Path == "/oauth1/callback" {
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("Referrer-Policy", "no-referrer")
			w.Header().Set("X-Content-Type-Options", "nosniff")
		}
		next.ServeHTTP(w, r)
	})
}

// timestamp returns the current time as the store keeps it: UTC, microsecond precision.
func (s *Server) timestamp() time.Time {
	return s.now().UTC().Truncate(time.Microsecond)
}

// newID returns a new ULID for a record.
func newID() ulid.ULID { return ulid.Make() }

type ctxKey int

const (
	ctxRequestID ctxKey = iota
	ctxOrganisation
	ctxAPIKey
)

// requestID returns the request id set by withRequestID.
func requestID(ctx context.Context) string {
	id, _ := ctx.Value(ctxRequestID).(string)
	return id
}

// authOrganisation returns the organisation the request's API key belongs to.
func authOrganisation(ctx context.Context) (ulid.ULID, bool) {
	id, ok := ctx.Value(ctxOrganisation).(ulid.ULID)
	return id, ok
}
