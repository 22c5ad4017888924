package apply

import (
	"crypto/tls"
	"crypto/x509"

	"github.com/plugboard/plugboard/api"
)

// certificate is what a certificate credential contributes: TLS settings, not request content.
type certificate struct {
	tls            *tls.Config
	certPEM, caPEM string
}

// newCertificate builds the TLS settings of a certificate credential: the client certificate
// (certificate + key) presented to the server, and the credential's CA as the only roots the
// server's certificate is verified against (the system roots when the credential has no CA).
// A CA that is set but holds no certificate is an error rather than a silent fall back to the
// system roots.
func newCertificate(id string, d *api.CredentialDataCertificate) (*certificate, error) {
	pair, err := tls.X509KeyPair([]byte(d.Certificate), []byte(d.Key))
	if err != nil {
		// crypto/tls describes what is wrong with the PEM, never the key's bytes.
		return nil, invalid(err, id, "its certificate and key do not make a usable client certificate")
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}
	if d.Ca != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(d.Ca)) {
			return nil, invalid(nil, id, "its CA holds no PEM certificate")
		}
		cfg.RootCAs = pool
	}
	return &certificate{tls: cfg, certPEM: d.Certificate, caPEM: d.Ca}, nil
}

// ClientTLS returns the TLS settings a certificate credential (id, data) is presented with, as
// Apply builds them; errors are Apply's and hold no secret.
func ClientTLS(id string, d *api.CredentialDataCertificate) (*tls.Config, error) {
	c, err := newCertificate(id, d)
	if err != nil {
		return nil, err
	}
	return c.tls, nil
}
