package oidctest_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/plugboard/plugboard/internal/oidctest"
)

const redirectURI = "http://127.0.0.1:53682/callback"

// tokenResponse is a token endpoint answer, success or error.
type tokenResponse struct {
	Status       int
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	Scope        string `json:"scope"`
	Error        string `json:"error"`
	ErrorDesc    string `json:"error_description"`
}

// auth says how a token request authenticates the client.
type auth struct {
	basic bool // client_secret_basic; otherwise client_secret_post (or none if Secret is empty)
	c     oidctest.ClientInfo
}

func tokenRequest(t *testing.T, hc *http.Client, p *oidctest.Provider, a auth, form url.Values) tokenResponse {
	t.Helper()
	tr, err := tryTokenRequest(context.Background(), hc, p, a, form)
	if err != nil {
		t.Fatalf("token request: %v", err)
	}
	return tr
}

func tryTokenRequest(ctx context.Context, hc *http.Client, p *oidctest.Provider, a auth, form url.Values) (tokenResponse, error) {
	form = cloneValues(form)
	if !a.basic {
		form.Set("client_id", a.c.ID)
		if a.c.Secret != "" {
			form.Set("client_secret", a.c.Secret)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return tokenResponse{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if a.basic {
		req.SetBasicAuth(url.QueryEscape(a.c.ID), url.QueryEscape(a.c.Secret))
	}
	resp, err := hc.Do(req)
	if err != nil {
		return tokenResponse{}, err
	}
	defer resp.Body.Close()
	var tr tokenResponse
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil {
		return tokenResponse{}, err
	}
	tr.Status = resp.StatusCode
	return tr, nil
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func mustOK(t *testing.T, tr tokenResponse) tokenResponse {
	t.Helper()
	if tr.Status != http.StatusOK || tr.AccessToken == "" {
		t.Fatalf("token request failed: status %d error %q (%s)", tr.Status, tr.Error, tr.ErrorDesc)
	}
	return tr
}

func randString(t *testing.T) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// authorizeURL builds an authorization request the way Plugboard does. An
// empty verifier means no PKCE.
func authorizeURL(p *oidctest.Provider, clientID, scope, state, verifier string) string {
	q := url.Values{
		"response_type": {"code"},
		"client_id":     {clientID},
		"redirect_uri":  {redirectURI},
		"scope":         {scope},
		"state":         {state},
		"prompt":        {"login"},
	}
	if verifier != "" {
		sum := sha256.Sum256([]byte(verifier))
		q.Set("code_challenge", base64.RawURLEncoding.EncodeToString(sum[:]))
		q.Set("code_challenge_method", "S256")
	}
	return p.AuthorizeURL + "?" + q.Encode()
}

// codeFlow runs login+consent and returns the code, checking state.
func codeFlow(t *testing.T, p *oidctest.Provider, clientID, scope, verifier string) string {
	t.Helper()
	state := randString(t)
	u := p.Authorize(t, authorizeURL(p, clientID, scope, state, verifier))
	if got := u.Scheme + "://" + u.Host + u.Path; got != redirectURI {
		t.Fatalf("redirected to %s, want %s", u, redirectURI)
	}
	q := u.Query()
	if q.Get("state") != state {
		t.Fatalf("state = %q, want %q (redirect %s)", q.Get("state"), state, u)
	}
	if q.Get("code") == "" {
		t.Fatalf("no code in redirect %s", u)
	}
	return q.Get("code")
}

func codeForm(code, verifier string) url.Values {
	v := url.Values{
		"grant_type":   {"authorization_code"},
		"code":         {code},
		"redirect_uri": {redirectURI},
	}
	if verifier != "" {
		v.Set("code_verifier", verifier)
	}
	return v
}

func TestPeer(t *testing.T) {
	p := oidctest.Start(t, oidctest.Config{RedirectURIs: []string{redirectURI}, AccessTokenTTL: 5 * time.Second})
	hc := p.HTTPClient()
	basic := auth{basic: true, c: p.Clients.Basic}

	var refreshToken string

	t.Run("AuthCodePKCEClientSecretBasic", func(t *testing.T) {
		verifier := randString(t)
		code := codeFlow(t, p, p.Clients.Basic.ID, "openid offline_access read", verifier)
		tr := mustOK(t, tokenRequest(t, hc, p, basic, codeForm(code, verifier)))
		if tr.RefreshToken == "" || tr.IDToken == "" {
			t.Fatalf("missing refresh or id token: %+v", tr)
		}
		if tr.ExpiresIn != 5 {
			t.Errorf("expires_in = %d, want 5 (Config.AccessTokenTTL)", tr.ExpiresIn)
		}
		if !strings.Contains(tr.Scope, "read") {
			t.Errorf("scope = %q, want read granted", tr.Scope)
		}
		refreshToken = tr.RefreshToken

		// The access token is real: userinfo accepts it.
		req, _ := http.NewRequest(http.MethodGet, p.UserinfoURL, nil)
		req.Header.Set("Authorization", "Bearer "+tr.AccessToken)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var ui struct{ Sub string }
		_ = json.NewDecoder(resp.Body).Decode(&ui)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || ui.Sub != p.Username {
			t.Errorf("userinfo: status %d sub %q, want 200 %q", resp.StatusCode, ui.Sub, p.Username)
		}
	})

	t.Run("CodeSingleUse", func(t *testing.T) {
		// A reused code fails (and, as in oidc-provider generally, revokes
		// the tokens already issued from it).
		verifier := randString(t)
		code := codeFlow(t, p, p.Clients.Basic.ID, "openid", verifier)
		mustOK(t, tokenRequest(t, hc, p, basic, codeForm(code, verifier)))
		if tr := tokenRequest(t, hc, p, basic, codeForm(code, verifier)); tr.Error != "invalid_grant" {
			t.Errorf("code reuse: got status %d error %q, want invalid_grant", tr.Status, tr.Error)
		}
	})

	t.Run("PKCEWrongVerifier", func(t *testing.T) {
		code := codeFlow(t, p, p.Clients.Basic.ID, "openid read", randString(t))
		if tr := tokenRequest(t, hc, p, basic, codeForm(code, randString(t))); tr.Error != "invalid_grant" {
			t.Errorf("got status %d error %q, want invalid_grant", tr.Status, tr.Error)
		}
	})

	t.Run("RefreshRotation", func(t *testing.T) {
		if refreshToken == "" {
			t.Skip("needs AuthCodePKCEClientSecretBasic")
		}
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}
		tr := mustOK(t, tokenRequest(t, hc, p, basic, form))
		if tr.RefreshToken == "" || tr.RefreshToken == refreshToken {
			t.Fatalf("refresh token not rotated: old %q new %q", refreshToken, tr.RefreshToken)
		}
		before := p.Counts(t)["refresh_token_failed"]
		again := tokenRequest(t, hc, p, basic, form)
		if again.Status != http.StatusBadRequest || again.Error != "invalid_grant" {
			t.Fatalf("reused refresh token: got status %d error %q, want 400 invalid_grant", again.Status, again.Error)
		}
		if got := p.Counts(t)["refresh_token_failed"]; got != before+1 {
			t.Errorf("refresh_token_failed = %d, want %d", got, before+1)
		}
	})

	t.Run("AuthCodeClientSecretPostWithoutPKCE", func(t *testing.T) {
		verifier := "" // PKCE is optional for confidential clients
		code := codeFlow(t, p, p.Clients.Post.ID, "openid write", verifier)
		post := auth{c: p.Clients.Post}
		tr := mustOK(t, tokenRequest(t, hc, p, post, codeForm(code, verifier)))
		// Refresh tokens are issued without offline_access.
		if tr.RefreshToken == "" {
			t.Fatal("no refresh token")
		}
		mustOK(t, tokenRequest(t, hc, p, post, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}}))
		// The registered method is enforced both ways.
		if tr := tokenRequest(t, hc, p, auth{basic: true, c: p.Clients.Post}, codeForm("x", verifier)); tr.Status != http.StatusUnauthorized || tr.Error != "invalid_client" {
			t.Errorf("basic auth for post client: got %d %q, want 401 invalid_client", tr.Status, tr.Error)
		}
		if tr := tokenRequest(t, hc, p, auth{c: p.Clients.Basic}, codeForm("x", verifier)); tr.Status != http.StatusUnauthorized || tr.Error != "invalid_client" {
			t.Errorf("post auth for basic client: got %d %q, want 401 invalid_client", tr.Status, tr.Error)
		}
	})

	t.Run("AuthorizeDeny", func(t *testing.T) {
		state := randString(t)
		u := p.AuthorizeDeny(t, authorizeURL(p, p.Clients.Basic.ID, "openid", state, randString(t)))
		if q := u.Query(); q.Get("error") != "access_denied" || q.Get("state") != state {
			t.Errorf("deny redirect = %s, want error=access_denied with state", u)
		}
	})

	t.Run("ClientCredentials", func(t *testing.T) {
		tr := mustOK(t, tokenRequest(t, hc, p, auth{basic: true, c: p.Clients.ClientCredentials},
			url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}))
		if tr.RefreshToken != "" {
			t.Errorf("client_credentials issued a refresh token")
		}
		bad := auth{basic: true, c: oidctest.ClientInfo{ID: p.Clients.ClientCredentials.ID, Secret: "wrong"}}
		if tr := tokenRequest(t, hc, p, bad, url.Values{"grant_type": {"client_credentials"}}); tr.Error != "invalid_client" {
			t.Errorf("wrong secret: got %d %q, want invalid_client", tr.Status, tr.Error)
		}
	})

	t.Run("PasswordGrant", func(t *testing.T) {
		pw := auth{basic: true, c: p.Clients.Password}
		tr := mustOK(t, tokenRequest(t, hc, p, pw, url.Values{
			"grant_type": {"password"}, "username": {p.Username}, "password": {p.Password}, "scope": {"read write"},
		}))
		if tr.RefreshToken == "" {
			t.Fatal("no refresh token")
		}
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}}
		tr2 := mustOK(t, tokenRequest(t, hc, p, pw, form))
		if tr2.RefreshToken == tr.RefreshToken || tr2.Scope != "read write" {
			t.Errorf("refresh of password token: rotated=%v scope=%q", tr2.RefreshToken != tr.RefreshToken, tr2.Scope)
		}
		if again := tokenRequest(t, hc, p, pw, form); again.Error != "invalid_grant" {
			t.Errorf("reused password refresh token: got %d %q, want invalid_grant", again.Status, again.Error)
		}
		if bad := tokenRequest(t, hc, p, pw, url.Values{
			"grant_type": {"password"}, "username": {p.Username}, "password": {"nope"},
		}); bad.Error != "invalid_grant" {
			t.Errorf("wrong password: got %d %q, want invalid_grant", bad.Status, bad.Error)
		}
		// Other clients are not allowed the password grant.
		if bad := tokenRequest(t, hc, p, basic, url.Values{
			"grant_type": {"password"}, "username": {p.Username}, "password": {p.Password},
		}); bad.Status != http.StatusBadRequest || bad.Error == "" {
			t.Errorf("password grant on basic client: got %d %q, want 400", bad.Status, bad.Error)
		}
	})

	t.Run("MTLS", func(t *testing.T) {
		mtls := auth{c: p.Clients.MTLS} // client_id in the body, no secret
		tr := mustOK(t, tokenRequest(t, p.MTLSHTTPClient(), p, mtls, url.Values{"grant_type": {"client_credentials"}}))
		_ = tr
		// Without the certificate the client cannot authenticate.
		if tr := tokenRequest(t, hc, p, mtls, url.Values{"grant_type": {"client_credentials"}}); tr.Error != "invalid_client" {
			t.Errorf("no client cert: got %d %q, want invalid_client", tr.Status, tr.Error)
		}
		// A certificate with the right subject that the CA did not sign is
		// rejected.
		if tr := tokenRequest(t, selfSignedClient(t, p), p, mtls, url.Values{"grant_type": {"client_credentials"}}); tr.Error != "invalid_client" {
			t.Errorf("self-signed client cert: got %d %q, want invalid_client", tr.Status, tr.Error)
		}
		// Authorization code flow with tls_client_auth, then refresh.
		verifier := randString(t)
		code := codeFlow(t, p, p.Clients.MTLS.ID, "openid read", verifier)
		tr = mustOK(t, tokenRequest(t, p.MTLSHTTPClient(), p, mtls, codeForm(code, verifier)))
		mustOK(t, tokenRequest(t, p.MTLSHTTPClient(), p, mtls, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}}))
	})

	t.Run("FailNext", func(t *testing.T) {
		cc := auth{basic: true, c: p.Clients.ClientCredentials}
		form := url.Values{"grant_type": {"client_credentials"}}
		p.FailNext(t, http.StatusServiceUnavailable, 2)
		for i := range 2 {
			if tr := tokenRequest(t, hc, p, cc, form); tr.Status != http.StatusServiceUnavailable || tr.Error != "server_error" {
				t.Errorf("request %d: got %d %q, want 503 server_error", i, tr.Status, tr.Error)
			}
		}
		mustOK(t, tokenRequest(t, hc, p, cc, form))
	})

	t.Run("DelayNext", func(t *testing.T) {
		cc := auth{basic: true, c: p.Clients.ClientCredentials}
		form := url.Values{"grant_type": {"client_credentials"}}
		p.DelayNext(t, 2*time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		if _, err := tryTokenRequest(ctx, hc, p, cc, form); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("delayed request: err = %v, want deadline exceeded", err)
		}
		mustOK(t, tokenRequest(t, hc, p, cc, form))
	})

	t.Run("Counts", func(t *testing.T) {
		p.Reset(t)
		cc := auth{basic: true, c: p.Clients.ClientCredentials}
		pw := auth{basic: true, c: p.Clients.Password}
		mustOK(t, tokenRequest(t, hc, p, cc, url.Values{"grant_type": {"client_credentials"}}))
		tr := mustOK(t, tokenRequest(t, hc, p, pw, url.Values{"grant_type": {"password"}, "username": {p.Username}, "password": {p.Password}}))
		mustOK(t, tokenRequest(t, hc, p, pw, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}}))
		tokenRequest(t, hc, p, pw, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}})
		verifier := randString(t)
		mustOK(t, tokenRequest(t, hc, p, basic, codeForm(codeFlow(t, p, p.Clients.Basic.ID, "openid", verifier), verifier)))
		p.FailNext(t, http.StatusBadGateway, 1)
		tokenRequest(t, hc, p, cc, url.Values{"grant_type": {"client_credentials"}})

		got := p.Counts(t)
		want := map[string]int{
			"authorization_code":   1,
			"client_credentials":   1,
			"password":             1,
			"refresh_token":        1,
			"refresh_token_failed": 1,
			"token_requests":       6,
			"injected_failures":    1,
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("Counts()[%q] = %d, want %d (all: %v)", k, got[k], v, got)
			}
		}
	})
}

// selfSignedClient presents a self-signed certificate with the MTLS client's
// subject.
func selfSignedClient(t *testing.T, p *oidctest.Provider) *http.Client {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: strings.TrimPrefix(oidctest.MTLSSubjectDN, "CN=")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: p.CertPool(),
		// Present the certificate even though the server asks for ones
		// issued by its CA.
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil },
	}}}
}

func TestAccessTokenExpiry(t *testing.T) {
	// Long enough that a slow run (the race detector) still finds the fresh token active, given
	// that expiry is counted in whole seconds.
	p := oidctest.Start(t, oidctest.Config{AccessTokenTTL: 3 * time.Second})
	hc := p.HTTPClient()
	tr := mustOK(t, tokenRequest(t, hc, p, auth{basic: true, c: p.Clients.ClientCredentials},
		url.Values{"grant_type": {"client_credentials"}}))
	if tr.ExpiresIn != 3 {
		t.Fatalf("expires_in = %d, want 3", tr.ExpiresIn)
	}
	introspect := func() bool {
		form := url.Values{"token": {tr.AccessToken}}
		req, _ := http.NewRequest(http.MethodPost, p.IntrospectionURL, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(p.Clients.ClientCredentials.ID, p.Clients.ClientCredentials.Secret)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct{ Active bool }
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return out.Active
	}
	if !introspect() {
		t.Fatal("fresh token inactive")
	}
	time.Sleep(4100 * time.Millisecond)
	if introspect() {
		t.Fatal("token still active after its TTL")
	}
}
