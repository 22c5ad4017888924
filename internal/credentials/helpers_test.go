package credentials

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard/api"
)

// testPKI holds PEM test material generated once per test binary.
type testPKI struct {
	ca          string // CA certificate
	leaf        string // EC leaf certificate signed by the CA
	leafKey     string // its key, SEC 1 ("EC PRIVATE KEY")
	leafKeyP8   string // the same key, PKCS#8
	leafKeyECP  string // the same key preceded by EC PARAMETERS, as openssl writes it
	rsaLeaf     string // RSA leaf certificate signed by the CA
	rsaLeafKey  string // its key, PKCS#1
	rsaKeyP8    string // the same RSA key, PKCS#8
	otherKey    string // an EC key that matches no certificate
	encrypted   string // a block labelled ENCRYPTED PRIVATE KEY (not decryptable)
	leafAndKey  string // leaf certificate followed by its key, pasted into one field by mistake
	caAndGarble string // CA certificate followed by text outside any block
}

var pki = sync.OnceValue(func() testPKI {
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	pemOf := func(typ string, der []byte) string {
		return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Plugboard Test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	must(err)
	caCert, err := x509.ParseCertificate(caDER)
	must(err)

	leafTmpl := func(serial int64) *x509.Certificate {
		return &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: "client"},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl(2), caCert, &leafKey.PublicKey, caKey)
	must(err)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	rsaDER, err := x509.CreateCertificate(rand.Reader, leafTmpl(3), caCert, &rsaKey.PublicKey, caKey)
	must(err)
	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)

	sec1, err := x509.MarshalECPrivateKey(leafKey)
	must(err)
	p8, err := x509.MarshalPKCS8PrivateKey(leafKey)
	must(err)
	rsaP8, err := x509.MarshalPKCS8PrivateKey(rsaKey)
	must(err)
	other, err := x509.MarshalECPrivateKey(otherKey)
	must(err)
	params, err := asn1.Marshal(asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}) // P-256
	must(err)

	p := testPKI{
		ca:         pemOf("CERTIFICATE", caDER),
		leaf:       pemOf("CERTIFICATE", leafDER),
		leafKey:    pemOf("EC PRIVATE KEY", sec1),
		leafKeyP8:  pemOf("PRIVATE KEY", p8),
		rsaLeaf:    pemOf("CERTIFICATE", rsaDER),
		rsaLeafKey: pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)),
		rsaKeyP8:   pemOf("PRIVATE KEY", rsaP8),
		otherKey:   pemOf("EC PRIVATE KEY", other),
		encrypted:  pemOf("ENCRYPTED PRIVATE KEY", []byte("SECRET-not-really-encrypted")),
	}
	p.leafKeyECP = pemOf("EC PARAMETERS", params) + p.leafKey
	p.leafAndKey = p.leaf + p.leafKey
	p.caAndGarble = p.ca + "SECRET-trailing-text\n"
	return p
})

func ptr[T any](v T) *T { return &v }

var testOrg = ulid.MustParse("01HZX4R3JQ6Y7M8N9P0A1B2C3D")

// Secret test values are distinctive so that a leak is found by searching bytes for them.
const (
	secString      = "SECRET-string-value-123"
	secBinaryPlain = "SECRET-binary-value-123"
	secBasicPass   = "SECRET-basic-password-123"
	secClient      = "SECRET-client-secret-123"
	secCode        = "SECRET-oauth2-code-123"
	secO2Password  = "SECRET-oauth2-password-123"
	secAccess      = "SECRET-access-token-123"
	secRefresh     = "SECRET-refresh-token-123"
	secO1Token     = "SECRET-oauth1-token-123"
	secO1Verifier  = "SECRET-oauth1-verifier-123"
	secO1TToken    = "SECRET-oauth1t-token-123"
	secO1TSecret   = "SECRET-oauth1t-token-secret-123"
	secJWT         = "SECRET-jwt-secret-123"
	secAuthCode    = "SECRET-authcode-client-secret-123"
	secPwdGrant    = "SECRET-password-grant-client-secret-123"
	secConsumer    = "SECRET-consumer-secret-123"
)

var secBinary = base64.StdEncoding.EncodeToString([]byte(secBinaryPlain))

// goodData returns valid data for every credential type; none has none.
func goodData(typ api.CredentialType) *api.CredentialData {
	p := pki()
	switch typ {
	case api.CredentialTypeNone:
		return nil
	case api.CredentialTypeString:
		return &api.CredentialData{String: &api.CredentialDataString{Value: secString}}
	case api.CredentialTypeBinary:
		return &api.CredentialData{Binary: &api.CredentialDataBinary{ValueBase64: secBinary}}
	case api.CredentialTypeBasicAuth:
		return &api.CredentialData{BasicAuth: &api.CredentialDataBasicAuth{Username: "user-name", Password: secBasicPass}}
	case api.CredentialTypeOauth2Client:
		return &api.CredentialData{Oauth2Client: &api.CredentialDataOAuth2Client{
			ClientID: "client-id", ClientSecret: secClient, TokenURL: "https://auth.example.com/oauth/token",
			Scopes: []string{"read", "write"}, AdditionalParams: "audience=api",
		}}
	case api.CredentialTypeOauth2Code:
		return &api.CredentialData{Oauth2Code: &api.CredentialDataOAuth2Code{Code: secCode, State: "state-123", AdditionalParams: "a=b"}}
	case api.CredentialTypeOauth2Password:
		return &api.CredentialData{Oauth2Password: &api.CredentialDataOAuth2Password{Username: "resource-owner", Password: secO2Password}}
	case api.CredentialTypeOauth2Token:
		return &api.CredentialData{Oauth2Token: &api.CredentialDataOAuth2Token{
			AccessToken: secAccess, RefreshToken: secRefresh, Scopes: []string{"read"}, TokenType: "Bearer",
			ExpiresAt: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
		}}
	case api.CredentialTypeOauth1:
		return &api.CredentialData{Oauth1: &api.CredentialDataOAuth1{State: "state-456", OauthToken: secO1Token, OauthVerifier: secO1Verifier}}
	case api.CredentialTypeOauth1Token:
		return &api.CredentialData{Oauth1Token: &api.CredentialDataOAuth1Token{
			Token: secO1TToken, TokenSecret: secO1TSecret, AdditionalParams: []api.AdditionalParam{{Name: "realm", Value: ptr("r")}},
		}}
	case api.CredentialTypeCertificate:
		return &api.CredentialData{Certificate: &api.CredentialDataCertificate{Certificate: p.leaf, Key: p.leafKey, Ca: p.ca}}
	case api.CredentialTypeJwtBearer:
		return &api.CredentialData{JwtBearer: &api.CredentialDataJWTBearer{
			Algorithm: api.HS256, Secret: secJWT, ExpiresIn: "1h", AuthorizationHeaderPrefix: "JWT",
			Payload: map[string]any{"sub": "svc", "n": float64(3)},
		}}
	}
	panic("no good data for " + string(typ))
}

// secretValues returns the non-empty secret values of data for typ.
func secretValues(t *testing.T, typ api.CredentialType, d *api.CredentialData) []string {
	t.Helper()
	if d == nil {
		return nil
	}
	raw, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]map[string]any
	if err := json.Unmarshal(raw, &top); err != nil {
		t.Fatal(err)
	}
	k, _ := credentialKindOf(typ)
	var vals []string
	for _, f := range k.secrets {
		if s, _ := top[k.member][f].(string); s != "" {
			vals = append(vals, s)
		}
	}
	return vals
}

// offeredConfigs are a template's configs, one per scheme type and condition, as stored
// (secrets emptied).
func offeredConfigs() []api.AuthSchemeConfig {
	base := func(id string) *api.AuthSchemeConfigBase { return &api.AuthSchemeConfigBase{ID: id} }
	endpoint := func(u string) *api.Endpoint { return &api.Endpoint{Url: u} }
	return []api.AuthSchemeConfig{
		{Type: api.AuthSchemeTypeNone, None: base("none")},
		{Type: api.AuthSchemeTypeApiKey, ApiKey: &api.AuthSchemeConfigAPIKey{ID: "api-key", Name: "X-API-Key", In: api.AuthSchemeConfigAPIKeyInHeader}},
		{Type: api.AuthSchemeTypeBasicAuth, BasicAuth: base("basic")},
		{Type: api.AuthSchemeTypeOauth2, Oauth2: &api.AuthSchemeConfigOAuth2{
			Scopes: []api.OAuth2Scope{}, DefaultScopes: []string{},
			ID: "oauth2-code", TokenURL: "https://auth.example.com/token", AuthorizeURL: "https://auth.example.com/authorize",
			Grant: api.AuthSchemeConfigOAuth2Grant{Type: api.AuthorizationCode, AuthorizationCode: &api.AuthSchemeConfigOAuth2GrantAuthorizationCode{
				ClientID: ptr("cid"), ClientSecret: ptr(""),
			}},
		}},
		{Type: api.AuthSchemeTypeOauth2, Oauth2: &api.AuthSchemeConfigOAuth2{
			Scopes: []api.OAuth2Scope{}, DefaultScopes: []string{},
			ID: "oauth2-password", TokenURL: "https://auth.example.com/token",
			Grant: api.AuthSchemeConfigOAuth2Grant{Type: api.Password, Password: &api.AuthSchemeConfigOAuth2GrantPassword{ClientID: ptr("cid")}},
		}},
		{Type: api.AuthSchemeTypeOauth2, Oauth2: &api.AuthSchemeConfigOAuth2{
			Scopes: []api.OAuth2Scope{}, DefaultScopes: []string{},
			ID: "oauth2-client", TokenURL: "https://auth.example.com/token",
			Grant: api.AuthSchemeConfigOAuth2Grant{Type: api.ClientCredentials, ClientCredentials: &api.AuthSchemeConfigOAuth2GrantClientCredentials{}},
		}},
		{Type: api.AuthSchemeTypeOauth2, Oauth2: &api.AuthSchemeConfigOAuth2{
			Scopes: []api.OAuth2Scope{}, DefaultScopes: []string{},
			ID: "oauth2-client-mtls", TokenURL: "https://auth.example.com/token", MTLSEnabled: true,
			Grant: api.AuthSchemeConfigOAuth2Grant{Type: api.ClientCredentials, ClientCredentials: &api.AuthSchemeConfigOAuth2GrantClientCredentials{}},
		}},
		{Type: api.AuthSchemeTypeHmac, Hmac: &api.AuthSchemeConfigHMAC{
			ID: "hmac", Name: "X-Signature", In: api.AuthSchemeConfigHMACInHeader, Algorithm: api.Sha256,
			DigestInputs: []api.AuthSchemeConfigHMACDigestInputs{api.Body}, Encoding: api.Hex,
		}},
		{Type: api.AuthSchemeTypeJwtBearer, JwtBearer: base("jwt")},
		{Type: api.AuthSchemeTypeCertificate, Certificate: base("cert")},
		{Type: api.AuthSchemeTypeOauth1, Oauth1: &api.AuthSchemeConfigOAuth1{
			ID: "oauth1", ConsumerKey: "ck", SignatureMethod: "sha1",
			TempCredentialEndpoint:             endpoint("https://api.example.com/oauth/request_token"),
			ResourceOwnerAuthorizationEndpoint: endpoint("https://api.example.com/oauth/authorize"),
			TokenEndpoint:                      endpoint("https://api.example.com/oauth/access_token"),
		}},
		{Type: api.AuthSchemeTypeOauth1, Oauth1: &api.AuthSchemeConfigOAuth1{ID: "oauth1-token", ConsumerKey: "ck", SignatureMethod: "sha256", TokenAuth: true}},
		{Type: api.AuthSchemeTypeSecret, Secret: base("secret")},
	}
}

// ref returns a verbatim copy of the offered config with the given id, as the Versori CLI sends it.
func ref(id string) *api.AuthSchemeConfig {
	for _, c := range offeredConfigs() {
		if ConfigID(c) == id {
			return &c
		}
	}
	panic("no offered config " + id)
}

// jsonEqual compares two values by their JSON encodings.
func jsonEqual(t *testing.T, got, want any) bool {
	t.Helper()
	norm := func(v any) any {
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var out any
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	return reflect.DeepEqual(norm(got), norm(want))
}
