// Package oauth1test runs a real OAuth 1.0a (RFC 5849) provider for tests: the script in
// testdata/oauth1-provider/provider.py, built on Debian's python3-oauthlib and run with
// /usr/bin/python3. It serves the three-legged flow (request token, auto-approving authorize,
// access token) and a signed protected resource on 127.0.0.1, with in-memory state, nonce replay
// checks and test hooks for counting requests and injecting failures.
//
// Tests that need it skip, naming the variable, unless PLUGBOARD_TEST_OAUTH1=1. Imported only by
// tests.
package oauth1test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plugboard/plugboard/internal/testlog"
)

// EnvEnable names the variable that switches OAuth 1.0a provider tests on: set it to 1.
const EnvEnable = "PLUGBOARD_TEST_OAUTH1"

// Python is the interpreter that runs the provider. It is Debian's, not whatever python3 is
// first on PATH, because only Debian's sees the python3-oauthlib package.
const Python = "/usr/bin/python3"

// Defaults used when Config leaves a field empty.
const (
	DefaultConsumerKey    = "plugboard-test-consumer"
	DefaultConsumerSecret = "plugboard-test-consumer-secret"
	DefaultUserID         = "1001"
	DefaultScreenName     = "plugboard-test-user"
)

// Signature methods the provider can be told to accept.
const (
	HMACSHA1   = "HMAC-SHA1"
	HMACSHA256 = "HMAC-SHA256"
	HMACSHA512 = "HMAC-SHA512"
	Plaintext  = "PLAINTEXT"
)

// Config configures a provider. The zero value is usable.
type Config struct {
	// ConsumerKey and ConsumerSecret are the one registered client's credentials; empty means
	// DefaultConsumerKey and DefaultConsumerSecret. The key must be 4-128 characters of
	// [A-Za-z0-9-._~].
	ConsumerKey, ConsumerSecret string
	// UserID and ScreenName identify the test user that /authorize approves as; they come
	// back as user_id and screen_name from /access_token and as "user" from /resource.
	// Empty means DefaultUserID and DefaultScreenName.
	UserID, ScreenName string
	// SignatureMethods lists the methods the provider accepts; empty means HMAC-SHA1 and
	// HMAC-SHA256. Others are rejected with 400.
	SignatureMethods []string
	// Port to listen on at 127.0.0.1; 0 picks a free port.
	Port int
	// TimestampLifetime is how far oauth_timestamp may be from the provider's clock; zero
	// means oauthlib's default of 600 seconds.
	TimestampLifetime time.Duration
}

// Provider is a running OAuth 1.0a provider.
type Provider struct {
	// URL is the base URL, http://127.0.0.1:PORT.
	URL string
	// RequestTokenURL (POST), AuthorizeURL (GET, ?oauth_token=), AccessTokenURL (POST) and
	// ResourceURL (any method) are the endpoints.
	RequestTokenURL, AuthorizeURL, AccessTokenURL, ResourceURL string
	// ConsumerKey and ConsumerSecret are the registered client's credentials.
	ConsumerKey, ConsumerSecret string
	// UserID is the test user's id as returned in user_id and by /resource.
	UserID string
}

var (
	checkOnce sync.Once
	checkErr  error
)

// scriptPath finds provider.py relative to this source file, so any package's tests can use it.
func scriptPath() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return filepath.Join("testdata", "oauth1-provider", "provider.py")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "oauth1-provider", "provider.py")
}

// Start runs a provider for the test and stops it when the test ends. It skips the test unless
// PLUGBOARD_TEST_OAUTH1=1, and fails it if /usr/bin/python3 cannot import oauthlib.
func Start(t testing.TB, cfg Config) *Provider {
	t.Helper()
	if os.Getenv(EnvEnable) != "1" {
		t.Skipf("OAuth 1.0a provider tests are off: set %s=1 to run them (needs %s with python3-oauthlib)", EnvEnable, Python)
	}
	checkOnce.Do(func() {
		out, err := exec.Command(Python, "-c", "import oauthlib.oauth1").CombinedOutput()
		if err != nil {
			checkErr = fmt.Errorf("%s cannot import oauthlib (%v: %s); install it with: apt-get update && apt-get install -y python3-oauthlib",
				Python, err, strings.TrimSpace(string(out)))
		}
	})
	if checkErr != nil {
		t.Fatal(checkErr)
	}
	script := scriptPath()
	if _, err := os.Stat(script); err != nil {
		t.Fatalf("OAuth 1.0a provider script: %v", err)
	}

	p := &Provider{
		ConsumerKey:    cfg.ConsumerKey,
		ConsumerSecret: cfg.ConsumerSecret,
		UserID:         cfg.UserID,
	}
	if p.ConsumerKey == "" {
		p.ConsumerKey = DefaultConsumerKey
	}
	if p.ConsumerSecret == "" {
		p.ConsumerSecret = DefaultConsumerSecret
	}
	if p.UserID == "" {
		p.UserID = DefaultUserID
	}
	screenName := cfg.ScreenName
	if screenName == "" {
		screenName = DefaultScreenName
	}
	args := []string{script,
		"--host", "127.0.0.1",
		"--port", strconv.Itoa(cfg.Port),
		"--consumer", p.ConsumerKey + ":" + p.ConsumerSecret,
		"--user-id", p.UserID,
		"--screen-name", screenName,
		"--watch-stdin",
	}
	for _, m := range cfg.SignatureMethods {
		args = append(args, "--signature-method", m)
	}
	if cfg.TimestampLifetime > 0 {
		args = append(args, "--timestamp-lifetime", strconv.Itoa(int(cfg.TimestampLifetime/time.Second)))
	}

	cmd := exec.Command(Python, args...)
	// Keep the environment from adding consumers behind the test's back.
	cmd.Env = filterEnv(os.Environ(), "OAUTH1_PROVIDER_")
	stdin, err := cmd.StdinPipe() // closing it makes the provider exit (--watch-stdin)
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	cmd.Stdout = &readyWriter{ready: ready}
	stderr := &testlog.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start OAuth 1.0a provider: %v", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("OAuth 1.0a provider log:\n%s", stderr.String())
		}
	})

	select {
	case p.URL = <-ready:
	case <-done:
		t.Fatalf("OAuth 1.0a provider exited before it was ready:\n%s", stderr.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("OAuth 1.0a provider not ready after 20s:\n%s", stderr.String())
	}
	p.RequestTokenURL = p.URL + "/request_token"
	p.AuthorizeURL = p.URL + "/authorize"
	p.AccessTokenURL = p.URL + "/access_token"
	p.ResourceURL = p.URL + "/resource"
	return p
}

// Authorize plays the user: it GETs authorizeURL (the provider's AuthorizeURL with
// ?oauth_token=..., as a client would send the user) without following the redirect, and returns
// the redirect's Location, the client's callback with oauth_token and oauth_verifier added. Add
// deny=1 to authorizeURL to have the user refuse instead: the callback then carries
// denied=TOKEN. For the "oob" callback the provider answers 200 with a form body instead of a
// redirect; Authorize then returns the URL "oob:" with that body as its query.
func (p *Provider) Authorize(t testing.TB, authorizeURL string) *url.URL {
	t.Helper()
	client := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Get(authorizeURL)
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	switch {
	case resp.StatusCode == http.StatusFound:
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || resp.Header.Get("Location") == "" {
			t.Fatalf("authorize: bad Location %q: %v", resp.Header.Get("Location"), err)
		}
		return loc
	case resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/x-www-form-urlencoded"):
		return &url.URL{Scheme: "oob", RawQuery: strings.TrimSpace(string(body))}
	default:
		t.Fatalf("authorize %s: status %d, want 302: %s", authorizeURL, resp.StatusCode, body)
		return nil
	}
}

// Counts returns the provider's counters: request_token, authorize, access_token and resource
// (requests received, including failures), each with a *_failures partner (responses of status
// 400 or more), plus nonce_replays (requests rejected for a reused nonce) and injected_failures
// (responses forced by FailNext).
func (p *Provider) Counts(t testing.TB) map[string]int {
	t.Helper()
	var counts map[string]int
	p.testHook(t, http.MethodGet, "/__test/counts", nil, &counts)
	return counts
}

// FailNext makes the next count requests to /access_token fail with status, before any OAuth
// processing (they count as access_token hits and failures).
func (p *Provider) FailNext(t testing.TB, status, count int) {
	t.Helper()
	p.FailNextOn(t, "access_token", status, count)
}

// FailNextOn is FailNext for any endpoint: "request_token", "authorize", "access_token" or
// "resource". A count of 0 cancels pending failures for the endpoint.
func (p *Provider) FailNextOn(t testing.TB, endpoint string, status, count int) {
	t.Helper()
	q := url.Values{
		"endpoint": {endpoint},
		"status":   {strconv.Itoa(status)},
		"count":    {strconv.Itoa(count)},
	}
	p.testHook(t, http.MethodPost, "/__test/fail", q, nil)
}

// Reset zeroes the counters and cancels pending injected failures. Tokens stay valid.
func (p *Provider) Reset(t testing.TB) {
	t.Helper()
	p.testHook(t, http.MethodPost, "/__test/reset", nil, nil)
}

func (p *Provider) testHook(t testing.TB, method, path string, q url.Values, out any) {
	t.Helper()
	u := p.URL + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: status %d: %s", method, path, resp.StatusCode, body)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, body)
		}
	}
}

func filterEnv(env []string, prefix string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, prefix) {
			out = append(out, kv)
		}
	}
	return out
}

// readyWriter takes the provider's stdout and reports the URL from its first JSON line.
type readyWriter struct {
	line  []byte
	done  bool
	ready chan<- string
}

func (w *readyWriter) Write(p []byte) (int, error) {
	if w.done {
		return len(p), nil
	}
	w.line = append(w.line, p...)
	for {
		i := bytes.IndexByte(w.line, '\n')
		if i < 0 {
			return len(p), nil
		}
		var msg struct {
			URL string `json:"url"`
		}
		if json.Unmarshal(w.line[:i], &msg) == nil && msg.URL != "" {
			w.done = true
			w.line = nil
			w.ready <- msg.URL
			return len(p), nil
		}
		w.line = w.line[i+1:]
	}
}
