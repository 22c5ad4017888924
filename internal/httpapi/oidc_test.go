package httpapi_test

import (
	"crypto/x509"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plugboard/plugboard/internal/oidctest"
	"github.com/plugboard/plugboard/internal/outbound"
)

// oidcHarness is a server whose outbound client trusts the oidc-provider peer's test CA.
func oidcHarness(t *testing.T, p *oidctest.Provider) *harness {
	t.Helper()
	return oidcHarnessOn(t, p, nil)
}

// oidcHarnessOn is oidcHarness serving on l (see newHarnessOn).
func oidcHarnessOn(t *testing.T, p *oidctest.Provider, l net.Listener) *harness {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(p.CAPEM) {
		t.Fatal("no CA")
	}
	return newHarnessOn(t, l, outbound.Config{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Resolver: outbound.NoDNSResolver(), RootCAs: pool, RequestTimeout: 10 * time.Second})
}

// TestOIDCProviderFlows runs the OAuth 2.0 flows against npm oidc-provider over HTTPS, with
// refresh-token rotation on: authorization code with PKCE (client_secret_basic and _post), the
// password grant, client credentials, and mTLS client authentication (tls_client_auth, no secret).
// Switched on by PLUGBOARD_TEST_OIDC=1 (after npm ci --prefix testdata/oidc-provider).
func TestOIDCProviderFlows(t *testing.T) {
	p := oidctest.Start(t, oidctest.Config{RedirectURIs: []string{cliRedirect}})
	h := oidcHarness(t, p)

	for _, client := range []oidctest.ClientInfo{p.Clients.Basic, p.Clients.Post} {
		t.Run("code+pkce/"+client.AuthMethod, func(t *testing.T) {
			configs := arr{obj{"type": "oauth2", "oauth2": obj{"id": "oauth2-code", "description": "code", "authorizeUrl": p.AuthorizeURL,
				"tokenUrl": p.TokenURL, "scopes": arr{obj{"name": "read"}}, "defaultScopes": arr{"read"}, "pkce": true,
				"tokenEndpointAuthMethod": client.AuthMethod,
				"grant":                   obj{"type": "authorizationCode", "authorizationCode": obj{"clientId": client.ID, "clientSecret": client.Secret}}}}}
			st := h.oauthSetup(configs)
			var res struct {
				URL string `json:"url"`
			}
			h.must(200, h.do("POST", "/systems/"+st.systemID+"/oauth2/initialise", obj{"authorizeUrl": p.AuthorizeURL, "clientId": client.ID,
				"credential": obj{"id": st.credentialID, "organisationId": h.org.String()}, "scopes": arr{"openid", "read"}, "redirectUrl": cliRedirect})).JSON(t, &res)
			redirect := p.Authorize(t, res.URL)
			q := redirect.Query()
			var c connectionView
			h.must(201, h.do("POST", "/connections", codeConnection(st.templates["oauth2-code"], "c-"+client.AuthMethod, q.Get("code"), q.Get("state")))).JSON(t, &c)
			if c.Credentials[0].Credential.Type != "oauth2-token" {
				t.Errorf("type %q", c.Credentials[0].Credential.Type)
			}
			stored := openStoredSecret(t, h, c.Credentials[0].Credential.ID)
			if !strings.Contains(stored, "refreshToken") {
				t.Errorf("no refresh token stored")
			}
		})
	}

	t.Run("password", func(t *testing.T) {
		client := p.Clients.Password
		configs := arr{obj{"type": "oauth2", "oauth2": obj{"id": "oauth2-code", "description": "unused", "authorizeUrl": p.AuthorizeURL,
			"tokenUrl": p.TokenURL, "grant": obj{"type": "authorizationCode", "authorizationCode": obj{"clientId": "unused", "clientSecret": "unused"}}}},
			obj{"type": "oauth2", "oauth2": obj{"id": "oauth2-password", "description": "password", "tokenUrl": p.TokenURL, "defaultScopes": arr{"read"},
				"grant": obj{"type": "password", "password": obj{"clientId": client.ID, "clientSecret": client.Secret}}}}}
		st := h.oauthSetup(configs)
		body := obj{"connectionTemplateId": st.templates["oauth2-password"], "connection": obj{"name": "pw", "credentials": arr{obj{
			"id": zeroID, "authSchemeConfig": obj{"type": "oauth2", "oauth2": obj{"id": "oauth2-password"}},
			"credential": obj{"type": "oauth2-password", "data": obj{"oauth2Password": obj{"username": p.Username, "password": p.Password}}}}}}}
		h.must(201, h.do("POST", "/connections", body))
		if p.Counts(t)["password"] < 1 {
			t.Errorf("no password grant counted: %v", p.Counts(t))
		}
	})

	t.Run("client credentials", func(t *testing.T) {
		client := p.Clients.ClientCredentials
		var sys struct {
			ID string `json:"id"`
		}
		h.must(201, h.do("POST", "/systems", obj{"name": "cc", "domain": "d", "templateBaseUrl": "", "authSchemeConfigs": arr{
			obj{"type": "oauth2", "oauth2": obj{"id": "cc", "description": "", "tokenUrl": p.TokenURL, "grant": obj{"type": "clientCredentials"}}}}})).JSON(t, &sys)
		tpl := h.templateFor(sys.ID, "cc")
		cred := func(secret string) obj {
			return obj{"connectionTemplateId": tpl, "connection": obj{"name": "cc-" + secret[:3], "credentials": arr{obj{
				"id": zeroID, "authSchemeConfig": obj{"type": "oauth2", "oauth2": obj{"id": "cc"}},
				"credential": obj{"type": "oauth2-client", "data": obj{"oauth2Client": obj{"clientId": client.ID, "clientSecret": secret,
					"tokenUrl": p.TokenURL, "scopes": arr{"read"}}}}}}}}
		}
		h.must(201, h.do("POST", "/connections", cred(client.Secret)))
		r := h.must(400, h.do("POST", "/connections", cred("wrong-secret")))
		if e := r.Error(t); e.Code != "upstream_rejected" || !strings.Contains(e.Message, "invalid_client") {
			t.Errorf("wrong secret: %+v", e)
		}
	})

	t.Run("mtls", func(t *testing.T) {
		client := p.Clients.MTLS
		var sys struct {
			ID                string `json:"id"`
			AuthSchemeConfigs []struct {
				Oauth2 struct {
					Grant struct {
						AuthorizationCode struct {
							CredentialID string `json:"credentialId"`
						} `json:"authorizationCode"`
					} `json:"grant"`
				} `json:"oauth2"`
			} `json:"authSchemeConfigs"`
		}
		h.must(201, h.do("POST", "/systems", obj{"name": "mtls", "domain": "d", "templateBaseUrl": "", "authSchemeConfigs": arr{
			obj{"type": "certificate", "certificate": obj{"id": "cert", "description": "client certificate"}},
			obj{"type": "oauth2", "oauth2": obj{"id": "oauth2-mtls", "description": "", "authorizeUrl": p.AuthorizeURL, "tokenUrl": p.TokenURL,
				"mtlsEnabled": true, "pkce": true, "grant": obj{"type": "authorizationCode", "authorizationCode": obj{"clientId": client.ID}}}}}})).JSON(t, &sys)
		credID := sys.AuthSchemeConfigs[1].Oauth2.Grant.AuthorizationCode.CredentialID
		tpl := h.templateFor(sys.ID, "")
		var res struct {
			URL string `json:"url"`
		}
		h.must(200, h.do("POST", "/systems/"+sys.ID+"/oauth2/initialise", obj{"authorizeUrl": p.AuthorizeURL, "clientId": client.ID,
			"credential": obj{"id": credID}, "scopes": arr{"read"}, "redirectUrl": cliRedirect})).JSON(t, &res)
		q := p.Authorize(t, res.URL).Query()
		body := obj{"connectionTemplateId": tpl, "connection": obj{"name": "mtls", "credentials": arr{
			obj{"id": zeroID, "authSchemeConfig": obj{"type": "certificate", "certificate": obj{"id": "cert"}},
				"credential": obj{"type": "certificate", "data": obj{"certificate": obj{"certificate": string(p.MTLSCertPEM),
					"key": string(p.MTLSKeyPEM), "ca": string(p.CAPEM)}}}},
			obj{"id": zeroID, "authSchemeConfig": obj{"type": "oauth2", "oauth2": obj{"id": "oauth2-mtls"}},
				"credential": obj{"type": "oauth2-code", "data": obj{"oauth2Code": obj{"code": q.Get("code"), "state": q.Get("state")}}}},
		}}}
		var c connectionView
		h.must(201, h.do("POST", "/connections", body)).JSON(t, &c)
		if len(c.Credentials) != 2 || c.Credentials[1].Credential.Type != "oauth2-token" {
			t.Errorf("mtls connection: %+v", c.Credentials)
		}
	})

	t.Run("mtls client credentials", func(t *testing.T) {
		// RFC 8705 tls_client_auth: the oauth2-client credential has mTLSEnabled and no secret; its
		// token requests carry client_id alone, over the connection's certificate.
		client := p.Clients.MTLS
		up := newUpstream(t)
		var sys struct {
			ID string `json:"id"`
		}
		h.must(201, h.do("POST", "/systems", obj{"name": "mtls-cc", "domain": "d", "templateBaseUrl": up.srv.URL, "authSchemeConfigs": arr{
			obj{"type": "certificate", "certificate": obj{"id": "cert", "description": "client certificate"}},
			obj{"type": "oauth2", "oauth2": obj{"id": "cc-mtls", "description": "", "tokenUrl": p.TokenURL, "mtlsEnabled": true,
				"grant": obj{"type": "clientCredentials"}}}}})).JSON(t, &sys)
		tpl := h.templateFor(sys.ID, "")
		connection := func(name string, cert, key []byte) obj {
			return obj{"connectionTemplateId": tpl, "connection": obj{"name": name, "credentials": arr{
				obj{"id": zeroID, "authSchemeConfig": obj{"type": "certificate", "certificate": obj{"id": "cert"}},
					"credential": obj{"type": "certificate", "data": obj{"certificate": obj{"certificate": string(cert),
						"key": string(key), "ca": string(p.CAPEM)}}}},
				obj{"id": zeroID, "authSchemeConfig": obj{"type": "oauth2", "oauth2": obj{"id": "cc-mtls"}},
					"credential": obj{"type": "oauth2-client", "data": obj{"oauth2Client": obj{"clientId": client.ID,
						"tokenUrl": p.TokenURL, "scopes": arr{"read"}, "mTLSEnabled": true}}}},
			}}}
		}
		before := p.Counts(t)["client_credentials"]
		var c connectionView
		h.must(201, h.do("POST", "/connections", connection("mtls-cc", p.MTLSCertPEM, p.MTLSKeyPEM))).JSON(t, &c)
		h.must(200, h.do("GET", "/connections/"+c.ID+"/proxy/data", nil))
		if got, _ := up.last(t); !strings.HasPrefix(got.Header.Get("Authorization"), "Bearer ") {
			t.Errorf("the upstream got Authorization %q, want the provider's bearer token", got.Header.Get("Authorization"))
		}
		if n := p.Counts(t)["client_credentials"] - before; n != 2 {
			t.Errorf("%d client_credentials grants, want 2 (the proof at creation, then the proxy's token)", n)
		}

		// Another certificate with the same subject, from a CA the provider does not trust: the
		// certificate is what authenticates the client, so the provider refuses it.
		other := newMTLSPKI(t)
		r := h.must(400, h.do("POST", "/connections", connection("other-cert", []byte(other.ClientCert), []byte(other.ClientKey))))
		if e := r.Error(t); e.Code != "upstream_rejected" || !strings.Contains(e.Message, "invalid_client") {
			t.Errorf("untrusted certificate: %+v", e)
		}
	})

	t.Run("provider 5xx", func(t *testing.T) {
		client := p.Clients.ClientCredentials
		var sys struct {
			ID string `json:"id"`
		}
		h.must(201, h.do("POST", "/systems", obj{"name": "cc5", "domain": "d", "templateBaseUrl": "", "authSchemeConfigs": arr{
			obj{"type": "oauth2", "oauth2": obj{"id": "cc", "description": "", "tokenUrl": p.TokenURL, "grant": obj{"type": "clientCredentials"}}}}})).JSON(t, &sys)
		tpl := h.templateFor(sys.ID, "cc")
		p.FailNext(t, 503, 1)
		r := h.must(502, h.do("POST", "/connections", obj{"connectionTemplateId": tpl, "connection": obj{"name": "x", "credentials": arr{obj{
			"id": zeroID, "authSchemeConfig": obj{"type": "oauth2", "oauth2": obj{"id": "cc"}},
			"credential": obj{"type": "oauth2-client", "data": obj{"oauth2Client": obj{"clientId": client.ID, "clientSecret": client.Secret, "tokenUrl": p.TokenURL}}}}}}}))
		if e := r.Error(t); e.Code != "upstream_unavailable" {
			t.Errorf("5xx: %+v", e)
		}
	})
}

// templateFor makes a project and a template of the system offering the given config (all when "").
func (h *harness) templateFor(systemID, configID string) string {
	h.t.Helper()
	var proj struct {
		ID           string                `json:"id"`
		Environments []struct{ ID string } `json:"environments"`
	}
	h.must(200, h.do("POST", "/projects", obj{"name": "p-" + systemID})).JSON(h.t, &proj)
	var tpl struct {
		ID string `json:"connectionTemplateId"`
	}
	h.must(200, h.do("POST", "/projects/"+proj.ID+"/connection-templates", obj{"systemId": systemID, "name": "t", "environmentId": proj.Environments[0].ID})).JSON(h.t, &tpl)
	if configID != "" {
		h.must(200, h.do("PUT", "/projects/"+proj.ID+"/connection-templates/"+tpl.ID, obj{"authSchemeConfigIds": arr{configID}}))
	}
	return tpl.ID
}

// TestOIDCRefreshOnceThroughProxy: 100 concurrent proxy calls on an expired token cost exactly one
// refresh grant at oidc-provider, where refresh-token rotation makes a second use of the old
// refresh token fail (so a duplicate refresh would show as a failure, too).
func TestOIDCRefreshOnceThroughProxy(t *testing.T) {
	const ttl = 4 * time.Second
	p := oidctest.Start(t, oidctest.Config{RedirectURIs: []string{cliRedirect}, AccessTokenTTL: ttl})
	h := oidcHarness(t, p)
	up := newUpstream(t)
	client := p.Clients.Basic
	configs := arr{obj{"type": "oauth2", "oauth2": obj{"id": "oauth2-code", "description": "", "authorizeUrl": p.AuthorizeURL,
		"tokenUrl": p.TokenURL, "scopes": arr{obj{"name": "read"}}, "defaultScopes": arr{"read"}, "pkce": true,
		"grant": obj{"type": "authorizationCode", "authorizationCode": obj{"clientId": client.ID, "clientSecret": client.Secret}}}}}
	st := h.oauthSetup(configs)
	h.must(201, h.do("PUT", "/systems/"+st.systemID, obj{"templateBaseUrl": up.srv.URL}))
	var res struct {
		URL string `json:"url"`
	}
	h.must(200, h.do("POST", "/systems/"+st.systemID+"/oauth2/initialise", obj{"authorizeUrl": p.AuthorizeURL, "clientId": client.ID,
		"credential": obj{"id": st.credentialID}, "scopes": arr{"openid", "read"}, "redirectUrl": cliRedirect})).JSON(t, &res)
	q := p.Authorize(t, res.URL).Query()
	var c connectionView
	h.must(201, h.do("POST", "/connections", codeConnection(st.templates["oauth2-code"], "main", q.Get("code"), q.Get("state")))).JSON(t, &c)
	p.Reset(t)

	time.Sleep(ttl + 300*time.Millisecond)
	const n = 100
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := range n {
		wg.Go(func() { statuses[i] = h.do("GET", "/connections/"+c.ID+"/proxy/data", nil).Status })
	}
	wg.Wait()
	for i, s := range statuses {
		if s != 200 {
			t.Errorf("call %d: %d", i, s)
		}
	}
	counts := p.Counts(t)
	if counts["refresh_token"] != 1 || counts["refresh_token_failed"] != 0 {
		t.Errorf("provider counted %v, want exactly one refresh and no failure", counts)
	}
}

// dynamicTemplate makes a project and a dynamic template of the system in its first environment,
// and returns their ids.
func (h *harness) dynamicTemplate(systemID, name string) (projectID, envID, templateID string) {
	h.t.Helper()
	var proj struct {
		ID           string                `json:"id"`
		Environments []struct{ ID string } `json:"environments"`
	}
	h.must(200, h.do("POST", "/projects", obj{"name": "P"})).JSON(h.t, &proj)
	var tpl struct {
		ID string `json:"connectionTemplateId"`
	}
	h.must(200, h.do("POST", "/projects/"+proj.ID+"/connection-templates", obj{"systemId": systemID, "name": name,
		"environmentId": proj.Environments[0].ID, "dynamic": true})).JSON(h.t, &tpl)
	return proj.ID, proj.Environments[0].ID, tpl.ID
}
