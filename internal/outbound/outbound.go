// Package outbound is the one HTTP client Plugboard uses for every call it makes on behalf of a
// user: OAuth token and authorization-server endpoints, and the upstream APIs behind connections.
//
// Those URLs come from users, so without a guard they are a server-side request forgery (SSRF)
// channel into the network Plugboard runs in: the cloud metadata service (which hands out the
// host's credentials), the database, admin consoles on localhost. The client therefore refuses to
// connect to non-public addresses. The check runs in the dialer's Control hook, that is after DNS
// resolution and before connect(2), for every connection the client opens, including those for
// redirects. So a public name that resolves to a private address, a DNS-rebinding name that
// resolved publicly a moment ago, and a redirect to http://169.254.169.254/ are all refused, and
// no packet is ever sent to a refused address. The address ranges come from code.dny.dev/ssrf
// (the IANA special-purpose registries), not from a hand-written list.
//
// Deployments that need private upstreams (a self-hosted identity provider, an internal API) lift
// the guard with Config.AllowCIDRs (narrow) or Config.AllowPrivateNetworks (broad), set from
// PLUGBOARD_ALLOW_CIDRS and PLUGBOARD_ALLOW_PRIVATE_NETWORKS (the command's settings).
//
// The client never uses an HTTP proxy from the environment: through a proxy the guard would see
// the proxy's address, not the upstream's, and so would protect nothing.
//
// Failed calls become domain errors with Classify; see the EUpstream* codes.
package outbound

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"code.dny.dev/ssrf"
)

// metadataAddrs are the cloud instance-metadata and credential endpoints. They are refused even
// when AllowPrivateNetworks is set, since reaching them yields the host's cloud credentials, which
// is worse than reaching any one private service; only an AllowCIDRs prefix that contains one
// allows it. (The ssrf guard refuses them too; this list only keeps them refused when the guard is
// lifted wholesale.)
var metadataAddrs = []netip.Addr{
	netip.MustParseAddr("169.254.169.254"), // AWS, GCP, Azure, OpenStack, DigitalOcean, ... IMDS
	netip.MustParseAddr("169.254.170.2"),   // AWS ECS task credentials
	netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud metadata
	netip.MustParseAddr("fd00:ec2::254"),   // AWS IMDS over IPv6
}

// maxCachedTransports bounds the per-TLS-config transport cache, so that a caller that builds a
// new *tls.Config per request cannot grow it without limit.
const maxCachedTransports = 64

// Client holds the guarded dialer and the transports built on it. It is safe for concurrent use;
// create one with New at startup and share it.
type Client struct {
	cfg    Config
	guard  *ssrf.Guardian
	dialer *net.Dialer

	mu         sync.Mutex
	transports map[*tls.Config]*http.Transport
}

// New returns a Client for cfg. Unset limits in cfg take their defaults (see Config).
func New(cfg Config) *Client {
	cfg = cfg.withDefaults()
	cfg.AllowCIDRs = append([]netip.Prefix(nil), cfg.AllowCIDRs...)

	var allow4, allow6 []netip.Prefix
	if cfg.AllowPrivateNetworks {
		allow4 = append(allow4, netip.MustParsePrefix("0.0.0.0/0"))
		allow6 = append(allow6, netip.MustParsePrefix("::/0"))
	}
	for _, p := range cfg.AllowCIDRs {
		if p.Addr().Is4() {
			allow4 = append(allow4, p)
		} else {
			allow6 = append(allow6, p)
		}
	}

	c := &Client{
		cfg: cfg,
		// Any port: identity providers and APIs legitimately listen on 8443, 8080 and the like, and
		// the danger lies in the address, which is what the guard checks. Networks stay at the
		// library's default, tcp4 and tcp6.
		guard: ssrf.New(
			ssrf.WithAnyPort(),
			ssrf.WithAllowedV4Prefixes(allow4...),
			ssrf.WithAllowedV6Prefixes(allow6...),
		),
		transports: make(map[*tls.Config]*http.Transport),
	}
	c.dialer = &net.Dialer{
		Timeout:   cfg.DialTimeout,
		KeepAlive: 30 * time.Second,
		Control:   c.control,
		Resolver:  cfg.Resolver,
	}
	return c
}

// control is the dialer's Control hook. Go calls it for each resolved address after creating the
// socket and before connecting it, so a refusal here means no packet reaches the address.
func (c *Client) control(network, address string, raw syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &refusedError{address: address, err: fmt.Errorf("%w: %s", ssrf.ErrInvalidHostPort, err)}
	}
	ip := ap.Addr().Unmap()
	for _, m := range metadataAddrs {
		if ip == m && !c.explicitlyAllowed(ip) {
			return &refusedError{address: address, err: fmt.Errorf("%w: %s is a cloud metadata address", ssrf.ErrProhibitedIP, ip)}
		}
	}
	if err := c.guard.Safe(network, address, raw); err != nil {
		return &refusedError{address: address, err: err}
	}
	return nil
}

func (c *Client) explicitlyAllowed(ip netip.Addr) bool {
	for _, p := range c.cfg.AllowCIDRs {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// HTTPClient returns an *http.Client whose every connection goes through the guarded dialer.
// tlsConfig customises TLS for mTLS client certificates or a private CA; nil means Go's defaults
// (system roots). The config is cloned, so later changes to it have no effect.
//
// Redirects are followed (Go's default policy, at most 10); each new connection a redirect needs
// is dialled through the same guard, so a redirect to a refused address fails like a direct request.
// Response bodies are capped at Config.MaxResponseBytes: a body declared larger fails at Do, and
// reading past the cap returns an error rather than a silently truncated body. Config.RequestTimeout
// bounds the whole exchange, body included.
//
// The returned *http.Client is cheap; the transport beneath it, which holds the connection pool,
// is cached per distinct tlsConfig pointer and reused by later calls with the same pointer. Callers
// should therefore keep one *tls.Config per purpose rather than build one per request. Past
// maxCachedTransports distinct pointers, transports are built uncached with keep-alives disabled,
// so that such callers leak neither memory nor idle connections.
func (c *Client) HTTPClient(tlsConfig *tls.Config) *http.Client {
	return &http.Client{
		Transport: c.cfg.Tracing.Transport(&limitedTransport{base: c.transport(tlsConfig), max: c.cfg.MaxResponseBytes}),
		Timeout:   c.cfg.RequestTimeout,
	}
}

// NewTransport returns a transport through the guarded dialer for tlsConfig, with keep-alives,
// that the caller owns: it is not cached here. It is for configs holding a client certificate,
// which HTTPClient builds anew per call (with keep-alives off) since it cannot know how long the
// certificate stays in use; a caller that does know (internal/access keeps one with each opened
// connection) keeps the transport that long, sends through it with Relay, and calls
// CloseIdleConnections when it drops it.
func (c *Client) NewTransport(tlsConfig *tls.Config) *http.Transport {
	return c.newTransport(tlsConfig)
}

// Relay sends req, a caller's request passed on to an upstream, and returns the upstream's answer
// as it is: a redirect comes back as the response, never followed with the request's credentials
// on. It goes through t, a transport from NewTransport, or when t is nil through the transport
// HTTPClient(tlsConfig) uses, with HTTPClient's response size cap and tracing.
//
// Config.RequestTimeout bounds the whole exchange, reading the body included, as with HTTPClient;
// the caller must close the body, which ends the bound. The bound is a deadline on the request's
// context rather than http.Client.Timeout: with a transport Go's client does not know (ours is
// wrapped), Client.Timeout starts a goroutine, a timer and a channel per call, a measurable share
// of a proxied call's CPU (docs/benchmarks.md). Both end the exchange alike: a read past the
// deadline fails, and Classify reports a timeout.
func (c *Client) Relay(req *http.Request, tlsConfig *tls.Config, t *http.Transport) (*http.Response, error) {
	if t == nil {
		t = c.transport(tlsConfig)
	}
	client := &http.Client{
		Transport:     c.cfg.Tracing.Transport(&limitedTransport{base: t, max: c.cfg.MaxResponseBytes}),
		CheckRedirect: returnRedirect,
	}
	ctx, cancel := context.WithTimeout(req.Context(), c.cfg.RequestTimeout)
	res, err := client.Do(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	res.Body = &cancelOnClose{ReadCloser: res.Body, cancel: cancel}
	return res, nil
}

func returnRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// cancelOnClose is a response body whose Close also releases its request's deadline.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

func (c *Client) transport(tlsConfig *tls.Config) *http.Transport {
	if tlsConfig != nil && len(tlsConfig.Certificates) > 0 {
		// Configs with a client certificate are built per call (one per credential use); caching
		// them would fill the cache with one-shot transports holding private keys. Callers that
		// know a certificate's lifetime keep their own transport (NewTransport).
		t := c.newTransport(tlsConfig)
		t.DisableKeepAlives = true
		return t
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.transports[tlsConfig]; ok {
		return t
	}
	t := c.newTransport(tlsConfig)
	if len(c.transports) >= maxCachedTransports {
		t.DisableKeepAlives = true
		return t
	}
	c.transports[tlsConfig] = t
	return t
}

func (c *Client) newTransport(tlsConfig *tls.Config) *http.Transport {
	t := &http.Transport{
		Proxy:                 nil,  // never: the guard must see the upstream's address (see package doc)
		ForceAttemptHTTP2:     true, // a custom DialContext or TLS config would otherwise disable HTTP/2
		ResponseHeaderTimeout: c.cfg.ResponseHeaderTimeout,
		ExpectContinueTimeout: 1 * time.Second,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64, // Go's default of 2 reopens connections under concurrent load
		IdleConnTimeout:       90 * time.Second,
	}
	switch {
	case tlsConfig != nil:
		t.TLSClientConfig = tlsConfig.Clone()
		if t.TLSClientConfig.RootCAs == nil {
			t.TLSClientConfig.RootCAs = c.cfg.RootCAs
		}
	case c.cfg.RootCAs != nil:
		t.TLSClientConfig = &tls.Config{RootCAs: c.cfg.RootCAs, MinVersion: tls.VersionTLS12}
	}
	// HTTP/1.x connections are wrapped so that a proxied request can learn its response's
	// Connection header as sent (see wire.go); TLS is therefore set up in dialTLS, from its own
	// copy of the config (the transport adds its ALPN protocols to TLSClientConfig).
	var dialConfig *tls.Config
	if t.TLSClientConfig != nil {
		dialConfig = t.TLSClientConfig.Clone()
	}
	t.DialContext = c.dialPlain
	t.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return c.dialTLS(ctx, network, addr, dialConfig)
	}
	return t
}
