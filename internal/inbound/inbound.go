// Package inbound receives webhook deliveries that third parties send to a connection: it finds
// the hmac credential the delivery's path names, verifies the signature (and timestamp) with it
// through internal/hmacsig, and records a verified delivery as a sealed inbound.received event in
// one transaction. The endpoint is public (the sender has no API key), so nothing it answers may
// say which ids exist: every refusal is ErrNotVerified. The HTTP layer reads the body (bounded),
// applies the per-connection rate limit and writes the answer; this package needs no server.
package inbound

import (
	"context"
	"errors"
	"fmt"
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
	"github.com/plugboard/plugboard/internal/outbound"
	"github.com/plugboard/plugboard/internal/vault"
)

// DefaultEventBodyBytes is how much of a delivery's body its event keeps (sealed) by default.
const DefaultEventBodyBytes = 64 << 10

// ErrNotVerified is the one answer to a delivery that is not verified, whatever the reason.
var ErrNotVerified = &plugboard.Error{Code: plugboard.EUnauthenticated, Message: "the delivery could not be verified",
	Details: "the signature, the timestamp or the URL's ids do not match a connection's hmac credential"}

// Config is what a Receiver works with.
type Config struct {
	Store  plugboard.Store
	Keys   *vault.Vault
	Access *access.Service
	Events *events.Log
	// PublicURL is the base URL senders call (no trailing slash): the `url` a signature covers
	// starts with it.
	PublicURL string
	// EventBodyBytes is how much of a body the event keeps; DefaultEventBodyBytes when zero.
	EventBodyBytes int
	// LiveOrganisation refuses an organisation that is deleted; nil accepts every organisation.
	LiveOrganisation func(context.Context, ulid.ULID) error
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Receiver verifies and records deliveries.
type Receiver struct {
	cfg Config
}

// New returns a Receiver.
func New(cfg Config) *Receiver {
	if cfg.EventBodyBytes <= 0 {
		cfg.EventBodyBytes = DefaultEventBodyBytes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	return &Receiver{cfg: cfg}
}

// Target is what a delivery's path names.
type Target struct {
	OrganisationID, ConnectionID, AuthSchemeConfigID string
}

// Verified is a delivery that verified, ready to be recorded.
type Verified struct {
	Connection   *plugboard.Connection
	ConfigID     string
	CredentialID ulid.ULID
	// cfg is the hmac config the delivery verified with.
	cfg *api.AuthSchemeConfigHMAC
}

// Verify finds the hmac credential t names and checks r's signature over body (and its
// timestamp, when the config names one) with it. Anything that does not verify is
// ErrNotVerified; only a server fault is another error.
func (rc *Receiver) Verify(ctx context.Context, t Target, r *http.Request, body []byte) (*Verified, error) {
	orgID, err1 := ulid.ParseStrict(t.OrganisationID)
	connID, err2 := ulid.ParseStrict(t.ConnectionID)
	if err1 != nil || err2 != nil || t.AuthSchemeConfigID == "" {
		return nil, ErrNotVerified
	}
	conn, _, creds, err := rc.cfg.Access.Open(ctx, orgID, connID)
	if err != nil {
		return nil, notVerified(err)
	}
	// Only once a connection is found, so made-up organisation ids fill no cache.
	if rc.cfg.LiveOrganisation != nil {
		if err := rc.cfg.LiveOrganisation(ctx, orgID); err != nil {
			return nil, notVerified(err)
		}
	}
	now := rc.cfg.Now()
	for i, cc := range conn.Credentials {
		c := creds[i]
		if cc.AuthSchemeConfigID != t.AuthSchemeConfigID || c.Config.Type != api.AuthSchemeTypeHmac || c.Config.Hmac == nil {
			continue
		}
		if access.Expired(&cc.Credential, now) {
			continue // an expired credential is never used again
		}
		if rc.signed(r, body, c, now) {
			return &Verified{Connection: conn, ConfigID: t.AuthSchemeConfigID, CredentialID: cc.Credential.ID, cfg: c.Config.Hmac}, nil
		}
	}
	return nil, ErrNotVerified
}

// notVerified keeps server faults and turns everything else (not found, a deleted organisation)
// into ErrNotVerified.
func notVerified(err error) error {
	var e *plugboard.Error
	if errors.As(err, &e) && e.Code != plugboard.EInternal {
		return ErrNotVerified
	}
	if e == nil {
		return err
	}
	return e
}

// signed reports whether the delivery carries c's signature and, when c's config names a
// timestamp header, a timestamp within its tolerance.
func (rc *Receiver) signed(r *http.Request, body []byte, c apply.Credential, now time.Time) bool {
	cfg := c.Config.Hmac
	key, err := apply.HMACKey(c)
	if err != nil || len(key) == 0 {
		return false
	}
	in := hmacsig.Inputs{Body: body, URL: rc.signedURL(r, cfg)}
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

// signedURL is the `url` input of a delivery: the public URL the sender called, that is the
// public URL, the path and the query as sent, less the signature's own query parameter when the
// config carries it there (the sender signed the URL before adding it).
func (rc *Receiver) signedURL(r *http.Request, cfg *api.AuthSchemeConfigHMAC) string {
	// The request target as received, byte for byte (not re-encoded from the parsed URL).
	target := r.RequestURI
	if !strings.HasPrefix(target, "/") { // absolute-form, or a request not read from the wire
		target = r.URL.EscapedPath()
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
	}
	path, q, _ := strings.Cut(target, "?")
	u := rc.cfg.PublicURL + path
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

// Record writes the delivery's event: its headers (less hop-by-hop ones, cookies, Authorization
// and the signature itself) and its body up to the configured size, sealed. The signature is left
// out because Plugboard has checked it: kept beside the body, it would hand every reader of the
// event (events:read keys, webhook endpoints) a delivery that verifies again, for ever when the
// sender signs no timestamp.
func (rc *Receiver) Record(ctx context.Context, r *http.Request, body []byte, v *Verified) error {
	h := r.Header.Clone()
	outbound.StripHopByHop(h)
	h.Del("Cookie")
	h.Del("Authorization")
	if v.cfg != nil && v.cfg.In == api.AuthSchemeConfigHMACInHeader {
		h.Del(v.cfg.Name)
	}
	details, err := events.InboundDetails(r.Method, h, body, rc.cfg.EventBodyBytes)
	if err != nil {
		return plugboard.Internal(fmt.Errorf("encode inbound delivery: %w", err))
	}
	conn := v.Connection
	e := plugboard.Event{OrganisationID: conn.OrganisationID, Type: events.InboundReceived,
		ConnectionID: conn.ID, CredentialID: v.CredentialID, EndUserID: conn.EndUserID, SystemID: conn.SystemID,
		TemplateID: conn.TemplateID, AuthSchemeConfigID: v.ConfigID, OccurredAt: rc.cfg.Events.Now()}
	// The details are sealed bound to the event's id, so the id is taken before Emit.
	if e.ID, err = rc.cfg.Events.NewID(e.OccurredAt); err != nil {
		return plugboard.Internal(err)
	}
	if e.Sealed, err = rc.cfg.Keys.SealEvent(e.OrganisationID, e.ID, details); err != nil {
		return err
	}
	return rc.cfg.Store.InTx(ctx, func(tx plugboard.Store) error {
		return rc.cfg.Events.Emit(ctx, tx, e)
	})
}
