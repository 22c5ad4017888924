package httpapi_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"testing"
	"time"
)

// certBundle is a CA and a leaf certificate signed by it, PEM encoded.
type certBundle struct {
	CA, Cert, Key, OtherKey string
}

func newCertBundle(t *testing.T) certBundle {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTpl, caTpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "client"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTpl, caCert, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(leafKey)
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherDER, _ := x509.MarshalPKCS8PrivateKey(otherKey)
	enc := func(typ string, der []byte) string {
		return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
	}
	return certBundle{CA: enc("CERTIFICATE", caDER), Cert: enc("CERTIFICATE", leafDER),
		Key: enc("PRIVATE KEY", keyDER), OtherKey: enc("PRIVATE KEY", otherDER)}
}

func newRSAKeyPEM(t *testing.T) string {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// sample is a credential that the server accepts and stores, with the secret values it holds.
type sample struct {
	name     string
	configID string
	credType string
	data     obj
	secrets  []string
}

// storableSamples returns one storable credential of every type that needs no provider exchange.
// Every secret is a distinctive string so leak tests can search for it.
func storableSamples(t *testing.T, tokenURL string) []sample {
	certs := newCertBundle(t)
	rsaKey := newRSAKeyPEM(t)
	binaryValue := "SECRET-binary-value-\x00\x01-bytes"
	return []sample{
		{"none", "none", "none", obj{"none": obj{}}, nil},
		{"string", "api-key", "string", obj{"string": obj{"value": "SECRET-api-key-value-7f3a"}}, []string{"SECRET-api-key-value-7f3a"}},
		{"basic-auth", "basic", "basic-auth", obj{"basicAuth": obj{"username": "alice", "password": "SECRET-basic-password-91c2"}},
			[]string{"SECRET-basic-password-91c2"}},
		{"hmac string", "hmac", "string", obj{"string": obj{"value": "SECRET-hmac-key-55e1"}}, []string{"SECRET-hmac-key-55e1"}},
		{"hmac binary", "hmac", "binary", obj{"binary": obj{"valueBase64": base64.StdEncoding.EncodeToString([]byte(binaryValue))}},
			[]string{base64.StdEncoding.EncodeToString([]byte(binaryValue)), "SECRET-binary-value-"}},
		{"certificate", "cert", "certificate", obj{"certificate": obj{"certificate": certs.Cert, "key": certs.Key, "ca": certs.CA}},
			[]string{pemBody(certs.Key)}},
		{"jwt HS256", "jwt", "jwt-bearer", obj{"jwtBearer": obj{"algorithm": "HS256", "secret": "SECRET-jwt-hmac-key-0b7d",
			"payload": obj{"iss": "plugboard-test"}, "expiresIn": "1m30s"}}, []string{"SECRET-jwt-hmac-key-0b7d"}},
		{"jwt RS256", "jwt", "jwt-bearer", obj{"jwtBearer": obj{"algorithm": "RS256", "secret": rsaKey}}, []string{pemBody(rsaKey)}},
		{"secret string", "secret", "string", obj{"string": obj{"value": "SECRET-webhook-secret-c4d0"}}, []string{"SECRET-webhook-secret-c4d0"}},
		{"oauth2 token", "oauth2-code", "oauth2-token", obj{"oauth2Token": obj{"accessToken": "SECRET-access-token-aa11",
			"refreshToken": "SECRET-refresh-token-bb22", "scopes": arr{"read"}, "tokenType": "Bearer"}},
			[]string{"SECRET-access-token-aa11", "SECRET-refresh-token-bb22"}},
		{"oauth2 token for password grant", "oauth2-password", "oauth2-token", obj{"oauth2Token": obj{
			"refreshToken": "SECRET-refresh-token-cc33", "scopes": arr{}}}, []string{"SECRET-refresh-token-cc33"}},
		{"oauth2 client", "oauth2-client", "oauth2-client", obj{"oauth2Client": obj{"clientId": "go-client",
			"clientSecret": "SECRET-go-client-secret-77", "tokenUrl": tokenURL, "scopes": arr{"a", "b"}}},
			[]string{"SECRET-go-client-secret-77"}},
		{"oauth1 token", "oauth1-token", "oauth1-token", obj{"oauth1Token": obj{"token": "SECRET-oauth1-token-ee55",
			"tokenSecret": "SECRET-oauth1-token-secret-ff66", "additionalParams": arr{obj{"name": "realm", "value": "r"}}}},
			[]string{"SECRET-oauth1-token-ee55", "SECRET-oauth1-token-secret-ff66"}},
	}
}

// pemBody returns a distinctive slice of a PEM block's base64 body.
func pemBody(p string) string {
	b, _ := pem.Decode([]byte(p))
	return base64.StdEncoding.EncodeToString(b.Bytes)[40:100]
}

// connectionBody builds a CreateConnection request the way Versori's CLI does: zero ids and the
// template's auth scheme config copied in.
func connectionBody(templateID, name string, s sample, config obj) obj {
	return obj{
		"connectionTemplateId": templateID,
		"externalId":           "user-" + name,
		"connection": obj{
			"name":    name,
			"baseUrl": "api.customer.example/v2/ignored?x=1",
			"credentials": arr{obj{
				"id":               zeroID,
				"authSchemeConfig": config,
				"credential": obj{"id": zeroID, "organisationId": zeroID, "type": s.credType, "name": s.name,
					"data": s.data},
			}},
		},
		"variables": arr{},
	}
}

// configByID returns the fixture's scheme config with the given id, as the template shows it.
func configByID(id string) obj {
	for _, c := range schemeConfigs() {
		for _, member := range c {
			if m, ok := member.(obj); ok && m["id"] == id {
				return c
			}
		}
	}
	panic("no config " + id)
}
