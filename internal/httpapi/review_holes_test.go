package httpapi_test

// Holes found in the trust rule review (branch review). Each test fails while the hole is open.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/access"
)

// mtlsPKI is a CA with a client certificate (the victim's stored credential) and a server
// certificate for 127.0.0.1 (any host the same CA vouches for: a provider's other endpoints, or
// anyone's host when the CA is a public one).
type mtlsPKI struct {
	CA, ClientCert, ClientKey string
	server                    tls.Certificate
	clientDER                 []byte
}

func newMTLSPKI(t *testing.T) mtlsPKI {
	t.Helper()
	enc := func(typ string, der []byte) string {
		return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
	}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Review CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTpl, caTpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP) ([]byte, *ecdsa.PrivateKey) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, KeyUsage: x509.KeyUsageDigitalSignature, IPAddresses: ips}
		der, err := x509.CreateCertificate(rand.Reader, tpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, k
	}
	clientDER, clientKey := leaf(2, "victim-client", x509.ExtKeyUsageClientAuth, nil)
	serverDER, serverKey := leaf(3, "server", x509.ExtKeyUsageServerAuth, []net.IP{net.ParseIP("127.0.0.1")})
	ckDER, _ := x509.MarshalPKCS8PrivateKey(clientKey)
	skDER, _ := x509.MarshalPKCS8PrivateKey(serverKey)
	pair, err := tls.X509KeyPair([]byte(enc("CERTIFICATE", serverDER)), []byte(enc("PRIVATE KEY", skDER)))
	if err != nil {
		t.Fatal(err)
	}
	return mtlsPKI{CA: enc("CERTIFICATE", caDER), ClientCert: enc("CERTIFICATE", clientDER), ClientKey: enc("PRIVATE KEY", ckDER),
		server: pair, clientDER: clientDER}
}

// tlsTokenServer is a token endpoint over TLS that asks for a client certificate and records
// which requests presented the victim's.
type tlsTokenServer struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen int // requests that authenticated with the victim's client certificate
	reqs int
}

func newTLSTokenServer(t *testing.T, pki mtlsPKI) *tlsTokenServer {
	ts := &tlsTokenServer{}
	ts.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		ts.mu.Lock()
		ts.reqs++
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 && string(r.TLS.PeerCertificates[0].Raw) == string(pki.clientDER) {
			ts.seen++
		}
		ts.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"tok","token_type":"Bearer","expires_in":3600}`)
	}))
	ts.srv.TLS = &tls.Config{Certificates: []tls.Certificate{pki.server}, ClientAuth: tls.RequestClientCert}
	ts.srv.StartTLS()
	t.Cleanup(ts.srv.Close)
	return ts
}

func (ts *tlsTokenServer) victimCertUses() int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.seen
}

// TestReviewCertificateAuthenticatesAtCallerChosenTokenURL: an oauth2-client credential's tokenUrl
// is chosen by the request, and its token request authenticates with a stored certificate (the
// connection's certificate credential, or the one the config's mtlsCredentialId names). A
// connections:write key that sends a fresh client secret (its own) with a new tokenUrl makes the
// stored certificate's key authenticate there: the credential carries no kept secret, and the
// certificate's Use (trust.Use.Also) only counts configs' token URLs. Exchange runs before the
// trust check, and nothing is checked on create.
func TestReviewCertificateAuthenticatesAtCallerChosenTokenURL(t *testing.T) {
	h := newHarness(t)
	pki := newMTLSPKI(t)
	legit, evil := newTLSTokenServer(t, pki), newTLSTokenServer(t, pki)
	writer := h.keyWith("connections:write", "connections:read")

	var sys struct {
		ID string `json:"id"`
	}
	h.must(201, h.do("POST", "/systems", obj{"name": "mtls", "domain": "d", "templateBaseUrl": "https://api.example",
		"authSchemeConfigs": arr{
			obj{"type": "certificate", "certificate": obj{"id": "cert", "description": ""}},
			obj{"type": "oauth2", "oauth2": obj{"id": "cc", "description": "", "tokenUrl": legit.srv.URL + "/token",
				"mtlsEnabled": true, "scopes": arr{}, "defaultScopes": arr{}, "grant": obj{"type": "clientCredentials"}}},
		}})).JSON(t, &sys)
	tpl := templateOffering(t, h, sys.ID, "cert", "cc")
	certCred := obj{"id": zeroID, "authSchemeConfig": obj{"type": "certificate", "certificate": obj{"id": "cert"}},
		"credential": obj{"type": "certificate", "data": obj{"certificate": obj{"certificate": pki.ClientCert, "key": pki.ClientKey, "ca": pki.CA}}}}
	clientCred := func(secret, tokenURL string) obj {
		return obj{"id": zeroID, "authSchemeConfig": obj{"type": "oauth2", "oauth2": obj{"id": "cc"}},
			"credential": obj{"type": "oauth2-client", "data": obj{"oauth2Client": obj{"clientId": "victim-client",
				"clientSecret": secret, "tokenUrl": tokenURL, "scopes": arr{}}}}}
	}
	var c connectionView
	h.must(201, h.do("POST", "/connections", obj{"connectionTemplateId": tpl, "connection": obj{"name": "victim",
		"credentials": arr{certCred, clientCred("SECRET-victim-client-secret", legit.srv.URL+"/token")}}})).JSON(t, &c)
	if legit.victimCertUses() == 0 {
		t.Fatal("setup: the legitimate token endpoint never saw the client certificate")
	}

	t.Run("update: the connection's stored certificate", func(t *testing.T) {
		_, creds := h.asRead(c.ID)
		data := creds[1].(obj)["credential"].(obj)["data"].(map[string]any)["oauth2Client"].(map[string]any)
		data["clientSecret"] = "attacker-own-secret"
		data["tokenUrl"] = evil.srv.URL + "/token"
		r := h.doAs(writer, h.org, "PUT", "/connections/"+c.ID, obj{"name": c.Name, "credentials": creds})
		if n := evil.victimCertUses(); n > 0 || r.Status == 200 {
			t.Errorf("a connections:write key made the stored certificate authenticate at a token URL of its choice: "+
				"status %d, %d TLS handshakes there with the victim's client certificate", r.Status, n)
		}
	})

	t.Run("create: the certificate a config's mtlsCredentialId names", func(t *testing.T) {
		before := evil.victimCertUses()
		// The owner (a key that may read secrets) names the stored certificate on a config.
		h.must(201, h.do("PUT", "/systems/"+sys.ID+"/auth-scheme-configs/cc-named", obj{"type": "oauth2", "oauth2": obj{"id": "cc-named",
			"description": "", "tokenUrl": legit.srv.URL + "/token", "mtlsEnabled": true, "mtlsCredentialId": certID(t, h, c.ID),
			"scopes": arr{}, "defaultScopes": arr{}, "grant": obj{"type": "clientCredentials"}}}))
		tpl2 := h.templateFor(sys.ID, "cc-named")
		cred := clientCred("attacker-own-secret", evil.srv.URL+"/token")
		cred["authSchemeConfig"] = obj{"type": "oauth2", "oauth2": obj{"id": "cc-named"}}
		r := h.doAs(writer, h.org, "POST", "/connections", obj{"connectionTemplateId": tpl2, "connection": obj{"name": "attacker",
			"credentials": arr{cred}}})
		if n := evil.victimCertUses() - before; n > 0 || r.Status == 201 {
			t.Errorf("a connections:write key made the certificate named by mtlsCredentialId authenticate at a token URL of its choice: "+
				"status %d, %d TLS handshakes there with the victim's client certificate", r.Status, n)
		}
	})
}

// certID returns the id of a connection's certificate credential.
func certID(t *testing.T, h *harness, connID string) string {
	t.Helper()
	var c connectionView
	h.must(200, h.do("GET", "/connections/"+connID, nil)).JSON(t, &c)
	for _, cc := range c.Credentials {
		if cc.Credential.Type == "certificate" {
			return cc.Credential.ID
		}
	}
	t.Fatal("no certificate credential")
	return ""
}

// templateOffering makes a project and a template of the system offering the given configs.
func templateOffering(t *testing.T, h *harness, systemID string, configIDs ...string) string {
	t.Helper()
	var proj struct {
		ID           string                `json:"id"`
		Environments []struct{ ID string } `json:"environments"`
	}
	h.must(200, h.do("POST", "/projects", obj{"name": "p-" + systemID + strings.Join(configIDs, "-")})).JSON(t, &proj)
	var tpl struct {
		ID string `json:"connectionTemplateId"`
	}
	h.must(200, h.do("POST", "/projects/"+proj.ID+"/connection-templates", obj{"systemId": systemID, "name": "t", "environmentId": proj.Environments[0].ID})).JSON(t, &tpl)
	ids := arr{}
	for _, id := range configIDs {
		ids = append(ids, id)
	}
	h.must(200, h.do("PUT", "/projects/"+proj.ID+"/connection-templates/"+tpl.ID, obj{"authSchemeConfigIds": ids}))
	return tpl.ID
}

// TestReviewOrphanedGrantCredentialReattached: replacing an OAuth 2.0 config's grant client (both
// ids left out, a new clientSecret) leaves the old grant credential in the store, still named as
// this config's. The trust rule compares the config's placement before and after each request,
// not where that credential's secret was last used, so an admin key can (1) move the config's
// tokenUrl with a fresh client of its own (no stored secret moves), then (2) name the old
// credential again with no placement change (no move either). The victim's client secret then
// goes to the new token URL on the next exchange (here a password grant run by a
// connections:write key).
func TestReviewOrphanedGrantCredentialReattached(t *testing.T) {
	h := newHarness(t)
	prov := newGoProvider(t)
	evil := newUpstream(t)
	evil.answer = func(r *http.Request, n int) (int, string) {
		return 200, `{"access_token":"a","token_type":"Bearer","refresh_token":"r","expires_in":3600}`
	}
	attacker := h.keyWith("admin", "connections:write")
	const victimSecret = "SECRET-victim-grant-client-secret"

	pwConfig := func(tokenURL string, grant obj) obj {
		return obj{"type": "oauth2", "oauth2": obj{"id": "pw", "description": "", "tokenUrl": tokenURL,
			"scopes": arr{}, "defaultScopes": arr{}, "grant": obj{"type": "password", "password": grant}}}
	}
	var sys struct {
		ID                string `json:"id"`
		AuthSchemeConfigs []struct {
			Oauth2 struct {
				Grant struct {
					Password struct {
						CredentialID string `json:"credentialId"`
					} `json:"password"`
				} `json:"grant"`
			} `json:"oauth2"`
		} `json:"authSchemeConfigs"`
	}
	h.must(201, h.do("POST", "/systems", obj{"name": "pw", "domain": "d", "templateBaseUrl": "",
		"authSchemeConfigs": arr{pwConfig(prov.TokenURL, obj{"clientId": prov.ClientID, "clientSecret": victimSecret})}})).JSON(t, &sys)
	victimGrant := sys.AuthSchemeConfigs[0].Oauth2.Grant.Password.CredentialID
	tpl := h.templateFor(sys.ID, "pw")
	path := "/systems/" + sys.ID + "/auth-scheme-configs/pw"

	// The direct move is refused, as it should be.
	h.must(400, h.doAs(attacker, h.org, "PUT", path, pwConfig(evil.srv.URL+"/token", obj{"credentialId": victimGrant, "organisationId": h.org.String()})))
	// 1. Move the token URL with a client of the attacker's own: no stored secret moves, and the
	// grant credential it replaces goes.
	h.must(201, h.doAs(attacker, h.org, "PUT", path, pwConfig(evil.srv.URL+"/token", obj{"clientId": "attacker", "clientSecret": "attacker-secret"})))
	if _, err := h.store.GetCredential(context.Background(), h.org, ulid.MustParse(victimGrant)); !plugboard.IsCode(err, plugboard.ENotFound) {
		t.Errorf("the replaced grant credential is still stored: %v", err)
	}
	// A grant credential left behind before replacements deleted them (stored directly here, named
	// as this config's) comes from nowhere: naming it again needs its secret.
	orphan := &plugboard.Credential{ID: ulid.Make(), OrganisationID: h.org, CreatedAt: time.Now(), UpdatedAt: time.Now(),
		Name: "grant client of system " + sys.ID + " config pw"}
	if err := access.SealInto(h.keys, orphan, api.CredentialTypeOauth2Client, &api.CredentialData{Oauth2Client: &api.CredentialDataOAuth2Client{
		ClientID: prov.ClientID, ClientSecret: victimSecret, TokenURL: prov.TokenURL}}); err != nil {
		t.Fatal(err)
	}
	if err := h.store.CreateCredential(context.Background(), orphan); err != nil {
		t.Fatal(err)
	}
	r := h.must(400, h.doAs(attacker, h.org, "PUT", path, pwConfig(evil.srv.URL+"/token", obj{"credentialId": orphan.ID.String(), "organisationId": h.org.String()})))
	assertField(t, r.Error(t), "oauth2.grant.password.clientSecret", "must be sent again")
	// 2. Name the victim's grant credential again: the config's placement does not change.
	r = h.doAs(attacker, h.org, "PUT", path, pwConfig(evil.srv.URL+"/token", obj{"credentialId": victimGrant, "organisationId": h.org.String()}))
	if r.Status == 201 {
		// 3. Any exchange now sends the victim's client secret to the attacker's token URL.
		h.doAs(attacker, h.org, "POST", "/connections", obj{"connectionTemplateId": tpl, "connection": obj{"name": "x", "credentials": arr{obj{
			"id": zeroID, "authSchemeConfig": obj{"type": "oauth2", "oauth2": obj{"id": "pw"}},
			"credential": obj{"type": "oauth2-password", "data": obj{"oauth2Password": obj{"username": "u", "password": "p"}}}}}}})
	}
	evil.mu.Lock()
	defer evil.mu.Unlock()
	for i, req := range evil.reqs {
		_, secret, _ := req.BasicAuth()
		if secret == victimSecret || strings.Contains(string(evil.body[i]), victimSecret) {
			t.Fatalf("an admin+write key sent the victim's stored grant client secret to its own token URL (step 2 answered %d)", r.Status)
		}
	}
	if r.Status == 201 {
		t.Errorf("an admin key re-bound a stored grant client secret to a config whose token URL it had just moved")
	}
}

// TestReviewOAuth1ConsumerSecretSignsAtCallerChosenBaseURL: an OAuth 1.0a config's consumerSecret
// (a stored, sealed secret) signs every proxied request of every connection bound to the config.
// A connections:write key creates a connection with a baseUrl of its choice and token
// credentials of its own, and the proxy then signs requests for that origin with the stored
// consumer secret (HMAC key consumerSecret&tokenSecret, the token secret known to the attacker:
// a signing oracle, and material for an offline guess of the consumer secret). The same holds for
// UpdateConnection when the token credentials are sent anew with a new baseUrl.
func TestReviewOAuth1ConsumerSecretSignsAtCallerChosenBaseURL(t *testing.T) {
	h := newHarness(t)
	legit, evil := newUpstream(t), newUpstream(t)
	attacker := h.keyWith("connections:write", "connections:proxy")
	var sys struct {
		ID string `json:"id"`
	}
	h.must(201, h.do("POST", "/systems", obj{"name": "o1", "domain": "d", "templateBaseUrl": legit.srv.URL,
		"authSchemeConfigs": arr{configByID("oauth1-token")}})).JSON(t, &sys)
	tpl := h.templateFor(sys.ID, "oauth1-token")
	var c connectionView
	r := h.doAs(attacker, h.org, "POST", "/connections", obj{"connectionTemplateId": tpl, "connection": obj{"name": "x",
		"baseUrl": evil.srv.URL, "credentials": arr{obj{"id": zeroID, "authSchemeConfig": configByID("oauth1-token"),
			"credential": obj{"type": "oauth1-token", "data": obj{"oauth1Token": obj{"token": "attacker-token", "tokenSecret": "attacker-token-secret"}}}}}}})
	if r.Status == 201 {
		r.JSON(t, &c)
		h.doAs(attacker, h.org, "GET", "/connections/"+c.ID+"/proxy/anything", nil)
	}
	evil.mu.Lock()
	defer evil.mu.Unlock()
	for _, req := range evil.reqs {
		if strings.Contains(req.Header.Get("Authorization"), "oauth_signature=") {
			t.Fatalf("a connections:write+proxy key had the stored consumer secret sign a request for its own origin: %s",
				req.Header.Get("Authorization"))
		}
	}
}
