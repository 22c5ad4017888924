// Package oidctest runs a real OAuth 2.0 / OpenID Connect authorization server
// for tests: the npm package oidc-provider, wrapped by
// testdata/oidc-provider/server.js and started as a Node.js child process.
//
// The peer listens with HTTPS on 127.0.0.1 (random port) using a server
// certificate signed by a throw-away CA generated per Start; it requests (but
// does not require) client certificates so tls_client_auth works. It has a
// fixed set of clients (see [Clients]), refresh-token rotation, a password
// grant, a form-post login/consent page that [Provider.Authorize] drives
// without a browser, grant counters ([Provider.Counts]) and failure injection
// on the token endpoint ([Provider.FailNext], [Provider.DelayNext]).
//
// The tests that use it are opt-in: [Start] skips unless PLUGBOARD_TEST_OIDC=1.
// It needs node on PATH and the peer's dependencies installed once with
//
//	npm ci --prefix testdata/oidc-provider
//
// Typical use:
//
//	p := oidctest.Start(t, oidctest.Config{RedirectURIs: []string{"http://127.0.0.1:8080/callback"}})
//	u := p.Authorize(t, authorizeURLBuiltByTheCodeUnderTest)
//	code, state := u.Query().Get("code"), u.Query().Get("state")
package oidctest

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// EnvVar is the environment variable that enables tests using the peer. Any
// value other than "1" makes [Start] skip the test.
const EnvVar = "PLUGBOARD_TEST_OIDC"

// MTLSSubjectDN is the subject DN of the client certificate generated for the
// tls_client_auth client ([Clients].MTLS); the client is registered with
// tls_client_auth_subject_dn set to this value.
const MTLSSubjectDN = "CN=plugboard-oidctest-mtls-client"

// Config configures a test peer. The zero value is usable.
type Config struct {
	// RedirectURIs are registered, verbatim, for the clients that use the
	// authorization_code grant (Basic, Post and MTLS). Redirect URIs are
	// matched exactly, port included. Default: http://127.0.0.1/callback.
	RedirectURIs []string

	// AccessTokenTTL is the lifetime of access tokens (all grants), rounded
	// up to whole seconds. Default: 60s.
	AccessTokenTTL time.Duration

	// RefreshTokenTTL is the lifetime of refresh tokens, rounded up to whole
	// seconds. Default: 24h.
	RefreshTokenTTL time.Duration

	// Scopes are accepted in addition to openid and offline_access.
	// Default: read, write.
	Scopes []string

	// Username and Password are the resource owner's credentials, used by the
	// login page and by the password grant. Default: alice / wonderland.
	Username, Password string

	// Port to listen on at 127.0.0.1. Default 0: a random free port.
	Port int

	// StartTimeout bounds how long Start waits for the peer to be ready.
	// Default: 30s.
	StartTimeout time.Duration
}

// ClientInfo identifies one registered client.
type ClientInfo struct {
	// ID is the client_id.
	ID string
	// Secret is the client_secret; empty for the tls_client_auth client.
	Secret string
	// AuthMethod is the registered token_endpoint_auth_method.
	AuthMethod string
	// GrantTypes are the grant types the client may use.
	GrantTypes []string
}

// Clients are the clients registered with the peer. Secrets are random per
// Start; IDs are fixed.
type Clients struct {
	// Basic: client_secret_basic; authorization_code + refresh_token; PKCE
	// (S256) optional.
	Basic ClientInfo
	// Post: like Basic, with client_secret_post.
	Post ClientInfo
	// MTLS: tls_client_auth with [MTLSSubjectDN] (no secret; use
	// [Provider.MTLSHTTPClient] or MTLSCertPEM/MTLSKeyPEM);
	// authorization_code + refresh_token + client_credentials.
	MTLS ClientInfo
	// ClientCredentials: client_secret_basic; client_credentials only.
	ClientCredentials ClientInfo
	// Password: client_secret_basic; password + refresh_token.
	Password ClientInfo
}

// Provider is a running test peer. All fields are read-only.
type Provider struct {
	// Issuer is the issuer identifier, https://127.0.0.1:PORT.
	Issuer string
	// Endpoint URLs.
	AuthorizeURL, TokenURL, UserinfoURL, JWKSURL, RevocationURL, IntrospectionURL string

	// CAPEM is the PEM certificate of the per-run CA that signed the server
	// certificate and the mTLS client certificate.
	CAPEM []byte
	// MTLSCertPEM and MTLSKeyPEM are the client certificate (subject
	// [MTLSSubjectDN]) and its PKCS#8 key for the MTLS client.
	MTLSCertPEM, MTLSKeyPEM []byte

	// Clients are the registered clients.
	Clients Clients
	// Username and Password are the resource owner's credentials.
	Username, Password string
	// RedirectURIs are the redirect URIs registered for the
	// authorization_code clients.
	RedirectURIs []string
	// AccessTokenTTL is the effective access token lifetime.
	AccessTokenTTL time.Duration

	transport     *http.Transport
	mtlsTransport *http.Transport
}

// Start starts a test peer and stops it when the test ends. It skips the test
// unless PLUGBOARD_TEST_OIDC=1, and fails it if node or the peer's
// node_modules are missing.
func Start(t testing.TB, cfg Config) *Provider {
	t.Helper()
	if os.Getenv(EnvVar) != "1" {
		t.Skipf("skipping: OAuth/OIDC peer tests need Node.js; set %s=1 to run them (after `npm ci --prefix testdata/oidc-provider`)", EnvVar)
	}
	cfg = withDefaults(cfg)

	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("oidctest: %s=1 but node is not on PATH (install Node.js >= 20 and npm, then run `npm ci --prefix testdata/oidc-provider`): %v", EnvVar, err)
	}
	dir, err := peerDir()
	if err != nil {
		t.Fatalf("oidctest: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "oidc-provider", "package.json")); err != nil {
		t.Fatalf("oidctest: %s is missing node_modules/oidc-provider; run `npm ci --prefix testdata/oidc-provider` from the repository root", dir)
	}

	tmp := t.TempDir()
	pki, err := newPKI()
	if err != nil {
		t.Fatalf("oidctest: generating certificates: %v", err)
	}
	files := map[string][]byte{"ca.pem": pki.caPEM, "server.pem": pki.serverPEM, "server-key.pem": pki.serverKeyPEM}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(tmp, name), data, 0o600); err != nil {
			t.Fatalf("oidctest: %v", err)
		}
	}

	p := &Provider{
		CAPEM:          pki.caPEM,
		MTLSCertPEM:    pki.clientPEM,
		MTLSKeyPEM:     pki.clientKeyPEM,
		Username:       cfg.Username,
		Password:       cfg.Password,
		RedirectURIs:   append([]string(nil), cfg.RedirectURIs...),
		AccessTokenTTL: time.Duration(ceilSeconds(cfg.AccessTokenTTL)) * time.Second,
	}
	p.Clients = Clients{
		Basic:             ClientInfo{ID: "plugboard-basic", Secret: randomSecret(), AuthMethod: "client_secret_basic", GrantTypes: []string{"authorization_code", "refresh_token"}},
		Post:              ClientInfo{ID: "plugboard-post", Secret: randomSecret(), AuthMethod: "client_secret_post", GrantTypes: []string{"authorization_code", "refresh_token"}},
		MTLS:              ClientInfo{ID: "plugboard-mtls", AuthMethod: "tls_client_auth", GrantTypes: []string{"authorization_code", "refresh_token", "client_credentials"}},
		ClientCredentials: ClientInfo{ID: "plugboard-cc", Secret: randomSecret(), AuthMethod: "client_secret_basic", GrantTypes: []string{"client_credentials"}},
		Password:          ClientInfo{ID: "plugboard-password", Secret: randomSecret(), AuthMethod: "client_secret_basic", GrantTypes: []string{"password", "refresh_token"}},
	}

	var clients []map[string]any
	for _, c := range []ClientInfo{p.Clients.Basic, p.Clients.Post, p.Clients.MTLS, p.Clients.ClientCredentials, p.Clients.Password} {
		m := map[string]any{
			"client_id":                  c.ID,
			"token_endpoint_auth_method": c.AuthMethod,
			"grant_types":                c.GrantTypes,
			"response_types":             []string{},
			"redirect_uris":              []string{},
		}
		if c.Secret != "" {
			m["client_secret"] = c.Secret
		}
		if c.AuthMethod == "tls_client_auth" {
			m["tls_client_auth_subject_dn"] = MTLSSubjectDN
		}
		for _, g := range c.GrantTypes {
			if g == "authorization_code" {
				m["response_types"] = []string{"code"}
				m["redirect_uris"] = cfg.RedirectURIs
			}
		}
		clients = append(clients, m)
	}
	nodeCfg := map[string]any{
		"port":            cfg.Port,
		"tls":             map[string]string{"cert": filepath.Join(tmp, "server.pem"), "key": filepath.Join(tmp, "server-key.pem"), "ca": filepath.Join(tmp, "ca.pem")},
		"accessTokenTTL":  ceilSeconds(cfg.AccessTokenTTL),
		"refreshTokenTTL": ceilSeconds(cfg.RefreshTokenTTL),
		"user":            map[string]string{"username": cfg.Username, "password": cfg.Password},
		"scopes":          cfg.Scopes,
		"clients":         clients,
	}
	cfgPath := filepath.Join(tmp, "config.json")
	data, err := json.Marshal(nodeCfg)
	if err != nil {
		t.Fatalf("oidctest: %v", err)
	}
	if err := os.WriteFile(cfgPath, data, 0o600); err != nil {
		t.Fatalf("oidctest: %v", err)
	}

	cmd := exec.Command(node, "server.js", cfgPath)
	cmd.Dir = dir
	stderr := &logBuffer{}
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe() // the peer exits when this closes
	if err != nil {
		t.Fatalf("oidctest: %v", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("oidctest: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("oidctest: starting node: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("oidctest: peer stderr:\n%s", stderr.String())
		}
	})

	type ready struct {
		Issuer                string `json:"issuer"`
		AuthorizationEndpoint string `json:"authorization_endpoint"`
		TokenEndpoint         string `json:"token_endpoint"`
		UserinfoEndpoint      string `json:"userinfo_endpoint"`
		JWKSURI               string `json:"jwks_uri"`
		RevocationEndpoint    string `json:"revocation_endpoint"`
		IntrospectionEndpoint string `json:"introspection_endpoint"`
	}
	readyc := make(chan ready, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		sent := false
		for sc.Scan() {
			line := sc.Bytes()
			var r ready
			if !sent && json.Unmarshal(line, &r) == nil && r.Issuer != "" {
				readyc <- r
				sent = true
				continue
			}
			_, _ = stderr.Write(append(append([]byte("stdout: "), line...), '\n'))
		}
	}()

	var r ready
	select {
	case r = <-readyc:
	case <-exited:
		t.Fatalf("oidctest: node server.js exited before it was ready:\n%s", stderr.String())
	case <-time.After(cfg.StartTimeout):
		t.Fatalf("oidctest: node server.js not ready after %v:\n%s", cfg.StartTimeout, stderr.String())
	}
	p.Issuer = r.Issuer
	p.AuthorizeURL = r.AuthorizationEndpoint
	p.TokenURL = r.TokenEndpoint
	p.UserinfoURL = r.UserinfoEndpoint
	p.JWKSURL = r.JWKSURI
	p.RevocationURL = r.RevocationEndpoint
	p.IntrospectionURL = r.IntrospectionEndpoint

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(p.CAPEM)
	p.transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	cert, err := tls.X509KeyPair(p.MTLSCertPEM, p.MTLSKeyPEM)
	if err != nil {
		t.Fatalf("oidctest: %v", err)
	}
	p.mtlsTransport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	t.Cleanup(func() {
		p.transport.CloseIdleConnections()
		p.mtlsTransport.CloseIdleConnections()
	})
	return p
}

// HTTPClient returns a client that trusts the peer's CA and presents no client
// certificate. It has no timeout; use request contexts.
func (p *Provider) HTTPClient() *http.Client {
	return &http.Client{Transport: p.transport}
}

// MTLSHTTPClient returns a client that trusts the peer's CA and presents the
// MTLS client's certificate (see [Clients].MTLS).
func (p *Provider) MTLSHTTPClient() *http.Client {
	return &http.Client{Transport: p.mtlsTransport}
}

// CertPool returns a pool holding the peer's CA certificate.
func (p *Provider) CertPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(p.CAPEM)
	return pool
}

// Authorize performs the browser part of an authorization code flow without a
// browser: it requests authorizeURL (an authorization request for this peer,
// e.g. response_type=code&client_id=...&redirect_uri=...&scope=...&state=...
// &prompt=login&code_challenge=...&code_challenge_method=S256), follows the
// peer's redirects with a fresh cookie jar, submits the login form with
// p.Username/p.Password, approves every requested scope, and returns the
// redirect to the client's redirect_uri without following it. The returned
// URL carries code and state, or error and state if the peer rejected the
// request after validating the redirect_uri. It fails the test if the flow
// never leaves the peer (e.g. an unregistered redirect_uri).
func (p *Provider) Authorize(t testing.TB, authorizeURL string) *url.URL {
	t.Helper()
	u, err := p.authorize(authorizeURL, "approve")
	if err != nil {
		t.Fatalf("oidctest: Authorize: %v", err)
	}
	return u
}

// AuthorizeDeny is like [Provider.Authorize] but the user denies the request;
// the returned redirect carries error=access_denied and state.
func (p *Provider) AuthorizeDeny(t testing.TB, authorizeURL string) *url.URL {
	t.Helper()
	u, err := p.authorize(authorizeURL, "deny")
	if err != nil {
		t.Fatalf("oidctest: AuthorizeDeny: %v", err)
	}
	return u
}

func (p *Provider) authorize(authorizeURL, action string) (*url.URL, error) {
	issuer, err := url.Parse(p.Issuer)
	if err != nil {
		return nil, err
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, err
	}
	c := &http.Client{
		Transport:     p.transport,
		Jar:           jar,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	next, err := url.Parse(authorizeURL)
	if err != nil {
		return nil, err
	}
	for range 20 {
		if next.Scheme != issuer.Scheme || next.Host != issuer.Host {
			return next, nil // left the peer: this is the redirect to the client
		}
		resp, err := c.Get(next.String())
		if err != nil {
			return nil, err
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()

		switch {
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			loc, err := resp.Location()
			if err != nil {
				return nil, fmt.Errorf("GET %s: %d without Location", next, resp.StatusCode)
			}
			next = loc
		case resp.StatusCode == http.StatusOK && strings.HasPrefix(next.Path, "/interaction/"):
			form := url.Values{"login": {p.Username}, "password": {p.Password}, "action": {action}}
			resp, err := c.PostForm(next.String(), form)
			if err != nil {
				return nil, err
			}
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			loc, err := resp.Location()
			if resp.StatusCode != http.StatusSeeOther || err != nil {
				return nil, fmt.Errorf("POST %s: want 303, got %d: %s", next, resp.StatusCode, body)
			}
			next = loc
		default:
			return nil, fmt.Errorf("GET %s: unexpected %d: %s", next, resp.StatusCode, body)
		}
	}
	return nil, errors.New("too many redirects")
}

// Counts returns the peer's counters:
//
//   - "authorization_code", "refresh_token", "client_credentials",
//     "password": successful token endpoint grants by grant_type;
//   - "<grant_type>_failed", e.g. "refresh_token_failed": token requests
//     that oidc-provider rejected (invalid_grant, invalid_client, ...);
//   - "token_requests": all POSTs to the token endpoint, injected failures
//     included;
//   - "injected_failures": responses produced by [Provider.FailNext].
//
// Missing keys are zero.
func (p *Provider) Counts(t testing.TB) map[string]int {
	t.Helper()
	resp, err := p.HTTPClient().Get(p.Issuer + "/__test/counts")
	if err != nil {
		t.Fatalf("oidctest: Counts: %v", err)
	}
	defer resp.Body.Close()
	counts := map[string]int{}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("oidctest: Counts: status %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&counts); err != nil {
		t.Fatalf("oidctest: Counts: %v", err)
	}
	return counts
}

// FailNext makes the next count token endpoint requests fail with the given
// HTTP status (4xx or 5xx) and body {"error":"server_error",...} without
// reaching oidc-provider. It replaces any earlier FailNext/DelayNext.
func (p *Provider) FailNext(t testing.TB, status, count int) {
	t.Helper()
	p.testPost(t, "/__test/fail", map[string]int{"status": status, "count": count})
}

// DelayNext delays the next token endpoint request by d before it is handled
// normally. It replaces any earlier FailNext/DelayNext.
func (p *Provider) DelayNext(t testing.TB, d time.Duration) {
	t.Helper()
	p.testPost(t, "/__test/fail", map[string]int{"delayMs": int(d.Milliseconds()), "count": 1})
}

// Reset zeroes the counters and cancels pending FailNext/DelayNext.
func (p *Provider) Reset(t testing.TB) {
	t.Helper()
	p.testPost(t, "/__test/reset", map[string]int{})
}

func (p *Provider) testPost(t testing.TB, path string, body any) {
	t.Helper()
	data, err := json.Marshal(body)
	if err != nil {
		t.Fatalf("oidctest: %v", err)
	}
	resp, err := p.HTTPClient().Post(p.Issuer+path, "application/json", bytes.NewReader(data))
	if err != nil {
		t.Fatalf("oidctest: POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		t.Fatalf("oidctest: POST %s: status %d: %s", path, resp.StatusCode, msg)
	}
}

func withDefaults(cfg Config) Config {
	if len(cfg.RedirectURIs) == 0 {
		cfg.RedirectURIs = []string{"http://127.0.0.1/callback"}
	}
	if cfg.AccessTokenTTL <= 0 {
		cfg.AccessTokenTTL = 60 * time.Second
	}
	if cfg.RefreshTokenTTL <= 0 {
		cfg.RefreshTokenTTL = 24 * time.Hour
	}
	if cfg.Scopes == nil {
		cfg.Scopes = []string{"read", "write"}
	}
	if cfg.Username == "" {
		cfg.Username = "alice"
	}
	if cfg.Password == "" {
		cfg.Password = "wonderland"
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 30 * time.Second
	}
	return cfg
}

func ceilSeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

func randomSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// peerDir finds testdata/oidc-provider: next to this source file, or under
// the module root above the working directory (for -trimpath builds).
func peerDir() (string, error) {
	const rel = "testdata/oidc-provider"
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		dir := filepath.Join(filepath.Dir(file), "..", "..", filepath.FromSlash(rel))
		if _, err := os.Stat(filepath.Join(dir, "server.js")); err == nil {
			return filepath.Clean(dir), nil
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			peer := filepath.Join(dir, filepath.FromSlash(rel))
			if _, err := os.Stat(filepath.Join(peer, "server.js")); err != nil {
				return "", fmt.Errorf("%s/server.js not found under module root %s", rel, dir)
			}
			return peer, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("%s not found: no go.mod above %s", rel, wd)
		}
	}
}

// logBuffer collects the peer's stderr (bounded) for failure reports.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() < 1<<20 {
		b.buf.Write(p)
	}
	return len(p), nil
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type pki struct {
	caPEM, serverPEM, serverKeyPEM, clientPEM, clientKeyPEM []byte
}

func newPKI() (*pki, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "plugboard oidctest CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	leaf := func(tmpl *x509.Certificate) (certPEM, keyPEM []byte, err error) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		tmpl.SerialNumber = serial()
		tmpl.NotBefore = now.Add(-time.Hour)
		tmpl.NotAfter = now.Add(24 * time.Hour)
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return nil, nil, err
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
	}
	out := &pki{caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})}
	out.serverPEM, out.serverKeyPEM, err = leaf(&x509.Certificate{
		Subject:     pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:    []string{"localhost"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return nil, err
	}
	out.clientPEM, out.clientKeyPEM, err = leaf(&x509.Certificate{
		Subject:     pkix.Name{CommonName: strings.TrimPrefix(MTLSSubjectDN, "CN=")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}
