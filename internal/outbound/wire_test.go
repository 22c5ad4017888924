package outbound

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
)

// TestWireConnObserve feeds response bytes to a watching connection in every split and checks the
// Connection values it notes.
func TestWireConnObserve(t *testing.T) {
	cases := []struct {
		name, wire string
		want       []string
	}{
		{"close with a field", "HTTP/1.1 200 OK\r\nConnection: close, X-Foo\r\nContent-Length: 2\r\n\r\nok", []string{"close, X-Foo"}},
		{"two lines, any case", "HTTP/1.1 200 OK\r\nconnection: close\r\nX-A: 1\r\nCONNECTION:X-Foo \r\n\r\n", []string{"close", "X-Foo"}},
		{"folded", "HTTP/1.1 200 OK\r\nConnection: close,\r\n X-Foo\r\n\r\n", []string{"close, X-Foo"}},
		{"bare LF", "HTTP/1.1 200 OK\nConnection: close, X-Foo\n\nbody", []string{"close, X-Foo"}},
		{"none", "HTTP/1.1 204 No Content\r\nX-Connection: close\r\n\r\n", nil},
		{"body not read", "HTTP/1.1 200 OK\r\nContent-Length: 30\r\n\r\nHTTP/1.1 200 OK\r\nConnection: x\r\n\r\n", nil},
		{"interim skipped", "HTTP/1.1 100 Continue\r\nConnection: X-Early\r\n\r\nHTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 200 OK\r\nConnection: close, X-Foo\r\n\r\n", []string{"close, X-Foo"}},
	}
	for _, tc := range cases {
		for split := 0; split <= len(tc.wire); split++ {
			c := &wireConn{}
			c.arm()
			for _, part := range []string{tc.wire[:split], tc.wire[split:]} {
				if part != "" && c.watching.Load() {
					c.observe([]byte(part))
				}
			}
			got, seen := c.result()
			if !seen || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("%s, split at %d: %q %v, want %q", tc.name, split, got, seen, tc.want)
			}
		}
		// One byte at a time.
		c := &wireConn{}
		c.arm()
		for i := 0; i < len(tc.wire) && c.watching.Load(); i++ {
			c.observe([]byte{tc.wire[i]})
		}
		if got, seen := c.result(); !seen || !reflect.DeepEqual(got, tc.want) {
			t.Fatalf("%s, bytewise: %q %v, want %q", tc.name, got, seen, tc.want)
		}
	}
}

// TestWatchConnection: through the real transport, over plain HTTP and HTTP/1.1 on TLS, on new and
// reused connections, a request learns its own response's Connection header, which Go's client
// removes from Response.Header when it says close.
func TestWatchConnection(t *testing.T) {
	answers := []string{
		"HTTP/1.1 200 OK\r\nConnection: keep-alive, X-One\r\nX-One: 1\r\nContent-Length: 1\r\n\r\na",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb",
		"HTTP/1.1 200 OK\r\nConnection: close, X-Three\r\nX-Three: 3\r\nContent-Length: 1\r\n\r\nc",
		"HTTP/1.1 200 OK\r\nConnection: X-Four, close\r\nX-Four: 4\r\nContent-Length: 1\r\n\r\nd",
	}
	want := [][]string{{"keep-alive, X-One"}, nil, {"close, X-Three"}, {"X-Four, close"}}

	for _, useTLS := range []bool{false, true} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		base := "http://" + ln.Addr().String()
		var clientTLS *tls.Config
		if useTLS {
			srv := httptest.NewUnstartedServer(nil) // only for its certificate
			srv.StartTLS()
			cert := srv.TLS.Certificates[0]
			pool := x509.NewCertPool()
			pool.AddCert(srv.Certificate())
			srv.Close()
			ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}})
			base = "https://" + ln.Addr().String()
			clientTLS = &tls.Config{RootCAs: pool}
		}
		var n atomic.Int64
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func(c net.Conn) {
					defer c.Close()
					br := bufio.NewReader(c)
					for {
						req, err := http.ReadRequest(br)
						if err != nil {
							return
						}
						_, _ = io.Copy(io.Discard, req.Body)
						answer := answers[(n.Add(1)-1)%int64(len(answers))]
						if _, err := io.WriteString(c, answer); err != nil || strings.Contains(answer, "close") {
							return
						}
					}
				}(c)
			}
		}()

		client := New(Config{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}).HTTPClient(clientTLS)
		for round := range 2 {
			for i, w := range want {
				ctx, watch := WatchConnection(context.Background())
				req, _ := http.NewRequestWithContext(ctx, "GET", base+"/", nil)
				res, err := client.Do(req)
				if err != nil {
					t.Fatalf("tls %v, request %d: %v", useTLS, i, err)
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				got, known := watch.Values()
				if !known || !reflect.DeepEqual(got, w) {
					t.Errorf("tls %v, round %d, request %d: Connection %q (known %v), want %q", useTLS, round, i, got, known, w)
				}
				if useTLS && res.ProtoMajor != 1 {
					t.Errorf("protocol %s", res.Proto)
				}
			}
		}
	}
}
