package outbound

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"syscall"

	"github.com/plugboard/plugboard"
)

// Classify's errors carry the plugboard.EUpstream* codes (refused, unavailable, timeout, too
// large); the HTTP layer maps them to statuses with the rest of the codes. The names below keep
// call sites in this package short.
const (
	EUpstreamRefused     = plugboard.EUpstreamRefused
	EUpstreamUnavailable = plugboard.EUpstreamUnavailable
	EUpstreamTimeout     = plugboard.EUpstreamTimeout
	EUpstreamTooLarge    = plugboard.EUpstreamTooLarge
)

// refusedError is returned by the dialer's Control hook when the guard refuses an address. It
// carries the resolved address for the log; messages shown to clients never include it, since
// that would let a user map internal host names to internal addresses.
type refusedError struct {
	address string // ip:port as dialled
	err     error  // wraps an ssrf.Err* sentinel
}

func (e *refusedError) Error() string {
	return fmt.Sprintf("outbound: refused to connect to %s: %v", e.address, e.err)
}

func (e *refusedError) Unwrap() error { return e.err }

// IsRefused reports whether err is, or was classified from, a refusal by the address guard. Callers
// use it to tell "this URL may never be used here" from "this upstream is down right now", for
// example to avoid retrying.
func IsRefused(err error) bool {
	var re *refusedError
	return errors.As(err, &re) || plugboard.IsCode(err, EUpstreamRefused)
}

// Classify turns an error from a call made with a Client's *http.Client (from Do, or from reading
// the response body) into the domain error to return: one of the EUpstream* codes, a message that
// is safe to show, and the cause for the log. It returns nil for nil, and an err that already holds
// a *plugboard.Error unchanged.
//
// Messages name at most the upstream's scheme://host[:port], never its path, query or userinfo,
// which may carry secrets (API keys in query strings, webhook tokens in paths), and never the
// address a host name resolved to. The cause has any *url.Error's URL cut the same way, so logs do
// not carry those secrets either; for that, pass the error as returned, since text added by outer
// wrappers cannot be redacted and is dropped.
func Classify(err error) *plugboard.Error {
	if err == nil {
		return nil
	}
	var pe *plugboard.Error
	if errors.As(err, &pe) {
		return pe
	}

	origin, cause := redact(err)
	upstream := "upstream"
	if origin != "" {
		upstream = "upstream " + origin
	}

	var refused *refusedError
	var tooLarge *tooLargeError
	var netErr net.Error
	switch {
	case errors.As(err, &refused):
		return &plugboard.Error{
			Code: EUpstreamRefused,
			Message: fmt.Sprintf("refused to connect to %s: it is not a public internet address; "+
				"to allow it, set %s to a CIDR prefix that contains its address, or %s=true "+
				"(cloud metadata addresses are only allowed through %s)",
				orUnknown(origin), EnvAllowCIDRs, EnvAllowPrivateNetworks, EnvAllowCIDRs),
			Err: cause,
		}
	case errors.As(err, &tooLarge):
		if origin == "" {
			origin = tooLarge.origin
		}
		return &plugboard.Error{
			Code:    EUpstreamTooLarge,
			Message: fmt.Sprintf("the response from %s exceeds the limit of %d bytes", orUnknown(origin), tooLarge.limit),
			Err:     cause,
		}
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return &plugboard.Error{
			Code:    EUpstreamTimeout,
			Message: upstream + " did not answer in time",
			Err:     cause,
		}
	}
	return &plugboard.Error{
		Code:    EUpstreamUnavailable,
		Message: upstream + " is unavailable: " + unavailableReason(err),
		Err:     cause,
	}
}

// unavailableReason names the kind of failure, which is what an operator needs to fix it, without
// the error text, which can hold resolved addresses.
func unavailableReason(err error) string {
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var recErr tls.RecordHeaderError
	var alertErr tls.AlertError
	switch {
	case errors.Is(err, context.Canceled):
		return "the request was canceled"
	case errors.As(err, &dnsErr):
		return "its host name could not be resolved"
	case errors.As(err, &certErr):
		return "its TLS certificate could not be verified"
	case errors.As(err, &recErr), errors.As(err, &alertErr):
		return "the TLS handshake failed"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the connection was closed unexpectedly"
	}
	return "the request failed"
}

// redact returns the origin of the request err is about (from its *url.Error, "" if none) and err
// with that *url.Error's URL replaced by the origin.
func redact(err error) (origin string, cause error) {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return "", err
	}
	if u, perr := url.Parse(ue.URL); perr == nil {
		origin = originOfURL(u)
	}
	return origin, &url.Error{Op: ue.Op, URL: orUnknown(origin), Err: ue.Err}
}

// originOfURL returns scheme://host[:port] of u: all of a URL that is safe to show.
func originOfURL(u *url.URL) string {
	if u == nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

func orUnknown(origin string) string {
	if origin == "" {
		return "the upstream"
	}
	return origin
}
