package outbound

import (
	"fmt"
	"io"
	"net/http"
)

// limitedTransport caps response bodies, so that an upstream (or a redirect target) cannot exhaust
// memory with an endless or enormous answer. The cap applies to the body the caller reads, that is
// after transparent gzip decompression, so a compressed bomb is caught too.
type limitedTransport struct {
	base http.RoundTripper
	max  int64
}

func (t *limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	origin := originOfURL(req.URL)
	// A body declared too large fails now, before anyone reads it. HEAD responses declare the
	// length of a body they do not carry.
	if req.Method != http.MethodHead && resp.ContentLength > t.max {
		resp.Body.Close()
		return nil, &tooLargeError{origin: origin, limit: t.max}
	}
	resp.Body = &limitedBody{rc: resp.Body, remaining: t.max, err: &tooLargeError{origin: origin, limit: t.max}}
	return resp, nil
}

// limitedBody returns err once the body has more than the allowed bytes, instead of io.EOF: a
// truncated token response or API answer must not pass for a complete one.
type limitedBody struct {
	rc        io.ReadCloser
	remaining int64 // bytes still allowed; -1 once the cap has been exceeded
	err       error
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.remaining < 0 {
		return 0, b.err
	}
	// Ask for one byte more than allowed: getting it proves the body is too large.
	if int64(len(p)) > b.remaining+1 {
		p = p[:b.remaining+1]
	}
	n, err := b.rc.Read(p)
	if int64(n) > b.remaining {
		n = int(b.remaining)
		b.remaining = -1
		return n, b.err
	}
	b.remaining -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// tooLargeError is returned when a response body exceeds Config.MaxResponseBytes.
type tooLargeError struct {
	origin string // scheme://host[:port], or "" if unknown
	limit  int64
}

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("outbound: response body from %s exceeds the limit of %d bytes", orUnknown(e.origin), e.limit)
}
