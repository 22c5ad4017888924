package httpapi_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// rawUpstream is an upstream that answers every request on a connection with the given response
// bytes, exactly as written, so a test controls every header line (Go's own server would rewrite
// a Connection header). It keeps the request headers it read.
func rawUpstream(t *testing.T, response string) (base string, requests chan http.Header) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	requests = make(chan http.Header, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					select {
					case requests <- req.Header:
					default:
					}
					if _, err := io.WriteString(c, response); err != nil {
						return
					}
					if strings.Contains(strings.ToLower(response), "connection: close") {
						return
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String(), requests
}

// TestProxyDropsHeadersNamedInUpstreamConnection: the header fields an upstream's Connection header
// names are hop-by-hop (RFC 9110 section 7.6.1) and never reach the caller, also when the header
// says close, which Go's client consumes before the proxy sees the response.
func TestProxyDropsHeadersNamedInUpstreamConnection(t *testing.T) {
	for name, connection := range map[string]string{
		"close first":    "close, X-Foo",
		"close last":     "X-Foo, close",
		"keep-alive":     "keep-alive, X-Foo",
		"only the field": "X-Foo",
		"two lines":      "close\r\nConnection: X-Foo",
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			base, _ := rawUpstream(t, "HTTP/1.1 200 OK\r\n"+
				"Connection: "+connection+"\r\n"+
				"X-Foo: hop-only\r\n"+
				"X-End: kept\r\n"+
				"Content-Type: text/plain\r\n"+
				"Content-Length: 2\r\n\r\nok")
			conn := h.apiKeyConnection(base, "SECRET-hop")
			// Twice: the second request may reuse the connection of the first.
			for range 2 {
				r := h.must(200, h.do("GET", "/connections/"+conn+"/proxy/v1/x", nil))
				if string(r.Body) != "ok" || r.Header.Get("X-End") != "kept" {
					t.Errorf("answer %q %v", r.Body, r.Header)
				}
				if v := r.Header.Values("X-Foo"); len(v) != 0 {
					t.Errorf("X-Foo, named in the upstream's Connection %q, reached the caller: %q", connection, v)
				}
				if v := r.Header.Values("Connection"); len(v) != 0 && !strings.EqualFold(strings.Join(v, ","), "close") {
					t.Errorf("the upstream's Connection reached the caller: %q", v)
				}
			}
		})
	}
}

// TestProxyDropsHeadersNamedInCallerConnection: the same rule for the caller's request, whose
// Connection header may say close too.
func TestProxyDropsHeadersNamedInCallerConnection(t *testing.T) {
	h := newHarness(t)
	base, requests := rawUpstream(t, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	conn := h.apiKeyConnection(base, "SECRET-hop")
	for _, connection := range []string{"X-Bar", "close, X-Bar", "X-Bar, keep-alive"} {
		c, err := net.Dial("tcp", h.srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.WriteString(c, "GET /o/"+h.org.String()+"/connections/"+conn+"/proxy/v1/x HTTP/1.1\r\n"+
			"Host: plugboard\r\nAuthorization: Bearer "+h.key+"\r\n"+
			"Connection: "+connection+"\r\nX-Bar: hop-only\r\nX-Kept: yes\r\n\r\n")
		if err != nil {
			t.Fatal(err)
		}
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		c.Close()
		if res.StatusCode != 200 {
			t.Fatalf("Connection %q: status %d", connection, res.StatusCode)
		}
		got := <-requests
		if got.Get("X-Bar") != "" || got.Get("X-Kept") != "yes" {
			t.Errorf("Connection %q: the upstream received %v", connection, got)
		}
	}
}
