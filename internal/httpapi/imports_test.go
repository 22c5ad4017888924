package httpapi_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard/internal/httpapi"
)

// importView is the import's answer as tests read it.
type importView struct {
	System struct {
		ID                string `json:"id"`
		Name              string `json:"name"`
		Domain            string `json:"domain"`
		TemplateBaseUrl   string `json:"templateBaseUrl"`
		AuthSchemeConfigs []obj  `json:"authSchemeConfigs"`
	} `json:"system"`
	Warnings []struct {
		Code, Pointer, Message string
	} `json:"warnings"`
}

const importDoc = `openapi: 3.0.3
info: {title: Orders API, version: '1'}
servers:
- url: 'https://{region}.orders.example.com/v1'
  variables: {region: {default: eu}}
paths: {}
components:
  securitySchemes:
    key: {type: apiKey, in: header, name: X-Api-Key}
    token: {type: http, scheme: bearer}
    oauth:
      type: oauth2
      flows:
        authorizationCode: {authorizationUrl: /oauth/authorize, tokenUrl: /oauth/token, scopes: {orders: Read orders}}
`

// importRaw posts a document with a content type to the import.
func (h *harness) importRaw(key, query, contentType string, body io.Reader) response {
	h.t.Helper()
	req, err := http.NewRequest("POST", h.srv.URL+"/o/"+h.org.String()+"/systems/import"+query, body)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return response{Status: res.StatusCode, Body: data, Header: res.Header}
}

func (h *harness) systemCount() int {
	h.t.Helper()
	var page struct {
		TotalCount int `json:"totalCount"`
	}
	h.must(200, h.do("GET", "/systems", nil)).JSON(h.t, &page)
	return page.TotalCount
}

func TestImportYAMLCreatesTheSystem(t *testing.T) {
	h := newHarness(t)
	var v importView
	h.must(201, h.importRaw(h.key, "?name=Orders", "application/yaml", strings.NewReader(importDoc))).JSON(t, &v)
	if v.System.Name != "Orders" || v.System.TemplateBaseUrl != "https://eu.orders.example.com/v1" || v.System.Domain != "eu.orders.example.com" {
		t.Fatalf("system = %+v", v.System)
	}
	if len(v.System.AuthSchemeConfigs) != 3 || len(v.Warnings) != 1 || v.Warnings[0].Code != "server_variable" {
		t.Fatalf("answer = %+v", v)
	}
	var got importView
	h.must(200, h.do("GET", "/systems/"+v.System.ID, nil)).JSON(t, &got.System)
	if len(got.System.AuthSchemeConfigs) != 3 {
		t.Fatalf("stored system = %+v", got.System)
	}
	// In the order of the scheme names: key, oauth, token.
	oauth := got.System.AuthSchemeConfigs[1]["oauth2"].(map[string]any)
	if oauth["tokenUrl"] != "https://eu.orders.example.com/oauth/token" {
		t.Errorf("oauth2 = %v", oauth)
	}
	bearer := got.System.AuthSchemeConfigs[2]["apiKey"].(map[string]any)
	if bearer["prefix"] != "Bearer " || bearer["name"] != "Authorization" {
		t.Errorf("bearer = %v", bearer)
	}
}

func TestImportDryRunStoresNothing(t *testing.T) {
	h := newHarness(t)
	var v importView
	h.must(200, h.importRaw(h.key, "?dryRun=true&schemes=key", "application/yaml", strings.NewReader(importDoc))).JSON(t, &v)
	if v.System.ID != (ulid.ULID{}).String() || len(v.System.AuthSchemeConfigs) != 1 {
		t.Fatalf("answer = %+v", v)
	}
	if n := h.systemCount(); n != 0 {
		t.Fatalf("%d systems after a dry run", n)
	}
}

func TestImportFromURL(t *testing.T) {
	h := newHarness(t)
	docs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/specs/swagger.json":
			_, _ = io.WriteString(w, `{"swagger":"2.0","info":{"title":"Pets","version":"1"},"basePath":"/api","paths":{},
				"securityDefinitions":{"basic":{"type":"basic"}}}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer docs.Close()
	var v importView
	h.must(201, h.do("POST", "/systems/import", obj{"url": docs.URL + "/specs/swagger.json", "options": obj{"name": "Pets here"}})).JSON(t, &v)
	if v.System.Name != "Pets here" || v.System.TemplateBaseUrl != docs.URL+"/api" || len(v.System.AuthSchemeConfigs) != 1 {
		t.Fatalf("answer = %+v", v)
	}
	e := h.must(400, h.do("POST", "/systems/import", obj{"url": docs.URL + "/missing"})).Error(t)
	if e.Code != "upstream_rejected" {
		t.Errorf("error = %+v", e)
	}
}

func TestImportBadInputCreatesNothing(t *testing.T) {
	h := newHarness(t)
	cases := []struct {
		name        string
		contentType string
		body        string
		query       string
		status      int
		field       string
	}{
		{"malformed JSON", "application/json", `{"openapi":"3.0.0",`, "", 400, "body"},
		{"malformed YAML", "application/yaml", "openapi: [", "", 400, "body"},
		{"unknown version", "application/json", `{"openapi":"4.0.0"}`, "", 400, "body"},
		{"a private address", "application/json", `{"url":"http://10.1.2.3/openapi.json"}`, "", 400, "url"},
		{"not a URL", "application/json", `{"url":"file:///etc/passwd"}`, "", 400, "url"},
		{"bad server", "application/yaml", importDoc, "?server=x", 400, "server"},
		{"unknown scheme", "application/yaml", importDoc, "?schemes=nope", 400, "schemes"},
		{"bad system id", "application/yaml", importDoc, "?systemId=x", 400, "systemId"},
		{"text", "text/plain", importDoc, "", 400, "Content-Type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := h.importRaw(h.key, tc.query, tc.contentType, strings.NewReader(tc.body))
			e := h.must(tc.status, r).Error(t)
			if len(e.Fields) != 1 || e.Fields[0].Field != tc.field {
				t.Fatalf("error = %+v, want one naming %s", e, tc.field)
			}
		})
	}
	t.Run("60 MB", func(t *testing.T) {
		big := bytes.Repeat([]byte(" "), 60<<20)
		copy(big, `{"openapi":"3.0.0","x":"`)
		r := h.importRaw(h.key, "", "application/json", bytes.NewReader(big))
		if e := h.must(413, r).Error(t); e.Code != "request_too_large" {
			t.Fatalf("error = %+v", e)
		}
	})
	if n := h.systemCount(); n != 0 {
		t.Fatalf("%d systems after bad imports", n)
	}
}

func TestReimportUpdatesUnderTheTrustRule(t *testing.T) {
	h := newHarness(t)
	var v importView
	h.must(201, h.importRaw(h.key, "?schemes=oauth", "application/yaml", strings.NewReader(importDoc))).JSON(t, &v)
	id := v.System.ID
	// The client is set up afterwards, as the import leaves it out.
	cfg := v.System.AuthSchemeConfigs[0]
	oauth := cfg["oauth2"].(map[string]any)
	oauth["grant"] = obj{"type": "authorizationCode", "authorizationCode": obj{"clientId": "client-1", "clientSecret": "SECRET-client-1"}}
	h.must(201, h.do("PUT", "/systems/"+id+"/auth-scheme-configs/oauth", cfg))

	// The same document again: the config keeps its client.
	h.must(201, h.importRaw(h.key, "?schemes=oauth&systemId="+id, "application/yaml", strings.NewReader(importDoc))).JSON(t, &v)
	grant := v.System.AuthSchemeConfigs[0]["oauth2"].(map[string]any)["grant"].(map[string]any)
	ac, _ := grant["authorizationCode"].(map[string]any)
	if ac == nil || ac["clientId"] != "client-1" || ac["credentialId"] == "" {
		t.Fatalf("grant after a re-import = %v", grant)
	}

	// A document whose token URL moved elsewhere would send the stored client secret there: an
	// admin key that may not read secrets must send it again.
	admin := h.createKey(obj{"name": "admin only", "scopes": arr{httpapi.ScopeAdmin}}).Key
	moved := strings.Replace(importDoc, "tokenUrl: /oauth/token", "tokenUrl: 'https://elsewhere.example.net/token'", 1)
	r := h.importRaw(admin, "?schemes=oauth&systemId="+id, "application/yaml", strings.NewReader(moved))
	if r.Status != 400 && r.Status != 403 {
		t.Fatalf("status %d, want the trust rule's refusal: %s", r.Status, r.Body)
	}
	var stored importView
	h.must(200, h.do("GET", "/systems/"+id, nil)).JSON(t, &stored.System)
	if tok := stored.System.AuthSchemeConfigs[0]["oauth2"].(map[string]any)["tokenUrl"]; tok != "https://eu.orders.example.com/oauth/token" {
		t.Fatalf("token URL after a refused re-import = %v", tok)
	}
	// A key that may read secrets may move them.
	h.must(201, h.importRaw(h.key, "?schemes=oauth&systemId="+id, "application/yaml", strings.NewReader(moved)))
}

// TestReimportWithoutServersKeepsWhereTheAPIIs: re-importing a document that has no servers (a
// Postman collection without a base URL variable, a trimmed OpenAPI document) keeps the system's
// templateBaseUrl and domain; a document with servers replaces them.
func TestReimportWithoutServersKeepsWhereTheAPIIs(t *testing.T) {
	h := newHarness(t)
	var v importView
	h.must(201, h.importRaw(h.key, "", "application/yaml", strings.NewReader(importDoc))).JSON(t, &v)
	id := v.System.ID
	var before map[string]any
	h.must(200, h.do("GET", "/systems/"+id, nil)).JSON(t, &before)
	if before["templateBaseUrl"] == "" || before["domain"] == "" {
		t.Fatalf("imported system has no base URL or domain: %v", before)
	}
	noServers := "openapi: 3.0.3\ninfo: {title: Orders, version: '1'}\npaths: {}\n" +
		"components:\n  securitySchemes:\n    key: {type: apiKey, in: header, name: X-Key}\n"
	h.must(201, h.importRaw(h.key, "?systemId="+id, "application/yaml", strings.NewReader(noServers)))
	var after map[string]any
	h.must(200, h.do("GET", "/systems/"+id, nil)).JSON(t, &after)
	for _, f := range []string{"templateBaseUrl", "domain"} {
		if after[f] != before[f] {
			t.Errorf("%s after a re-import without servers = %v, want %v", f, after[f], before[f])
		}
	}
}
