package httpapi_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
)

func TestSystems(t *testing.T) {
	h := newHarness(t)
	var sys struct {
		ID                string           `json:"id"`
		Name              string           `json:"name"`
		AuthSchemeConfigs []map[string]any `json:"authSchemeConfigs"`
	}
	// Versori's CLI sends authSchemeConfigs: null.
	h.must(201, h.do("POST", "/systems", obj{"name": "Acme", "domain": "acme.example", "templateBaseUrl": "https://api.acme.example",
		"authSchemeConfigs": nil})).JSON(t, &sys)
	if sys.AuthSchemeConfigs == nil {
		t.Errorf("authSchemeConfigs not an empty list")
	}
	h.must(201, h.do("PUT", "/systems/"+sys.ID, obj{"name": "Acme 2"})).JSON(t, &sys)
	if sys.Name != "Acme 2" {
		t.Errorf("name %q", sys.Name)
	}

	// Upsert: the body's id must equal the path's; a second PUT updates in place.
	r := h.must(400, h.do("PUT", "/systems/"+sys.ID+"/auth-scheme-configs/other", configByID("api-key")))
	if e := r.Error(t); !slices.Contains(e.fieldNames(), "apiKey.id") {
		t.Errorf("fields %v", e.fieldNames())
	}
	h.must(201, h.do("PUT", "/systems/"+sys.ID+"/auth-scheme-configs/api-key", configByID("api-key")))
	updated := obj{"type": "api-key", "apiKey": obj{"id": "api-key", "description": "changed", "name": "Authorization", "in": "header"}}
	h.must(201, h.do("PUT", "/systems/"+sys.ID+"/auth-scheme-configs/api-key", updated))
	h.must(201, h.do("PUT", "/systems/"+sys.ID+"/auth-scheme-configs/oauth1", configByID("oauth1")))
	h.must(200, h.do("GET", "/systems/"+sys.ID, nil)).JSON(t, &sys)
	if len(sys.AuthSchemeConfigs) != 2 || sys.AuthSchemeConfigs[0]["apiKey"].(map[string]any)["description"] != "changed" {
		t.Errorf("configs after upserts: %v", sys.AuthSchemeConfigs)
	}
	// The consumer secret is kept when PUT back empty, as read.
	oauth1 := obj{"type": "oauth1", "oauth1": sys.AuthSchemeConfigs[1]["oauth1"]}
	h.must(201, h.do("PUT", "/systems/"+sys.ID+"/auth-scheme-configs/oauth1", oauth1))

	// Invalid configs name their fields.
	r = h.must(400, h.do("POST", "/systems", obj{"name": "", "domain": "d", "templateBaseUrl": "not a url", "authSchemeConfigs": arr{
		obj{"type": "api-key", "apiKey": obj{"id": "k", "description": "", "name": "", "in": "body"}},
		obj{"type": "oauth2", "oauth2": obj{"id": "o", "description": "", "tokenUrl": "", "scopes": arr{}, "defaultScopes": arr{}, "grant": obj{"type": "authorizationCode"}}},
		obj{"type": "api-key", "basicAuth": obj{"id": "b", "description": ""}},
	}}))
	fields := r.Error(t).fieldNames()
	for _, want := range []string{"name", "templateBaseUrl", "authSchemeConfigs[0].apiKey.name", "authSchemeConfigs[0].apiKey.in",
		"authSchemeConfigs[1].oauth2.tokenUrl", "authSchemeConfigs[1].oauth2.authorizeUrl"} {
		if !slices.Contains(fields, want) {
			t.Errorf("fields %v lack %q", fields, want)
		}
	}

	// Lists page and search.
	for _, n := range []string{"Beta", "Gamma"} {
		h.must(201, h.do("POST", "/systems", obj{"name": n, "domain": strings.ToLower(n) + ".example", "templateBaseUrl": "", "authSchemeConfigs": arr{}}))
	}
	var page struct {
		Items      []struct{ Name string } `json:"items"`
		TotalCount int                     `json:"totalCount"`
		Next       string                  `json:"next"`
	}
	h.must(200, h.do("GET", "/systems?first=2", nil)).JSON(t, &page)
	if page.TotalCount != 3 || len(page.Items) != 2 || page.Next == "" {
		t.Errorf("page %+v", page)
	}
	h.must(200, h.do("GET", "/systems?search=GAM", nil)).JSON(t, &page)
	if page.TotalCount != 1 || page.Items[0].Name != "Gamma" {
		t.Errorf("search %+v", page)
	}

	// Deleting a config or system in use is refused; unused ones go.
	f := h.fixture()
	r = h.must(409, h.do("DELETE", "/systems/"+f.systemID, nil))
	if e := r.Error(t); e.Code != plugboard.EConflict {
		t.Errorf("code %q", e.Code)
	}
	h.must(409, h.do("DELETE", "/systems/"+f.systemID+"/auth-scheme-configs/api-key", nil))
	h.must(204, h.do("DELETE", "/systems/"+sys.ID+"/auth-scheme-configs/oauth1", nil))
	h.must(404, h.do("DELETE", "/systems/"+sys.ID+"/auth-scheme-configs/oauth1", nil))
	h.must(204, h.do("DELETE", "/systems/"+sys.ID, nil))
	h.must(404, h.do("GET", "/systems/"+sys.ID, nil))
	h.must(404, h.do("GET", "/systems/not-an-id", nil))
}

func TestProjectsAndTemplates(t *testing.T) {
	h := newHarness(t)
	var proj struct {
		ID           string `json:"id"`
		Name         string `json:"name"`
		Environments []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"environments"`
	}
	h.must(200, h.do("POST", "/projects", obj{"name": "P", "environments": arr{"staging", "production"}})).JSON(t, &proj)
	if len(proj.Environments) != 2 {
		t.Fatalf("environments %+v", proj.Environments)
	}
	h.must(400, h.do("POST", "/projects", obj{"name": "Q", "environments": arr{"a", "a"}}))
	h.must(200, h.do("PUT", "/projects/"+proj.ID, obj{"name": "P2"})).JSON(t, &proj)
	if proj.Name != "P2" {
		t.Errorf("name %q", proj.Name)
	}
	var list struct {
		Projects []struct{ ID string } `json:"projects"`
	}
	h.must(200, h.do("GET", "/projects", nil)).JSON(t, &list)
	if len(list.Projects) != 1 {
		t.Errorf("projects %+v", list)
	}

	f := h.fixture()
	staging := proj.Environments[0].ID
	var tpl struct {
		ID                string           `json:"connectionTemplateId"`
		SystemID          string           `json:"id"`
		AuthSchemeConfigs []map[string]any `json:"authSchemeConfigs"`
	}
	h.must(200, h.do("POST", "/projects/"+proj.ID+"/connection-templates", obj{"systemId": f.systemID, "name": "everything", "environmentId": staging})).JSON(t, &tpl)
	if tpl.SystemID != f.systemID || len(tpl.AuthSchemeConfigs) != len(schemeConfigs()) {
		t.Errorf("template shows %d configs of system %s", len(tpl.AuthSchemeConfigs), tpl.SystemID)
	}
	h.must(409, h.do("POST", "/projects/"+proj.ID+"/connection-templates", obj{"systemId": f.systemID, "name": "everything", "environmentId": staging}))
	r := h.must(400, h.do("POST", "/projects/"+proj.ID+"/connection-templates", obj{"systemId": ulid.Make().String(), "name": "x", "environmentId": f.envID}))
	if fields := r.Error(t).fieldNames(); !slices.Contains(fields, "environmentId") {
		t.Errorf("an environment of another project was accepted: %v", fields)
	}
	r = h.must(400, h.do("PUT", "/projects/"+proj.ID+"/connection-templates/"+tpl.ID, obj{"authSchemeConfigIds": arr{"nope"}}))
	if fields := r.Error(t).fieldNames(); !slices.Contains(fields, "authSchemeConfigIds[0]") {
		t.Errorf("fields %v", fields)
	}
	var page struct {
		Items      []struct{ Name string } `json:"items"`
		TotalCount int                     `json:"totalCount"`
	}
	h.must(200, h.do("GET", "/projects/"+proj.ID+"/connection-templates?env_id="+staging, nil)).JSON(t, &page)
	if page.TotalCount != 1 || page.Items[0].Name != "everything" {
		t.Errorf("templates %+v", page)
	}
	h.must(200, h.do("GET", "/projects/"+proj.ID+"/connection-templates?env_id="+proj.Environments[1].ID, nil)).JSON(t, &page)
	if page.TotalCount != 0 {
		t.Errorf("production lists %d templates", page.TotalCount)
	}
	h.must(400, h.do("GET", "/projects/"+proj.ID+"/connection-templates?env_id=zzz", nil))

	// A static connection in staging, linked to a production template of the same system.
	s := sample{"s", "api-key", "string", obj{"string": obj{"value": "v"}}, nil}
	b := connectionBody(tpl.ID, "static", s, configByID("api-key"))
	delete(b, "externalId")
	var c connectionView
	h.must(201, h.do("POST", "/connections", b)).JSON(t, &c)
	var prodTpl struct {
		ID string `json:"connectionTemplateId"`
	}
	h.must(200, h.do("POST", "/projects/"+proj.ID+"/connection-templates", obj{"systemId": f.systemID, "name": "everything", "environmentId": proj.Environments[1].ID})).JSON(t, &prodTpl)
	h.must(201, h.do("POST", "/connections/"+c.ID+"/link", obj{"connectionTemplateId": prodTpl.ID}))
	h.must(409, h.do("POST", "/connections/"+c.ID+"/link", obj{"connectionTemplateId": prodTpl.ID}))
	var envConns struct {
		Items      []connectionView `json:"items"`
		TotalCount int              `json:"totalCount"`
	}
	h.must(200, h.do("GET", "/projects/"+proj.ID+"/connections?env_id="+proj.Environments[1].ID, nil)).JSON(t, &envConns)
	if envConns.TotalCount != 1 || envConns.Items[0].ID != c.ID {
		t.Errorf("production connections %+v", envConns)
	}
	h.must(409, h.do("DELETE", "/connections/"+c.ID+"/link", obj{"connectionTemplateId": tpl.ID}))
	h.must(204, h.do("DELETE", "/connections/"+c.ID+"/link", obj{"connectionTemplateId": prodTpl.ID}))
	h.must(200, h.do("GET", "/projects/"+proj.ID+"/connections?env_id="+proj.Environments[1].ID, nil)).JSON(t, &envConns)
	if envConns.TotalCount != 0 {
		t.Errorf("unlinked connection still listed")
	}
	// A dynamic connection cannot be linked.
	var dyn connectionView
	h.must(201, h.do("POST", "/connections", connectionBody(f.templates["api-key"], "dyn", s, configByID("api-key")))).JSON(t, &dyn)
	h.must(400, h.do("POST", "/connections/"+dyn.ID+"/link", obj{"connectionTemplateId": prodTpl.ID}))

	// Templates and projects with connections cannot be deleted; without, they can.
	h.must(409, h.do("DELETE", "/projects/"+proj.ID+"/connection-templates/"+tpl.ID, nil))
	h.must(409, h.do("DELETE", "/projects/"+proj.ID, nil))
	h.must(204, h.do("DELETE", "/connections/"+c.ID, nil))
	h.must(204, h.do("DELETE", "/projects/"+proj.ID+"/connection-templates/"+tpl.ID, nil))
	h.must(204, h.do("DELETE", "/projects/"+proj.ID, nil))
	h.must(404, h.do("GET", "/projects/"+proj.ID, nil))
}

func TestEndUsers(t *testing.T) {
	h := newHarness(t)
	var u struct {
		ID         string `json:"id"`
		ExternalID string `json:"externalId"`
	}
	h.must(201, h.do("POST", "/users", obj{"externalId": "cust-1", "displayName": "Customer One"})).JSON(t, &u)
	h.must(409, h.do("POST", "/users", obj{"externalId": "cust-1"}))
	h.must(400, h.do("POST", "/users", obj{"externalId": ""}))
	h.must(200, h.do("GET", "/users/"+u.ID, nil))
	h.must(200, h.do("GET", "/users/cust-1", nil))
	h.must(404, h.do("GET", "/users/nobody", nil))
	h.must(201, h.do("POST", "/users", obj{"externalId": "cust-2", "displayName": "Second"}))
	var page struct {
		Users      []struct{ ExternalID string } `json:"users"`
		TotalCount int                           `json:"totalCount"`
	}
	h.must(200, h.do("GET", "/users?search=second", nil)).JSON(t, &page)
	if page.TotalCount != 1 || page.Users[0].ExternalID != "cust-2" {
		t.Errorf("search %+v", page)
	}
	h.must(200, h.do("GET", "/users?activated=true", nil)).JSON(t, &page)
	if page.TotalCount != 0 {
		t.Errorf("activated users listed")
	}

	// A dynamic connection for cust-1; deleting the end user deletes it.
	f := h.fixture()
	s := sample{"s", "api-key", "string", obj{"string": obj{"value": "v"}}, nil}
	b := connectionBody(f.templates["api-key"], "c", s, configByID("api-key"))
	b["externalId"] = "cust-1"
	var c connectionView
	h.must(201, h.do("POST", "/connections", b)).JSON(t, &c)
	if c.EndUserID != u.ID {
		t.Errorf("endUserId %q, want %q", c.EndUserID, u.ID)
	}
	var conns struct {
		TotalCount int `json:"totalCount"`
	}
	h.must(200, h.do("GET", "/connections?end_user_id=cust-1", nil)).JSON(t, &conns)
	if conns.TotalCount != 1 {
		t.Errorf("end_user_id by external id: %d", conns.TotalCount)
	}
	h.must(204, h.do("DELETE", "/users/cust-1", nil))
	h.must(404, h.do("GET", "/connections/"+c.ID, nil))
}

func TestUnknownPathsAndBodies(t *testing.T) {
	h := newHarness(t)
	r := h.must(404, h.do("GET", "/nothing-here", nil))
	if e := r.Error(t); e.Code != plugboard.ENotFound {
		t.Errorf("code %q", e.Code)
	}
	h.must(400, h.do("POST", "/systems", nil))
	h.must(400, h.do("POST", "/systems", `{"name": 5}`))
	big := `{"name":"` + strings.Repeat("x", 2<<20) + `"}`
	r = h.must(413, h.do("POST", "/systems", big))
	if e := r.Error(t); e.Code != plugboard.ETooLarge {
		t.Errorf("code %q", e.Code)
	}
	r = h.must(400, h.do("GET", "/connections?first=abc", nil))
	if e := r.Error(t); !slices.Contains(e.fieldNames(), "first") {
		t.Errorf("fields %v", e.fieldNames())
	}
	// Request ids: a sane one is echoed, a hostile one replaced.
	if id := h.do("GET", "/systems", nil).Header.Get("X-Request-Id"); id == "" {
		t.Errorf("no request id")
	}
	requestID := func(sent string) string {
		req, err := http.NewRequest("GET", h.srv.URL+"/healthz", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Request-Id", sent)
		res, err := h.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.Header.Get("X-Request-Id")
	}
	if got := requestID("trace-abc_123.4"); got != "trace-abc_123.4" {
		t.Errorf("sane request id came back as %q", got)
	}
	hostile := "evil\"} injected=\"1 " + strings.Repeat("x", 80)
	if got := requestID(hostile); got == "" || got == hostile || strings.ContainsAny(got, "\" =}") {
		t.Errorf("hostile request id came back as %q", got)
	}
}

// TestChangesThatWouldStrandConnections: configs and templates that connections depend on cannot
// change under them.
func TestChangesThatWouldStrandConnections(t *testing.T) {
	h := newHarness(t)
	f := h.fixture()
	s := sample{"s", "api-key", "string", obj{"string": obj{"value": "v"}}, nil}
	var c connectionView
	h.must(201, h.do("POST", "/connections", connectionBody(f.templates["api-key"], "c", s, configByID("api-key")))).JSON(t, &c)

	// A config keeps its type.
	r := h.must(409, h.do("PUT", "/systems/"+f.systemID+"/auth-scheme-configs/api-key", obj{"type": "basic-auth", "basicAuth": obj{"id": "api-key", "description": ""}}))
	if e := r.Error(t); e.Code != plugboard.EConflict {
		t.Errorf("code %q", e.Code)
	}
	// A template with connections keeps its kind and the configs it offers.
	tplPath := "/projects/" + f.projectID + "/connection-templates/" + f.templates["api-key"]
	h.must(409, h.do("PUT", tplPath, obj{"dynamic": false}))
	h.must(409, h.do("PUT", tplPath, obj{"authSchemeConfigIds": arr{"basic"}}))
	h.must(200, h.do("PUT", tplPath, obj{"authSchemeConfigIds": arr{"api-key", "basic"}, "name": "renamed"}))
	// Without connections, both change freely.
	h.must(204, h.do("DELETE", "/connections/"+c.ID, nil))
	h.must(200, h.do("PUT", tplPath, obj{"dynamic": false, "authSchemeConfigIds": arr{"basic"}}))
}

// TestCreateAssignsFreshIDs: ids a client sends on create (copied from another connection) are
// replaced, never kept.
func TestCreateAssignsFreshIDs(t *testing.T) {
	h := newHarness(t)
	f := h.fixture()
	s := sample{"s", "api-key", "string", obj{"string": obj{"value": "v"}}, nil}
	var first connectionView
	h.must(201, h.do("POST", "/connections", connectionBody(f.templates["api-key"], "first", s, configByID("api-key")))).JSON(t, &first)
	b := connectionBody(f.templates["api-key"], "second", s, configByID("api-key"))
	cc := b["connection"].(obj)["credentials"].(arr)[0].(obj)
	cc["id"] = first.Credentials[0].ID
	cc["credential"].(obj)["id"] = first.Credentials[0].Credential.ID
	var second connectionView
	h.must(201, h.do("POST", "/connections", b)).JSON(t, &second)
	if second.Credentials[0].ID == first.Credentials[0].ID || second.Credentials[0].Credential.ID == first.Credentials[0].Credential.ID {
		t.Errorf("client-sent ids were kept")
	}
}

// TestDecodeErrorsExplainThemselves: the 400s for malformed bodies say what is wrong.
func TestDecodeErrorsExplainThemselves(t *testing.T) {
	h := newHarness(t)
	r := h.must(400, h.do("POST", "/connections", `{"connectionTemplateId": 5, "connection": {"name": "x"}}`))
	if e := r.Error(t); len(e.Fields) != 1 || !strings.Contains(e.Fields[0].Message, "ULID") {
		t.Errorf("number for a ULID: %+v", e)
	}
	r = h.must(400, h.do("POST", "/connections", `{"connectionTemplateId":`))
	if e := r.Error(t); e.Message != "request body is not valid JSON" {
		t.Errorf("truncated body: %+v", e)
	}
	// An OAuth 2.0 config without scope lists is stored and shown with empty lists.
	var sys struct {
		ID string `json:"id"`
	}
	h.must(201, h.do("POST", "/systems", obj{"name": "S", "domain": "d", "templateBaseUrl": "", "authSchemeConfigs": arr{
		obj{"type": "oauth2", "oauth2": obj{"id": "o", "description": "", "tokenUrl": "https://t.example/token", "grant": obj{"type": "clientCredentials"}}}}})).JSON(t, &sys)
	body := string(h.must(200, h.do("GET", "/systems/"+sys.ID, nil)).Body)
	if !strings.Contains(body, `"scopes":[]`) || !strings.Contains(body, `"defaultScopes":[]`) {
		t.Errorf("scope lists: %s", body)
	}
	h.must(400, h.do("POST", "/systems", obj{"name": "S", "domain": "d", "templateBaseUrl": "", "authSchemeConfigs": arr{
		obj{"type": "oauth2", "oauth2": obj{"id": "o", "description": "", "tokenUrl": "https://t.example/token",
			"grant": obj{"type": "clientCredentials", "clientCredentials": obj{"clientSecret": "SECRET-free"}}}}}}))
}
