package apply_test

import (
	"bytes"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/apply"
)

// received is what an upstream got.
type received struct {
	Method     string
	RequestURI string
	Header     http.Header
	Cookies    map[string]string
	Body       []byte
	TLS        *tls.ConnectionState
}

// upstream is an httptest server on 127.0.0.1 that records each request and answers 204.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	last *received
}

func newUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(u.record))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) record(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	got := &received{Method: r.Method, RequestURI: r.RequestURI, Header: r.Header.Clone(), Body: body, TLS: r.TLS, Cookies: map[string]string{}}
	for _, c := range r.Cookies() {
		got.Cookies[c.Name] = c.Value
	}
	u.mu.Lock()
	u.last = got
	u.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// send applies creds to req with a, sends it with client (a plain one when nil) and returns what
// the upstream received.
func (u *upstream) send(t *testing.T, a *apply.Applier, req *http.Request, creds ...apply.Credential) *received {
	t.Helper()
	tlsCfg, err := a.Apply(req, creds)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if tlsCfg != nil {
		t.Fatalf("Apply returned TLS settings for credentials without a certificate")
	}
	return u.do(t, &http.Client{Timeout: 10 * time.Second}, req)
}

// do sends req with client and returns what the upstream received.
func (u *upstream) do(t *testing.T, client *http.Client, req *http.Request) *received {
	t.Helper()
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("upstream status %d", res.StatusCode)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	got := u.last
	u.last = nil
	if got == nil {
		t.Fatal("upstream received nothing")
	}
	return got
}

func newRequest(t *testing.T, method, url, contentType string, body []byte) *http.Request {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req
}

// fixedClock is a settable clock, safe for concurrent use.
type fixedClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fixedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fixedClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Credential builders.

func stringCred(id string, cfg api.AuthSchemeConfig, value string) apply.Credential {
	return apply.Credential{ID: id, Config: cfg, Type: api.CredentialTypeString,
		Data: api.CredentialData{String: &api.CredentialDataString{Value: value}}}
}

func apiKeyConfig(name string, in api.AuthSchemeConfigAPIKeyIn) api.AuthSchemeConfig {
	return api.AuthSchemeConfig{Type: api.AuthSchemeTypeApiKey, ApiKey: &api.AuthSchemeConfigAPIKey{ID: "api-key", Name: name, In: in}}
}

func hmacConfig(name string, in api.AuthSchemeConfigHMACIn, alg api.AuthSchemeConfigHMACAlgorithm, enc api.AuthSchemeConfigHMACEncoding, inputs ...api.AuthSchemeConfigHMACDigestInputs) api.AuthSchemeConfig {
	return api.AuthSchemeConfig{Type: api.AuthSchemeTypeHmac, Hmac: &api.AuthSchemeConfigHMAC{
		ID: "hmac", Name: name, In: in, Algorithm: alg, Encoding: enc, DigestInputs: inputs}}
}

func baseConfig(typ api.AuthSchemeType) api.AuthSchemeConfig {
	b := &api.AuthSchemeConfigBase{ID: string(typ)}
	cfg := api.AuthSchemeConfig{Type: typ}
	switch typ {
	case api.AuthSchemeTypeBasicAuth:
		cfg.BasicAuth = b
	case api.AuthSchemeTypeCertificate:
		cfg.Certificate = b
	case api.AuthSchemeTypeJwtBearer:
		cfg.JwtBearer = b
	case api.AuthSchemeTypeNone:
		cfg.None = b
	case api.AuthSchemeTypeSecret:
		cfg.Secret = b
	case api.AuthSchemeTypeOauth2:
		cfg.Oauth2 = &api.AuthSchemeConfigOAuth2{ID: "oauth2", TokenURL: "https://provider.invalid/token",
			Grant: api.AuthSchemeConfigOAuth2Grant{Type: api.AuthorizationCode}}
	}
	return cfg
}

// opensslHMAC computes HMAC(key, data) with the openssl command line and encodes it with
// command-line tools, independently of Go's crypto. A binary key is passed as hex.
func opensslHMAC(t *testing.T, alg, encoding string, key []byte, binaryKey bool, data []byte) string {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl is not installed: the HMAC expectations are computed with it")
	}
	var enc string
	switch encoding {
	case "hex":
		enc = `od -An -v -tx1 | tr -d ' \n'`
	case "base64":
		enc = `openssl base64 -A`
	case "base64url":
		enc = `openssl base64 -A | tr '+/' '-_'`
	default:
		t.Fatalf("encoding %q", encoding)
	}
	keyArgs := `-hmac "$2"`
	keyArg := string(key)
	if binaryKey {
		keyArgs = `-mac HMAC -macopt hexkey:"$2"`
		keyArg = hexOf(key)
	}
	cmd := exec.Command("sh", "-c", `openssl dgst -"$1" `+keyArgs+` -binary | `+enc, "sh", alg, keyArg)
	cmd.Stdin = bytes.NewReader(data)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("openssl: %v: %s", err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

// wantCode fails unless err is a *plugboard.Error with the code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s", code)
	}
	if got := plugboard.ErrorCode(err); got != code {
		t.Fatalf("error code %s, want %s (%v)", got, code, err)
	}
}
