package httpapi_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/oklog/ulid/v2"
	_ "modernc.org/sqlite"

	"github.com/plugboard/plugboard"
)

type connectionView struct {
	ID                   string `json:"id"`
	Name                 string `json:"name"`
	BaseURL              string `json:"baseUrl"`
	SystemID             string `json:"systemId"`
	ConnectionTemplateID string `json:"connectionTemplateId"`
	EndUserID            string `json:"endUserId"`
	Credentials          []struct {
		ID               string         `json:"id"`
		AuthSchemeConfig map[string]any `json:"authSchemeConfig"`
		Credential       struct {
			ID             string         `json:"id"`
			OrganisationID string         `json:"organisationId"`
			Type           string         `json:"type"`
			Name           string         `json:"name"`
			Data           map[string]any `json:"data"`
		} `json:"credential"`
	} `json:"credentials"`
}

func TestCreateConnectionEveryStorableCredentialType(t *testing.T) {
	h := newHarness(t)
	f := h.fixture()
	prov := newGoProvider(t)
	for i, s := range storableSamples(t, prov.TokenURL) {
		t.Run(s.name, func(t *testing.T) {
			name := fmt.Sprintf("conn-%d", i)
			var c connectionView
			h.must(201, h.do("POST", "/connections", connectionBody(f.templates[s.configID], name, s, configByID(s.configID)))).JSON(t, &c)
			if c.ID == zeroID || c.ID == "" {
				t.Fatalf("connection id not assigned: %q", c.ID)
			}
			if c.BaseURL != "https://api.customer.example" {
				t.Errorf("baseUrl = %q, want scheme added and path dropped", c.BaseURL)
			}
			if c.EndUserID == "" {
				t.Errorf("a connection created with externalId has no endUserId")
			}
			if len(c.Credentials) != 1 {
				t.Fatalf("got %d credentials", len(c.Credentials))
			}
			cc := c.Credentials[0]
			if cc.ID == zeroID || cc.Credential.ID == zeroID || cc.Credential.OrganisationID != h.org.String() {
				t.Errorf("ids not assigned: %+v", cc)
			}
			if cc.Credential.Type != s.credType {
				t.Errorf("type %q, want %q", cc.Credential.Type, s.credType)
			}
			var got connectionView
			h.must(200, h.do("GET", "/connections/"+c.ID, nil)).JSON(t, &got)
			if got.Credentials[0].Credential.ID != cc.Credential.ID {
				t.Errorf("credential id changed between create and get")
			}
			body := h.do("GET", "/connections/"+c.ID, nil).Body
			for _, secret := range s.secrets {
				if bytes.Contains(body, []byte(secret)) {
					t.Errorf("GET shows a secret of %s", s.name)
				}
			}
		})
	}
}

func TestExchangeTypesWithoutAFlowAreRefused(t *testing.T) {
	h := newHarness(t)
	f := h.fixture()
	cases := []struct {
		s      sample
		status int
		field  string
	}{
		{sample{"oauth2 code", "oauth2-code", "oauth2-code", obj{"oauth2Code": obj{"code": "c0de", "state": "st"}}, nil},
			400, "connection.credentials[0].credential.data.oauth2Code.state"},
		{sample{"oauth2 password", "oauth2-password", "oauth2-password", obj{"oauth2Password": obj{"username": "u", "password": "p"}}, nil},
			400, ""},
		{sample{"oauth1", "oauth1", "oauth1", obj{"oauth1": obj{"state": "s", "oauthToken": "t", "oauthVerifier": "v"}}, nil},
			400, "connection.credentials[0].credential.data.oauth1.state"},
	}
	for _, tc := range cases {
		t.Run(tc.s.name, func(t *testing.T) {
			r := h.must(tc.status, h.do("POST", "/connections", connectionBody(f.templates[tc.s.configID], "x", tc.s, configByID(tc.s.configID))))
			if e := r.Error(t); tc.field != "" && !slices.Contains(e.fieldNames(), tc.field) {
				t.Errorf("error = %+v", e)
			}
		})
	}
	// Nothing was half-written: no connection and no end user exist.
	var page struct {
		TotalCount int `json:"totalCount"`
	}
	h.must(200, h.do("GET", "/connections", nil)).JSON(t, &page)
	if page.TotalCount != 0 {
		t.Errorf("%d connections exist after refused creates", page.TotalCount)
	}
	h.must(200, h.do("GET", "/users", nil)).JSON(t, &page)
	if page.TotalCount != 0 {
		t.Errorf("%d end users exist after refused creates", page.TotalCount)
	}
}

func TestCreateConnectionFieldErrors(t *testing.T) {
	h := newHarness(t)
	f := h.fixture()
	str := sample{"s", "api-key", "string", obj{"string": obj{"value": "v"}}, nil}
	base := func() obj { return connectionBody(f.templates["api-key"], "c", str, configByID("api-key")) }
	cred := func(b obj) obj {
		return b["connection"].(obj)["credentials"].(arr)[0].(obj)
	}
	cases := []struct {
		name   string
		edit   func(b obj)
		status int
		fields []string
	}{
		{"empty value", func(b obj) {
			cred(b)["credential"].(obj)["data"] = obj{"string": obj{"value": ""}}
		}, 400, []string{"connection.credentials[0].credential.data.string.value"}},
		{"wrong member", func(b obj) {
			cred(b)["credential"].(obj)["data"] = obj{"string": obj{"value": "v"}, "basicAuth": obj{"username": "u", "password": "p"}}
		}, 400, []string{"connection.credentials[0].credential.data.basicAuth"}},
		{"incompatible type", func(b obj) {
			c := cred(b)["credential"].(obj)
			c["type"] = "basic-auth"
			c["data"] = obj{"basicAuth": obj{"username": "u", "password": "p"}}
		}, 400, []string{"connection.credentials[0].credential.type"}},
		{"config not offered", func(b obj) {
			cred(b)["authSchemeConfig"] = configByID("basic")
		}, 400, nil},
		{"no credentials", func(b obj) { b["connection"].(obj)["credentials"] = arr{} }, 400, []string{"connection.credentials"}},
		{"no name", func(b obj) { b["connection"].(obj)["name"] = "" }, 400, []string{"connection.name"}},
		{"bad base url", func(b obj) { b["connection"].(obj)["baseUrl"] = "ftp://x" }, 400, []string{"connection.baseUrl"}},
		{"unknown template", func(b obj) { b["connectionTemplateId"] = ulid.Make().String() }, 404, nil},
		{"bad ulid", func(b obj) { b["connectionTemplateId"] = "nope" }, 400, nil},
		{"not json", nil, 400, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r response
			if tc.edit == nil {
				r = h.do("POST", "/connections", "{not json")
			} else {
				b := base()
				tc.edit(b)
				r = h.do("POST", "/connections", b)
			}
			h.must(tc.status, r)
			e := r.Error(t)
			for _, want := range tc.fields {
				if !slices.Contains(e.fieldNames(), want) {
					t.Errorf("fields %v lack %q", e.fieldNames(), want)
				}
			}
		})
	}
}

func TestConnectionNameIsUniquePerTemplateAndEndUser(t *testing.T) {
	h := newHarness(t)
	f := h.fixture()
	s := sample{"s", "api-key", "string", obj{"string": obj{"value": "v"}}, nil}
	b := connectionBody(f.templates["api-key"], "same", s, configByID("api-key"))
	h.must(201, h.do("POST", "/connections", b))
	r := h.must(409, h.do("POST", "/connections", b))
	if e := r.Error(t); e.Code != plugboard.EConflict {
		t.Errorf("code %q", e.Code)
	}
	// Another end user may use the same name.
	b["externalId"] = "someone-else"
	h.must(201, h.do("POST", "/connections", b))
}

// openStoredSecret reads a credential's sealed bytes straight from the SQLite file and opens them.
func openStoredSecret(t *testing.T, h *harness, credentialID string) string {
	t.Helper()
	db, q := h.rawDB()
	defer db.Close()
	var sealed []byte
	if err := db.QueryRow(q(`SELECT sealed FROM credentials WHERE organisation_id = ? AND id = ?`), h.org.String(), credentialID).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	plain, err := h.keys.OpenCredential(h.org, ulid.MustParse(credentialID), sealed)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return string(plain)
}

func TestUpdateConnectionKeepsSecretsSentEmpty(t *testing.T) {
	h := newHarness(t)
	f := h.fixture()
	s := sample{"s", "basic", "basic-auth", obj{"basicAuth": obj{"username": "alice", "password": "SECRET-pw-1"}}, nil}
	var c connectionView
	h.must(201, h.do("POST", "/connections", connectionBody(f.templates["basic"], "c", s, configByID("basic")))).JSON(t, &c)

	// PUT back exactly what GET returned: the password (shown empty) must survive.
	var read map[string]any
	h.must(200, h.do("GET", "/connections/"+c.ID, nil)).JSON(t, &read)
	var updated connectionView
	h.must(200, h.do("PUT", "/connections/"+c.ID, obj{"name": "renamed", "baseUrl": "", "credentials": read["credentials"]})).JSON(t, &updated)
	if updated.Name != "renamed" || updated.BaseURL != "https://api.customer.example" {
		t.Errorf("update: name %q baseUrl %q", updated.Name, updated.BaseURL)
	}
	if updated.Credentials[0].Credential.ID != c.Credentials[0].Credential.ID {
		t.Fatalf("credential id changed on update")
	}
	if got := openStoredSecret(t, h, c.Credentials[0].Credential.ID); !strings.Contains(got, "SECRET-pw-1") {
		t.Errorf("password lost on PUT-back: stored secrets %q", got)
	}

	// A new value replaces it.
	creds := read["credentials"].([]any)
	data := creds[0].(map[string]any)["credential"].(map[string]any)["data"].(map[string]any)
	data["basicAuth"].(map[string]any)["password"] = "SECRET-pw-2"
	h.must(200, h.do("PUT", "/connections/"+c.ID, obj{"name": "renamed", "baseUrl": "", "credentials": creds}))
	if got := openStoredSecret(t, h, c.Credentials[0].Credential.ID); !strings.Contains(got, "SECRET-pw-2") {
		t.Errorf("password not replaced: stored secrets %q", got)
	}

	// An unknown credential id is refused, naming the field.
	creds[0].(map[string]any)["id"] = ulid.Make().String()
	r := h.must(400, h.do("PUT", "/connections/"+c.ID, obj{"name": "renamed", "baseUrl": "", "credentials": creds}))
	if e := r.Error(t); !slices.Contains(e.fieldNames(), "credentials[0].id") {
		t.Errorf("fields %v", e.fieldNames())
	}
}

func TestCredentialOrderIsKept(t *testing.T) {
	h := newHarness(t)
	f := h.fixture()
	// A template offering two configs: api key, then certificate.
	var tpl struct {
		ID string `json:"connectionTemplateId"`
	}
	h.must(200, h.do("POST", "/projects/"+f.projectID+"/connection-templates", obj{"systemId": f.systemID,
		"name": "two", "environmentId": f.envID})).JSON(t, &tpl)
	h.must(200, h.do("PUT", "/projects/"+f.projectID+"/connection-templates/"+tpl.ID, obj{"authSchemeConfigIds": arr{"secret", "api-key"}}))
	mk := func(cfg, val string) obj {
		return obj{"id": zeroID, "authSchemeConfig": configByID(cfg), "credential": obj{"id": zeroID, "organisationId": h.org.String(),
			"type": "string", "data": obj{"string": obj{"value": val}}}}
	}
	var c connectionView
	h.must(201, h.do("POST", "/connections", obj{"connectionTemplateId": tpl.ID, "connection": obj{"name": "ordered",
		"credentials": arr{mk("secret", "one"), mk("api-key", "two"), mk("secret", "three")}}})).JSON(t, &c)
	var got connectionView
	h.must(200, h.do("GET", "/connections/"+c.ID, nil)).JSON(t, &got)
	var order []string
	for _, cc := range got.Credentials {
		order = append(order, cc.AuthSchemeConfig["type"].(string))
	}
	if want := []string{"secret", "api-key", "secret"}; !slices.Equal(order, want) {
		t.Errorf("order %v, want %v", order, want)
	}
	if c.Credentials[0].Credential.ID != got.Credentials[0].Credential.ID || c.Credentials[2].Credential.ID != got.Credentials[2].Credential.ID {
		t.Errorf("credentials reordered")
	}
}

func TestSealedValueCopiedToAnotherRowDoesNotOpen(t *testing.T) {
	h := newHarness(t)
	f := h.fixture()
	mk := func(name, val string) connectionView {
		s := sample{name, "api-key", "string", obj{"string": obj{"value": val}}, nil}
		var c connectionView
		h.must(201, h.do("POST", "/connections", connectionBody(f.templates["api-key"], name, s, configByID("api-key")))).JSON(t, &c)
		return c
	}
	a, b := mk("a", "SECRET-a"), mk("b", "SECRET-b")
	credA, credB := a.Credentials[0].Credential.ID, b.Credentials[0].Credential.ID
	db, q := h.rawDB()
	defer db.Close()
	if _, err := db.Exec(q(`UPDATE credentials SET sealed = (SELECT sealed FROM credentials WHERE id = ?) WHERE id = ?`), credA, credB); err != nil {
		t.Fatal(err)
	}
	var sealed []byte
	if err := db.QueryRow(q(`SELECT sealed FROM credentials WHERE id = ?`), credB).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if _, err := h.keys.OpenCredential(h.org, ulid.MustParse(credB), sealed); err == nil {
		t.Fatal("a sealed value copied to another credential row opened")
	}
	// Nor does it open for another organisation with the same credential id.
	other, _ := h.newOrg("other")
	if _, err := h.keys.OpenCredential(other, ulid.MustParse(credA), sealed); err == nil {
		t.Fatal("a sealed value opened under another organisation")
	}
	// The server refuses to use it (an update that keeps the secret must open it) without leaking.
	var read map[string]any
	h.must(200, h.do("GET", "/connections/"+b.ID, nil)).JSON(t, &read)
	r := h.must(500, h.do("PUT", "/connections/"+b.ID, obj{"name": "b", "baseUrl": "", "credentials": read["credentials"]}))
	if e := r.Error(t); e.Code != plugboard.EInternal || strings.Contains(string(r.Body), "SECRET") {
		t.Errorf("error %+v", e)
	}
	// Sending the secret anew repairs it: nothing needs to open the broken value.
	creds := read["credentials"].([]any)
	creds[0].(map[string]any)["credential"].(map[string]any)["data"] = obj{"string": obj{"value": "SECRET-b-new"}}
	h.must(200, h.do("PUT", "/connections/"+b.ID, obj{"name": "b", "baseUrl": "", "credentials": creds}))
	if got := openStoredSecret(t, h, credB); !strings.Contains(got, "SECRET-b-new") {
		t.Errorf("repaired secret %q", got)
	}
}

func TestSecretsNeverLeak(t *testing.T) {
	h := newHarness(t)
	f := h.fixture()
	samples := storableSamples(t, newGoProvider(t).TokenURL)
	var secrets []string
	ids := []string{}
	for i, s := range samples {
		var c connectionView
		h.must(201, h.do("POST", "/connections", connectionBody(f.templates[s.configID], fmt.Sprintf("leak-%d", i), s, configByID(s.configID)))).JSON(t, &c)
		ids = append(ids, c.ID)
		secrets = append(secrets, s.secrets...)
	}
	secrets = append(secrets, "SECRET-consumer-secret", "SECRET-consumer-secret-2")
	// Read everything back every way the API allows, and PUT every connection back as read.
	h.must(200, h.do("GET", "/connections?first=100", nil))
	h.must(200, h.do("GET", "/projects/"+f.projectID+"/connections", nil))
	h.must(200, h.do("GET", "/systems", nil))
	h.must(200, h.do("GET", "/systems/"+f.systemID, nil))
	h.must(200, h.do("GET", "/projects/"+f.projectID+"/connection-templates", nil))
	for _, id := range ids {
		var read map[string]any
		h.must(200, h.do("GET", "/connections/"+id, nil)).JSON(t, &read)
		h.must(200, h.do("PUT", "/connections/"+id, obj{"name": read["name"], "baseUrl": "", "credentials": read["credentials"]}))
	}
	// Errors, too: a bad update that carries a secret.
	h.must(400, h.do("POST", "/connections", obj{"connectionTemplateId": f.templates["api-key"], "connection": obj{"name": "x",
		"credentials": arr{obj{"id": zeroID, "authSchemeConfig": configByID("api-key"), "credential": obj{"type": "basic-auth",
			"data": obj{"basicAuth": obj{"username": "SECRET-api-key-value-7f3a", "password": "SECRET-basic-password-91c2"}}}}}}}))

	// Places the schema closes, where a careless client might put a secret: refused, never stored.
	h.must(400, h.do("POST", "/connections", connectionBody(f.templates["none"], "junk",
		sample{"none", "none", "none", obj{"none": obj{"apiKey": "SECRET-in-none-data"}}, nil}, configByID("none"))))
	h.must(400, h.do("PUT", "/systems/"+f.systemID+"/auth-scheme-configs/cc", obj{"type": "oauth2", "oauth2": obj{"id": "cc", "description": "",
		"tokenUrl": "https://t.example/token", "grant": obj{"type": "clientCredentials", "clientCredentials": obj{"clientSecret": "SECRET-free-form-grant"}}}}))
	secrets = append(secrets, "SECRET-in-none-data", "SECRET-free-form-grant")

	dumps := h.databaseDumps()
	for _, s := range secrets {
		for i, body := range h.allResponses() {
			if bytes.Contains(body, []byte(s)) {
				t.Errorf("response %d contains secret %q", i, s)
			}
		}
		if strings.Contains(h.logs.String(), s) {
			t.Errorf("server log contains secret %q", s)
		}
		for name, data := range dumps {
			if bytes.Contains(data, []byte(s)) {
				t.Errorf("database %s contains secret %q", name, s)
			}
		}
	}
	if len(h.allResponses()) < 20 || h.logs.String() == "" {
		t.Fatal("the leak search had nothing to search")
	}
}

func TestAuthentication(t *testing.T) {
	h := newHarness(t)
	h.must(200, h.do("GET", "/systems", nil))
	r := h.must(401, h.doAs("", h.org, "GET", "/systems", nil))
	if e := r.Error(t); e.Code != plugboard.EUnauthenticated {
		t.Errorf("code %q", e.Code)
	}
	h.must(401, h.doAs("pbk_not-a-key", h.org, "GET", "/systems", nil))
	// A well-formed key with the wrong secret.
	tampered := h.key[:len(h.key)-4] + "AAAA"
	if tampered == h.key {
		tampered = h.key[:len(h.key)-4] + "BBBB"
	}
	h.must(401, h.doAs(tampered, h.org, "GET", "/systems", nil))

	// Versori's CLI sends "JWT <key>".
	req, _ := newRequest(h, "GET", "/o/"+h.org.String()+"/systems")
	req.Header.Set("Authorization", "JWT "+h.key)
	res, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("JWT scheme: status %d", res.StatusCode)
	}

	// Another organisation's key sees this organisation's resources as missing.
	otherOrg, otherKey := h.newOrg("other")
	var sys struct {
		ID string `json:"id"`
	}
	h.must(201, h.do("POST", "/systems", obj{"name": "mine", "domain": "d", "templateBaseUrl": "", "authSchemeConfigs": nil})).JSON(t, &sys)
	h.must(404, h.doAs(otherKey, h.org, "GET", "/systems/"+sys.ID, nil))
	h.must(404, h.doAs(otherKey, otherOrg, "GET", "/systems/"+sys.ID, nil))
	h.must(404, h.doAs(h.key, otherOrg, "GET", "/systems", nil))

	// Health endpoints need no key.
	h.must(200, h.doAs("", h.org, "GET", "//healthz", nil))
	h.must(200, h.doAs("", h.org, "GET", "//readyz", nil))
}

func TestListConnectionsPages(t *testing.T) {
	h := newHarness(t)
	f := h.fixture()
	s := sample{"s", "api-key", "string", obj{"string": obj{"value": "v"}}, nil}
	var ids []string
	for i := range 5 {
		b := connectionBody(f.templates["api-key"], fmt.Sprintf("p%d", i), s, configByID("api-key"))
		delete(b, "externalId")
		var c connectionView
		h.must(201, h.do("POST", "/connections", b)).JSON(t, &c)
		ids = append(ids, c.ID)
	}
	type page struct {
		Items      []connectionView `json:"items"`
		TotalCount int              `json:"totalCount"`
		Next       string           `json:"next"`
		Prev       string           `json:"prev"`
	}
	var seen []string
	var p page
	h.must(200, h.do("GET", "/connections?first=2", nil)).JSON(t, &p)
	for {
		if p.TotalCount != 5 {
			t.Fatalf("totalCount %d", p.TotalCount)
		}
		for _, c := range p.Items {
			seen = append(seen, c.ID)
		}
		if p.Next == "" {
			break
		}
		next := p
		p = page{}
		h.must(200, h.do("GET", "/connections?first=2&after="+next.Next, nil)).JSON(t, &p)
		if p.Prev == "" {
			t.Errorf("a page after the first has no prev cursor")
		}
	}
	if !slices.Equal(seen, ids) {
		t.Errorf("paged ids %v, want %v", seen, ids)
	}
	p = page{}
	h.must(200, h.do("GET", "/connections?first=2&before="+ids[4], nil)).JSON(t, &p)
	if len(p.Items) != 2 || p.Items[0].ID != ids[2] || p.Items[1].ID != ids[3] {
		t.Errorf("before page wrong")
	}
	p = page{}
	h.must(200, h.do("GET", "/connections?system_id="+f.systemID+"&first=10", nil)).JSON(t, &p)
	if p.TotalCount != 5 {
		t.Errorf("system filter: %d", p.TotalCount)
	}
	r := h.must(400, h.do("GET", "/connections?first=0", nil))
	if e := r.Error(t); !slices.Contains(e.fieldNames(), "first") {
		t.Errorf("fields %v", e.fieldNames())
	}
	h.must(400, h.do("GET", "/connections?after=zzz", nil))
}

func newRequest(h *harness, method, path string) (*http.Request, error) {
	return http.NewRequestWithContext(context.Background(), method, h.srv.URL+path, nil)
}
