// Package connect is the connect use case: connecting a connection to a provider and keeping what
// it was connected with. It runs the OAuth 2.0 and OAuth 1.0a flows (initialise, the provider's
// callback, the exchange of what the callback returned), binds the client credentials of the
// systems' grants, and prepares, validates and seals the credentials of a connection's create and
// update, each in one place, for the HTTP API and the hosted connect page alike. It knows nothing
// of HTTP: callers pass what a request says and render what comes back.
//
// Credentials travel as the API's types (api.ConnectionCredential, api.AuthSchemeConfig): those
// are what internal/credentials validates and splits, and field errors name their JSON paths.
// Everything else is the domain's.
package connect

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/access"
	"github.com/plugboard/plugboard/internal/credentials"
	"github.com/plugboard/plugboard/internal/events"
	"github.com/plugboard/plugboard/internal/oauth"
	"github.com/plugboard/plugboard/internal/vault"
)

// Config is what a Service needs.
type Config struct {
	Store plugboard.Store
	Keys  *vault.Vault
	// Access is told to forget a connection whose credentials change.
	Access *access.Service
	// OAuth makes the token requests, through the guarded outbound client.
	OAuth *oauth.Client
	// Events writes each change's event in the change's transaction.
	Events *events.Log
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
	// PublicURL is the base URL browsers reach the server at, for the OAuth callbacks.
	PublicURL string
	// ReturnURLOrigins are the origins (scheme://host[:port]) a flow's returnUrl and openerOrigin
	// may name, besides PublicURL's own.
	ReturnURLOrigins []string
	// SessionTTL is how long a connect session lasts; DefaultSessionTTL when zero.
	SessionTTL time.Duration
}

// Service runs the connect use case on a store.
type Service struct {
	store     plugboard.Store
	keys      *vault.Vault
	access    *access.Service
	oauth     *oauth.Client
	events    *events.Log
	now       func() time.Time
	publicURL string
	// returnOrigins are the allowed returnUrl origins, lower-cased.
	returnOrigins map[string]bool
	sessionTTL    time.Duration
}

// New returns a Service.
func New(cfg Config) *Service {
	s := &Service{store: cfg.Store, keys: cfg.Keys, access: cfg.Access, oauth: cfg.OAuth, events: cfg.Events, now: cfg.Now,
		publicURL: strings.TrimSuffix(cfg.PublicURL, "/"), returnOrigins: map[string]bool{}, sessionTTL: cfg.SessionTTL}
	if s.now == nil {
		s.now = time.Now
	}
	if s.events == nil {
		s.events = events.New(events.Options{Now: s.now})
	}
	for _, o := range append([]string{cfg.PublicURL}, cfg.ReturnURLOrigins...) {
		if u, err := url.Parse(strings.TrimSpace(o)); err == nil && u.Host != "" {
			s.returnOrigins[strings.ToLower(u.Scheme+"://"+u.Host)] = true
		}
	}
	return s
}

// timestamp returns the current time as the store keeps it: UTC, microsecond precision.
func (s *Service) timestamp() time.Time {
	return s.now().UTC().Truncate(time.Microsecond)
}

// newID returns a new ULID for a record.
func newID() ulid.ULID { return ulid.Make() }

// PublicConfig decodes a stored auth scheme config; its secret fields are already empty.
func PublicConfig(c plugboard.AuthSchemeConfig) (api.AuthSchemeConfig, error) {
	out, err := credentials.PublicConfig(c.Config)
	if err != nil {
		return out, plugboard.Internal(fmt.Errorf("decode auth scheme config %q: %w", c.ID, err))
	}
	return out, nil
}

// fullConfig returns a stored config with its sealed secrets (an OAuth 1.0a consumer secret).
func (s *Service) fullConfig(orgID, systemID ulid.ULID, c plugboard.AuthSchemeConfig) (api.AuthSchemeConfig, error) {
	return access.FullConfig(s.keys, orgID, systemID, c)
}

// allowedReturnURL reports whether a flow may send browsers to u.
func (s *Service) allowedReturnURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && s.returnOrigins[strings.ToLower(u.Scheme+"://"+u.Host)]
}

func absoluteHTTP(v string) bool {
	u, err := url.Parse(v)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
