// Package access makes a connection usable: it opens the connection's sealed credentials, keeps
// OAuth 2.0 tokens fresh, and hands them to internal/apply, for the proxy, the access endpoint and
// anything else that calls a third-party API on a connection's behalf.
//
// Refreshing costs exactly one call at the provider per expiry, however many requests and
// replicas ask at once: callers in one process share a refresh (singleflight per credential), and
// on PostgreSQL the refresh itself runs with the credential's row locked (LockCredential) after
// re-reading it, so a replica that waited for the lock finds the new token instead of refreshing
// again. The new access and refresh tokens are written in the same transaction. On SQLite, whose
// lock would stop every writer, the provider is called outside the transaction and the result
// written only if the stored token is still the one refreshed.
package access

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
	"golang.org/x/sync/singleflight"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/apply"
	"github.com/plugboard/plugboard/internal/credentials"
	"github.com/plugboard/plugboard/internal/events"
	"github.com/plugboard/plugboard/internal/oauth"
	"github.com/plugboard/plugboard/internal/telemetry"
	"github.com/plugboard/plugboard/internal/vault"
)

// DefaultSkew is how long before expiry a token is refreshed.
const DefaultSkew = 60 * time.Second

// Store is what the package uses of a plugboard.Store, every implementation of which satisfies it.
// Writes go through InTx, whose transaction is a whole plugboard.Store.
type Store interface {
	InTx(ctx context.Context, fn func(tx plugboard.Store) error) error
	RowLocks() bool
	GetConnection(ctx context.Context, orgID, id ulid.ULID) (*plugboard.Connection, error)
	GetSystem(ctx context.Context, orgID, id ulid.ULID) (*plugboard.System, error)
	GetCredential(ctx context.Context, orgID, id ulid.ULID) (*plugboard.Credential, error)
	TryLead(ctx context.Context, name string) (release func(), ok bool, err error)
	ListRefreshDue(ctx context.Context, before time.Time, limit int) ([]plugboard.CredentialRef, error)
	ListExpiredCredentials(ctx context.Context, at time.Time, limit int) ([]plugboard.CredentialRef, error)
	ListExpiringCredentials(ctx context.Context, now, before time.Time, limit int) ([]plugboard.CredentialRef, error)
}

// CredentialGetter is what reading a grant's client or an mTLS certificate needs of a store.
type CredentialGetter interface {
	GetCredential(ctx context.Context, orgID, id ulid.ULID) (*plugboard.Credential, error)
}

// Service opens connections for use. It is safe for concurrent use.
type Service struct {
	store   Store
	keys    *vault.Vault
	oauth   *oauth.Client
	applier *apply.Applier
	now     func() time.Time
	skew    time.Duration

	group singleflight.Group
	mu    sync.Mutex
	cc    map[string]cachedToken // client-credentials tokens by organisation/credential

	// opened keeps recently opened connections (decrypted, in memory only) for cacheTTL, or for
	// watchedTTL while the store's change feed is heard (watched), so that a busy connection is
	// not read and decrypted on every proxied request.
	cacheTTL   time.Duration
	watchedTTL time.Duration
	cacheMu    sync.Mutex
	watched    bool
	opened     map[string]openedEntry
	// gens count Forget calls per connection (and genAll ForgetAll calls), so that an open that
	// began before a change does not put what it read into the cache after the change.
	gens   map[string]uint64
	genAll uint64
	// sysChanges counts the change feed's system changes, so that an open that began before one
	// does not cache what it read of the system (or of a connection of it) after it.
	sysChanges uint64
	// systems keeps systems with their configs opened, as long as opened does, under cacheMu: connections
	// share few systems, so a connection read anew costs one store read, not two.
	systems map[[2]ulid.ULID]systemEntry

	// forceInterval bounds forced refreshes per credential (Config.ForceRefreshInterval); none when 0.
	forceInterval time.Duration

	// events records refresh failures and recoveries, and the sweeper's deletions and warnings.
	events *events.Log

	// metrics counts cache lookups and refreshes; nil counts nothing.
	metrics *telemetry.Metrics
}

type openedEntry struct {
	conn   *plugboard.Connection
	sys    *plugboard.System
	creds  []apply.Credential
	cert   *clientCert // the connection's client certificate and its transport; nil without one
	expiry time.Time
}

type systemEntry struct {
	sys     *plugboard.System
	configs map[string]api.AuthSchemeConfig // by id, opened (FullConfig)
	expiry  time.Time
}

// maxOpened bounds the opened-connection cache; past it expired entries are dropped, and if that
// frees nothing the cache starts over. It is well above the 10,000 connections the proxy
// benchmark calls round-robin, so that such a load stays in the cache.
const maxOpened = 50000

type cachedToken struct {
	token     *oauth.Token
	fetchedAt time.Time
	secretKey string // a fingerprint of the client credentials the token was fetched with
	failure   error  // the last fetch's failure, answered until failedAt+ClientFailureCooldown
	failedAt  time.Time
}

// Config is what a Service needs.
type Config struct {
	Store Store
	Keys  *vault.Vault
	OAuth *oauth.Client
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Skew is how long before expiry tokens are refreshed; DefaultSkew when zero.
	Skew time.Duration
	// CacheTTL is how long an opened connection is reused before it is read from the store again;
	// DefaultCacheTTL when zero, no caching when negative. Changes made through this process drop
	// the entry at once; changes through another replica show after at most CacheTTL, unless the
	// store's change feed is heard (Watching): then they show as soon as the feed delivers them,
	// and entries are kept for WatchedCacheTTL.
	CacheTTL time.Duration
	// WatchedCacheTTL is how long an opened connection is reused while the change feed is heard;
	// DefaultWatchedCacheTTL when zero. It bounds what a change the feed failed to deliver
	// without its connection being noticed lost could cost.
	WatchedCacheTTL time.Duration
	// ForceRefreshInterval is the least time between forced refreshes of one credential: a forced
	// refresh (Options.Force) of a token stored less than this ago, and not yet expiring, is
	// skipped and the current token used (Prepared.RefreshSkipped). The stored credential's
	// UpdatedAt is the clock for oauth2-token credentials, so the bound holds across replicas; for
	// oauth2-client tokens, which each process fetches and keeps itself, it is per process.
	// DefaultForceRefreshInterval when zero, no bound when negative.
	ForceRefreshInterval time.Duration
	// Events writes the events of the changes the service makes (refresh failures and recoveries,
	// expiry); one on Now is made when nil.
	Events *events.Log
	// Metrics counts opened-connection cache hits and misses, refresh outcomes and refreshes held
	// back by a backoff; nil counts nothing.
	Metrics *telemetry.Metrics
}

// DefaultForceRefreshInterval is ForceRefreshInterval's default.
const DefaultForceRefreshInterval = 10 * time.Second

// DefaultCacheTTL bounds how stale another replica's change to a connection can look here while
// the store's change feed is not heard (SQLite has none: there, every change is this process's).
const DefaultCacheTTL = 5 * time.Second

// DefaultWatchedCacheTTL is how long an opened connection is kept while every change is heard.
const DefaultWatchedCacheTTL = 5 * time.Minute

// New returns a Service.
func New(cfg Config) *Service {
	s := &Service{store: cfg.Store, keys: cfg.Keys, oauth: cfg.OAuth, now: cfg.Now, skew: cfg.Skew, cc: map[string]cachedToken{},
		cacheTTL: cfg.CacheTTL, opened: map[string]openedEntry{}, gens: map[string]uint64{}, systems: map[[2]ulid.ULID]systemEntry{},
		metrics: cfg.Metrics}
	if s.cacheTTL == 0 {
		s.cacheTTL = DefaultCacheTTL
	}
	if s.watchedTTL = cfg.WatchedCacheTTL; s.watchedTTL <= 0 {
		s.watchedTTL = DefaultWatchedCacheTTL
	}
	switch s.forceInterval = cfg.ForceRefreshInterval; {
	case s.forceInterval == 0:
		s.forceInterval = DefaultForceRefreshInterval
	case s.forceInterval < 0:
		s.forceInterval = 0
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.events = cfg.Events; s.events == nil {
		s.events = events.New(events.Options{Now: s.now, Metrics: cfg.Metrics})
	}
	if s.skew == 0 {
		s.skew = DefaultSkew
	}
	s.applier = apply.NewApplier(s.now)
	return s
}

// Applier returns the applier the service's prepared connections use.
func (s *Service) Applier() *apply.Applier { return s.applier }

// Prepared is a connection ready to be used: its credentials opened, in order, with fresh tokens.
type Prepared struct {
	Connection *plugboard.Connection
	System     *plugboard.System
	// BaseURL is the connection's base URL, else its system's template base URL.
	BaseURL     string
	Credentials []apply.Credential
	// OAuth2 is the token of the connection's first OAuth 2.0 credential, nil when it has none.
	OAuth2 *Token
	// RefreshSkipped is set when a forced refresh was asked for and at least one token was not
	// refreshed because it had been within the forced-refresh interval; the current one is used.
	RefreshSkipped bool

	cert *clientCert // see Transport
}

// Token is an OAuth 2.0 access token as callers see it.
type Token struct {
	AccessToken string
	TokenType   string
	// ExpiresAt is zero when the provider gave no lifetime.
	ExpiresAt time.Time
}

// Options tune Prepare.
type Options struct {
	// Force refreshes every OAuth 2.0 token first (X-Plugboard-Force-Refresh).
	Force bool
	// Rejected is an access token an upstream answered 401 to: a token still stored as it is
	// refreshed; one already replaced (by another request or replica) is simply used.
	Rejected string
	// Admit, when set, is called once the connection is known to exist and before any token is
	// refreshed; its error stops Prepare. The proxy takes the connection's rate limit there, so
	// that ids of connections that do not exist cost no bucket.
	Admit func() error
}

// Prepare opens a connection's credentials and refreshes tokens that are due: expiring within the
// skew, forced, or rejected by the upstream.
func (s *Service) Prepare(ctx context.Context, orgID, connectionID ulid.ULID, opts Options) (*Prepared, error) {
	c, sys, opened, cert, err := s.openCached(ctx, orgID, connectionID, opts.Force || opts.Rejected != "")
	if err != nil {
		return nil, err
	}
	// Checked on every use against the clock, cached or not: an expired credential is never
	// applied, whether or not the sweeper has deleted it yet.
	if err := Usable(c, s.now()); err != nil {
		return nil, err
	}
	if opts.Admit != nil {
		if err := opts.Admit(); err != nil {
			return nil, err
		}
	}
	p := &Prepared{Connection: c, System: sys, BaseURL: c.BaseURL, cert: cert}
	if p.BaseURL == "" {
		p.BaseURL = sys.TemplateBaseURL
	}
	for i, cc := range c.Credentials {
		cred := &opened[i]
		switch cred.Type {
		case api.CredentialTypeOauth2Token:
			tok := cred.Data.Oauth2Token
			rejected := opts.Rejected != "" && tok.AccessToken == opts.Rejected
			expiring := s.expiringSince(tok.ExpiresAt, cc.Credential.UpdatedAt)
			force := opts.Force
			if force && !rejected && !expiring && s.recent(cc.Credential.UpdatedAt) {
				// Stored (refreshed, or written through the API) within the interval: keep it.
				force, p.RefreshSkipped = false, true
			}
			if force || rejected || expiring {
				fresh, err := s.refresh(ctx, c, cc, cred.Config, opened, tok.AccessToken)
				s.forgetKeepingCert(orgID, connectionID) // the stored token changed (or failed): read it anew next time
				switch {
				case err == nil:
					tok = fresh
					cred.Data.Oauth2Token = fresh
				case !force && !rejected && (tok.ExpiresAt.IsZero() || s.now().Before(tok.ExpiresAt)):
					// A refresh ahead of expiry failed, but the token still works: use it; the
					// failure is recorded on the credential and the next attempt waits its turn.
				default:
					return nil, err
				}
			}
			cred.AccessToken, cred.TokenType = tok.AccessToken, tok.TokenType
		case api.CredentialTypeOauth2Client:
			copts := opts
			if opts.Force && s.clientFetchedRecently(orgID, cc.Credential.ID) {
				copts.Force, p.RefreshSkipped = false, true
			}
			tok, err := s.clientToken(ctx, orgID, cc.Credential.ID, cred.Config, cred.Data.Oauth2Client, opened, copts)
			if err != nil {
				return nil, err
			}
			cred.AccessToken, cred.TokenType = tok.AccessToken, tok.TokenType
		default:
			continue
		}
		if p.OAuth2 == nil {
			t := &Token{AccessToken: cred.AccessToken, TokenType: cred.TokenType}
			if cred.Type == api.CredentialTypeOauth2Token {
				t.ExpiresAt = cred.Data.Oauth2Token.ExpiresAt
			}
			if t.TokenType == "" {
				t.TokenType = "Bearer"
			}
			p.OAuth2 = t
		}
	}
	p.Credentials = opened
	return p, nil
}

// Open returns a connection, its system and its credentials, opened (secrets included), through
// the opened-connection cache, without refreshing any token: for verifying what a third party
// signed with one of them (the inbound webhook endpoint), where no request goes out.
func (s *Service) Open(ctx context.Context, orgID, connectionID ulid.ULID) (*plugboard.Connection, *plugboard.System, []apply.Credential, error) {
	c, sys, opened, _, err := s.openCached(ctx, orgID, connectionID, false)
	return c, sys, opened, err
}

// recent reports whether a token stored at storedAt is within the forced-refresh interval.
func (s *Service) recent(storedAt time.Time) bool {
	return s.forceInterval > 0 && !storedAt.IsZero() && s.now().Sub(storedAt) < s.forceInterval
}

// clientFetchedRecently reports whether this process fetched a client-credentials token for the
// credential within the forced-refresh interval, and it is not expiring.
func (s *Service) clientFetchedRecently(orgID, credID ulid.ULID) bool {
	s.mu.Lock()
	cached, ok := s.cc[orgID.String()+"/"+credID.String()]
	s.mu.Unlock()
	return ok && cached.token != nil && s.recent(cached.fetchedAt) && !s.expiringSince(cached.token.ExpiresAt, cached.fetchedAt)
}

// SentToken is the OAuth 2.0 access token a prepared connection puts on requests ("" if none), to
// name in Options.Rejected when the upstream answers 401.
func (p *Prepared) SentToken() string {
	if p.OAuth2 == nil {
		return ""
	}
	return p.OAuth2.AccessToken
}

// openCached is open with the opened-connection cache in front. The credentials are copied, so
// callers may fill in tokens without touching the cache. cert is nil when the connection has no
// client certificate, or what was read could not be cached (a change raced with the read).
func (s *Service) openCached(ctx context.Context, orgID, connectionID ulid.ULID, bypass bool) (*plugboard.Connection, *plugboard.System, []apply.Credential, *clientCert, error) {
	key := orgID.String() + "/" + connectionID.String()
	now := s.now()
	s.cacheMu.Lock()
	e, ok := s.opened[key]
	gen, genAll, sysChanges := s.gens[key], s.genAll, s.sysChanges
	s.cacheMu.Unlock()
	if !bypass && s.cacheTTL > 0 && ok && now.Before(e.expiry) {
		s.metrics.CacheLookup(telemetry.CacheCredentials, true)
		return e.conn, e.sys, slices.Clone(e.creds), e.cert, nil
	}
	s.metrics.CacheLookup(telemetry.CacheCredentials, false)
	c, sys, opened, err := s.open(ctx, orgID, connectionID)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	// The certificate is parsed once per entry; one read again unchanged keeps its transport.
	cert := newClientCert(opened, e.cert)
	if s.cacheTTL <= 0 {
		return c, sys, opened, nil, nil
	}
	var dropped []*clientCert
	s.cacheMu.Lock()
	if s.gens[key] == gen && s.genAll == genAll && s.sysChanges == sysChanges { // nothing changed while we read
		if len(s.opened) >= maxOpened {
			dropped = s.sweepLocked(now)
		}
		if old := s.opened[key].cert; old != nil && old != cert {
			if cert != nil && old.same(cert.data) {
				cert = old // another call read the same certificate meanwhile: keep its transport
				cert.pointTo(opened)
			} else {
				dropped = append(dropped, old)
			}
		}
		s.opened[key] = openedEntry{conn: c, sys: sys, creds: slices.Clone(opened), cert: cert, expiry: now.Add(s.ttlLocked())}
	} else {
		cert = nil
	}
	s.cacheMu.Unlock()
	closeAll(dropped)
	return c, sys, opened, cert, nil
}

// sweepLocked drops expired entries from the full opened-connection cache, or all of them when
// none has expired, and returns the certificates to close.
func (s *Service) sweepLocked(now time.Time) []*clientCert {
	var certs []*clientCert
	for k, e := range s.opened {
		if !now.Before(e.expiry) {
			delete(s.opened, k)
			if e.cert != nil {
				certs = append(certs, e.cert)
			}
		}
	}
	if len(s.opened) >= maxOpened {
		certs = append(certs, s.dropAllLocked()...)
	}
	return certs
}

// system returns a system with its configs opened, through the cache.
func (s *Service) system(ctx context.Context, orgID, systemID ulid.ULID) (*plugboard.System, map[string]api.AuthSchemeConfig, error) {
	key := [2]ulid.ULID{orgID, systemID}
	now := s.now()
	s.cacheMu.Lock()
	e, ok := s.systems[key]
	genAll, sysChanges := s.genAll, s.sysChanges
	s.cacheMu.Unlock()
	if s.cacheTTL > 0 && ok && now.Before(e.expiry) {
		s.metrics.CacheLookup(telemetry.CacheSystems, true)
		return e.sys, e.configs, nil
	}
	s.metrics.CacheLookup(telemetry.CacheSystems, false)
	sys, err := s.store.GetSystem(ctx, orgID, systemID)
	if err != nil {
		return nil, nil, err
	}
	configs := make(map[string]api.AuthSchemeConfig, len(sys.AuthSchemeConfigs))
	for _, stored := range sys.AuthSchemeConfigs {
		if configs[stored.ID], err = FullConfig(s.keys, orgID, sys.ID, stored); err != nil {
			return nil, nil, err
		}
	}
	if s.cacheTTL > 0 {
		s.cacheMu.Lock()
		if s.genAll == genAll && s.sysChanges == sysChanges { // no system changed while we read
			if len(s.systems) >= maxOpened {
				s.systems = map[[2]ulid.ULID]systemEntry{}
			}
			s.systems[key] = systemEntry{sys: sys, configs: configs, expiry: now.Add(s.ttlLocked())}
		}
		s.cacheMu.Unlock()
	}
	return sys, configs, nil
}

// dropAllLocked empties the opened-connection cache and returns the certificates to close (after
// cacheMu is released: closing waits for nothing, but need not hold the lock).
func (s *Service) dropAllLocked() []*clientCert {
	var certs []*clientCert
	for _, e := range s.opened {
		if e.cert != nil {
			certs = append(certs, e.cert)
		}
	}
	s.opened = map[string]openedEntry{}
	return certs
}

func closeAll(certs []*clientCert) {
	for _, c := range certs {
		c.close()
	}
}

// Forget drops a connection from the opened-connection cache; the API calls it when it changes or
// deletes the connection.
func (s *Service) Forget(orgID, connectionID ulid.ULID) {
	key := orgID.String() + "/" + connectionID.String()
	s.cacheMu.Lock()
	cert := s.opened[key].cert
	delete(s.opened, key)
	s.changedLocked(key)
	s.cacheMu.Unlock()
	cert.close()
}

// forgetKeepingCert drops a connection's opened entry after it changed (one of its tokens was
// refreshed, or a refresh failed, or the change feed announced a change), but keeps its client
// certificate and the transport that presents it, for the next open to take over if the
// certificate it reads is the same (newClientCert): a refresh changes no certificate, and dropping
// the transport would make the next calls shake hands anew.
// The kept certificate is closed like any other when the entry is replaced by a different one,
// forgotten, or swept.
func (s *Service) forgetKeepingCert(orgID, connectionID ulid.ULID) {
	key := orgID.String() + "/" + connectionID.String()
	s.cacheMu.Lock()
	s.expireKeepingCertLocked(key, s.opened[key])
	s.changedLocked(key)
	s.cacheMu.Unlock()
}

// expireKeepingCertLocked replaces the entry e under key by an expired one holding nothing but its
// certificate, or drops it when it has none.
func (s *Service) expireKeepingCertLocked(key string, e openedEntry) {
	if e.cert != nil {
		s.opened[key] = openedEntry{cert: e.cert}
	} else {
		delete(s.opened, key)
	}
}

// changedLocked counts a change of the connection under key, so that an open under way does not
// cache what it read before it.
func (s *Service) changedLocked(key string) {
	if len(s.gens) >= maxOpened {
		s.gens = map[string]uint64{}
		s.genAll++ // forgetting the counters must not let a stale open in
	}
	s.gens[key]++
}

// ForgetAll empties the opened-connection cache, systems included; the API calls it when a
// system's configs change.
func (s *Service) ForgetAll() { s.forgetAll(nil) }

// forgetAll is ForgetAll, setting watched first when it is not nil, under the same lock.
func (s *Service) forgetAll(watched *bool) {
	s.cacheMu.Lock()
	if watched != nil {
		s.watched = *watched
	}
	dropped := s.dropAllLocked()
	s.systems = map[[2]ulid.ULID]systemEntry{}
	s.genAll++
	s.cacheMu.Unlock()
	closeAll(dropped)
}

// ttlLocked is how long an entry put in the cache now is kept.
func (s *Service) ttlLocked() time.Duration {
	if s.watched {
		return s.watchedTTL
	}
	return s.cacheTTL
}

// Changed drops what a committed change made stale: the Service is its store's change feed's
// watcher (plugboard.ChangeWatcher). A connection's change drops the connection; a system's, the
// system and its connections. Either keeps client certificates' transports, for the next open to
// take over if the certificate is unchanged (a key rotation rewraps every row, and changes no
// certificate).
func (s *Service) Changed(c plugboard.Change) {
	switch c.Kind {
	case plugboard.ChangedConnection:
		s.forgetKeepingCert(c.OrganisationID, c.ID)
	case plugboard.ChangedSystem:
		s.forgetSystem(c.OrganisationID, c.ID)
	}
}

// forgetSystem drops a system and the opened connections of it, keeping their certificates.
func (s *Service) forgetSystem(orgID, systemID ulid.ULID) {
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	delete(s.systems, [2]ulid.ULID{orgID, systemID})
	for k, e := range s.opened {
		if e.conn != nil && e.conn.OrganisationID == orgID && e.conn.SystemID == systemID {
			s.expireKeepingCertLocked(k, e)
		}
	}
	s.sysChanges++
}

// Watching switches the cache between entries kept for CacheTTL (a change made through another
// replica shows after at most that long) and entries kept for WatchedCacheTTL while the change
// feed is heard. Either way the cache is emptied: what it holds may predate a change the feed
// missed, or was kept for as long as only a heard feed allows.
func (s *Service) Watching(on bool) {
	s.forgetAll(&on)
	s.metrics.ChangeFeedWatching(on)
}

// HasRefreshable reports whether a prepared connection holds a token a 401 could be cured by
// refreshing.
func (p *Prepared) HasRefreshable() bool {
	for _, c := range p.Credentials {
		if c.Type == api.CredentialTypeOauth2Token || c.Type == api.CredentialTypeOauth2Client {
			return true
		}
	}
	return false
}

// expiringSince is expiring for a token stored at storedAt: the skew is at most half the token's
// lifetime, so that tokens living shorter than the skew are not refreshed on every use.
func (s *Service) expiringSince(at, storedAt time.Time) bool {
	if at.IsZero() {
		return false
	}
	skew := s.skew
	if life := at.Sub(storedAt); !storedAt.IsZero() && life > 0 && life/2 < skew {
		skew = life / 2
	}
	return !s.now().Add(skew).Before(at)
}

// refresh refreshes one oauth2-token credential: shared by concurrent callers in this process,
// and done under the credential's lock after re-reading it, so a token someone else refreshed
// meanwhile is used instead of refreshing again. seen is the access token the caller found stale.
func (s *Service) refresh(ctx context.Context, c *plugboard.Connection, cc plugboard.ConnectionCredential, cfg api.AuthSchemeConfig,
	siblings []apply.Credential, seen string) (*api.CredentialDataOAuth2Token, error) {
	orgID := c.OrganisationID
	key := orgID.String() + "/" + cc.Credential.ID.String() + "/" + fingerprint(seen)
	ev := credentialEvent(c, cc)
	v, err, _ := s.group.Do(key, func() (any, error) {
		// The refresh outlives any one caller: others wait on it.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 60*time.Second)
		defer cancel()
		return s.refreshLocked(rctx, ev, cfg, siblings, seen)
	})
	if err != nil {
		return nil, err
	}
	return v.(*api.CredentialDataOAuth2Token), nil
}

func (s *Service) refreshLocked(ctx context.Context, ev plugboard.Event, cfg api.AuthSchemeConfig,
	siblings []apply.Credential, seen string) (*api.CredentialDataOAuth2Token, error) {
	if !s.store.RowLocks() {
		return s.refreshUnlocked(ctx, ev, cfg, siblings, seen)
	}
	orgID, credID := ev.OrganisationID, ev.CredentialID
	var (
		out     *api.CredentialDataOAuth2Token
		failure error
	)
	err := s.store.InTx(ctx, func(tx plugboard.Store) error {
		cur, err := tx.LockCredential(ctx, orgID, credID)
		if err != nil {
			return err
		}
		data, err := OpenCredential(s.keys, cur)
		if err != nil {
			return err
		}
		tok := data.Oauth2Token
		if tok == nil {
			return plugboard.Internal(fmt.Errorf("credential %s is not an oauth2-token", credID))
		}
		if tok.AccessToken != seen && (tok.ExpiresAt.IsZero() || s.now().Before(tok.ExpiresAt)) {
			out = tok // refreshed by someone else while we waited for the lock: use it
			return nil
		}
		now := s.now()
		if until := cur.Refresh.NextAttempt; until != nil && now.Before(*until) {
			s.metrics.RefreshBackoff()
			failure = cooldownError(*until)
			return nil
		}
		if tok.RefreshToken == "" {
			failure = plugboard.Invalid("the connection's OAuth 2.0 token has expired and holds no refresh token; authorise again")
			return nil
		}
		ep, err := s.tokenEndpoint(ctx, tx, orgID, cfg, siblings)
		if err != nil {
			return err
		}
		fresh, err := s.oauth.Refresh(ctx, ep, tok.RefreshToken, tok.Scopes)
		s.metrics.Refresh(err)
		if err != nil {
			if werr := s.recordFailure(ctx, tx, ev, cur, err, now); werr != nil {
				return werr
			}
			failure = err // the failure is recorded; the transaction commits it
			return nil
		}
		next := freshToken(fresh, tok)
		if err := s.recordSuccess(ctx, tx, ev, cur, next, now); err != nil {
			return err
		}
		out = next
		return nil
	})
	if err != nil {
		return nil, err
	}
	if failure != nil {
		return nil, failure
	}
	return out, nil
}

// refreshUnlocked refreshes for stores whose lock would stop every writer while the provider
// answers (SQLite): it decides on a plain read, calls the provider outside any transaction, and
// writes in a short transaction unless the stored token changed meanwhile (another process on the
// same file refreshed; within one process, singleflight already made callers share one refresh).
func (s *Service) refreshUnlocked(ctx context.Context, ev plugboard.Event, cfg api.AuthSchemeConfig,
	siblings []apply.Credential, seen string) (*api.CredentialDataOAuth2Token, error) {
	orgID, credID := ev.OrganisationID, ev.CredentialID
	cur, err := s.store.GetCredential(ctx, orgID, credID)
	if err != nil {
		return nil, err
	}
	data, err := OpenCredential(s.keys, cur)
	if err != nil {
		return nil, err
	}
	tok := data.Oauth2Token
	if tok == nil {
		return nil, plugboard.Internal(fmt.Errorf("credential %s is not an oauth2-token", credID))
	}
	now := s.now()
	if tok.AccessToken != seen && (tok.ExpiresAt.IsZero() || now.Before(tok.ExpiresAt)) {
		return tok, nil
	}
	if until := cur.Refresh.NextAttempt; until != nil && now.Before(*until) {
		s.metrics.RefreshBackoff()
		return nil, cooldownError(*until)
	}
	if tok.RefreshToken == "" {
		return nil, plugboard.Invalid("the connection's OAuth 2.0 token has expired and holds no refresh token; authorise again")
	}
	ep, err := s.tokenEndpoint(ctx, s.store, orgID, cfg, siblings)
	if err != nil {
		return nil, err
	}
	fresh, callErr := s.oauth.Refresh(ctx, ep, tok.RefreshToken, tok.Scopes)
	s.metrics.Refresh(callErr)
	var out *api.CredentialDataOAuth2Token
	err = s.store.InTx(ctx, func(tx plugboard.Store) error {
		latest, err := tx.LockCredential(ctx, orgID, credID)
		if err != nil {
			return err
		}
		latestData, err := OpenCredential(s.keys, latest)
		if err != nil {
			return err
		}
		if latestData.Oauth2Token == nil || latestData.Oauth2Token.AccessToken != tok.AccessToken {
			out = latestData.Oauth2Token // replaced meanwhile: keep theirs
			return nil
		}
		now := s.now()
		if callErr != nil {
			return s.recordFailure(ctx, tx, ev, latest, callErr, now)
		}
		out = freshToken(fresh, tok)
		return s.recordSuccess(ctx, tx, ev, latest, out, now)
	})
	if err != nil {
		return nil, err
	}
	if out == nil {
		return nil, callErr
	}
	return out, nil
}

// freshToken is the token to store after a refresh: the provider's, with the old scopes when it
// names none.
func freshToken(fresh *oauth.Token, old *api.CredentialDataOAuth2Token) *api.CredentialDataOAuth2Token {
	next := &api.CredentialDataOAuth2Token{AccessToken: fresh.AccessToken, RefreshToken: fresh.RefreshToken,
		TokenType: fresh.TokenType, ExpiresAt: fresh.ExpiresAt, Scopes: old.Scopes}
	if len(fresh.Scopes) > 0 {
		next.Scopes = fresh.Scopes
	}
	return next
}

func cooldownError(until time.Time) error {
	return &plugboard.Error{Code: plugboard.EUpstreamRejected,
		Message: fmt.Sprintf("refreshing this connection's token failed recently; the next attempt is allowed after %s", until.UTC().Format(time.RFC3339)),
		Details: "the credential's errors say why; a new authorisation (or a new refresh token) clears it"}
}

// clientToken returns a client-credentials token, fetched once and kept until it nears expiry
// (within the skew, at most half its life). A token an upstream rejected is fetched anew unless it
// was already replaced; a failed fetch is not retried for ClientFailureCooldown.
func (s *Service) clientToken(ctx context.Context, orgID, credID ulid.ULID, cfg api.AuthSchemeConfig, c *api.CredentialDataOAuth2Client,
	siblings []apply.Credential, opts Options) (*oauth.Token, error) {
	key := orgID.String() + "/" + credID.String()
	fp := fingerprint(c.ClientID + "\x00" + c.ClientSecret + "\x00" + c.TokenURL)
	now := s.now()
	s.mu.Lock()
	cached, ok := s.cc[key]
	s.mu.Unlock()
	if ok && cached.secretKey == fp {
		switch {
		case cached.failedAt != (time.Time{}) && now.Before(cached.failedAt.Add(ClientFailureCooldown)):
			return nil, cached.failure
		case cached.token != nil && !opts.Force && (opts.Rejected == "" || cached.token.AccessToken != opts.Rejected) &&
			!s.expiringSince(cached.token.ExpiresAt, cached.fetchedAt):
			return cached.token, nil
		}
	}
	if msg := credentials.MTLSTokenURLProblem(cfg, &api.Credential{Type: api.CredentialTypeOauth2Client, Data: &api.CredentialData{Oauth2Client: c}}); msg != "" {
		// Stored before the rule existed: refuse rather than present the certificate elsewhere.
		return nil, plugboard.Invalid("the connection's oauth2-client tokenUrl " + msg)
	}
	if msg := credentials.MTLSSecretProblem(cfg, &api.Credential{Type: api.CredentialTypeOauth2Client, Data: &api.CredentialData{Oauth2Client: c}}); msg != "" {
		// The config's mtlsEnabled was switched off since: a request without secret or certificate
		// would only be refused by the provider.
		return nil, plugboard.Invalid("the connection's oauth2-client clientSecret " + msg)
	}
	v, err, _ := s.group.Do("cc/"+key+"/"+fp, func() (any, error) {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 60*time.Second)
		defer cancel()
		tlsConfig, err := s.mtls(rctx, s.store, orgID, cfg, siblings)
		if err != nil {
			return nil, err
		}
		params, _ := parseQuery(c.AdditionalParams)
		tok, err := s.oauth.ClientCredentials(rctx, oauth.Endpoint{TokenURL: c.TokenURL, ClientID: c.ClientID,
			ClientSecret: c.ClientSecret, TLS: tlsConfig, Params: params,
			SecretInForm: c.TokenEndpointAuthMethod == api.CredentialDataOAuth2ClientTokenEndpointAuthMethodClientSecretPost}, c.Scopes)
		s.mu.Lock()
		if err != nil {
			s.cc[key] = cachedToken{secretKey: fp, failure: err, failedAt: s.now()}
		} else {
			s.cc[key] = cachedToken{token: tok, secretKey: fp, fetchedAt: s.now()}
		}
		s.mu.Unlock()
		return tok, err
	})
	if err != nil {
		return nil, err
	}
	return v.(*oauth.Token), nil
}

// ClientFailureCooldown is how long a failed client-credentials fetch is answered from memory
// before the provider is asked again.
const ClientFailureCooldown = 30 * time.Second

// tokenEndpoint is where an oauth2-token credential is refreshed: the config's token URL, with the
// client of its grant credential, over mTLS when the config says.
func (s *Service) tokenEndpoint(ctx context.Context, st CredentialGetter, orgID ulid.ULID, cfg api.AuthSchemeConfig, siblings []apply.Credential) (oauth.Endpoint, error) {
	if cfg.Oauth2 == nil {
		return oauth.Endpoint{}, plugboard.Internal(errors.New("oauth2-token credential without an oauth2 config"))
	}
	id, secret, err := GrantClient(ctx, st, s.keys, orgID, cfg.Oauth2)
	if err != nil {
		return oauth.Endpoint{}, err
	}
	tlsConfig, err := s.mtls(ctx, st, orgID, cfg, siblings)
	if err != nil {
		return oauth.Endpoint{}, err
	}
	params, err := parseQuery(cfg.Oauth2.AdditionalTokenParams)
	if err != nil {
		return oauth.Endpoint{}, err
	}
	return oauth.Endpoint{TokenURL: cfg.Oauth2.TokenURL, ClientID: id, ClientSecret: secret, TLS: tlsConfig, Params: params,
		SecretInForm: cfg.Oauth2.TokenEndpointAuthMethod == api.AuthSchemeConfigOAuth2TokenEndpointAuthMethodClientSecretPost}, nil
}

// mtls returns the TLS settings for a config with mtlsEnabled: the certificate credential named by
// mtlsCredentialId, or else the connection's certificate credential.
func (s *Service) mtls(ctx context.Context, st CredentialGetter, orgID ulid.ULID, cfg api.AuthSchemeConfig, siblings []apply.Credential) (*tls.Config, error) {
	return MTLSConfig(ctx, st, s.keys, orgID, cfg, s.now(), func() (*api.CredentialDataCertificate, error) {
		for _, c := range siblings {
			if c.Type == api.CredentialTypeCertificate {
				return c.Data.Certificate, nil
			}
		}
		return nil, nil
	})
}

// MTLSConfig returns the TLS settings token requests use for a config with mtlsEnabled (nil
// without it): the certificate credential its mtlsCredentialId names, or else the one connection
// returns (the connection's certificate credential; nil when it has none). A named certificate
// past its expiresAt at now is refused (credential_expired) before it is opened; connection must
// return only a certificate that is not (the connection passed Usable, or the stored one was
// checked with Unexpired).
func MTLSConfig(ctx context.Context, st CredentialGetter, keys *vault.Vault, orgID ulid.ULID, cfg api.AuthSchemeConfig, now time.Time,
	connection func() (*api.CredentialDataCertificate, error)) (*tls.Config, error) {
	if cfg.Oauth2 == nil || !cfg.Oauth2.MTLSEnabled {
		return nil, nil
	}
	var (
		cert *api.CredentialDataCertificate
		err  error
	)
	if id := deref(cfg.Oauth2.MTLSCredentialID); id != "" {
		credID, perr := ulid.Parse(id)
		if perr != nil {
			return nil, plugboard.Invalid("the auth scheme config's mtlsCredentialId is not an id")
		}
		stored, err := st.GetCredential(ctx, orgID, credID)
		if err != nil {
			return nil, err
		}
		if err := Unexpired(stored, fmt.Sprintf("the certificate credential auth scheme config %q names in mtlsCredentialId", cfg.Oauth2.ID), now); err != nil {
			return nil, err
		}
		data, err := OpenCredential(keys, stored)
		if err != nil {
			return nil, err
		}
		cert = data.Certificate
	} else if cert, err = connection(); err != nil {
		return nil, err
	}
	if cert == nil {
		return nil, plugboard.Invalid("the auth scheme config has mtlsEnabled but no certificate credential is linked: set mtlsCredentialId or give the connection a certificate credential")
	}
	return TLSConfig(cert)
}

// TLSConfig builds client TLS settings from a certificate credential: its certificate and key are
// presented, its CA verifies the server.
func TLSConfig(c *api.CredentialDataCertificate) (*tls.Config, error) {
	if c == nil {
		return nil, plugboard.Invalid("no certificate credential")
	}
	pair, err := tls.X509KeyPair([]byte(c.Certificate), []byte(c.Key))
	if err != nil {
		return nil, plugboard.Invalid("the certificate credential's certificate and key do not form a pair")
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(c.Ca)) {
		return nil, plugboard.Invalid("the certificate credential's CA holds no certificate")
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// Backoff bounds: the wait after n consecutive failures is min(BackoffBase * 2^(n-1), BackoffMax).
const (
	BackoffBase = 30 * time.Second
	BackoffMax  = 30 * time.Minute
)

// Backoff is the wait after the attempts-th consecutive failure.
func Backoff(attempts int) time.Duration {
	wait := BackoffBase << min(max(attempts, 1)-1, 16)
	if wait > BackoffMax || wait <= 0 {
		wait = BackoffMax
	}
	return wait
}

// recordFailure writes a failed refresh into cur's refresh state, through tx: one more attempt,
// the next one after the backoff (the background refresher's RefreshDue too, so that it does not
// try every round), the cause's code. The first failure of a streak emits
// credential.refresh_failed in the same transaction; later ones only update the state.
func (s *Service) recordFailure(ctx context.Context, tx plugboard.Store, ev plugboard.Event, cur *plugboard.Credential, cause error, now time.Time) error {
	now = now.UTC().Truncate(time.Microsecond)
	r := &cur.Refresh
	first := !r.Failing()
	r.Attempts++
	if first || r.FailingSince == nil {
		r.FailingSince = &now
	}
	next := now.Add(Backoff(r.Attempts))
	r.NextAttempt, r.LastError = &next, plugboard.ErrorCode(cause)
	cur.UpdatedAt = now
	cur.RefreshDue = &next
	if err := tx.UpdateCredential(ctx, cur); err != nil {
		return err
	}
	if !first {
		return nil
	}
	ev.Type = events.CredentialRefreshFailed
	ev.Data = eventData(map[string]any{"attempts": r.Attempts, "errorCode": r.LastError,
		"failingSince": r.FailingSince, "nextAttemptAt": next})
	return s.events.Emit(ctx, tx, ev)
}

// recordSuccess seals a refreshed token into cur and ends its failure streak, through tx; a
// credential that had failures emits credential.refresh_recovered in the same transaction.
func (s *Service) recordSuccess(ctx context.Context, tx plugboard.Store, ev plugboard.Event, cur *plugboard.Credential,
	next *api.CredentialDataOAuth2Token, now time.Time) error {
	if err := SealInto(s.keys, cur, api.CredentialTypeOauth2Token, &api.CredentialData{Oauth2Token: next}); err != nil {
		return err
	}
	was := cur.Refresh
	cur.Refresh = plugboard.RefreshState{}
	cur.UpdatedAt = now.UTC().Truncate(time.Microsecond)
	cur.RefreshDue = RefreshDue(next, now)
	if err := tx.UpdateCredential(ctx, cur); err != nil {
		return err
	}
	if !was.Failing() {
		return nil
	}
	ev.Type = events.CredentialRefreshRecovered
	ev.Data = eventData(map[string]any{"failedAttempts": was.Attempts, "failingSince": was.FailingSince})
	return s.events.Emit(ctx, tx, ev)
}

// credentialEvent is the event template for a connection's credential: the ids it concerns.
func credentialEvent(c *plugboard.Connection, cc plugboard.ConnectionCredential) plugboard.Event {
	// Refreshes are Plugboard's own doing, whichever request (and API key) happened to need one.
	return plugboard.Event{Actor: events.System, OrganisationID: c.OrganisationID, ConnectionID: c.ID, CredentialID: cc.Credential.ID,
		EndUserID: c.EndUserID, SystemID: c.SystemID, AuthSchemeConfigID: cc.AuthSchemeConfigID}
}

// eventData renders an event's public facts; the values are numbers, codes and times only.
func eventData(m map[string]any) json.RawMessage {
	b, err := json.Marshal(m)
	if err != nil {
		return nil
	}
	return b
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
