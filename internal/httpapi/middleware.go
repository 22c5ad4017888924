package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"regexp"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/apikey"
	"github.com/plugboard/plugboard/internal/events"
	"github.com/plugboard/plugboard/internal/telemetry"
)

// statusByCode maps error codes to HTTP statuses. docs/api.md prints the same table.
var statusByCode = map[string]int{
	plugboard.EInvalid:          http.StatusBadRequest,
	plugboard.EUnauthenticated:  http.StatusUnauthorized,
	plugboard.EForbidden:        http.StatusForbidden,
	plugboard.ENotFound:         http.StatusNotFound,
	plugboard.EMethodNotAllowed: http.StatusMethodNotAllowed,
	plugboard.EConflict:         http.StatusConflict,
	plugboard.ETooLarge:         http.StatusRequestEntityTooLarge,
	plugboard.EInternal:         http.StatusInternalServerError,
	plugboard.ENotImplemented:   http.StatusNotImplemented,
	plugboard.EUnavailable:      http.StatusServiceUnavailable,
	plugboard.ERateLimited:      http.StatusTooManyRequests,
	// 409, not 410: the connection exists and becomes usable again once a credential is added,
	// while a 410 says the resource is gone for good and may be cached as such (RFC 9110 15.5.11).
	plugboard.ECredentialExpired: http.StatusConflict,

	plugboard.EUpstreamRejected:    http.StatusBadRequest,
	plugboard.EUpstreamRefused:     http.StatusBadRequest,
	plugboard.EUpstreamUnavailable: http.StatusBadGateway,
	plugboard.EUpstreamTimeout:     http.StatusGatewayTimeout,
	plugboard.EUpstreamTooLarge:    http.StatusBadGateway,
}

// StatusOf returns the HTTP status for an error code.
func StatusOf(code string) int {
	if st, ok := statusByCode[code]; ok {
		return st
	}
	return http.StatusInternalServerError
}

// writeError writes err as the spec's Error body. Only *plugboard.Error messages reach the client;
// anything else is logged with the request id and shown as "internal error".
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *plugboard.Error
	if !errors.As(err, &e) {
		e = plugboard.Internal(err)
	}
	if e.Code == plugboard.EInternal {
		s.logger.ErrorContext(r.Context(), "internal error", "request_id", requestID(r.Context()), "err", err)
		e = &plugboard.Error{Code: plugboard.EInternal, Message: "internal error",
			Details: "the server failed; its log has the cause under request id " + requestID(r.Context())}
	}
	body := api.Error{Code: e.Code, Message: e.Message, Details: e.Details}
	for _, f := range e.Fields {
		body.Fields = append(body.Fields, api.ErrorField{Field: f.Field, Message: f.Message})
	}
	w.Header().Set("Content-Type", "application/json")
	if e.Code == plugboard.EUnavailable && w.Header().Get("Retry-After") == "" {
		// The store is down, restarting or has too many writes queued: a second is the usual wait.
		w.Header().Set("Retry-After", "1")
	}
	w.WriteHeader(StatusOf(e.Code))
	// Like the generated handlers' answers (api/templates): no HTML escaping, so a URL in a
	// message reads as it is.
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(body)
}

// requestError turns a body that could not be decoded into a 400 (or 413) naming, where it can,
// the field. It never repeats the input: a body may hold secrets.
func (s *Server) requestError(w http.ResponseWriter, r *http.Request, err error) {
	var (
		tooLarge *http.MaxBytesError
		typeErr  *json.UnmarshalTypeError
		syntax   *json.SyntaxError
	)
	switch {
	case errors.As(err, &tooLarge):
		s.writeError(w, r, plugboard.Errorf(plugboard.ETooLarge, "request body is larger than %d bytes", tooLarge.Limit))
	case errors.Is(err, io.ErrUnexpectedEOF):
		s.writeError(w, r, &plugboard.Error{Code: plugboard.EInvalid, Message: "request body is not valid JSON",
			Details: "the body ends before the JSON value does"})
	case errors.As(err, &typeErr) && typeErr.Type == reflect.TypeOf(ulid.ULID{}):
		s.writeError(w, r, plugboard.Invalid("request body does not match the schema",
			plugboard.FieldError{Field: typeErr.Field, Message: "must be a ULID string (26 characters of Crockford base32)"}))
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			field = "(body)"
		}
		s.writeError(w, r, plugboard.Invalid("request body does not match the schema",
			plugboard.FieldError{Field: field, Message: fmt.Sprintf("must be %s, not a JSON %s", jsonKind(typeErr.Type.Kind().String()), typeErr.Value)}))
	case errors.As(err, &syntax):
		s.writeError(w, r, &plugboard.Error{Code: plugboard.EInvalid, Message: "request body is not valid JSON",
			Details: fmt.Sprintf("syntax error at byte offset %d", syntax.Offset)})
	default:
		// Other decode errors come from a field's own UnmarshalJSON (a malformed ULID or time) and
		// do not carry the field's path; their text names the expected format, not the value.
		s.writeError(w, r, &plugboard.Error{Code: plugboard.EInvalid, Message: "request body does not match the schema",
			Details: decodeDetail(err)})
	}
}

// decodeDetail describes errors from UnmarshalJSON methods without echoing input.
func decodeDetail(err error) string {
	switch {
	case errors.Is(err, ulid.ErrDataSize), errors.Is(err, ulid.ErrInvalidCharacters), errors.Is(err, ulid.ErrOverflow):
		return "an id is not a valid ULID (26 characters of Crockford base32); send 00000000000000000000000000 for ids the server assigns"
	}
	var perr *time.ParseError
	if errors.As(err, &perr) {
		return "a timestamp is not in RFC 3339 format"
	}
	return "the body could not be decoded"
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	case "int", "int64", "int32", "float64", "float32":
		return "a number"
	}
	return "of another type"
}

// paramError answers parameters that do not parse: a bad path id is a resource that does not
// exist (404); a bad query parameter is a 400 naming it.
func (s *Server) paramError(w http.ResponseWriter, r *http.Request, err error) {
	var (
		invalid  *api.InvalidParamFormatError
		required *api.RequiredParamError
		tooMany  *api.TooManyValuesForParamError
	)
	switch {
	case errors.As(err, &invalid):
		if r.PathValue(invalid.ParamName) != "" {
			s.writeError(w, r, plugboard.Errorf(plugboard.ENotFound, "%s not found", invalid.ParamName))
			return
		}
		s.writeError(w, r, plugboard.Invalid("invalid query parameter",
			plugboard.FieldError{Field: invalid.ParamName, Message: "has an invalid format"}))
	case errors.As(err, &required):
		s.writeError(w, r, plugboard.Invalid("missing parameter",
			plugboard.FieldError{Field: required.ParamName, Message: "is required"}))
	case errors.As(err, &tooMany):
		s.writeError(w, r, plugboard.Invalid("invalid query parameter",
			plugboard.FieldError{Field: tooMany.ParamName, Message: "must be given once"}))
	default:
		s.writeError(w, r, plugboard.Invalid("invalid parameters"))
	}
}

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// withRequestID gives every request an id (the caller's X-Request-Id when it is well formed), put
// on the context, the response and every log line about the request.
func (s *Server) withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !requestIDPattern.MatchString(id) {
			id = newID().String()
		}
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxRequestID, id)))
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status  int
	bytes   int
	proxied bool // a proxied call: logged as Config.ProxyAccessLog says
}

// markProxied tells withLogging that the request is a proxied call, through w's wrappers.
func markProxied(w http.ResponseWriter) {
	for w != nil {
		if rec, ok := w.(*statusRecorder); ok {
			rec.proxied = true
			return
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return
		}
		w = u.Unwrap()
	}
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// withLogging logs one line per request: method, path (never the query, which may carry
// secrets), status, size, duration, request id. Proxied calls are logged as s.proxyLog says.
func (s *Server) withLogging(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		level := slog.LevelInfo
		// 503 is a dependency's outage (the store), which its own log says once, not per request.
		if rec.status >= 500 && rec.status != http.StatusNotImplemented && rec.status != http.StatusServiceUnavailable {
			level = slog.LevelError
		}
		if rec.proxied && level < slog.LevelError {
			var ok bool
			if level, ok = s.proxyLog.level(rec.status, &s.proxyLogged); !ok {
				return
			}
		}
		if !s.logger.Enabled(r.Context(), level) {
			return
		}
		s.logger.LogAttrs(r.Context(), level, "request",
			slog.String("request_id", requestID(r.Context())),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", rec.status),
			slog.Int("bytes", rec.bytes),
			slog.Duration("duration", time.Since(start)))
	})
}

// withRecovery turns a panic into a 500. It logs the panic's type, not its value, which could
// hold request data.
func (s *Server) withRecovery(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.writeError(w, r, plugboard.Internal(fmt.Errorf("panic of type %T", v)))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// guard admits a routed request before anything reads its body. It finds the operation the route
// serves in the spec's table (operationOf), authenticates the API key unless the operation is
// public, takes a token from the key's rate limit (limits.go), requires the path's organisation to
// be the key's, requires the operation's scope, and bounds the body at the operation's limit.
// Every route, the proxy's included, passes through it, so what the spec says of an operation is
// what the server enforces.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fail := func(err error) {
			if r.Pattern == proxyPattern {
				// So callers can tell it from the upstream's own answers.
				w.Header().Set(HeaderError, "true")
			}
			s.writeError(w, r, err)
		}
		if r.Pattern == proxyPattern {
			markProxied(w)
		}
		op := s.operationOf(r)
		if op == nil {
			if r.Pattern == proxyPattern {
				fail(plugboard.Errorf(plugboard.EMethodNotAllowed, "the proxy does not forward %s requests", r.Method))
				return
			}
			fail(plugboard.Internal(fmt.Errorf("route %q has no operation in the spec", r.Pattern)))
			return
		}
		if !op.Public {
			ctx, key, err := s.authenticate(r)
			if err != nil {
				fail(err)
				return
			}
			r = r.WithContext(ctx)
			if err := s.allowKey(w, key); err != nil {
				fail(err)
				return
			}
			if err := checkOrganisation(r); err != nil {
				fail(err)
				return
			}
			if err := requireScope(ctx, op.Scope); err != nil {
				fail(err)
				return
			}
		}
		if r.Body != nil && r.Body != http.NoBody && op.MaxBody > 0 {
			r.Body = http.MaxBytesReader(w, r.Body, op.MaxBody)
		}
		next.ServeHTTP(w, r)
	})
}

// authenticate checks the request's API key and returns it, with a context carrying it and its
// organisation. The key names its organisation, so it is looked up by (organisation, key id) and
// its secret part compared by hash.
func (s *Server) authenticate(r *http.Request) (context.Context, *plugboard.APIKey, error) {
	unauth := &plugboard.Error{Code: plugboard.EUnauthenticated, Message: "missing or unknown API key",
		Details: "send an API key as 'Authorization: Bearer <key>'"}
	key, ok := apikey.FromAuthorizationHeader(r.Header.Get("Authorization"))
	if !ok {
		return nil, nil, unauth
	}
	orgID, keyID, secretHash, err := apikey.Parse(key)
	if err != nil {
		return nil, nil, unauth
	}
	now := s.now()
	stored, gen, ok := s.keyCache.get(orgID, keyID, secretHash, now)
	s.metrics.CacheLookup(telemetry.CacheAPIKeys, ok)
	if !ok {
		stored, err = s.store.GetAPIKey(r.Context(), orgID, keyID)
		if plugboard.IsCode(err, plugboard.ENotFound) {
			return nil, nil, unauth
		} else if err != nil {
			return nil, nil, err
		}
		if !apikey.Verify(secretHash, stored.Hash) {
			return nil, nil, unauth
		}
		if !s.keyCache.put(orgID, keyID, stored, now, gen) {
			return nil, nil, unauth // revoked here while it was being read
		}
	}
	if err := s.requireLiveOrganisation(r.Context(), orgID); err != nil {
		return nil, nil, err
	}
	if expired(stored, now) {
		return nil, nil, &plugboard.Error{Code: plugboard.EUnauthenticated, Message: "the API key has expired",
			Details: "create a new key: POST /o/{organisation_id}/api-keys or plugboard api-keys create"}
	}
	s.noteKeyUse(stored, now)
	ctx := context.WithValue(r.Context(), ctxOrganisation, orgID)
	ctx = events.WithActor(ctx, stored.ID.String()) // the changes this request makes are the key's
	return context.WithValue(ctx, ctxAPIKey, stored), stored, nil
}

// checkOrganisation requires the organisation in the path to be the API key's. Another
// organisation's resources are answered exactly like missing ones.
func checkOrganisation(r *http.Request) error {
	p := r.PathValue("organisation_id")
	if p == "" {
		return nil
	}
	want, ok := authOrganisation(r.Context())
	got, err := ulid.Parse(p)
	if !ok || err != nil || got != want {
		return plugboard.Errorf(plugboard.ENotFound, "organisation not found")
	}
	return nil
}

// KeyCacheTTL is how long a verified API key is trusted without reading the store again: the
// longest a key deleted through another replica keeps working when the store's change feed does
// not announce it (SQLite, or the feed lost; on PostgreSQL with the feed heard, the deletion is
// seen as soon as it is announced). (Expiry is checked on every request, cached or not; a key
// deleted through this process is dropped from its cache at once; a deleted organisation's keys
// are refused sooner, within OrgStateTTL, whatever this cache holds.)
const KeyCacheTTL = 30 * time.Second

// keyCache remembers verified API keys, so a busy client does not cost a store read per request.
// Entries hold the stored hash; a request's secret is still compared with it every time.
type keyCache struct {
	mu      sync.Mutex
	entries map[[2]ulid.ULID]keyCacheEntry
	// gen counts the keys the change feed announced changed, so that a key read from the store
	// before such a change is not cached after it.
	gen uint64
	// revoked holds keys deleted through this process, until KeyCacheTTL after: a request that
	// read such a key from the store just before the delete must not put it back.
	revoked map[[2]ulid.ULID]time.Time
}

type keyCacheEntry struct {
	key    *plugboard.APIKey
	expiry time.Time
}

// get returns a cached key whose hash the secret matches; on a miss, gen is what put needs to
// know whether a change was announced meanwhile.
func (c *keyCache) get(orgID, keyID ulid.ULID, secretHash []byte, now time.Time) (*plugboard.APIKey, uint64, bool) {
	c.mu.Lock()
	e, ok := c.entries[[2]ulid.ULID{orgID, keyID}]
	gen := c.gen
	c.mu.Unlock()
	if !ok || !now.Before(e.expiry) || !apikey.Verify(secretHash, e.key.Hash) {
		return nil, gen, false
	}
	return e.key, gen, true
}

// put remembers a verified key read after get answered gen; it reports false, remembering
// nothing, for a key this process has revoked. A key read before a change the feed announced is
// used but not remembered.
func (c *keyCache) put(orgID, keyID ulid.ULID, k *plugboard.APIKey, now time.Time, gen uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	id := [2]ulid.ULID{orgID, keyID}
	if until, ok := c.revoked[id]; ok && now.Before(until) {
		return false
	}
	if c.gen != gen {
		return true
	}
	if c.entries == nil || len(c.entries) >= 10000 {
		c.entries = map[[2]ulid.ULID]keyCacheEntry{}
	}
	c.entries[id] = keyCacheEntry{key: k, expiry: now.Add(KeyCacheTTL)}
	return true
}

// changed forgets a key the change feed announced changed (deleted, most likely) through any
// replica.
func (c *keyCache) changed(orgID, keyID ulid.ULID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, [2]ulid.ULID{orgID, keyID})
	c.gen++
}

// clear forgets every key, and keeps keys read before from being cached.
func (c *keyCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = nil
	c.gen++
}

// drop forgets a key deleted through this process, and keeps it from being cached again.
func (c *keyCache) drop(orgID, keyID ulid.ULID, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id := [2]ulid.ULID{orgID, keyID}
	delete(c.entries, id)
	for k, until := range c.revoked {
		if !now.Before(until) {
			delete(c.revoked, k)
		}
	}
	if c.revoked == nil {
		c.revoked = map[[2]ulid.ULID]time.Time{}
	}
	c.revoked[id] = now.Add(KeyCacheTTL)
}
