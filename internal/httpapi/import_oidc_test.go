package httpapi_test

import (
	"strings"
	"testing"

	"github.com/plugboard/plugboard/internal/oidctest"
)

// TestImportThenConnectThroughOIDCProvider imports a document whose OAuth 2.0 endpoints are npm
// oidc-provider's (one scheme with the URLs written out, one openIdConnect scheme discovered
// through the guarded client), adds the client, connects through the authorization code flow and
// calls through the proxy. Switched on by PLUGBOARD_TEST_OIDC=1.
func TestImportThenConnectThroughOIDCProvider(t *testing.T) {
	p := oidctest.Start(t, oidctest.Config{RedirectURIs: []string{cliRedirect}})
	h := oidcHarness(t, p)
	up := newUpstream(t)
	doc := `openapi: 3.1.0
info: {title: Provider API, version: '1'}
servers: [{url: '` + up.srv.URL + `/v1'}]
paths: {}
components:
  securitySchemes:
    oauth2-code:
      type: oauth2
      flows:
        authorizationCode:
          authorizationUrl: '` + p.AuthorizeURL + `'
          tokenUrl: '` + p.TokenURL + `'
          scopes: {read: Read things}
    discovered: {type: openIdConnect, openIdConnectUrl: '` + p.Issuer + `/.well-known/openid-configuration'}
`
	var v importView
	h.must(201, h.importRaw(h.key, "", "application/yaml", strings.NewReader(doc))).JSON(t, &v)
	if len(v.System.AuthSchemeConfigs) != 2 || len(v.Warnings) != 0 {
		t.Fatalf("import: %+v", v)
	}
	discovered := v.System.AuthSchemeConfigs[0]["oauth2"].(map[string]any)
	if discovered["id"] != "discovered" || discovered["tokenUrl"] != p.TokenURL || discovered["authorizeUrl"] != p.AuthorizeURL {
		t.Errorf("discovered config = %v", discovered)
	}

	// The client is the one thing the document cannot give.
	client := p.Clients.Basic
	cfg := v.System.AuthSchemeConfigs[1]
	oauth := cfg["oauth2"].(map[string]any)
	oauth["pkce"] = true
	oauth["grant"] = obj{"type": "authorizationCode", "authorizationCode": obj{"clientId": client.ID, "clientSecret": client.Secret}}
	var stored struct {
		Oauth2 struct {
			Grant struct {
				AuthorizationCode struct {
					CredentialID string `json:"credentialId"`
				} `json:"authorizationCode"`
			} `json:"grant"`
		} `json:"oauth2"`
	}
	h.must(201, h.do("PUT", "/systems/"+v.System.ID+"/auth-scheme-configs/oauth2-code", cfg)).JSON(t, &stored)

	tpl := h.templateFor(v.System.ID, "oauth2-code")
	var res struct {
		URL string `json:"url"`
	}
	credential := obj{"id": stored.Oauth2.Grant.AuthorizationCode.CredentialID, "organisationId": h.org.String()}
	h.must(200, h.do("POST", "/systems/"+v.System.ID+"/oauth2/initialise", obj{"authorizeUrl": p.AuthorizeURL, "clientId": client.ID,
		"credential": credential, "scopes": arr{"openid", "read"}, "redirectUrl": cliRedirect})).JSON(t, &res)
	q := p.Authorize(t, res.URL).Query()
	var c connectionView
	h.must(201, h.do("POST", "/connections", codeConnection(tpl, "imported", q.Get("code"), q.Get("state")))).JSON(t, &c)

	h.must(200, h.do("GET", "/connections/"+c.ID+"/proxy/orders", nil))
	got, _ := up.last(t)
	if got.URL.Path != "/v1/orders" || !strings.HasPrefix(got.Header.Get("Authorization"), "Bearer ") {
		t.Errorf("the upstream got %s with Authorization %q", got.URL.Path, got.Header.Get("Authorization"))
	}
}
