package outbound_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"code.dny.dev/ssrf"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/httpapi"
	"github.com/plugboard/plugboard/internal/outbound"
)

// countingServer starts an HTTP server on 127.0.0.1 and counts the requests that reach it, so
// that a test can assert that a refused request never arrived.
func countingServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if h != nil {
			h(w, r)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func get(ctx context.Context, hc *http.Client, rawURL string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	return hc.Do(req)
}

// getBody performs a GET and reads the whole body, returning the first error from either.
func getBody(t *testing.T, hc *http.Client, rawURL string) (int, string, error) {
	t.Helper()
	resp, err := get(t.Context(), hc, rawURL)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// relayBody is getBody through Relay.
func relayBody(t *testing.T, c *outbound.Client, rawURL string) (int, string, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, rawURL, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := c.Relay(req, nil, nil)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func loopback(t *testing.T) []netip.Prefix {
	t.Helper()
	return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
}

// assertRefused checks the refusal as the API client will see it.
func assertRefused(t *testing.T, err error, wantHost string, secrets ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("request succeeded, want it refused")
	}
	if !errors.Is(err, ssrf.ErrProhibitedIP) {
		t.Errorf("error %v does not wrap ssrf.ErrProhibitedIP", err)
	}
	if !outbound.IsRefused(err) {
		t.Errorf("IsRefused(%v) = false", err)
	}
	pe := outbound.Classify(err)
	if pe.Code != outbound.EUpstreamRefused {
		t.Fatalf("code = %q, want %q (err %v)", pe.Code, outbound.EUpstreamRefused, err)
	}
	if !outbound.IsRefused(pe) {
		t.Errorf("IsRefused(classified) = false")
	}
	if got := httpapi.StatusOf(pe.Code); got != http.StatusBadRequest {
		t.Errorf("StatusOf = %d, want 400", got)
	}
	for _, want := range []string{outbound.EnvAllowPrivateNetworks, outbound.EnvAllowCIDRs, wantHost} {
		if !strings.Contains(pe.Message, want) {
			t.Errorf("message %q does not mention %q", pe.Message, want)
		}
	}
	for _, s := range secrets {
		if strings.Contains(pe.Message, s) {
			t.Errorf("message %q leaks %q", pe.Message, s)
		}
		if strings.Contains(pe.Error(), s) {
			t.Errorf("logged error %q leaks %q", pe.Error(), s)
		}
	}
}

func TestRefusesLoopbackByDefault(t *testing.T) {
	srv, hits := countingServer(t, nil)
	c := outbound.New(outbound.Config{})

	_, _, err := getBody(t, c.HTTPClient(nil), srv.URL+"/v1/secret-path?api_key=s3cret")
	host := strings.TrimPrefix(srv.URL, "http://")
	assertRefused(t, err, "http://"+host, "s3cret", "secret-path")
	if n := hits.Load(); n != 0 {
		t.Errorf("server got %d requests, want 0", n)
	}

	// Userinfo never appears either.
	_, _, err = getBody(t, c.HTTPClient(nil), "http://alice:hunter2@"+host+"/")
	assertRefused(t, err, "http://"+host, "hunter2", "alice")
}

func TestAllowsLoopbackWhenConfigured(t *testing.T) {
	srv, _ := countingServer(t, nil)
	tests := []struct {
		name    string
		cfg     outbound.Config
		refused bool
	}{
		{"default", outbound.Config{}, true},
		{"allow private networks", outbound.Config{AllowPrivateNetworks: true}, false},
		{"allow 127.0.0.0/8", outbound.Config{AllowCIDRs: loopback(t)}, false},
		{"allow 127.0.0.1/32", outbound.Config{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}, false},
		{"allow another private prefix", outbound.Config{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, err := getBody(t, outbound.New(tt.cfg).HTTPClient(nil), srv.URL)
			if tt.refused {
				assertRefused(t, err, srv.URL)
				return
			}
			if err != nil || status != 200 || body != "ok" {
				t.Fatalf("got %d %q %v, want 200 \"ok\"", status, body, err)
			}
		})
	}
}

// "localhost" passes any check made on the URL's text; only a check after resolution catches it.
func TestRefusesNameResolvingToLoopback(t *testing.T) {
	srv, hits := countingServer(t, nil)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	u := "http://localhost:" + port + "/"

	_, _, err := getBody(t, outbound.New(outbound.Config{}).HTTPClient(nil), u)
	assertRefused(t, err, "http://localhost:"+port)
	if n := hits.Load(); n != 0 {
		t.Errorf("server got %d requests, want 0", n)
	}

	allowed := outbound.New(outbound.Config{AllowCIDRs: []netip.Prefix{
		netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"),
	}})
	if status, _, err := getBody(t, allowed.HTTPClient(nil), u); err != nil || status != 200 {
		t.Fatalf("with loopback allowed: %d %v", status, err)
	}
}

// The guard runs in the dialer's Control hook, which Go calls before connect(2), so a refused
// address receives no packet. A generous DialTimeout makes the assertion meaningful: had a connection
// been attempted to these unroutable addresses, the call would hang far longer than the bound.
func TestRefusesMetadataWithoutConnecting(t *testing.T) {
	configs := []struct {
		name string
		cfg  outbound.Config
	}{
		{"default", outbound.Config{}},
		{"allow private networks", outbound.Config{AllowPrivateNetworks: true}},
		{"allow other CIDRs", outbound.Config{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00:1::/32")}}},
	}
	targets := []struct{ url, host string }{
		{"http://169.254.169.254/latest/meta-data/iam/security-credentials/?x=s3cret", "http://169.254.169.254"},
		{"http://169.254.169.254:8080/", "http://169.254.169.254:8080"},
		{"http://[fd00:ec2::254]/latest/meta-data/", "http://[fd00:ec2::254]"},
		{"http://169.254.170.2/v2/credentials/abc", "http://169.254.170.2"},
	}
	for _, cc := range configs {
		cfg := cc.cfg
		cfg.DialTimeout = time.Minute
		cfg.RequestTimeout = 2 * time.Minute
		hc := outbound.New(cfg).HTTPClient(nil)
		for _, tg := range targets {
			t.Run(cc.name+"/"+tg.host, func(t *testing.T) {
				start := time.Now()
				_, _, err := getBody(t, hc, tg.url)
				if d := time.Since(start); d > 2*time.Second {
					t.Errorf("refusal took %v: a connection was attempted", d)
				}
				assertRefused(t, err, tg.host, "s3cret", "meta-data", "credentials")
			})
		}
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	wait := func(r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow-body" {
			w.Header().Set("Content-Length", "100")
			w.WriteHeader(200)
			io.WriteString(w, "partial")
			w.(http.Flusher).Flush()
		}
		wait(r)
	})

	tests := []struct {
		name string
		cfg  outbound.Config
		path string
	}{
		{"overall timeout awaiting headers", outbound.Config{RequestTimeout: 200 * time.Millisecond}, "/slow-headers"},
		{"response header timeout", outbound.Config{ResponseHeaderTimeout: 200 * time.Millisecond}, "/slow-headers"},
		{"overall timeout reading body", outbound.Config{RequestTimeout: 200 * time.Millisecond}, "/slow-body"},
		// Relay bounds the exchange with a deadline of its own rather than the client's Timeout.
		{"relay: overall timeout awaiting headers", outbound.Config{RequestTimeout: 200 * time.Millisecond}, "/slow-headers"},
		{"relay: overall timeout reading body", outbound.Config{RequestTimeout: 200 * time.Millisecond}, "/slow-body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.AllowCIDRs = loopback(t)
			start := time.Now()
			var err error
			if strings.HasPrefix(tt.name, "relay: ") {
				_, _, err = relayBody(t, outbound.New(tt.cfg), srv.URL+tt.path+"?token=s3cret")
			} else {
				_, _, err = getBody(t, outbound.New(tt.cfg).HTTPClient(nil), srv.URL+tt.path+"?token=s3cret")
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
			pe := outbound.Classify(err)
			if pe == nil || pe.Code != outbound.EUpstreamTimeout {
				t.Fatalf("Classify(%v) = %v, want %s", err, pe, outbound.EUpstreamTimeout)
			}
			if httpapi.StatusOf(pe.Code) != http.StatusGatewayTimeout {
				t.Errorf("StatusOf = %d", httpapi.StatusOf(pe.Code))
			}
			if strings.Contains(pe.Error(), "s3cret") {
				t.Errorf("%q leaks the query", pe.Error())
			}
			if outbound.IsRefused(err) {
				t.Error("IsRefused = true for a timeout")
			}
		})
	}
}

func TestResponseCap(t *testing.T) {
	const limit = 1 << 20
	big := bytes.Repeat([]byte("x"), 2*limit)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(big)
	zw.Close()

	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/declared": // Content-Length set by the server: refused at Do
			w.Header().Set("Content-Length", fmt.Sprint(len(big)))
			w.Write(big)
		case "/streamed": // chunked, length unknown until read
			for i := 0; i < 2*limit; i += 64 << 10 {
				w.Write(big[i : i+64<<10])
				w.(http.Flusher).Flush()
			}
		case "/gzip-bomb": // small on the wire, large once decompressed
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(gz.Bytes())
		case "/exact":
			w.Write(big[:limit])
		}
	})
	c := outbound.New(outbound.Config{AllowCIDRs: loopback(t), MaxResponseBytes: limit})

	for _, path := range []string{"/declared", "/streamed", "/gzip-bomb"} {
		t.Run(path, func(t *testing.T) {
			_, body, err := getBody(t, c.HTTPClient(nil), srv.URL+path)
			if err == nil {
				t.Fatalf("read %d bytes without error, want an error past %d", len(body), limit)
			}
			if len(body) > limit {
				t.Errorf("read %d bytes, more than the cap", len(body))
			}
			pe := outbound.Classify(err)
			if pe.Code != outbound.EUpstreamTooLarge || httpapi.StatusOf(pe.Code) != http.StatusBadGateway {
				t.Fatalf("Classify(%v) = %v", err, pe)
			}
			if !strings.Contains(pe.Message, srv.URL) {
				t.Errorf("message %q does not name %s", pe.Message, srv.URL)
			}
		})
	}
	t.Run("exactly the limit", func(t *testing.T) {
		_, body, err := getBody(t, c.HTTPClient(nil), srv.URL+"/exact")
		if err != nil || len(body) != limit {
			t.Fatalf("got %d bytes, %v; want %d bytes", len(body), err, limit)
		}
	})
}

func TestRedirectToRefusedAddress(t *testing.T) {
	// A second server on 127.0.0.2, outside the allowed 127.0.0.1/32: were the guard skipped for
	// redirects, the request would reach it.
	var internalHits atomic.Int64
	var internalURL string
	if ln, err := net.Listen("tcp", "127.0.0.2:0"); err == nil {
		internal := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			internalHits.Add(1)
		}))
		internal.Listener.Close()
		internal.Listener = ln
		internal.Start()
		t.Cleanup(internal.Close)
		internalURL = internal.URL
	}

	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if to := r.URL.Query().Get("to"); to != "" {
			http.Redirect(w, r, to, http.StatusFound)
			return
		}
		io.WriteString(w, "ok")
	})
	c := outbound.New(outbound.Config{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})

	t.Run("to an allowed address", func(t *testing.T) {
		status, body, err := getBody(t, c.HTTPClient(nil), srv.URL+"/?to=/final")
		if err != nil || status != 200 || body != "ok" {
			t.Fatalf("got %d %q %v", status, body, err)
		}
	})
	t.Run("to the metadata address", func(t *testing.T) {
		_, _, err := getBody(t, c.HTTPClient(nil), srv.URL+"/?to="+
			"http://169.254.169.254/latest/meta-data/?token=s3cret")
		assertRefused(t, err, "http://169.254.169.254", "s3cret", "meta-data")
	})
	t.Run("to another loopback address", func(t *testing.T) {
		if internalURL == "" {
			t.Skip("cannot listen on 127.0.0.2")
		}
		_, _, err := getBody(t, c.HTTPClient(nil), srv.URL+"/?to="+internalURL+"/admin")
		assertRefused(t, err, internalURL)
		if n := internalHits.Load(); n != 0 {
			t.Errorf("internal server got %d requests", n)
		}
		// The same server is reachable when its address is allowed, so the refusal above is the guard's.
		open := outbound.New(outbound.Config{AllowCIDRs: loopback(t)})
		if _, _, err := getBody(t, open.HTTPClient(nil), srv.URL+"/?to="+internalURL+"/admin"); err != nil {
			t.Fatalf("with 127.0.0.0/8 allowed: %v", err)
		}
		if n := internalHits.Load(); n != 1 {
			t.Errorf("internal server got %d requests, want 1", n)
		}
	})
}

func TestTLSWithCustomCA(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "HTTP/%d", r.ProtoMajor)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	tlsConfig := &tls.Config{RootCAs: pool}

	t.Run("custom CA", func(t *testing.T) {
		c := outbound.New(outbound.Config{AllowCIDRs: loopback(t)})
		status, body, err := getBody(t, c.HTTPClient(tlsConfig), srv.URL)
		if err != nil || status != 200 {
			t.Fatalf("got %d %v", status, err)
		}
		if body != "HTTP/2" {
			t.Errorf("protocol %s, want HTTP/2", body)
		}
	})
	t.Run("system roots", func(t *testing.T) {
		c := outbound.New(outbound.Config{AllowCIDRs: loopback(t)})
		_, _, err := getBody(t, c.HTTPClient(nil), srv.URL)
		pe := outbound.Classify(err)
		if pe == nil || pe.Code != outbound.EUpstreamUnavailable || !strings.Contains(pe.Message, "certificate") {
			t.Fatalf("Classify(%v) = %v, want %s about the certificate", err, pe, outbound.EUpstreamUnavailable)
		}
		if httpapi.StatusOf(pe.Code) != http.StatusBadGateway {
			t.Errorf("StatusOf = %d", httpapi.StatusOf(pe.Code))
		}
	})
	t.Run("custom CA, address refused", func(t *testing.T) {
		_, _, err := getBody(t, outbound.New(outbound.Config{}).HTTPClient(tlsConfig), srv.URL)
		assertRefused(t, err, srv.URL)
	})
}

func TestClassifyUnavailable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now

	c := outbound.New(outbound.Config{AllowCIDRs: loopback(t)})
	_, _, err = getBody(t, c.HTTPClient(nil), "http://"+addr+"/x?code=s3cret")
	pe := outbound.Classify(err)
	if pe.Code != outbound.EUpstreamUnavailable {
		t.Fatalf("Classify(%v) = %v", err, pe)
	}
	if want := "upstream http://" + addr + " is unavailable: connection refused"; pe.Message != want {
		t.Errorf("message %q, want %q", pe.Message, want)
	}
	if strings.Contains(pe.Error(), "s3cret") {
		t.Errorf("%q leaks the query", pe.Error())
	}
	if outbound.IsRefused(err) {
		t.Error("IsRefused = true for connection refused")
	}
}

func TestClassifyPassThrough(t *testing.T) {
	if outbound.Classify(nil) != nil {
		t.Error("Classify(nil) != nil")
	}
	orig := plugboard.Errorf(plugboard.ENotFound, "no such thing")
	if got := outbound.Classify(fmt.Errorf("wrapped: %w", orig)); got != orig {
		t.Errorf("Classify did not return the wrapped *plugboard.Error: %v", got)
	}
}

// TestStatusOf checks the statuses the HTTP layer gives the codes Classify returns.
func TestStatusOf(t *testing.T) {
	tests := map[string]int{
		outbound.EUpstreamRefused:     400,
		outbound.EUpstreamUnavailable: 502,
		outbound.EUpstreamTimeout:     504,
		outbound.EUpstreamTooLarge:    502,
		plugboard.ENotFound:           404,
		"":                            500,
	}
	for code, want := range tests {
		if got := httpapi.StatusOf(code); got != want {
			t.Errorf("StatusOf(%q) = %d, want %d", code, got, want)
		}
	}
}

// TestCheckHost: CheckHost refuses what the dialer's guard refuses, before any connection, and
// follows the same allow settings.
func TestCheckHost(t *testing.T) {
	ctx := t.Context()
	strict := outbound.New(outbound.Config{Resolver: outbound.NoDNSResolver()})
	for _, host := range []string{"127.0.0.1", "localhost", "10.1.2.3", "169.254.169.254", "[::1]", "192.168.0.1"} {
		if err := strict.CheckHost(ctx, host); err == nil || outbound.Classify(err).Code != outbound.EUpstreamRefused {
			t.Errorf("%s: %v, want refused", host, err)
		}
	}
	for _, host := range []string{"93.184.215.14", "hooks.example.com"} { // the name does not resolve here: accepted
		if err := strict.CheckHost(ctx, host); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
	private := outbound.New(outbound.Config{Resolver: outbound.NoDNSResolver(), AllowPrivateNetworks: true})
	if err := private.CheckHost(ctx, "10.1.2.3"); err != nil {
		t.Errorf("private allowed: %v", err)
	}
	if err := private.CheckHost(ctx, "169.254.169.254"); err == nil {
		t.Error("metadata allowed by AllowPrivateNetworks")
	}
	cidr := outbound.New(outbound.Config{Resolver: outbound.NoDNSResolver(), AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if err := cidr.CheckHost(ctx, "127.0.0.1"); err != nil {
		t.Errorf("CIDR allowed: %v", err)
	}
}

// TestRelayReturnsRedirects checks that Relay hands a redirect back as the response, its body
// readable, instead of following it: the request's credentials must not go where the upstream says.
func TestRelayReturnsRedirects(t *testing.T) {
	srv, hits := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			io.WriteString(w, "followed")
			return
		}
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	})
	status, body, err := relayBody(t, outbound.New(outbound.Config{AllowCIDRs: loopback(t)}), srv.URL+"/start")
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusFound || strings.Contains(body, "followed") || hits.Load() != 1 {
		t.Errorf("got %d %q after %d calls, want the 302 itself after 1", status, body, hits.Load())
	}
}
