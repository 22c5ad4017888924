package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/access"
	"github.com/plugboard/plugboard/internal/apply"
	"github.com/plugboard/plugboard/internal/events"
	"github.com/plugboard/plugboard/internal/hmacsig"
)

// The inbound webhook endpoint: POST /hooks/{organisation_id}/{connection_id}/{auth_scheme_config_id}.
// A third party signs its deliveries with a secret that a connection holds as the credential of
// an hmac auth scheme config; a delivery that verifies becomes an inbound.received event, in one
// transaction. It is public (the sender has no API key), so nothing it answers may say which ids
// exist: every refusal after the size check is the same 401.

// hooksPattern is the route the endpoint is served on, by hand, since it reads the raw body and
// the request's headers.
const hooksPattern = "POST /hooks/{organisation_id}/{connection_id}/{auth_scheme_config_id}"

// Inbound limits' defaults.
const (
	// DefaultInboundMaxBodyBytes is the largest delivery accepted (413 above it, before verification).
	DefaultInboundMaxBodyBytes = 1 << 20
	// DefaultInboundEventBodyBytes is how much of a delivery's body its event keeps (sealed).
	DefaultInboundEventBodyBytes = 64 << 10
)

// errNotVerified is the one answer to a delivery that is not verified, whatever the reason.
var errNotVerified = &plugboard.Error{Code: plugboard.EUnauthenticated, Message: "the delivery could not be verified",
	Details: "the signature, the timestamp or the URL's ids do not match a connection's hmac credential"}

// inboundDelivery is a verified delivery, ready to be stored.
type inboundDelivery struct {
	conn     *plugboard.Connection
	configID string
	credID   ulid.ULID
	// cfg is the hmac config the delivery verified with.
	cfg *api.AuthSchemeConfigHMAC
}

// serveInbound receives one delivery.
func (s *Server) serveInbound(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	body, err := s.readInboundBody(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	d, err := s.verifyInbound(ctx, r, body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if ok, wait := s.limits.perInbound.Allow([2]ulid.ULID{d.conn.OrganisationID, d.conn.ID}, s.now()); !ok {
		s.writeError(w, r, rateLimited(w, wait, "connection's inbound webhooks", "PLUGBOARD_INBOUND_RATE_LIMIT_PER_CONNECTION"))
		return
	}
	if err := s.storeInbound(ctx, r, body, d); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// readInboundBody reads the whole body, refusing one over the limit (413) before anything else
// looks at the request.
func (s *Server) readInboundBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	limit := s.inbound.maxBody
	tooLarge := plugboard.Errorf(plugboard.ETooLarge, "the delivery's body is larger than %d bytes", limit)
	if r.ContentLength > limit {
		return nil, tooLarge
	}
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, tooLarge
	case err != nil:
		return nil, &plugboard.Error{Code: plugboard.EInvalid, Message: "the delivery's body could not be read", Err: err}
	}
	return body, nil
}

// verifyInbound finds the hmac credential the path names and checks the delivery's signature
// (and timestamp, when the config names one) with it. Anything that does not verify is
// errNotVerified; only a server fault is another error.
func (s *Server) verifyInbound(ctx context.Context, r *http.Request, body []byte) (*inboundDelivery, error) {
	orgID, err1 := ulid.ParseStrict(r.PathValue("organisation_id"))
	connID, err2 := ulid.ParseStrict(r.PathValue("connection_id"))
	configID := r.PathValue("auth_scheme_config_id")
	if err1 != nil || err2 != nil || configID == "" {
		return nil, errNotVerified
	}
	conn, _, creds, err := s.access.Open(ctx, orgID, connID)
	if err != nil {
		return nil, notVerified(err)
	}
	// Only once a connection is found, so made-up organisation ids fill no cache.
	if err := s.requireLiveOrganisation(ctx, orgID); err != nil {
		return nil, notVerified(err)
	}
	now := s.now()
	for i, cc := range conn.Credentials {
		c := creds[i]
		if cc.AuthSchemeConfigID != configID || c.Config.Type != api.AuthSchemeTypeHmac || c.Config.Hmac == nil {
			continue
		}
		if access.Expired(&cc.Credential, now) {
			continue // an expired credential is never used again
		}
		if s.inboundSigned(r, body, c, now) {
			return &inboundDelivery{conn: conn, configID: configID, credID: cc.Credential.ID, cfg: c.Config.Hmac}, nil
		}
	}
	return nil, errNotVerified
}

// notVerified keeps server faults (logged, 500) and turns everything else (not found, a deleted
// organisation) into errNotVerified.
func notVerified(err error) error {
	var e *plugboard.Error
	if errors.As(err, &e) && e.Code != plugboard.EInternal {
		return errNotVerified
	}
	if e == nil {
		return err
	}
	return e
}

// inboundSigned reports whether the delivery carries c's signature and, when c's config names a
// timestamp header, a timestamp within its tolerance.
func (s *Server) inboundSigned(r *http.Request, body []byte, c apply.Credential, now time.Time) bool {
	cfg := c.Config.Hmac
	key, err := apply.HMACKey(c)
	if err != nil || len(key) == 0 {
		return false
	}
	in := hmacsig.Inputs{Body: body, URL: s.inboundURL(r, cfg)}
	if cfg.TimestampHeader != "" {
		in.Timestamp = r.Header.Get(cfg.TimestampHeader)
		if !hmacsig.FreshTimestamp(cfg, in.Timestamp, now) {
			return false
		}
	}
	return hmacsig.Verify(cfg, key, in, presentedSignature(r, cfg))
}

// presentedSignature returns the signature the delivery carries where the config says.
func presentedSignature(r *http.Request, cfg *api.AuthSchemeConfigHMAC) string {
	switch cfg.In {
	case api.AuthSchemeConfigHMACInHeader:
		return r.Header.Get(cfg.Name)
	case api.AuthSchemeConfigHMACInQuery:
		return r.URL.Query().Get(cfg.Name)
	case api.AuthSchemeConfigHMACInCookie:
		if c, err := r.Cookie(cfg.Name); err == nil {
			return c.Value
		}
	}
	return ""
}

// inboundURL is the `url` input of a delivery: the public URL the sender called, that is
// Plugboard's public URL, the path and the query as sent, less the signature's own query
// parameter when the config carries it there (the sender signed the URL before adding it).
func (s *Server) inboundURL(r *http.Request, cfg *api.AuthSchemeConfigHMAC) string {
	// The request target as received, byte for byte (not re-encoded from the parsed URL).
	target := r.RequestURI
	if !strings.HasPrefix(target, "/") { // absolute-form, or a request not read from the wire
		target = r.URL.EscapedPath()
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
	}
	path, q, _ := strings.Cut(target, "?")
	u := s.publicURL + path
	if cfg.In == api.AuthSchemeConfigHMACInQuery && q != "" {
		var kept []string
		for _, p := range strings.Split(q, "&") {
			k, _, _ := strings.Cut(p, "=")
			if dk, err := url.QueryUnescape(k); err == nil && dk == cfg.Name {
				continue
			}
			kept = append(kept, p)
		}
		q = strings.Join(kept, "&")
	}
	if q != "" {
		u += "?" + q
	}
	return u
}

// storeInbound writes the delivery's event: its headers (less hop-by-hop ones, cookies,
// Authorization and the signature itself) and its body up to the configured size, sealed. The
// signature is left out because Plugboard has checked it: kept beside the body, it would hand every
// reader of the event (events:read keys, webhook endpoints) a delivery that verifies again, for ever
// when the sender signs no timestamp.
func (s *Server) storeInbound(ctx context.Context, r *http.Request, body []byte, d *inboundDelivery) error {
	h := r.Header.Clone()
	stripHeaders(h, false)
	h.Del("Cookie")
	h.Del("Authorization")
	if d.cfg != nil && d.cfg.In == api.AuthSchemeConfigHMACInHeader {
		h.Del(d.cfg.Name)
	}
	details, err := events.InboundDetails(r.Method, h, body, int(s.inbound.eventBody))
	if err != nil {
		return plugboard.Internal(fmt.Errorf("encode inbound delivery: %w", err))
	}
	e := plugboard.Event{OrganisationID: d.conn.OrganisationID, Type: events.InboundReceived,
		ConnectionID: d.conn.ID, CredentialID: d.credID, EndUserID: d.conn.EndUserID, SystemID: d.conn.SystemID,
		TemplateID: d.conn.TemplateID, AuthSchemeConfigID: d.configID, OccurredAt: s.events.Now()}
	// The details are sealed bound to the event's id, so the id is taken before Emit.
	if e.ID, err = s.events.NewID(e.OccurredAt); err != nil {
		return plugboard.Internal(err)
	}
	if e.Sealed, err = s.keys.SealEvent(e.OrganisationID, e.ID, details); err != nil {
		return err
	}
	return s.store.InTx(ctx, func(tx plugboard.Store) error {
		return s.events.Emit(ctx, tx, e)
	})
}
