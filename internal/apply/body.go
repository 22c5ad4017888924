package apply

import (
	"bytes"
	"io"
	"net/http"

	"github.com/plugboard/plugboard"
)

// outgoing is the request being signed, with its body read at most once per Apply.
type outgoing struct {
	req  *http.Request
	body []byte
	read bool
}

// bodyBytes returns the request body (nil for none) and leaves the request sendable: the body is
// put back as a bytes reader and GetBody is set, so that redirects and retries can replay it.
// Bodies over MaxBodySize are refused with ETooLarge; the part read is put back in front of the
// rest, so the request is still whole.
func (o *outgoing) bodyBytes() ([]byte, error) {
	if o.read {
		return o.body, nil
	}
	req := o.req
	if req.Body == nil || req.Body == http.NoBody {
		o.read = true
		return nil, nil
	}
	orig := req.Body
	b, err := io.ReadAll(io.LimitReader(orig, MaxBodySize+1))
	if err != nil {
		req.Body = readCloser{io.MultiReader(bytes.NewReader(b), orig), orig}
		return nil, &plugboard.Error{Code: plugboard.EInvalid, Message: "the request body could not be read for signing", Err: err}
	}
	if len(b) > MaxBodySize {
		req.Body = readCloser{io.MultiReader(bytes.NewReader(b), orig), orig}
		return nil, plugboard.Errorf(plugboard.ETooLarge,
			"the request body is larger than %d bytes, the most that is read to sign a request", MaxBodySize)
	}
	_ = orig.Close()
	req.Body = io.NopCloser(bytes.NewReader(b))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	req.ContentLength = int64(len(b))
	if len(b) == 0 {
		req.Body = http.NoBody
		req.GetBody = func() (io.ReadCloser, error) { return http.NoBody, nil }
	}
	o.body, o.read = b, true
	return b, nil
}

// readCloser joins what was read back with the rest of a body that was not read to the end.
type readCloser struct {
	io.Reader
	io.Closer
}
