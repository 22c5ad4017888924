package outbound

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"net/netip"
	"time"
)

// Names of the settings (read by the command's settings table) that loosen or extend the guard.
// Refusal messages name them, so that an operator who meets a refusal learns which setting lifts it.
const (
	EnvAllowPrivateNetworks = "PLUGBOARD_ALLOW_PRIVATE_NETWORKS"
	EnvAllowCIDRs           = "PLUGBOARD_ALLOW_CIDRS"
	// EnvCAFile names a PEM file of CA certificates trusted, besides the system's, for outbound calls.
	EnvCAFile = "PLUGBOARD_OUTBOUND_CA_FILE"
)

// Defaults used by DefaultConfig, and by New for any zero or negative field. They bound how long one
// slow or hostile upstream can hold a request goroutine and how much memory its answer can take.
const (
	DefaultDialTimeout           = 5 * time.Second
	DefaultTLSHandshakeTimeout   = 10 * time.Second
	DefaultResponseHeaderTimeout = 15 * time.Second
	DefaultRequestTimeout        = 30 * time.Second
	DefaultMaxResponseBytes      = 10 << 20 // 10 MiB
)

// Config says where the outbound client may connect and how long and how much it may wait for.
// The zero value is usable: zero (or negative) durations and sizes mean the Default* constants, and
// no private address is allowed.
type Config struct {
	// AllowPrivateNetworks lifts the address guard for every non-public address (loopback, RFC 1918,
	// link-local, CGNAT, ...), for self-hosted deployments whose identity provider or APIs live on
	// the local network. Cloud metadata addresses stay refused even then, because reaching them
	// hands out the host's cloud credentials; only an AllowCIDRs prefix containing one allows it.
	AllowPrivateNetworks bool
	// AllowCIDRs lists prefixes that are allowed although the guard would refuse them; it is the
	// narrow alternative to AllowPrivateNetworks (for example 10.1.0.0/16 for one internal network).
	AllowCIDRs []netip.Prefix

	// DialTimeout bounds establishing the TCP connection.
	DialTimeout time.Duration
	// TLSHandshakeTimeout bounds the TLS handshake.
	TLSHandshakeTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for the response headers once the request is sent.
	ResponseHeaderTimeout time.Duration
	// RequestTimeout bounds the whole exchange, redirects and reading the body included.
	RequestTimeout time.Duration
	// MaxResponseBytes caps a response body (after decompression); reading past it is an error.
	MaxResponseBytes int64

	// RootCAs verifies the servers called, unless a call brings its own (a certificate
	// credential's CA); nil means the system's roots. PLUGBOARD_OUTBOUND_CA_FILE sets it, for
	// providers behind a private CA.
	RootCAs *x509.CertPool

	// Resolver resolves host names; nil means the system's. Tests set one that answers from
	// /etc/hosts only, so that nothing they do sends a DNS query off the machine.
	Resolver *net.Resolver
}

// NoDNSResolver resolves only what /etc/hosts and IP literals give and refuses every DNS query.
// Tests use it so that no host name in a test (or made up by a fuzzer) is looked up on the network.
func NoDNSResolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
		return nil, errors.New("DNS is disabled for this client")
	}}
}

// DefaultConfig returns the configuration used when nothing is set: the Default* limits and no
// private address allowed.
func DefaultConfig() Config {
	return Config{
		DialTimeout:           DefaultDialTimeout,
		TLSHandshakeTimeout:   DefaultTLSHandshakeTimeout,
		ResponseHeaderTimeout: DefaultResponseHeaderTimeout,
		RequestTimeout:        DefaultRequestTimeout,
		MaxResponseBytes:      DefaultMaxResponseBytes,
	}
}

// withDefaults replaces unset limits by the defaults, so that a Config built by hand with only the
// allow-list set cannot accidentally mean "no timeout" or "no size cap".
func (c Config) withDefaults() Config {
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.TLSHandshakeTimeout <= 0 {
		c.TLSHandshakeTimeout = DefaultTLSHandshakeTimeout
	}
	if c.ResponseHeaderTimeout <= 0 {
		c.ResponseHeaderTimeout = DefaultResponseHeaderTimeout
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.MaxResponseBytes <= 0 {
		c.MaxResponseBytes = DefaultMaxResponseBytes
	}
	return c
}
