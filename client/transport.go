package client

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/oklog/ulid/v2"
)

// Headers of Plugboard's proxy. The proxy reads the control headers and never forwards them (nor
// any other X-Plugboard-* header) to the upstream.
const (
	// HeaderForceRefresh, set to "true" on a request, makes Plugboard refresh the connection's
	// OAuth 2.0 tokens before calling the upstream.
	HeaderForceRefresh = "X-Plugboard-Force-Refresh"
	// HeaderBaseURL, set on a request, sends it to this base URL instead of the connection's. Only
	// its scheme, host and port count, and Plugboard's outbound address guard still applies.
	HeaderBaseURL = "X-Plugboard-Base-Url"
	// HeaderError is "true" on a response Plugboard wrote itself: the request did not reach the
	// upstream or got no answer, and the body is Plugboard's Error.
	HeaderError = "X-Plugboard-Error"
)

// Transport is an [http.RoundTripper] that sends requests written against a third-party API
// through Plugboard's proxy for one connection, so they go out with the connection's stored
// credentials applied. The zero value is not usable: BaseURL, APIKey, OrganisationID and
// ConnectionID are required. A Transport is safe for concurrent use; do not change its fields
// while it is in use.
//
// RoundTrip sends a request for SCHEME://HOST/PATH?QUERY to
// BaseURL/o/{OrganisationID}/connections/{ConnectionID}/proxy/PATH?QUERY:
//
//   - The scheme and host of the request URL are ignored (relative URLs such as "/v1/orders" work
//     too): Plugboard sends the request to the connection's base URL, else its system's template
//     base URL, or to the URL of an X-Plugboard-Base-Url header on the request.
//   - The method, the body and the headers are kept, except Authorization: any Authorization
//     the caller set is replaced by "Bearer APIKey", the Plugboard API key. (Plugboard would strip
//     it anyway; the upstream's authorization comes from the connection's credentials.) Other
//     X-Plugboard-* headers the caller sets reach Plugboard as controls and are not forwarded.
//   - The request passed in is not modified. The returned response's Request is that request,
//     not the rewritten one, which carries the API key.
//
// A response the upstream gave, whatever its status, is returned as it is, with a nil error.
// A response Plugboard wrote itself (marked "X-Plugboard-Error: true": unknown connection,
// missing scope, upstream unreachable or timing out, refused address, failed token refresh) is
// returned as a nil response and an [*Error], which [http.Client.Do] wraps in a [*url.Error].
// A RoundTripper should only return an error when it did not obtain a response; from the caller's
// point of view this is such a case, since the upstream's response was never obtained.
// A missing or unknown API key is one of them too (code "unauthenticated").
type Transport struct {
	// BaseURL is Plugboard's URL, such as "http://127.0.0.1:8901"; it may have a path prefix
	// when Plugboard is served under one.
	BaseURL string
	// APIKey is a Plugboard API key of the organisation with the connections:proxy scope (or no
	// scopes at all).
	APIKey string
	// OrganisationID is the organisation of the connection.
	OrganisationID ulid.ULID
	// ConnectionID is the connection whose credentials are applied.
	ConnectionID ulid.ULID
	// ForceRefresh sends X-Plugboard-Force-Refresh: true on every request, making Plugboard
	// refresh the connection's OAuth 2.0 tokens before each call. Plugboard already refreshes a
	// token that is about to expire, and refreshes once and retries when the upstream answers 401,
	// so this is rarely needed; to force one refresh, set the header on a single request instead.
	ForceRefresh bool
	// Base sends the rewritten requests to Plugboard; [http.DefaultTransport] when nil.
	Base http.RoundTripper
}

// RoundTrip implements [http.RoundTripper]; see [Transport] for what it does.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	target, err := t.proxyURL(req.URL)
	if err != nil {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, err
	}
	out := req.Clone(req.Context())
	out.URL, out.Host = target, target.Host
	if out.Header == nil {
		out.Header = http.Header{}
	}
	out.Header.Set("Authorization", "Bearer "+t.APIKey)
	if t.ForceRefresh {
		out.Header.Set(HeaderForceRefresh, "true")
	}
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	res, err := base.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	if strings.EqualFold(res.Header.Get(HeaderError), "true") {
		return nil, errorFrom(res)
	}
	res.Request = req
	return res, nil
}

// Client returns an [http.Client] that uses the Transport. It follows a redirect only while it
// stays on the host of the original request URL (relative Locations included), since the
// Transport would send any other host's URL to the connection's API as well; a redirect elsewhere
// is returned to the caller as the 3xx response. Plugboard itself never follows redirects.
func (t *Transport) Client() *http.Client {
	return &http.Client{Transport: t, CheckRedirect: sameHostRedirects}
}

// sameHostRedirects follows up to 10 redirects that keep the first request's host.
func sameHostRedirects(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if !strings.EqualFold(req.URL.Host, via[0].URL.Host) {
		return http.ErrUseLastResponse
	}
	return nil
}

// proxyURL returns the proxy URL for a request URL.
func (t *Transport) proxyURL(u *url.URL) (*url.URL, error) {
	if t.APIKey == "" {
		return nil, errors.New("client: Transport has no APIKey")
	}
	if t.OrganisationID == (ulid.ULID{}) || t.ConnectionID == (ulid.ULID{}) {
		return nil, errors.New("client: Transport needs an OrganisationID and a ConnectionID")
	}
	base, err := url.Parse(t.BaseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" || base.User != nil {
		return nil, fmt.Errorf("client: Transport.BaseURL %q is not an http(s) URL without credentials", t.BaseURL)
	}
	if u == nil || u.Opaque != "" {
		return nil, errors.New("client: the request URL has no path")
	}
	path := u.EscapedPath()
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	s := base.Scheme + "://" + base.Host + strings.TrimSuffix(base.EscapedPath(), "/") +
		"/o/" + t.OrganisationID.String() + "/connections/" + t.ConnectionID.String() + "/proxy" + path
	if u.RawQuery != "" {
		s += "?" + u.RawQuery
	}
	target, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("client: the request path does not form a proxy URL: %w", err)
	}
	return target, nil
}
