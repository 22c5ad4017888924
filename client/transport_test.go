package client_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard/client"
)

// roundTripFunc adapts a function to http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

var (
	testOrg  = ulid.MustParse("01ARZ3NDEKTSV4RRFFQ69G5FAV")
	testConn = ulid.MustParse("01BX5ZZKBKACTAV9WEVGEMMVRZ")
)

// TestTransportRewrites checks the rewriting without a server: the proxy URL, the key, the kept
// method, headers and body, and that the caller's request is left alone.
func TestTransportRewrites(t *testing.T) {
	for _, tc := range []struct{ base, in, want string }{
		{"http://pb.example:8901", "https://api.shop.example/v1/orders?x=1&y=a%20b",
			"http://pb.example:8901/o/" + testOrg.String() + "/connections/" + testConn.String() + "/proxy/v1/orders?x=1&y=a%20b"},
		{"https://pb.example/plugboard/", "/v1/a%2Fb/c", "https://pb.example/plugboard/o/" + testOrg.String() + "/connections/" + testConn.String() + "/proxy/v1/a%2Fb/c"},
		{"http://pb.example", "https://api.shop.example", "http://pb.example/o/" + testOrg.String() + "/connections/" + testConn.String() + "/proxy/"},
	} {
		var sent *http.Request
		var sentBody string
		tr := &client.Transport{BaseURL: tc.base, APIKey: "pbk_test", OrganisationID: testOrg, ConnectionID: testConn, ForceRefresh: true,
			Base: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				sent = r
				b, _ := io.ReadAll(r.Body)
				sentBody = string(b)
				return &http.Response{StatusCode: 201, Header: http.Header{"X-Upstream": {"yes"}}, Body: io.NopCloser(strings.NewReader("made")), Request: r}, nil
			})}
		req, _ := http.NewRequest("PATCH", tc.in, strings.NewReader("payload"))
		req.Header.Set("Authorization", "Bearer upstream-token-the-caller-set")
		req.Header.Set("X-Custom", "kept")
		res, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if sent.URL.String() != tc.want || sent.Host != sent.URL.Host {
			t.Errorf("%s: sent to %s (host %s), want %s", tc.in, sent.URL, sent.Host, tc.want)
		}
		if sent.Method != "PATCH" || sentBody != "payload" || sent.Header.Get("X-Custom") != "kept" ||
			sent.Header.Get("Authorization") != "Bearer pbk_test" || sent.Header.Get("X-Plugboard-Force-Refresh") != "true" {
			t.Errorf("%s: sent %s %q %v", tc.in, sent.Method, sentBody, sent.Header)
		}
		if req.URL.String() != tc.in || req.Header.Get("Authorization") != "Bearer upstream-token-the-caller-set" || req.Header.Get("X-Plugboard-Force-Refresh") != "" {
			t.Errorf("%s: the caller's request was modified: %s %v", tc.in, req.URL, req.Header)
		}
		if res.StatusCode != 201 || res.Header.Get("X-Upstream") != "yes" || res.Request != req {
			t.Errorf("%s: response %d %v, Request %p want %p", tc.in, res.StatusCode, res.Header, res.Request, req)
		}
		res.Body.Close()
	}
}

// TestTransportErrors: Plugboard's marked errors become *client.Error; unmarked responses of any
// status pass; a misconfigured Transport fails before sending and closes the body.
func TestTransportErrors(t *testing.T) {
	pb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/proxy/marked"):
			w.Header().Set("X-Plugboard-Error", "true")
			w.Header().Set("X-Request-Id", "req-1")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(502)
			_, _ = io.WriteString(w, `{"code":"upstream_unavailable","message":"the upstream could not be reached","fields":[{"field":"f","message":"m"}]}`)
		case strings.HasSuffix(r.URL.Path, "/proxy/garbled"):
			w.Header().Set("X-Plugboard-Error", "true")
			w.WriteHeader(500)
			_, _ = io.WriteString(w, `not json`)
		default:
			w.WriteHeader(500)
			_, _ = io.WriteString(w, `{"code":"upstream's own"}`)
		}
	}))
	defer pb.Close()
	hc := (&client.Transport{BaseURL: pb.URL, APIKey: "k", OrganisationID: testOrg, ConnectionID: testConn}).Client()

	_, err := hc.Get("https://api.example/marked")
	var e *client.Error
	if !errors.As(err, &e) {
		t.Fatalf("marked: %v", err)
	}
	if e.StatusCode != 502 || e.Code != "upstream_unavailable" || e.Message == "" || e.RequestID != "req-1" || len(e.Fields) != 1 || e.Fields[0].Field != "f" {
		t.Errorf("marked: %+v", e)
	}
	var ue *url.Error
	if !errors.As(err, &ue) || ue.URL != "https://api.example/marked" {
		t.Errorf("http.Client should wrap it in a *url.Error naming the caller's URL: %v", err)
	}
	if _, err := hc.Get("https://api.example/garbled"); !errors.As(err, &e) || e.StatusCode != 500 || e.Code != "" {
		t.Errorf("garbled: %v", err)
	}
	res, err := hc.Get("https://api.example/upstream")
	if err != nil || res.StatusCode != 500 {
		t.Fatalf("unmarked 500: %v", err)
	}
	res.Body.Close()

	body := &closeRecorder{Reader: strings.NewReader("x")}
	for name, tr := range map[string]*client.Transport{
		"no key":        {BaseURL: pb.URL, OrganisationID: testOrg, ConnectionID: testConn},
		"no connection": {BaseURL: pb.URL, APIKey: "k", OrganisationID: testOrg},
		"bad base":      {BaseURL: "pb.example", APIKey: "k", OrganisationID: testOrg, ConnectionID: testConn},
	} {
		body.closed = false
		req, _ := http.NewRequest("POST", "/x", body)
		if _, err := tr.RoundTrip(req); err == nil || !body.closed {
			t.Errorf("%s: err %v, body closed %v", name, err, body.closed)
		}
	}
}

type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

// TestClientRedirects: redirects on the request's host are followed through the Transport,
// others are handed back.
func TestClientRedirects(t *testing.T) {
	pb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/proxy/old"):
			http.Redirect(w, r, "/new", http.StatusFound) // as an upstream's relative Location
		case strings.HasSuffix(r.URL.Path, "/proxy/same-host"):
			http.Redirect(w, r, "https://api.example/new", http.StatusFound)
		case strings.HasSuffix(r.URL.Path, "/proxy/away"):
			http.Redirect(w, r, "https://files.example/blob", http.StatusFound)
		default:
			_, _ = io.WriteString(w, r.URL.Path)
		}
	}))
	defer pb.Close()
	hc := (&client.Transport{BaseURL: pb.URL, APIKey: "k", OrganisationID: testOrg, ConnectionID: testConn}).Client()
	for in, want := range map[string]int{"https://api.example/old": 200, "https://api.example/same-host": 200, "https://api.example/away": 302} {
		res, err := hc.Get(in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != want || (want == 200 && !strings.HasSuffix(string(b), "/proxy/new")) {
			t.Errorf("%s: %d %s", in, res.StatusCode, b)
		}
	}
}
