package httpapi_test

// Holes found in the review of events, credential expiry and inbound webhooks (branch review).
// Each test fails while the hole is open.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/access"
	"github.com/plugboard/plugboard/internal/oauth"
	"github.com/plugboard/plugboard/internal/outbound"
)

// TestReviewExpiredCertificateNamedByMTLSCredentialIDIsPresented: a certificate credential past
// its expiresAt is "never applied again" (docs/api.md, Credential expiry), but the certificate an
// OAuth 2.0 config's mtlsCredentialId names is read with GetCredential and used as it is
// (access.MTLSConfig): no expiry check. Another connection bound to that config (whose own
// credentials are fine, so access.Usable lets it through) fetches its client-credentials token
// presenting the expired certificate, on every use until the sweep deletes it.
func TestReviewExpiredCertificateNamedByMTLSCredentialIDIsPresented(t *testing.T) {
	h := newHarness(t)
	pki := newMTLSPKI(t)
	provider := newTLSTokenServer(t, pki)
	up := newUpstream(t)

	var sys struct {
		ID string `json:"id"`
	}
	h.must(201, h.do("POST", "/systems", obj{"name": "mtls", "domain": "d", "templateBaseUrl": up.srv.URL,
		"authSchemeConfigs": arr{obj{"type": "certificate", "certificate": obj{"id": "cert", "description": ""}}}})).JSON(t, &sys)
	// Connection A holds the client certificate, valid for one hour.
	var a connectionView
	h.must(201, h.do("POST", "/connections", obj{"connectionTemplateId": h.templateFor(sys.ID, "cert"), "connection": obj{"name": "cert-holder",
		"credentials": arr{obj{"id": zeroID, "authSchemeConfig": obj{"type": "certificate", "certificate": obj{"id": "cert"}},
			"credential": obj{"type": "certificate", "expiresAt": h.clock().Add(time.Hour).UTC().Format(time.RFC3339Nano),
				"data": obj{"certificate": obj{"certificate": pki.ClientCert, "key": pki.ClientKey, "ca": pki.CA}}}}}}})).JSON(t, &a)
	certificate := certID(t, h, a.ID)
	// The owner names it on a client-credentials config (mtlsEnabled, mtlsCredentialId).
	h.must(201, h.do("PUT", "/systems/"+sys.ID+"/auth-scheme-configs/cc", obj{"type": "oauth2", "oauth2": obj{"id": "cc",
		"description": "", "tokenUrl": provider.srv.URL + "/token", "mtlsEnabled": true, "mtlsCredentialId": certificate,
		"scopes": arr{}, "defaultScopes": arr{}, "grant": obj{"type": "clientCredentials"}}}))
	// Connection B fetches its tokens with it.
	var b connectionView
	h.must(201, h.do("POST", "/connections", obj{"connectionTemplateId": h.templateFor(sys.ID, "cc"), "connection": obj{"name": "client",
		"credentials": arr{obj{"id": zeroID, "authSchemeConfig": obj{"type": "oauth2", "oauth2": obj{"id": "cc"}},
			"credential": obj{"type": "oauth2-client", "data": obj{"oauth2Client": obj{"clientId": "c", "clientSecret": "SECRET-client",
				"tokenUrl": provider.srv.URL + "/token", "scopes": arr{}}}}}}}})).JSON(t, &b)
	if provider.victimCertUses() == 0 {
		t.Fatal("setup: the token endpoint never saw the client certificate")
	}

	h.advance(2 * time.Hour) // the certificate expired an hour ago; no sweep has run yet
	if r := h.do("GET", "/connections/"+a.ID+"/proxy/x", nil); r.Status != 409 || r.Error(t).Code != plugboard.ECredentialExpired {
		t.Fatalf("setup: connection A with the expired certificate: %d %s, want 409 credential_expired", r.Status, r.Body)
	}
	before := provider.victimCertUses()
	r := h.do("GET", "/connections/"+b.ID+"/proxy/orders", nil)
	if n := provider.victimCertUses() - before; n > 0 {
		t.Errorf("the certificate credential expired an hour ago, yet a proxied call of another connection presented it "+
			"at the token endpoint (%d TLS handshakes; the call answered %d)", n, r.Status)
	}

	// The same through the access endpoint with forceRefresh.
	before = provider.victimCertUses()
	h.do("POST", "/connections/"+b.ID+"/access", obj{"forceRefresh": true})
	if n := provider.victimCertUses() - before; n > 0 {
		t.Errorf("the access endpoint presented the expired certificate at the token endpoint (%d TLS handshakes)", n)
	}

	// And when a new connection's client credentials are proven at creation.
	before = provider.victimCertUses()
	r = h.do("POST", "/connections", obj{"connectionTemplateId": h.templateFor(sys.ID, "cc"), "connection": obj{"name": "client-2",
		"credentials": arr{obj{"id": zeroID, "authSchemeConfig": obj{"type": "oauth2", "oauth2": obj{"id": "cc"}},
			"credential": obj{"type": "oauth2-client", "data": obj{"oauth2Client": obj{"clientId": "c", "clientSecret": "SECRET-client",
				"tokenUrl": provider.srv.URL + "/token", "scopes": arr{}}}}}}}})
	if n := provider.victimCertUses() - before; n > 0 {
		t.Errorf("creating a connection presented the expired certificate at the token endpoint (%d TLS handshakes; answered %d)", n, r.Status)
	}
}

// TestReviewRefresherPresentsExpiredSiblingCertificate: the background refresher leaves expired
// credentials out of its queue, but it refreshes a connection's OAuth 2.0 token without asking
// whether the connection is usable (access.Usable). With mtlsEnabled and no mtlsCredentialId,
// token requests present the connection's own certificate credential: once that certificate is
// past its expiresAt (and until the sweep deletes it), each background refresh still presents it
// at the token endpoint, while the proxy and the access endpoint refuse the connection with
// credential_expired.
func TestReviewRefresherPresentsExpiredSiblingCertificate(t *testing.T) {
	h := newHarness(t)
	pki := newMTLSPKI(t)
	provider := newTLSTokenServer(t, pki)
	up := newUpstream(t)

	var sys struct {
		ID string `json:"id"`
	}
	h.must(201, h.do("POST", "/systems", obj{"name": "mtls", "domain": "d", "templateBaseUrl": up.srv.URL,
		"authSchemeConfigs": arr{
			obj{"type": "certificate", "certificate": obj{"id": "cert", "description": ""}},
			obj{"type": "oauth2", "oauth2": obj{"id": "code", "description": "", "authorizeUrl": "https://provider.example/authorize",
				"tokenUrl": provider.srv.URL + "/token", "mtlsEnabled": true, "scopes": arr{}, "defaultScopes": arr{},
				"grant": obj{"type": "authorizationCode", "authorizationCode": obj{"clientId": "c", "clientSecret": "SECRET-grant-client"}}}},
		}})).JSON(t, &sys)
	tpl := templateOffering(t, h, sys.ID, "cert", "code")
	var c connectionView
	h.must(201, h.do("POST", "/connections", obj{"connectionTemplateId": tpl, "connection": obj{"name": "mtls-token", "credentials": arr{
		obj{"id": zeroID, "authSchemeConfig": obj{"type": "certificate", "certificate": obj{"id": "cert"}},
			"credential": obj{"type": "certificate", "expiresAt": h.clock().Add(time.Hour).UTC().Format(time.RFC3339Nano),
				"data": obj{"certificate": obj{"certificate": pki.ClientCert, "key": pki.ClientKey, "ca": pki.CA}}}},
		obj{"id": zeroID, "authSchemeConfig": obj{"type": "oauth2", "oauth2": obj{"id": "code"}},
			"credential": obj{"type": "oauth2-token", "data": obj{"oauth2Token": obj{"accessToken": "SECRET-at", "refreshToken": "SECRET-rt",
				"tokenType": "Bearer", "scopes": arr{}, "expiresAt": h.clock().Add(2 * time.Hour).UTC().Format(time.RFC3339)}}}},
	}}})).JSON(t, &c)

	// The certificate expired 56 minutes ago; the token (expiring in 4 minutes) is due for its
	// background refresh. No sweep has run.
	h.advance(time.Hour + 56*time.Minute)
	if r := h.do("GET", "/connections/"+c.ID+"/proxy/x", nil); r.Status != 409 || r.Error(t).Code != plugboard.ECredentialExpired {
		t.Fatalf("setup: proxy %d %s, want 409 credential_expired", r.Status, r.Body)
	}
	out := outbound.New(outbound.Config{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Resolver: outbound.NoDNSResolver()})
	svc := access.New(access.Config{Store: h.store, Keys: h.keys, OAuth: oauth.New(out), Now: h.clock})
	before := provider.victimCertUses()
	n, err := svc.RefreshDueOnce(context.Background(), access.RefresherConfig{})
	if used := provider.victimCertUses() - before; used > 0 {
		t.Errorf("the background refresher presented a certificate credential past its expiresAt at the token endpoint "+
			"(%d TLS handshakes; round refreshed %d, err %v)", used, n, err)
	}
}

// TestReviewMintedJWTOutlivesCredentialExpiry: a jwt-bearer credential expiring in one minute is
// still minted into tokens whose exp is its expiresIn (here 24 hours) from now. Whoever receives
// one (the upstream through the proxy, the caller of the access endpoint) holds a token the
// upstream accepts for a day after the credential was meant to be deleted: the credential keeps
// being used past its expiresAt, outside Plugboard. The minted exp is not capped at expiresAt.
func TestReviewMintedJWTOutlivesCredentialExpiry(t *testing.T) {
	h := newHarness(t)
	up := newUpstream(t)
	var sys struct {
		ID string `json:"id"`
	}
	h.must(201, h.do("POST", "/systems", obj{"name": "jwt", "domain": "d", "templateBaseUrl": up.srv.URL,
		"authSchemeConfigs": arr{configByID("jwt")}})).JSON(t, &sys)
	expires := h.clock().Add(time.Minute).UTC().Truncate(time.Second)
	var c connectionView
	h.must(201, h.do("POST", "/connections", obj{"connectionTemplateId": h.templateFor(sys.ID, "jwt"), "connection": obj{"name": "jwt",
		"credentials": arr{obj{"id": zeroID, "authSchemeConfig": configByID("jwt"), "credential": obj{"type": "jwt-bearer",
			"expiresAt": expires.Format(time.RFC3339),
			"data":      obj{"jwtBearer": obj{"algorithm": "HS256", "secret": "SECRET-jwt-key-expiring", "expiresIn": "24h"}}}}}}})).JSON(t, &c)
	h.must(200, h.do("GET", "/connections/"+c.ID+"/proxy/x", nil))
	req, _ := up.last(t)
	token := strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("setup: no JWT on the request: %q", req.Header.Get("Authorization"))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Exp int64 `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	if exp := time.Unix(claims.Exp, 0); exp.After(expires) {
		t.Errorf("the credential expires at %s, but the token minted with it is valid until %s (%s longer)",
			expires.Format(time.RFC3339), exp.UTC().Format(time.RFC3339), exp.Sub(expires).Round(time.Minute))
	}
}

// TestReviewInboundEventHandsOutReplayableSignature: an inbound.received event keeps the
// delivery's headers, the sender's signature among them, next to its body; events:read keys (read
// only: "events hold ids and public facts") and every webhook endpoint receive both. For senders

// TestReviewUpdateProvesClientWithExpiredStoredCertificate: a PUT that sends an oauth2-client
// credential with a new client secret proves it with a token request before the transaction
// (exchangeCredentials). With mtlsEnabled, that request presents the connection's certificate
// credential; sent back as read (without its key), the stored one is used (storedCertificate),
// whatever its expiresAt. Here the certificate expired an hour ago: the PUT is refused afterwards
// (400, its expiresAt is not in the future), but the token endpoint has already seen the expired
// certificate.
func TestReviewUpdateProvesClientWithExpiredStoredCertificate(t *testing.T) {
	h := newHarness(t)
	pki := newMTLSPKI(t)
	provider := newTLSTokenServer(t, pki)
	var sys struct {
		ID string `json:"id"`
	}
	h.must(201, h.do("POST", "/systems", obj{"name": "mtls", "domain": "d", "templateBaseUrl": "https://api.example",
		"authSchemeConfigs": arr{
			obj{"type": "certificate", "certificate": obj{"id": "cert", "description": ""}},
			obj{"type": "oauth2", "oauth2": obj{"id": "cc", "description": "", "tokenUrl": provider.srv.URL + "/token",
				"mtlsEnabled": true, "scopes": arr{}, "defaultScopes": arr{}, "grant": obj{"type": "clientCredentials"}}},
		}})).JSON(t, &sys)
	clientCred := func(secret string) obj {
		return obj{"id": zeroID, "authSchemeConfig": obj{"type": "oauth2", "oauth2": obj{"id": "cc"}},
			"credential": obj{"type": "oauth2-client", "data": obj{"oauth2Client": obj{"clientId": "c",
				"clientSecret": secret, "tokenUrl": provider.srv.URL + "/token", "scopes": arr{}}}}}
	}
	expires := h.clock().Add(time.Hour).UTC().Format(time.RFC3339Nano)
	var c connectionView
	h.must(201, h.do("POST", "/connections", obj{"connectionTemplateId": templateOffering(t, h, sys.ID, "cert", "cc"), "connection": obj{
		"name": "mtls", "credentials": arr{
			obj{"id": zeroID, "authSchemeConfig": obj{"type": "certificate", "certificate": obj{"id": "cert"}},
				"credential": obj{"type": "certificate", "expiresAt": expires,
					"data": obj{"certificate": obj{"certificate": pki.ClientCert, "key": pki.ClientKey, "ca": pki.CA}}}},
			clientCred("SECRET-client-1"),
		}}})).JSON(t, &c)

	h.advance(2 * time.Hour)
	_, creds := h.asRead(c.ID)
	creds[0].(obj)["credential"].(obj)["expiresAt"] = expires // as read
	before := provider.victimCertUses()
	r := h.do("PUT", "/connections/"+c.ID, obj{"name": "mtls", "credentials": arr{creds[0], clientCred("SECRET-client-2")}})
	if n := provider.victimCertUses() - before; n > 0 {
		t.Errorf("a PUT answered %d after presenting the certificate credential that expired an hour ago at the token endpoint "+
			"(%d TLS handshakes)", r.Status, n)
	}
}
