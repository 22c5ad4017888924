package httpapi_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	oerrors "github.com/go-oauth2/oauth2/v4/errors"
	"github.com/go-oauth2/oauth2/v4/manage"
	"github.com/go-oauth2/oauth2/v4/models"
	"github.com/go-oauth2/oauth2/v4/server"
	"github.com/go-oauth2/oauth2/v4/store"
)

// goProvider is a real OAuth 2.0 authorization server (github.com/go-oauth2/oauth2) on 127.0.0.1:
// authorization code with PKCE, password, client credentials and refresh grants. Its authorize
// endpoint approves at once as one user, so tests need no browser. A thin wrapper can make the
// token endpoint fail or stall, for the error mapping tests.
type goProvider struct {
	srv                    *httptest.Server
	ClientID, ClientSecret string
	Username, Password     string
	AuthorizeURL, TokenURL string

	mu       sync.Mutex
	fail     int           // answer the next token requests with 503
	stalls   int           // stall the next token requests
	redirect string        // answer the next token request with a 307 to here
	reject   int           // answer the next token requests with invalid_grant
	delay    time.Duration // this long
	grants   map[string]int
	// beforeToken, when set, runs once at the next token request before it is answered: a change
	// made while an exchange is in flight.
	beforeToken func()
}

func newGoProvider(t testing.TB) *goProvider {
	t.Helper()
	return newGoProviderTTL(t, time.Hour)
}

// newGoProviderTTL is newGoProvider with access tokens living ttl.
func newGoProviderTTL(t testing.TB, ttl time.Duration) *goProvider {
	t.Helper()
	p := &goProvider{ClientID: "go-client", ClientSecret: "SECRET-go-client-secret-77", Username: "alice",
		Password: "SECRET-alice-password-88", grants: map[string]int{}}
	manager := manage.NewDefaultManager()
	manager.SetAuthorizeCodeTokenCfg(&manage.Config{AccessTokenExp: ttl, RefreshTokenExp: 24 * time.Hour, IsGenerateRefresh: true})
	manager.SetRefreshTokenCfg(&manage.RefreshingConfig{AccessTokenExp: ttl, RefreshTokenExp: 24 * time.Hour, IsGenerateRefresh: true,
		IsRemoveAccess: true, IsRemoveRefreshing: true}) // rotation: an old refresh token works once
	manager.SetPasswordTokenCfg(&manage.Config{AccessTokenExp: time.Hour, RefreshTokenExp: 24 * time.Hour, IsGenerateRefresh: true})
	manager.MustTokenStorage(store.NewMemoryTokenStore())
	clients := store.NewClientStore()
	if err := clients.Set(p.ClientID, &models.Client{ID: p.ClientID, Secret: p.ClientSecret, Domain: "http://127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	manager.MapClientStorage(clients)
	// Redirect URIs are checked against the client's domain by host, whatever the port.
	manager.SetValidateURIHandler(func(baseURI, redirectURI string) error { return nil })
	srv := server.NewDefaultServer(manager)
	srv.SetAllowGetAccessRequest(false)
	srv.SetClientInfoHandler(func(r *http.Request) (string, string, error) {
		if id, secret, err := server.ClientBasicHandler(r); err == nil {
			return id, secret, nil
		}
		return server.ClientFormHandler(r)
	})
	srv.SetUserAuthorizationHandler(func(w http.ResponseWriter, r *http.Request) (string, error) { return "user-1", nil })
	srv.SetPasswordAuthorizationHandler(func(ctx context.Context, clientID, username, password string) (string, error) {
		if username == p.Username && password == p.Password {
			return "user-1", nil
		}
		return "", oerrors.ErrInvalidGrant
	})
	srv.SetInternalErrorHandler(func(err error) *oerrors.Response { return nil })
	mux := http.NewServeMux()
	mux.HandleFunc("/authorize", func(w http.ResponseWriter, r *http.Request) {
		if err := srv.HandleAuthorizeRequest(w, r); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	})
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		before := p.beforeToken
		p.beforeToken = nil
		p.mu.Unlock()
		if before != nil {
			before()
		}
		p.mu.Lock()
		fail, delay := p.fail > 0, time.Duration(0)
		if fail {
			p.fail--
		}
		if p.stalls > 0 {
			p.stalls--
			delay = p.delay
		}
		_ = r.ParseForm()
		p.grants[r.PostForm.Get("grant_type")]++
		p.mu.Unlock()
		p.mu.Lock()
		reject := p.reject > 0
		if reject {
			p.reject--
		}
		p.mu.Unlock()
		if reject {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":"invalid_grant","error_description":"the refresh token was revoked"}`)
			return
		}
		if to := p.redirect; to != "" {
			p.mu.Lock()
			p.redirect = ""
			p.mu.Unlock()
			http.Redirect(w, r, to, http.StatusTemporaryRedirect)
			return
		}
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		if fail {
			http.Error(w, `{"error":"server_error"}`, http.StatusServiceUnavailable)
			return
		}
		_ = srv.HandleTokenRequest(w, r)
	})
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	p.AuthorizeURL, p.TokenURL = p.srv.URL+"/authorize", p.srv.URL+"/token"
	return p
}

// failNext makes the next n token requests answer 503.
func (p *goProvider) failNext(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fail = n
}

// stallNext makes the next n token requests wait d before answering.
func (p *goProvider) stallNext(n int, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stalls, p.delay = n, d
}

// rejectNext makes the next n token requests answer invalid_grant.
func (p *goProvider) rejectNext(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reject = n
}

// redirectNext makes the next token request answer 307 to another URL.
func (p *goProvider) redirectNext(to string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.redirect = to
}

// duringNextExchange makes the next token request run f before it is answered.
func (p *goProvider) duringNextExchange(f func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.beforeToken = f
}

// grantCount returns how many token requests of a grant type the provider received.
func (p *goProvider) grantCount(grant string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.grants[grant]
}

// authorize follows an authorize URL as a consenting user and returns the redirect's code and state.
func (p *goProvider) authorize(t testing.TB, authorizeURL string) (code, state string) {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(authorizeURL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	loc, err := res.Location()
	if err != nil {
		t.Fatalf("authorize answered %d without a redirect", res.StatusCode)
	}
	q := loc.Query()
	if q.Get("error") != "" {
		t.Fatalf("authorize refused: %s %s", q.Get("error"), q.Get("error_description"))
	}
	return q.Get("code"), q.Get("state")
}
