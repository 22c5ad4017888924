package httpapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/access"
	"github.com/plugboard/plugboard/internal/credentials"
	"github.com/plugboard/plugboard/internal/outbound"
	"github.com/plugboard/plugboard/internal/trust"
)

// Control headers a caller sends the proxy; never forwarded.
const (
	HeaderForceRefresh = "X-Plugboard-Force-Refresh"
	HeaderBaseURL      = "X-Plugboard-Base-Url"
	// HeaderError marks a response the proxy wrote itself (an Error body), so callers can tell it
	// from the upstream's own responses.
	HeaderError = "X-Plugboard-Error"
)

// MaxReplayBytes is the largest request body the proxy keeps to send again after refreshing a
// token on an upstream 401; larger bodies stream once and are not retried.
const MaxReplayBytes = 64 << 10

// hopByHop are the headers of one connection (RFC 9110 section 7.6.1), never forwarded.
var hopByHop = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// controlPrefix starts the names of Plugboard's control headers.
const controlPrefix = "x-plugboard-"

// stripHeaders removes hop-by-hop headers, those the Connection header names, and, when caller
// is set, the caller's Authorization (its Plugboard API key) and X-Plugboard-* controls.
func stripHeaders(h http.Header, caller bool) {
	for _, f := range h.Values("Connection") {
		for _, name := range strings.Split(f, ",") {
			h.Del(strings.TrimSpace(name))
		}
	}
	for _, name := range hopByHop {
		h.Del(name)
	}
	if caller {
		h.Del("Authorization")
		for name := range h {
			// EqualFold on the prefix rather than ToLower, which allocated a copy of every name.
			if len(name) >= len(controlPrefix) && strings.EqualFold(name[:len(controlPrefix)], controlPrefix) {
				delete(h, name) // the key as it is in the map, canonical or not
			}
		}
	}
}

// serveProxy forwards a request to the connection's API with its credentials applied. It streams
// both ways; a small body is kept so that an upstream 401 on an OAuth 2.0 connection can be
// answered by one refresh and one retry.
func (s *Server) serveProxy(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	fail := func(err error) {
		w.Header().Set(HeaderError, "true")
		s.writeError(w, r, err)
	}
	orgID, connID, ok := s.proxyTarget(r)
	if !ok {
		fail(plugboard.Errorf(plugboard.ENotFound, "connection not found"))
		return
	}
	// The path after /proxy/ as the caller escaped it: %2F, %3F and %25 must reach the upstream
	// as sent, not decoded into separators. Checked before the connection is opened, so that a
	// refused path costs no rate-limit token and triggers no refresh.
	escaped := r.URL.EscapedPath()
	if i := strings.Index(escaped, "/proxy/"); i >= 0 {
		escaped = escaped[i+len("/proxy/"):]
	}
	if dotSegment(escaped) {
		// A literal one never gets here (the router cleans it away); an escaped one (%2E%2E,
		// ..%2F) would reach the upstream, which may decode and resolve it above the base URL's
		// path.
		fail(plugboard.Invalid("the proxied path must not have a . or .. segment, escaped or not",
			plugboard.FieldError{Field: "path", Message: "has a . or .. segment"}))
		return
	}
	// Streams and uploads may take as long as the proxy allows, not the API's server timeouts.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(s.proxyTimeout))
	_ = rc.SetWriteDeadline(time.Now().Add(s.proxyTimeout))
	force := strings.EqualFold(r.Header.Get(HeaderForceRefresh), "true")
	// The connection's rate limit is taken once it is known to exist, before any refresh.
	p, err := s.access.Prepare(ctx, orgID, connID, access.Options{Force: force,
		Admit: func() error { return s.allowConnection(w, orgID, connID) }})
	if err != nil {
		fail(err)
		return
	}
	if p.RefreshSkipped {
		w.Header().Set(HeaderRefresh, RefreshSkipped)
	}
	base := p.BaseURL
	if override := r.Header.Get(HeaderBaseURL); override != "" {
		override, err := normaliseBaseURL(override)
		if err != nil {
			fail(plugboard.Invalid("invalid "+HeaderBaseURL, plugboard.FieldError{Field: HeaderBaseURL, Message: err.Error()}))
			return
		}
		// Choosing where the credentials go is as good as reading them (internal/trust).
		if err := trust.Check(s.caller(ctx), trust.Move{What: HeaderBaseURL,
			From: trust.Use{Origin: credentials.Origin(base)}, To: trust.Use{Origin: credentials.Origin(override)}}); err != nil {
			fail(err)
			return
		}
		if strings.HasPrefix(base, "https://") && strings.HasPrefix(override, "http://") {
			fail(plugboard.Invalid("invalid "+HeaderBaseURL, plugboard.FieldError{Field: HeaderBaseURL,
				Message: "must not downgrade the connection's https to http: the credentials would travel in the clear"}))
			return
		}
		base = override
	}
	if base == "" {
		fail(plugboard.Invalid("the connection has no base URL, nor has its system; set one or send " + HeaderBaseURL))
		return
	}
	target, err := url.Parse(strings.TrimSuffix(base, "/") + "/" + escaped)
	if err != nil {
		fail(plugboard.Invalid("the proxied path does not form a URL with the base URL"))
		return
	}
	target.RawQuery = r.URL.RawQuery

	// Keep a small body for a retry; stream a large one once.
	var replay []byte
	var body io.ReadCloser // nil: the body is in replay and can be sent again
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		head, err := io.ReadAll(io.LimitReader(r.Body, MaxReplayBytes+1))
		if err != nil {
			fail(plugboard.Invalid("the request body could not be read"))
			return
		}
		if len(head) <= MaxReplayBytes {
			replay = head
		} else {
			body = io.NopCloser(io.MultiReader(bytes.NewReader(head), r.Body))
		}
	}
	res, err := s.proxyOnce(ctx, r, p, target, replay, body)
	if err == nil && res.StatusCode == http.StatusUnauthorized && p.HasRefreshable() && p.SentToken() != "" && body == nil {
		// Refresh the token the upstream rejected, unless someone already replaced it; then once more.
		res.Body.Close()
		if p, err = s.access.Prepare(ctx, orgID, connID, access.Options{Rejected: p.SentToken()}); err == nil {
			res, err = s.proxyOnce(ctx, r, p, target, replay, nil)
		}
	}
	if err != nil {
		fail(err)
		return
	}
	defer res.Body.Close()
	// The upstream's X-Plugboard-* headers are dropped too: only Plugboard marks its own answers.
	stripHeaders(res.Header, true)
	for name, values := range res.Header {
		w.Header()[name] = values
	}
	w.WriteHeader(res.StatusCode)
	var (
		copied  int64
		copyErr error
	)
	if res.ContentLength < 0 || strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		copied, copyErr = copyFlushing(w, res.Body) // a stream: pass on what arrives as it arrives
	} else {
		buf := proxyBuffers.Get().(*[]byte)
		copied, copyErr = io.CopyBuffer(w, res.Body, *buf)
		proxyBuffers.Put(buf)
	}
	s.metrics.ProxyBytes(copied)
	if copyErr != nil && !errors.Is(copyErr, io.EOF) {
		// The status has gone out; the only way left to say the body is incomplete is to cut the
		// connection, so the caller does not take a truncated body for a whole one.
		panic(http.ErrAbortHandler)
	}
}

var proxyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// dotSegment reports whether an escaped path, once unescaped, has a segment that is "." or "..",
// as some upstream could read it: RFC 3986 counts %2E as a dot, an upstream that decodes %2E may
// decode %2F into a separator too, Windows servers take \ (%5C) for one, and servlet containers
// drop a ";parameter" from a segment before resolving it ("..;/"). A path that does not unescape is
// refused as well.
func dotSegment(escaped string) bool {
	u, err := url.PathUnescape(escaped)
	if err != nil {
		return true
	}
	for seg := range strings.FieldsFuncSeq(u, func(r rune) bool { return r == '/' || r == '\\' }) {
		if i := strings.IndexByte(seg, ';'); i >= 0 {
			seg = seg[:i]
		}
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// proxyTarget reads and checks the organisation and connection of a proxy path.
func (s *Server) proxyTarget(r *http.Request) (orgID, connID ulid.ULID, ok bool) {
	want, authed := authOrganisation(r.Context())
	org, err1 := ulid.Parse(r.PathValue("organisation_id"))
	conn, err2 := ulid.Parse(r.PathValue("connection_id"))
	if !authed || err1 != nil || err2 != nil || org != want {
		return ulid.ULID{}, ulid.ULID{}, false
	}
	return org, conn, true
}

// proxyOnce sends one upstream request with the prepared credentials applied. body, when set,
// streams (and cannot be sent again); otherwise replay is sent.
func (s *Server) proxyOnce(ctx context.Context, in *http.Request, p *access.Prepared, target *url.URL, replay []byte, body io.ReadCloser) (*http.Response, error) {
	var rd io.Reader = bytes.NewReader(replay)
	if body != nil {
		rd = body
	}
	ctx, wire := outbound.WatchConnection(ctx)
	out, err := http.NewRequestWithContext(ctx, in.Method, target.String(), rd)
	if err != nil {
		return nil, plugboard.Invalid("the proxied request could not be built")
	}
	out.Header = in.Header.Clone()
	stripHeaders(out.Header, true)
	if body == nil {
		out.ContentLength = int64(len(replay))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(replay)), nil }
	} else {
		out.ContentLength = in.ContentLength
	}
	tlsConfig, err := s.access.Applier().Apply(out, p.Credentials)
	if err != nil {
		return nil, err
	}
	// A client certificate's transport is kept with the opened connection, so its TLS connections
	// are reused; other settings' transports are cached by the outbound client. The proxy hands
	// redirects back to the caller rather than following them with credentials on (Relay).
	t := p.Transport(tlsConfig, s.proxyClient.NewTransport)
	var started time.Time
	if s.metrics != nil {
		started = time.Now()
	}
	res, err := s.proxyClient.Relay(out, tlsConfig, t)
	if s.metrics != nil {
		status := 0
		if err == nil {
			status = res.StatusCode
		}
		s.metrics.ProxyUpstream(status, time.Since(started))
	}
	if err != nil {
		var pe *plugboard.Error
		if errors.As(err, &pe) {
			return nil, pe
		}
		return nil, outbound.Classify(err)
	}
	// Go's client deletes a Connection header that says close, and with it the names of the other
	// hop-by-hop fields it lists; put back what the upstream sent, for stripHeaders to act on.
	if values, ok := wire.Values(); ok && len(values) > 0 {
		res.Header["Connection"] = values
	}
	return res, nil
}

// copyFlushing copies a response body, flushing as it goes so streamed responses (server-sent
// events, long polls) reach the caller as they arrive; it reports how much it wrote.
func copyFlushing(w http.ResponseWriter, body io.Reader) (int64, error) {
	rc := http.NewResponseController(w)
	buf := make([]byte, 32<<10)
	var written int64
	for {
		n, err := body.Read(buf)
		if n > 0 {
			m, werr := w.Write(buf[:n])
			written += int64(m)
			if werr != nil {
				return written, nil // the caller went away; nothing to tell it
			}
			_ = rc.Flush()
		}
		if err == io.EOF {
			return written, nil
		}
		if err != nil {
			return written, err
		}
	}
}
