package access_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	oerrors "github.com/go-oauth2/oauth2/v4/errors"
	"github.com/go-oauth2/oauth2/v4/manage"
	"github.com/go-oauth2/oauth2/v4/models"
	"github.com/go-oauth2/oauth2/v4/server"
	ostore "github.com/go-oauth2/oauth2/v4/store"
	"github.com/jackc/pgx/v5"
	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/access"
	"github.com/plugboard/plugboard/internal/credentials"
	"github.com/plugboard/plugboard/internal/oauth"
	"github.com/plugboard/plugboard/internal/outbound"
	"github.com/plugboard/plugboard/internal/pgtest"
	"github.com/plugboard/plugboard/internal/sqlstore"
	"github.com/plugboard/plugboard/internal/storetest"
	"github.com/plugboard/plugboard/internal/vault"
)

// The package is tested against the stores it runs on, as they are: an SQLite file, and
// PostgreSQL when PLUGBOARD_TEST_DATABASE_URL is set. The provider is a real OAuth 2.0 server
// (github.com/go-oauth2/oauth2) on 127.0.0.1 that rotates refresh tokens, so a second refresh
// with the same refresh token would fail rather than pass unnoticed.

// stores are the stores each test runs on: open returns a fresh, migrated store; reopen another
// handle (another replica's pool) on the same database.
var stores = []struct {
	name string
	open func(t *testing.T) (st *sqlstore.DB, reopen func() *sqlstore.DB)
}{
	{"sqlite", func(t *testing.T) (*sqlstore.DB, func() *sqlstore.DB) {
		path := filepath.Join(t.TempDir(), "plugboard.db")
		return openStore(t, path), func() *sqlstore.DB { return openStore(t, path) }
	}},
	{"postgres", func(t *testing.T) (*sqlstore.DB, func() *sqlstore.DB) {
		u := pgtest.URL(t)
		return openStore(t, u), func() *sqlstore.DB { return openStore(t, u) }
	}},
}

func openStore(t *testing.T, u string) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.OpenWith(context.Background(), u, sqlstore.Options{Migrate: true})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// provider is a go-oauth2 authorization server: the password grant hands out the first tokens,
// the refresh grant rotates them. It counts refresh requests and can fail the next ones.
type provider struct {
	URL                    string
	ClientID, ClientSecret string

	mu       sync.Mutex
	refreshs int
	fail     int
}

func newProvider(t *testing.T) *provider {
	t.Helper()
	p := &provider{ClientID: "access-client", ClientSecret: "SECRET-access-client-5e1"}
	manager := manage.NewDefaultManager()
	manager.SetPasswordTokenCfg(&manage.Config{AccessTokenExp: time.Hour, RefreshTokenExp: 24 * time.Hour, IsGenerateRefresh: true})
	manager.SetRefreshTokenCfg(&manage.RefreshingConfig{AccessTokenExp: time.Hour, RefreshTokenExp: 24 * time.Hour,
		IsGenerateRefresh: true, IsRemoveAccess: true, IsRemoveRefreshing: true})
	manager.MustTokenStorage(ostore.NewMemoryTokenStore())
	clients := ostore.NewClientStore()
	if err := clients.Set(p.ClientID, &models.Client{ID: p.ClientID, Secret: p.ClientSecret, Domain: "http://127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	manager.MapClientStorage(clients)
	srv := server.NewDefaultServer(manager)
	srv.SetAllowGetAccessRequest(false)
	srv.SetClientInfoHandler(func(r *http.Request) (string, string, error) {
		if id, secret, err := server.ClientBasicHandler(r); err == nil {
			return id, secret, nil
		}
		return server.ClientFormHandler(r)
	})
	srv.SetPasswordAuthorizationHandler(func(ctx context.Context, clientID, username, password string) (string, error) {
		if username == "alice" && password == "SECRET-alice-7d2" {
			return "user-1", nil
		}
		return "", oerrors.ErrInvalidGrant
	})
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if r.PostForm.Get("grant_type") == "refresh_token" {
			p.mu.Lock()
			p.refreshs++
			fail := p.fail > 0
			if fail {
				p.fail--
			}
			p.mu.Unlock()
			if fail {
				http.Error(w, `{"error":"temporarily_unavailable"}`, http.StatusServiceUnavailable)
				return
			}
		}
		_ = srv.HandleTokenRequest(w, r)
	}))
	t.Cleanup(hs.Close)
	p.URL = hs.URL + "/token"
	return p
}

// refreshes is how many refresh requests the provider has received.
func (p *provider) refreshes() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refreshs
}

// failNext makes the next n refresh requests answer 503.
func (p *provider) failNext(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fail = n
}

// login runs the password grant and returns the tokens it issued.
func (p *provider) login(t *testing.T) (access, refresh string) {
	t.Helper()
	res, err := http.PostForm(p.URL, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"SECRET-alice-7d2"},
		"client_id": {p.ClientID}, "client_secret": {p.ClientSecret}})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&tok); err != nil || tok.RefreshToken == "" {
		t.Fatalf("password grant: %d %v", res.StatusCode, err)
	}
	return tok.AccessToken, tok.RefreshToken
}

// world is one organisation with an OAuth 2.0 system, its grant credential, and a template to
// put connections under, stored in st and sealed with keys.
type world struct {
	st       *sqlstore.DB
	keys     *vault.Vault
	p        *provider
	org      ulid.ULID
	system   ulid.ULID
	template ulid.ULID
}

func newWorld(t *testing.T, st *sqlstore.DB, p *provider) *world {
	t.Helper()
	ctx := context.Background()
	keys, err := vault.Parse(vault.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	w := &world{st: st, keys: keys, p: p, org: ulid.Make(), system: ulid.Make(), template: ulid.Make()}
	now := time.Now()
	must(t, st.CreateOrganisation(ctx, &plugboard.Organisation{ID: w.org, Name: "access", CreatedAt: now}))
	grant := &plugboard.Credential{ID: ulid.Make(), OrganisationID: w.org, CreatedAt: now, UpdatedAt: now}
	must(t, access.SealInto(keys, grant, api.CredentialTypeOauth2Client, &api.CredentialData{Oauth2Client: &api.CredentialDataOAuth2Client{
		ClientID: p.ClientID, ClientSecret: p.ClientSecret, TokenURL: p.URL}}))
	must(t, st.CreateCredential(ctx, grant))
	cfg := api.AuthSchemeConfig{Type: api.AuthSchemeTypeOauth2, Oauth2: &api.AuthSchemeConfigOAuth2{ID: "oauth2",
		AuthorizeURL: "https://login.example/authorize", TokenURL: p.URL, DefaultScopes: []string{},
		Grant: api.AuthSchemeConfigOAuth2Grant{Type: api.AuthorizationCode, AuthorizationCode: &api.AuthSchemeConfigOAuth2GrantAuthorizationCode{
			ClientID: &p.ClientID, CredentialID: grant.ID, OrganisationID: w.org}}}}
	public, secrets, err := credentials.SplitAuthSchemeConfig(cfg)
	must(t, err)
	stored := plugboard.AuthSchemeConfig{ID: "oauth2", Type: "oauth2", Config: public}
	if secrets != nil {
		stored.Sealed, err = keys.SealConfig(w.org, w.system, "oauth2", secrets)
		must(t, err)
	}
	must(t, st.CreateSystem(ctx, &plugboard.System{ID: w.system, OrganisationID: w.org, Name: "Acme", Domain: "acme.example",
		TemplateBaseURL: "https://api.acme.example", AuthSchemeConfigs: []plugboard.AuthSchemeConfig{stored}, CreatedAt: now, UpdatedAt: now}))
	project, env := ulid.Make(), ulid.Make()
	must(t, st.CreateProject(ctx, &plugboard.Project{ID: project, OrganisationID: w.org, Name: "p", CreatedAt: now, UpdatedAt: now,
		Environments: []plugboard.Environment{{ID: env, Name: "production", CreatedAt: now, UpdatedAt: now}}}))
	must(t, st.CreateTemplate(ctx, &plugboard.ConnectionTemplate{ID: w.template, OrganisationID: w.org, ProjectID: project,
		EnvironmentID: env, SystemID: w.system, Name: "acme", CreatedAt: now, UpdatedAt: now}))
	return w
}

// connection stores a connection whose oauth2-token credential holds a token from the provider,
// expiring at expiresAt, and returns the connection and the credential's id.
func (w *world) connection(t *testing.T, name string, expiresAt time.Time) (ulid.ULID, ulid.ULID) {
	t.Helper()
	at, rt := w.p.login(t)
	now := time.Now()
	cred := plugboard.Credential{ID: ulid.Make(), OrganisationID: w.org, CreatedAt: now, UpdatedAt: now.Add(-time.Hour)}
	tok := &api.CredentialDataOAuth2Token{AccessToken: at, RefreshToken: rt, TokenType: "Bearer", ExpiresAt: expiresAt, Scopes: []string{}}
	must(t, access.SealInto(w.keys, &cred, api.CredentialTypeOauth2Token, &api.CredentialData{Oauth2Token: tok}))
	cred.RefreshDue = access.RefreshDue(tok, cred.UpdatedAt)
	c := &plugboard.Connection{ID: ulid.Make(), OrganisationID: w.org, TemplateID: w.template, SystemID: w.system, Name: name,
		Credentials: []plugboard.ConnectionCredential{{ID: ulid.Make(), AuthSchemeConfigID: "oauth2", Credential: cred}},
		CreatedAt:   now, UpdatedAt: now}
	must(t, w.st.CreateConnection(context.Background(), c))
	return c.ID, cred.ID
}

// service is a Service on st (the world's store, or another replica's handle on its database).
func (w *world) service(st access.Store, now func() time.Time) *access.Service {
	return access.New(access.Config{Store: st, Keys: w.keys, OAuth: oauth.New(outbound.New(outbound.Config{AllowPrivateNetworks: true})),
		Now: now, CacheTTL: time.Hour})
}

// token reads a credential's stored token.
func (w *world) token(t *testing.T, credID ulid.ULID) (*plugboard.Credential, *api.CredentialDataOAuth2Token) {
	t.Helper()
	c, err := w.st.GetCredential(context.Background(), w.org, credID)
	must(t, err)
	data, err := access.OpenCredential(w.keys, c)
	must(t, err)
	return c, data.Oauth2Token
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestOneRefreshForManyCallers: an expired token asked for by many callers at once, through two
// Services on one database (two replicas on PostgreSQL; on SQLite, whose refresh is decided
// outside a row lock, one process), is refreshed once, and every caller gets the new token.
func TestOneRefreshForManyCallers(t *testing.T) {
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			st, reopen := sc.open(t)
			p := newProvider(t)
			w := newWorld(t, st, p)
			conn, credID := w.connection(t, "expired", time.Now().Add(-time.Minute))
			services := []*access.Service{w.service(st, nil)}
			if st.RowLocks() {
				services = append(services, w.service(reopen(), nil))
			}
			const callers = 32
			got := make([]string, callers)
			errs := make([]error, callers)
			var wg sync.WaitGroup
			for i := range callers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					prep, err := services[i%len(services)].Prepare(context.Background(), w.org, conn, access.Options{})
					if errs[i] = err; err == nil {
						got[i] = prep.SentToken()
					}
				}()
			}
			wg.Wait()
			_, stored := w.token(t, credID)
			for i := range callers {
				if errs[i] != nil {
					t.Fatalf("caller %d: %v", i, errs[i])
				}
				if got[i] != stored.AccessToken {
					t.Errorf("caller %d was given a token other than the stored one", i)
				}
			}
			if n := p.refreshes(); n != 1 {
				t.Errorf("%d callers on %d services made %d refresh requests, want 1", callers, len(services), n)
			}
		})
	}
}

// pausing is a real store whose GetConnection, once armed, returns what it read only when
// released: an open that is under way while the test changes the connection.
type pausing struct {
	access.Store
	mu      sync.Mutex
	armed   bool
	read    chan struct{} // closed when the armed read has happened
	release chan struct{}
}

func (s *pausing) arm() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.armed, s.read, s.release = true, make(chan struct{}), make(chan struct{})
}

func (s *pausing) GetConnection(ctx context.Context, orgID, id ulid.ULID) (*plugboard.Connection, error) {
	c, err := s.Store.GetConnection(ctx, orgID, id)
	s.mu.Lock()
	armed, read, release := s.armed, s.read, s.release
	s.armed = false
	s.mu.Unlock()
	if armed {
		close(read)
		<-release
	}
	return c, err
}

// TestCacheAgainstConcurrentForget: an open that read a connection before it changed, and
// finishes after Forget (or ForgetAll) was called for the change, does not leave what it read in
// the cache: the next use sees the change.
func TestCacheAgainstConcurrentForget(t *testing.T) {
	for _, sc := range stores {
		for _, forgetAll := range []bool{false, true} {
			name := sc.name + "/Forget"
			if forgetAll {
				name = sc.name + "/ForgetAll"
			}
			t.Run(name, func(t *testing.T) {
				st, _ := sc.open(t)
				w := newWorld(t, st, newProvider(t))
				conn, credID := w.connection(t, "cached", time.Now().Add(time.Hour))
				ps := &pausing{Store: st}
				svc := w.service(ps, nil)
				ctx := context.Background()
				_, before := w.token(t, credID)

				ps.arm()
				done := make(chan *access.Prepared)
				go func() {
					prep, err := svc.Prepare(ctx, w.org, conn, access.Options{})
					if err != nil {
						t.Error(err)
					}
					done <- prep
				}()
				<-ps.read // the open has read the connection as it was

				// The change, as the API makes it: write, then forget.
				cred, tok := w.token(t, credID)
				tok.AccessToken = "changed-" + ulid.Make().String()
				must(t, access.SealInto(w.keys, cred, api.CredentialTypeOauth2Token, &api.CredentialData{Oauth2Token: tok}))
				must(t, st.UpdateCredential(ctx, cred))
				if forgetAll {
					svc.ForgetAll()
				} else {
					svc.Forget(w.org, conn)
				}
				close(ps.release)
				if prep := <-done; prep != nil && prep.SentToken() != before.AccessToken {
					t.Errorf("the open under way returned a token it cannot have read")
				}

				prep, err := svc.Prepare(ctx, w.org, conn, access.Options{})
				must(t, err)
				if prep.SentToken() != tok.AccessToken {
					t.Errorf("after Forget the cache still answers the token read before the change")
				}
			})
		}
	}
}

// TestBackoffAfterFailures: failed refreshes are recorded on the credential with a growing wait
// (Backoff), the provider is not asked again before the next attempt is due, and a success ends
// the streak. The clock is the Service's.
func TestBackoffAfterFailures(t *testing.T) {
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			st, _ := sc.open(t)
			p := newProvider(t)
			w := newWorld(t, st, p)
			start := time.Now().UTC().Truncate(time.Microsecond)
			var (
				mu  sync.Mutex
				now = start
			)
			clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
			advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
			conn, credID := w.connection(t, "failing", start.Add(-time.Minute))
			svc := w.service(st, clock)
			ctx := context.Background()
			p.failNext(2)

			for attempt := 1; attempt <= 2; attempt++ {
				_, err := svc.Prepare(ctx, w.org, conn, access.Options{})
				if !plugboard.IsCode(err, plugboard.EUpstreamUnavailable) {
					t.Fatalf("attempt %d: %v, want %s", attempt, err, plugboard.EUpstreamUnavailable)
				}
				cred, _ := w.token(t, credID)
				r := cred.Refresh
				wantNext := clock().Add(access.Backoff(attempt))
				if r.Attempts != attempt || r.NextAttempt == nil || !r.NextAttempt.Equal(wantNext) ||
					r.FailingSince == nil || !r.FailingSince.Equal(start) || r.LastError != plugboard.EUpstreamUnavailable {
					t.Fatalf("after attempt %d the refresh state is %+v, want %d attempts, next at %s", attempt, r, attempt, wantNext)
				}
				// Before the next attempt is due the provider is not asked.
				advance(access.Backoff(attempt) - time.Second)
				_, err = svc.Prepare(ctx, w.org, conn, access.Options{})
				if !plugboard.IsCode(err, plugboard.EUpstreamRejected) {
					t.Errorf("within the backoff: %v, want the cooldown's %s", err, plugboard.EUpstreamRejected)
				}
				if n := p.refreshes(); n != attempt {
					t.Fatalf("%d refresh requests after %d attempts", n, attempt)
				}
				advance(time.Second)
			}
			if access.Backoff(2) != 2*access.Backoff(1) {
				t.Errorf("Backoff(2) = %s, Backoff(1) = %s: the wait does not double", access.Backoff(2), access.Backoff(1))
			}

			prep, err := svc.Prepare(ctx, w.org, conn, access.Options{})
			must(t, err)
			cred, tok := w.token(t, credID)
			if prep.SentToken() != tok.AccessToken || cred.Refresh.Failing() || cred.Refresh.NextAttempt != nil {
				t.Errorf("after the success: refresh state %+v", cred.Refresh)
			}
			if n := p.refreshes(); n != 3 {
				t.Errorf("%d refresh requests, want 3", n)
			}
		})
	}
}

// TestRefresherLeadership: two Services on one PostgreSQL database run the background refresher;
// while one leads, the other refreshes nothing, and together they refresh each due credential
// once.
func TestRefresherLeadership(t *testing.T) {
	pgtest.BaseURL(t)
	st, reopen := stores[1].open(t)
	other := reopen()
	p := newProvider(t)
	w := newWorld(t, st, p)
	ctx := context.Background()
	const due = 5
	for i := range due {
		w.connection(t, "due-"+string(rune('a'+i)), time.Now().Add(time.Minute)) // due: within the window
	}
	a, b := w.service(st, nil), w.service(other, nil)

	// While a holds the lead, b's round does nothing.
	release, ok, err := st.TryLead(ctx, "refresher")
	if err != nil || !ok {
		t.Fatalf("TryLead: %v %v", ok, err)
	}
	n, err := b.RefreshDueOnce(ctx, access.RefresherConfig{})
	must(t, err)
	if n != 0 || p.refreshes() != 0 {
		t.Errorf("the replica without the lead refreshed %d (%d requests)", n, p.refreshes())
	}
	release()

	// Both run a round at once: each due credential is refreshed once, by whoever led.
	var wg sync.WaitGroup
	counts := make([]int, 2)
	for i, svc := range []*access.Service{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			counts[i], err = svc.RefreshDueOnce(ctx, access.RefresherConfig{})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if counts[0]+counts[1] != due || p.refreshes() != due {
		t.Errorf("the replicas refreshed %v with %d requests, want %d in all", counts, p.refreshes(), due)
	}
	refs, err := st.ListRefreshDue(ctx, time.Now(), 100)
	must(t, err)
	if len(refs) != 0 {
		t.Errorf("%d credentials still due", len(refs))
	}
}

// counting is a real store that counts connection reads.
type counting struct {
	access.Store
	reads atomic.Int64
}

func (s *counting) GetConnection(ctx context.Context, orgID, id ulid.ULID) (*plugboard.Connection, error) {
	s.reads.Add(1)
	return s.Store.GetConnection(ctx, orgID, id)
}

// TestCacheFollowsTheChangeFeed: on PostgreSQL, while the store's change feed is heard, an opened
// connection is kept past CacheTTL (for WatchedCacheTTL), and another replica's change to it is
// seen as soon as the feed delivers it, even by an open that was under way when it did; when the
// feed's connection is lost the cache is emptied and keeps entries only for CacheTTL, and once the
// feed is back it is emptied again (it may have missed changes) and keeps them long again.
func TestCacheFollowsTheChangeFeed(t *testing.T) {
	pgtest.BaseURL(t)
	app := "pbtest_" + strings.ToLower(ulid.Make().String())
	u := pgtest.URL(t) + "&application_name=" + app
	st, other := openStore(t, u), openStore(t, u) // this replica's store, another replica's
	w := newWorld(t, st, newProvider(t))
	conn, credID := w.connection(t, "watched", time.Now().Add(24*time.Hour))
	ctx := t.Context()

	var clockMu sync.Mutex
	clock := time.Now()
	now := func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return clock }
	advance := func(d time.Duration) { clockMu.Lock(); clock = clock.Add(d); clockMu.Unlock() }
	cs := &counting{Store: st}
	ps := &pausing{Store: cs}
	svc := access.New(access.Config{Store: ps, Keys: w.keys, OAuth: oauth.New(outbound.New(outbound.Config{AllowPrivateNetworks: true})),
		Now: now, CacheTTL: time.Second, WatchedCacheTTL: time.Hour})
	h := storetest.NewFeedRecorder(svc)
	feedCtx, stopFeed := context.WithCancel(ctx)
	feedDone := make(chan struct{})
	go func() { defer close(feedDone); st.WatchChanges(feedCtx, h) }()
	t.Cleanup(func() { stopFeed(); <-feedDone })

	prepare := func(step string, wantReads int64) string {
		t.Helper()
		p, err := svc.Prepare(ctx, w.org, conn, access.Options{})
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if got := cs.reads.Load(); got != wantReads {
			t.Errorf("%s: %d connection reads in all, want %d", step, got, wantReads)
		}
		return p.SentToken()
	}
	// change writes a new access token through the other replica's store.
	change := func() string {
		t.Helper()
		c, err := other.GetCredential(ctx, w.org, credID)
		must(t, err)
		data, err := access.OpenCredential(w.keys, c)
		must(t, err)
		data.Oauth2Token.AccessToken = "changed-" + ulid.Make().String()
		must(t, access.SealInto(w.keys, c, api.CredentialTypeOauth2Token, &data))
		must(t, other.UpdateCredential(ctx, c))
		return data.Oauth2Token.AccessToken
	}
	changed := plugboard.Change{Kind: plugboard.ChangedConnection, OrganisationID: w.org, ID: conn}

	h.Want(t, true)
	prepare("first use", 1)
	advance(time.Minute)
	prepare("a minute later, watched", 1)

	token := change()
	h.Want(t, changed)
	if got := prepare("after another replica's change", 2); got != token {
		t.Errorf("after the feed announced the change the cache answered the old token")
	}

	// An open under way when the change is announced does not keep what it read.
	ps.arm()
	svc.Forget(w.org, conn)
	done := make(chan string)
	go func() {
		p, err := svc.Prepare(ctx, w.org, conn, access.Options{})
		if err != nil {
			t.Error(err)
			done <- ""
			return
		}
		done <- p.SentToken()
	}()
	<-ps.read
	token = change()
	h.Want(t, changed)
	close(ps.release)
	<-done
	if got := prepare("after an open under way met a change", 4); got != token {
		t.Errorf("an open under way when the change was announced left the old token in the cache")
	}

	// A change to the connection's system (its base URL) is seen too.
	sys, err := other.GetSystem(ctx, w.org, w.system)
	must(t, err)
	sys.TemplateBaseURL = "https://api2.acme.example"
	must(t, other.UpdateSystem(ctx, sys))
	h.Want(t, plugboard.Change{Kind: plugboard.ChangedSystem, OrganisationID: w.org, ID: w.system})
	p, err := svc.Prepare(ctx, w.org, conn, access.Options{})
	must(t, err)
	if p.BaseURL != sys.TemplateBaseURL || cs.reads.Load() != 5 {
		t.Errorf("after the system changed: base URL %q after %d reads, want %q after 5", p.BaseURL, cs.reads.Load(), sys.TemplateBaseURL)
	}

	// The feed's connection is lost: emptied, then kept only for CacheTTL. The feed is held back
	// from coming back until that is seen.
	h.Hold()
	admin, err := pgx.Connect(ctx, pgtest.BaseURL(t))
	must(t, err)
	defer admin.Close(context.Background())
	var n int
	err = admin.QueryRow(ctx, `SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity
		WHERE application_name = $1) t`, app+" changes").Scan(&n)
	if err != nil || n != 1 {
		t.Fatalf("ending the feed's session: %d ended, %v", n, err)
	}
	h.Want(t, false)
	prepare("feed lost", 6)
	advance(2 * time.Second)
	prepare("feed lost, past CacheTTL", 7)
	h.Release()
	h.Want(t, true)
	prepare("feed back", 8)
	advance(time.Minute)
	prepare("feed back, a minute later", 8)
}
