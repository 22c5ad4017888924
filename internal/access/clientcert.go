package access

import (
	"crypto/tls"
	"net/http"
	"sync"

	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/apply"
)

// clientCert is an opened connection's client certificate, parsed once, with the transport that
// presents it: proxied calls reuse the transport's TLS connections instead of shaking hands anew
// each time. It lives in the opened-connection cache with its entry and is closed (its idle
// connections with it) when the entry is dropped; an entry re-read after expiry with the same
// certificate, key and CA takes the old one over, so the connections outlive the cache's TTL
// as long as nothing changed.
type clientCert struct {
	data *api.CredentialDataCertificate // as opened: to tell a re-read certificate from a changed one
	tls  *tls.Config                    // nil when the data does not parse; Apply then says why

	mu        sync.Mutex
	transport *http.Transport
	closed    bool
}

// newClientCert parses the connection's certificate credential, if it has one, and points the
// opened credentials at the parsed settings. reuse, when it holds the same certificate, is taken
// over instead.
func newClientCert(opened []apply.Credential, reuse *clientCert) *clientCert {
	for i := range opened {
		c := &opened[i]
		if c.Type != api.CredentialTypeCertificate || c.Config.Type != api.AuthSchemeTypeCertificate || c.Data.Certificate == nil {
			continue
		}
		cc := reuse
		if !cc.same(c.Data.Certificate) {
			cc = &clientCert{data: c.Data.Certificate}
			cc.tls, _ = apply.ClientTLS(c.ID, c.Data.Certificate)
		}
		c.TLS = cc.tls
		return cc // a connection presents one certificate at most (Apply refuses a second)
	}
	return nil
}

// pointTo sets the opened certificate credential's TLS settings to c's.
func (c *clientCert) pointTo(opened []apply.Credential) {
	for i := range opened {
		if opened[i].Type == api.CredentialTypeCertificate && opened[i].TLS != nil {
			opened[i].TLS = c.tls
		}
	}
}

func (c *clientCert) same(d *api.CredentialDataCertificate) bool {
	return c != nil && !c.isClosed() && c.data.Certificate == d.Certificate && c.data.Key == d.Key && c.data.Ca == d.Ca
}

func (c *clientCert) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// roundTripper returns the transport for tlsConfig, made with build on first use; nil when
// tlsConfig is not this certificate's settings or the entry has been dropped.
func (c *clientCert) roundTripper(tlsConfig *tls.Config, build func(*tls.Config) *http.Transport) *http.Transport {
	if c == nil || c.tls == nil || tlsConfig != c.tls {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	if c.transport == nil {
		c.transport = build(c.tls)
	}
	return c.transport
}

// close drops the transport: its idle connections are closed, and calls still holding it finish
// on theirs.
func (c *clientCert) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	t := c.transport
	c.closed, c.transport = true, nil
	c.mu.Unlock()
	if t != nil {
		t.CloseIdleConnections()
	}
}

// Transport returns the transport to send p's requests over when they present the connection's
// client certificate: tlsConfig is what the applier returned for p's credentials, build makes a
// transport with keep-alives for it (outbound.Client.NewTransport). The transport is made once
// per opened connection and kept with it in the cache, so that calls reuse its TLS connections;
// it is dropped, its idle connections closed, when the connection, its credentials or its system
// change, or when the entry expires and the certificate read anew differs. Nil when tlsConfig is
// not the connection's cached certificate (no certificate, or the open bypassed the cache): the
// caller then makes a one-off transport.
func (p *Prepared) Transport(tlsConfig *tls.Config, build func(*tls.Config) *http.Transport) *http.Transport {
	return p.cert.roundTripper(tlsConfig, build)
}
