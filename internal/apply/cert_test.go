package apply_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/apply"
)

// pki is a test CA with a server certificate for 127.0.0.1 and a client certificate.
type pki struct {
	caPEM, serverCertPEM, serverKeyPEM, clientCertPEM, clientKeyPEM string
	ca                                                              *x509.Certificate
}

var (
	pkiOnce sync.Once
	pkiVal  *pki
	pkiErr  error
)

func testPKI(t *testing.T) *pki {
	t.Helper()
	pkiOnce.Do(func() { pkiVal, pkiErr = newPKI("plugboard test CA") })
	if pkiErr != nil {
		t.Fatal(pkiErr)
	}
	return pkiVal
}

func newPKI(caName string) (*pki, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: caName},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP) (string, string, error) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return "", "", err
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return "", "", err
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return "", "", err
		}
		return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
			string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})), nil
	}
	p := &pki{ca: ca, caPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))}
	if p.serverCertPEM, p.serverKeyPEM, err = leaf(2, "127.0.0.1", x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)}); err != nil {
		return nil, err
	}
	if p.clientCertPEM, p.clientKeyPEM, err = leaf(3, "plugboard-client", x509.ExtKeyUsageClientAuth, nil); err != nil {
		return nil, err
	}
	return p, nil
}

// mtlsUpstream is a TLS upstream with the PKI's server certificate that requires a client
// certificate signed by the PKI's CA.
func mtlsUpstream(t *testing.T, p *pki) *upstream {
	t.Helper()
	serverCert, err := tls.X509KeyPair([]byte(p.serverCertPEM), []byte(p.serverKeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	clientCAs := x509.NewCertPool()
	clientCAs.AddCert(p.ca)
	u := &upstream{}
	u.Server = httptest.NewUnstartedServer(http.HandlerFunc(u.record))
	u.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCAs}
	u.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes below are expected
	u.StartTLS()
	t.Cleanup(u.Close)
	return u
}

func certCred(id string, p *pki) apply.Credential {
	return apply.Credential{ID: id, Config: baseConfig(api.AuthSchemeTypeCertificate), Type: api.CredentialTypeCertificate,
		Data: api.CredentialData{Certificate: &api.CredentialDataCertificate{Certificate: p.clientCertPEM, Key: p.clientKeyPEM, Ca: p.caPEM}}}
}

func TestCertificate(t *testing.T) {
	p := testPKI(t)
	up := mtlsUpstream(t, p)
	a := apply.NewApplier(nil)
	apiKey := stringCred("k", apiKeyConfig("X-Api-Key", api.AuthSchemeConfigAPIKeyInHeader), "key-with-cert")

	clientFor := func(cfg *tls.Config) *http.Client {
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	}

	t.Run("client certificate and CA", func(t *testing.T) {
		req := newRequest(t, http.MethodGet, up.URL+"/secure", "", nil)
		tlsCfg, err := a.Apply(req, []apply.Credential{certCred("c1", p), apiKey})
		if err != nil {
			t.Fatal(err)
		}
		if tlsCfg == nil {
			t.Fatal("no TLS settings for a certificate credential")
		}
		got := up.do(t, clientFor(tlsCfg), req)
		if got.TLS == nil || len(got.TLS.PeerCertificates) == 0 {
			t.Fatal("the upstream saw no client certificate")
		}
		if cn := got.TLS.PeerCertificates[0].Subject.CommonName; cn != "plugboard-client" {
			t.Errorf("client certificate CN %q, want plugboard-client", cn)
		}
		if got.Header.Get("X-Api-Key") != "key-with-cert" {
			t.Error("the api key next to the certificate was not sent")
		}
	})

	t.Run("without the certificate the upstream refuses", func(t *testing.T) {
		roots := x509.NewCertPool()
		roots.AddCert(p.ca)
		req := newRequest(t, http.MethodGet, up.URL+"/secure", "", nil)
		if res, err := clientFor(&tls.Config{RootCAs: roots}).Do(req); err == nil {
			_ = res.Body.Close()
			t.Fatal("the upstream accepted a connection without a client certificate")
		}
	})

	t.Run("the server is verified with the credential's CA", func(t *testing.T) {
		other, err := newPKI("another CA")
		if err != nil {
			t.Fatal(err)
		}
		cred := certCred("c1", p)
		cred.Data.Certificate.Ca = other.caPEM
		req := newRequest(t, http.MethodGet, up.URL+"/secure", "", nil)
		tlsCfg, err := a.Apply(req, []apply.Credential{cred})
		if err != nil {
			t.Fatal(err)
		}
		_, err = clientFor(tlsCfg).Do(req)
		if err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
			t.Fatalf("err = %v, want the server's certificate refused", err)
		}
	})

	t.Run("two certificates", func(t *testing.T) {
		_, err := a.Apply(newRequest(t, http.MethodGet, up.URL, "", nil), []apply.Credential{certCred("c1", p), certCred("c2", p)})
		wantCode(t, err, plugboard.EInvalid)
		if !strings.Contains(err.Error(), "c2") {
			t.Errorf("error %q does not name the second credential", err)
		}
	})

	t.Run("CA without a certificate", func(t *testing.T) {
		cred := certCred("c1", p)
		cred.Data.Certificate.Ca = "not a PEM"
		_, err := a.Apply(newRequest(t, http.MethodGet, up.URL, "", nil), []apply.Credential{cred})
		wantCode(t, err, plugboard.EInvalid)
	})
}
