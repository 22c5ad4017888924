package outbound

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
)

// Go's HTTP/1.x client deletes a response's whole Connection header when it says close (net/http's
// shouldClose), so a proxy cannot learn which other fields the header named as hop-by-hop (RFC 9110
// section 7.6.1) and would pass them on. The client therefore wraps each HTTP/1.x connection (over
// TLS too: see dialTLS) in a wireConn which, when a request asks for it with WatchConnection, reads
// the Connection field lines of that request's response header block as they come off the wire.
// Nothing is scanned otherwise, and never a body. HTTP/2 connections are not wrapped: HTTP/2 has no
// Connection header, and Go's HTTP/2 client removes none.

// maxWatchedHeader bounds what a wireConn keeps of a header block that arrives in pieces. It is
// above Go's own limit on response headers (1 MiB by default), which fails the response first.
const maxWatchedHeader = 1<<20 + 64<<10

// wireConn is an HTTP/1.x connection that can note the Connection header of the next response.
type wireConn struct {
	net.Conn
	watching atomic.Bool // the fast path: false except between arm and the end of a header block

	mu         sync.Mutex
	partial    []byte   // the start of a header block that has not fully arrived
	connection []string // the Connection field values of the watched response, as sent
	seen       bool     // the watched response's header block has been read
}

// arm starts watching for the next response header block on the connection. The transport calls
// GotConn (and so arm) before it writes the request, so the block read next answers that request.
func (c *wireConn) arm() {
	c.mu.Lock()
	c.partial, c.connection, c.seen = c.partial[:0], nil, false
	c.mu.Unlock()
	c.watching.Store(true)
}

// result returns the Connection values of the watched response and whether its header was read.
func (c *wireConn) result() ([]string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.connection, c.seen
}

func (c *wireConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && c.watching.Load() {
		c.observe(p[:n])
	}
	return n, err
}

// observe looks at bytes read while watching. Interim (1xx) header blocks are skipped, except 101,
// after which the connection is no longer HTTP.
func (c *wireConn) observe(p []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	data := p
	if len(c.partial) > 0 {
		c.partial = append(c.partial, p...)
		data = c.partial
	}
	for c.watching.Load() {
		end := headerEnd(data)
		if end < 0 {
			switch {
			case len(data) > maxWatchedHeader:
				c.watching.Store(false) // Go's client refuses such a header anyway
				c.partial = c.partial[:0]
			case len(data) == 0:
				c.partial = c.partial[:0]
			case len(c.partial) > 0 && &data[0] == &c.partial[0]:
				// already kept where it is
			default:
				c.partial = append(c.partial[:0], data...) // copy handles the overlap
			}
			return
		}
		block := data[:end]
		data = data[end:]
		if status, ok := statusCode(block); ok && status >= 100 && status < 200 && status != 101 {
			continue
		}
		c.connection = connectionValues(block)
		c.seen = true
		c.watching.Store(false)
	}
	c.partial = c.partial[:0]
}

// headerEnd returns the length of the header block at the start of data, up to and including the
// empty line that ends it (CRLF or, as Go's reader accepts, a bare LF), or -1 if it has not ended.
func headerEnd(data []byte) int {
	for i := 0; ; {
		j := bytes.IndexByte(data[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1
		switch {
		case i < len(data) && data[i] == '\n':
			return i + 1
		case i+1 < len(data) && data[i] == '\r' && data[i+1] == '\n':
			return i + 2
		}
	}
}

// statusCode reads the code of a status line "HTTP/1.1 200 OK".
func statusCode(block []byte) (int, bool) {
	sp := bytes.IndexByte(block, ' ')
	if sp < 0 || len(block) < sp+4 {
		return 0, false
	}
	code := 0
	for _, b := range block[sp+1 : sp+4] {
		if b < '0' || b > '9' {
			return 0, false
		}
		code = code*10 + int(b-'0')
	}
	return code, true
}

// connectionValues returns the values of every Connection field line in a header block, with
// obsolete line folding joined as Go's reader joins it.
func connectionValues(block []byte) []string {
	var out []string
	inConnection := false
	lines := bytes.Split(block, []byte("\n"))
	for _, line := range lines[1:] { // the status line first
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if inConnection && len(out) > 0 {
				out[len(out)-1] += " " + string(bytes.TrimSpace(line))
			}
			continue
		}
		inConnection = false
		colon := bytes.IndexByte(line, ':')
		if colon < 0 || !bytes.EqualFold(line[:colon], []byte("Connection")) {
			continue
		}
		inConnection = true
		out = append(out, string(bytes.TrimSpace(line[colon+1:])))
	}
	return out
}

// ConnectionWatch tells, for one request, what Connection header its response carried on the wire.
type ConnectionWatch struct {
	trace httptrace.ClientTrace
	mu    sync.Mutex
	conn  *wireConn
}

// WatchConnection returns a context for one request sent with this package's clients, and a watch
// whose Values, once the response has arrived, are that response's Connection header values as the
// upstream sent them, including those Go's client removes from Response.Header.
func WatchConnection(ctx context.Context) (context.Context, *ConnectionWatch) {
	w := &ConnectionWatch{}
	w.trace.GotConn = w.gotConn
	return httptrace.WithClientTrace(ctx, &w.trace), w
}

func (w *ConnectionWatch) gotConn(info httptrace.GotConnInfo) {
	wc, _ := info.Conn.(*wireConn)
	if wc != nil {
		wc.arm()
	}
	w.mu.Lock()
	w.conn = wc
	w.mu.Unlock()
}

// Values returns the Connection header values of the response as received, and whether they are
// known: false for HTTP/2 (whose responses keep their headers) or when no response was read.
func (w *ConnectionWatch) Values() ([]string, bool) {
	w.mu.Lock()
	wc := w.conn
	w.mu.Unlock()
	if wc == nil {
		return nil, false
	}
	return wc.result()
}

// dialPlain dials an http:// upstream through the guard.
func (c *Client) dialPlain(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := c.dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &wireConn{Conn: conn}, nil
}

// dialTLS dials an https:// upstream through the guard and does the TLS handshake here rather than
// in the transport, so that an HTTP/1.1 connection can be wrapped above TLS. It does what the
// transport would: the server name from the address, ALPN offering HTTP/2 and HTTP/1.1, the
// handshake timeout. An HTTP/2 connection is returned as the *tls.Conn, which the transport needs
// to speak HTTP/2 on it.
func (c *Client) dialTLS(ctx context.Context, network, addr string, base *tls.Config) (net.Conn, error) {
	conn, err := c.dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	var cfg *tls.Config
	if base != nil {
		cfg = base.Clone()
	} else {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			conn.Close()
			return nil, err
		}
		cfg.ServerName = host
	}
	if len(cfg.NextProtos) == 0 {
		cfg.NextProtos = []string{"h2", "http/1.1"}
	}
	tc := tls.Client(conn, cfg)
	hctx, cancel := context.WithTimeout(ctx, c.cfg.TLSHandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		conn.Close()
		return nil, err
	}
	if tc.ConnectionState().NegotiatedProtocol == "h2" {
		return tc, nil
	}
	return &wireConn{Conn: tc}, nil
}
