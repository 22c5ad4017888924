package access_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/access"
	"github.com/plugboard/plugboard/internal/credentials"
)

// selfSigned returns a certificate and its key, PEM-encoded, that is its own CA.
func selfSigned(t *testing.T) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "plugboard-client"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	must(t, err)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
}

// certConnection stores, on a system of its own with an OAuth 2.0 config and a certificate config,
// a connection holding a token from the provider (expiring at expiresAt) and a client certificate,
// and returns the connection and the token credential's id.
func (w *world) certConnection(t *testing.T, expiresAt time.Time) (ulid.ULID, ulid.ULID) {
	t.Helper()
	ctx := context.Background()
	sys, err := w.st.GetSystem(ctx, w.org, w.system)
	must(t, err)
	certCfg, _, err := credentials.SplitAuthSchemeConfig(api.AuthSchemeConfig{Type: api.AuthSchemeTypeCertificate,
		Certificate: &api.AuthSchemeConfigCertificate{ID: "cert", Description: "client certificate"}})
	must(t, err)
	sys.ID, sys.Name, sys.Domain = ulid.Make(), "Acme over mTLS", "mtls.acme.example"
	sys.AuthSchemeConfigs = append(sys.AuthSchemeConfigs, plugboard.AuthSchemeConfig{ID: "cert", Type: "certificate", Config: certCfg})
	for i := range sys.AuthSchemeConfigs {
		if sealed := sys.AuthSchemeConfigs[i].Sealed; sealed != nil {
			// Configs are sealed under their system's id: move the sealed half to the new system.
			secrets, err := w.keys.OpenConfig(w.org, w.system, sys.AuthSchemeConfigs[i].ID, sealed)
			must(t, err)
			sys.AuthSchemeConfigs[i].Sealed, err = w.keys.SealConfig(w.org, sys.ID, sys.AuthSchemeConfigs[i].ID, secrets)
			must(t, err)
		}
	}
	must(t, w.st.CreateSystem(ctx, sys))
	tpl, err := w.st.GetTemplate(ctx, w.org, w.template)
	must(t, err)
	tpl.ID, tpl.SystemID, tpl.Name = ulid.Make(), sys.ID, "acme-mtls"
	must(t, w.st.CreateTemplate(ctx, tpl))

	at, rt := w.p.login(t)
	now := time.Now()
	tokCred := plugboard.Credential{ID: ulid.Make(), OrganisationID: w.org, CreatedAt: now, UpdatedAt: now.Add(-time.Hour)}
	tok := &api.CredentialDataOAuth2Token{AccessToken: at, RefreshToken: rt, TokenType: "Bearer", ExpiresAt: expiresAt, Scopes: []string{}}
	must(t, access.SealInto(w.keys, &tokCred, api.CredentialTypeOauth2Token, &api.CredentialData{Oauth2Token: tok}))
	certPEM, keyPEM := selfSigned(t)
	certCred := plugboard.Credential{ID: ulid.Make(), OrganisationID: w.org, CreatedAt: now, UpdatedAt: now}
	must(t, access.SealInto(w.keys, &certCred, api.CredentialTypeCertificate, &api.CredentialData{
		Certificate: &api.CredentialDataCertificate{Certificate: certPEM, Key: keyPEM, Ca: certPEM}}))
	c := &plugboard.Connection{ID: ulid.Make(), OrganisationID: w.org, TemplateID: tpl.ID, SystemID: sys.ID, Name: "mtls",
		Credentials: []plugboard.ConnectionCredential{
			{ID: ulid.Make(), AuthSchemeConfigID: "oauth2", Credential: tokCred},
			{ID: ulid.Make(), AuthSchemeConfigID: "cert", Credential: certCred},
		}, CreatedAt: now, UpdatedAt: now}
	must(t, w.st.CreateConnection(ctx, c))
	return c.ID, tokCred.ID
}

// transport returns the transport a prepared connection's calls present its certificate over.
func transport(t *testing.T, p *access.Prepared) *http.Transport {
	t.Helper()
	for _, c := range p.Credentials {
		if c.Type == api.CredentialTypeCertificate {
			if c.TLS == nil {
				t.Fatal("the certificate credential was opened without its TLS settings")
			}
			return p.Transport(c.TLS, func(cfg *tls.Config) *http.Transport { return &http.Transport{TLSClientConfig: cfg} })
		}
	}
	t.Fatal("the prepared connection has no certificate credential")
	return nil
}

// TestRefreshKeepsTransport: refreshing a connection's token changes none of its certificate, so
// the transport that presents the certificate (and its TLS connections) is kept through the
// refresh, while a change to the connection (Forget) still drops it.
func TestRefreshKeepsTransport(t *testing.T) {
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			st, _ := sc.open(t)
			w := newWorld(t, st, newProvider(t))
			conn, credID := w.certConnection(t, time.Now().Add(time.Hour))
			svc := w.service(st, nil)
			ctx := context.Background()

			first, err := svc.Prepare(ctx, w.org, conn, access.Options{})
			must(t, err)
			tr := transport(t, first)
			if tr == nil {
				t.Fatal("no transport for the connection's certificate")
			}
			_, before := w.token(t, credID)

			forced, err := svc.Prepare(ctx, w.org, conn, access.Options{Force: true})
			must(t, err)
			if forced.RefreshSkipped || forced.SentToken() == before.AccessToken {
				t.Fatalf("the forced refresh did not refresh (skipped %v)", forced.RefreshSkipped)
			}
			if got := transport(t, forced); got != tr {
				t.Errorf("the refreshing call got transport %p, want the kept %p", got, tr)
			}
			after, err := svc.Prepare(ctx, w.org, conn, access.Options{})
			must(t, err)
			if after.SentToken() != forced.SentToken() {
				t.Errorf("the call after the refresh sent another token than the refreshed one")
			}
			if got := transport(t, after); got != tr {
				t.Errorf("after the refresh the transport is %p, want the kept %p", got, tr)
			}

			svc.Forget(w.org, conn)
			if got := transport(t, after); got != nil {
				t.Errorf("after Forget the dropped entry still hands out its transport")
			}
			again, err := svc.Prepare(ctx, w.org, conn, access.Options{})
			must(t, err)
			if got := transport(t, again); got == nil || got == tr {
				t.Errorf("after Forget the transport is %p, want a new one", got)
			}
		})
	}
}
