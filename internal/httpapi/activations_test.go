package httpapi_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/oklog/ulid/v2"
)

// activationView is an Activation as tests read it.
type activationView struct {
	ID   string `json:"id"`
	User struct {
		ID         string `json:"id"`
		ExternalID string `json:"externalId"`
	} `json:"user"`
	Environment struct {
		ID string `json:"id"`
	} `json:"environment"`
	Connections      []connectionView `json:"connections"`
	DynamicVariables map[string]any   `json:"dynamicVariables"`
}

func (a activationView) connectionIDs() []string {
	var out []string
	for _, c := range a.Connections {
		out = append(out, c.ID)
	}
	return out
}

// twoEnvironments makes a project with production and staging, and a dynamic api-key template of
// the fixture's system in each, plus a static one in production.
func twoEnvironments(h *harness, f fixture) (prod, staging, tplProd, tplStaging, tplStatic string) {
	h.t.Helper()
	var proj struct {
		ID           string `json:"id"`
		Environments []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"environments"`
	}
	h.must(200, h.do("POST", "/projects", obj{"name": "Two", "environments": arr{"production", "staging"}})).JSON(h.t, &proj)
	for _, e := range proj.Environments {
		if e.Name == "production" {
			prod = e.ID
		} else {
			staging = e.ID
		}
	}
	tpl := func(env, name string, dynamic bool) string {
		var t struct {
			ID string `json:"connectionTemplateId"`
		}
		h.must(200, h.do("POST", "/projects/"+proj.ID+"/connection-templates", obj{"systemId": f.systemID, "name": name,
			"environmentId": env, "dynamic": dynamic})).JSON(h.t, &t)
		h.must(200, h.do("PUT", "/projects/"+proj.ID+"/connection-templates/"+t.ID, obj{"authSchemeConfigIds": arr{"api-key"}}))
		return t.ID
	}
	return prod, staging, tpl(prod, "acme", true), tpl(staging, "acme", true), tpl(prod, "acme-static", false)
}

// inlineConnection is an ActivateUser entry creating an api-key connection holding secret.
func inlineConnection(tpl, name, secret string) obj {
	return obj{"connectionTemplateId": tpl, "connection": obj{"name": name, "credentials": arr{obj{
		"id": zeroID, "authSchemeConfig": configByID("api-key"),
		"credential": obj{"id": zeroID, "organisationId": zeroID, "type": "string", "data": obj{"string": obj{"value": secret}}}}}}}
}

// An end user activated in two environments: a connection made inline in one and linked into the
// other, read through every operation, and deleted activation by activation.
func TestActivationLifecycle(t *testing.T) {
	h := newHarness(t)
	f := h.fixture()
	prod, staging, tplProd, tplStaging, _ := twoEnvironments(h, f)
	const secret = "SECRET-activation-key-5e2a"

	var a activationView
	h.must(200, h.do("POST", "/activations", obj{"userId": "customer-1", "environmentId": prod,
		"connections": arr{inlineConnection(tplProd, "acme", secret)}, "dynamicVariables": obj{"region": "eu"}})).JSON(t, &a)
	if a.User.ExternalID != "customer-1" || a.Environment.ID != prod || len(a.Connections) != 1 || a.DynamicVariables["region"] != "eu" {
		t.Fatalf("activation %+v", a)
	}
	conn := a.Connections[0]
	if conn.EndUserID != a.User.ID || conn.ConnectionTemplateID != tplProd {
		t.Fatalf("connection %+v, want the end user's under the production template", conn)
	}
	for _, r := range h.allResponses() {
		if strings.Contains(string(r), secret) {
			t.Fatal("a response holds the secret")
		}
	}

	// Linked into staging: the same connection, in the staging activation.
	var s activationView
	h.must(200, h.do("POST", "/activations", obj{"userId": a.User.ID, "environmentId": staging,
		"connections": arr{obj{"connectionTemplateId": tplStaging, "existingConnectionId": conn.ID}}})).JSON(t, &s)
	if s.ID == a.ID || s.User.ID != a.User.ID || !slices.Equal(s.connectionIDs(), []string{conn.ID}) {
		t.Fatalf("staging activation %+v", s)
	}

	// Activating again adds to the same activation; dynamic variables sent replace the stored ones.
	var again activationView
	h.must(200, h.do("POST", "/activations", obj{"userId": "customer-1", "environmentId": prod, "connections": arr{},
		"dynamicVariables": obj{"region": "us"}})).JSON(t, &again)
	if again.ID != a.ID || again.DynamicVariables["region"] != "us" || !slices.Equal(again.connectionIDs(), []string{conn.ID}) {
		t.Fatalf("activating again: %+v", again)
	}

	// Reads.
	var got activationView
	h.must(200, h.do("GET", "/environments/"+prod+"/activations/"+a.ID, nil)).JSON(t, &got)
	if got.ID != a.ID || !slices.Equal(got.connectionIDs(), []string{conn.ID}) {
		t.Fatalf("GetActivation: %+v", got)
	}
	h.must(404, h.do("GET", "/environments/"+staging+"/activations/"+a.ID, nil)) // another environment's
	var list []activationView
	h.must(200, h.do("GET", "/environments/"+prod+"/activations", nil)).JSON(t, &list)
	if len(list) != 1 || list[0].ID != a.ID {
		t.Fatalf("ListActivations: %+v", list)
	}
	h.must(200, h.do("GET", "/environments/"+prod+"/activations?static=true", nil)).JSON(t, &list)
	if len(list) != 0 {
		t.Fatalf("ListActivations?static=true: %+v", list)
	}
	for _, user := range []string{"customer-1", a.User.ID} {
		h.must(200, h.do("GET", "/environment/"+staging+"/users/"+user+"/activations", nil)).JSON(t, &list)
		if len(list) != 1 || list[0].ID != s.ID {
			t.Fatalf("ListUserActivations(%s): %+v", user, list)
		}
	}
	h.must(404, h.do("GET", "/environment/"+staging+"/users/nobody/activations", nil))
	var c connectionView
	h.must(200, h.do("GET", "/environment-systems/"+tplStaging+"/activations/"+s.ID, nil)).JSON(t, &c)
	if c.ID != conn.ID {
		t.Fatalf("GetActivationConnection: %+v", c)
	}
	h.must(404, h.do("GET", "/environment-systems/"+tplProd+"/activations/"+s.ID, nil)) // a template of another environment
	h.must(404, h.do("GET", "/environment-systems/"+f.templates["basic"]+"/activations/"+a.ID, nil))

	// ListEndUsers' activation filters.
	var other struct {
		ID string `json:"id"`
	}
	h.must(201, h.do("POST", "/users", obj{"externalId": "customer-2"})).JSON(t, &other)
	users := func(query string) []string {
		var page struct {
			Users []struct {
				ExternalID string `json:"externalId"`
			} `json:"users"`
		}
		h.must(200, h.do("GET", "/users?"+query, nil)).JSON(t, &page)
		var out []string
		for _, u := range page.Users {
			out = append(out, u.ExternalID)
		}
		return out
	}
	for query, want := range map[string][]string{
		"activated=true&environment_id=" + prod:  {"customer-1"},
		"activated=false&environment_id=" + prod: {"customer-2"},
		"activated=true":                         {"customer-1"},
		"activated=false":                        {"customer-2"},
	} {
		if got := users(query); !slices.Equal(got, want) {
			t.Errorf("ListEndUsers?%s: %v, want %v", query, got, want)
		}
	}
	if e := h.must(400, h.do("GET", "/users?environment_id="+prod, nil)).Error(t); !slices.Equal(e.fieldNames(), []string{"activated"}) {
		t.Errorf("environment_id without activated: %+v", e)
	}

	// Deleting the staging activation unlinks the connection made in production and keeps it.
	h.must(204, h.do("DELETE", "/environments/"+staging+"/activations/"+s.ID, nil))
	h.must(404, h.do("GET", "/environments/"+staging+"/activations/"+s.ID, nil))
	h.must(200, h.do("GET", "/connections/"+conn.ID, nil))
	h.must(200, h.do("GET", "/environments/"+prod+"/activations/"+a.ID, nil)).JSON(t, &got)
	if !slices.Equal(got.connectionIDs(), []string{conn.ID}) {
		t.Fatalf("production activation after staging's deletion: %+v", got)
	}
	// Deleting the production activation deletes it.
	h.must(404, h.do("DELETE", "/environments/"+staging+"/activations/"+a.ID, nil))
	h.must(204, h.do("DELETE", "/environments/"+prod+"/activations/"+a.ID, nil))
	h.must(404, h.do("GET", "/connections/"+conn.ID, nil))
	h.must(404, h.do("DELETE", "/environments/"+prod+"/activations/"+a.ID, nil))
	h.must(200, h.do("GET", "/users/customer-1", nil)) // the end user stays
}

// A dynamic connection made by CreateConnection belongs to its end user's activation in the
// template's environment, which it creates when missing.
func TestCreateConnectionActivates(t *testing.T) {
	h := newHarness(t)
	f := h.fixture()
	s := storableSamples(t, "https://provider.example/token")[1]
	var c connectionView
	h.must(201, h.do("POST", "/connections", connectionBody(f.templates[s.configID], "first", s, configByID(s.configID)))).JSON(t, &c)
	var list []activationView
	h.must(200, h.do("GET", "/environment/"+f.envID+"/users/user-first/activations", nil)).JSON(t, &list)
	if len(list) != 1 || !slices.Equal(list[0].connectionIDs(), []string{c.ID}) {
		t.Fatalf("activations after CreateConnection: %+v", list)
	}
	// A second connection of the same end user joins the same activation.
	var basic sample
	for _, x := range storableSamples(t, "https://provider.example/token") {
		if x.configID == "basic" {
			basic = x
		}
	}
	body := connectionBody(f.templates["basic"], "second", basic, configByID("basic"))
	body["externalId"] = "user-first"
	var c2 connectionView
	h.must(201, h.do("POST", "/connections", body)).JSON(t, &c2)
	h.must(200, h.do("GET", "/environment/"+f.envID+"/users/user-first/activations", nil)).JSON(t, &list)
	want := []string{c.ID, c2.ID}
	slices.Sort(want)
	if len(list) != 1 || !slices.Equal(list[0].connectionIDs(), want) {
		t.Fatalf("activations after a second connection: %+v", list)
	}
}

// Every refused activation names the field at fault and leaves nothing behind: no end user, no
// activation, no connection, no event.
func TestActivateUserRefusals(t *testing.T) {
	h := newHarness(t)
	f := h.fixture()
	prod, staging, tplProd, tplStaging, tplStatic := twoEnvironments(h, f)

	// Another end user's connection, a static connection, and an activation holding a connection.
	var theirs, mine activationView
	h.must(200, h.do("POST", "/activations", obj{"userId": "someone-else", "environmentId": staging,
		"connections": arr{inlineConnection(tplStaging, "theirs", "SECRET-theirs")}})).JSON(t, &theirs)
	h.must(200, h.do("POST", "/activations", obj{"userId": "customer-1", "environmentId": staging,
		"connections": arr{inlineConnection(tplStaging, "mine", "SECRET-mine")}})).JSON(t, &mine)
	var static connectionView
	h.must(201, h.do("POST", "/connections", obj{"connectionTemplateId": tplStatic, "connection": inlineConnection(tplStatic, "static", "SECRET-static")["connection"]})).JSON(t, &static)
	otherSystem := func() string {
		var sys struct {
			ID string `json:"id"`
		}
		h.must(201, h.do("POST", "/systems", obj{"name": "Other", "domain": "other.example", "templateBaseUrl": "https://api.other.example",
			"authSchemeConfigs": arr{configByID("api-key")}})).JSON(t, &sys)
		var proj struct {
			ID           string `json:"id"`
			Environments []struct {
				ID string `json:"id"`
			} `json:"environments"`
		}
		h.must(200, h.do("POST", "/projects", obj{"name": "Other"})).JSON(t, &proj)
		var tpl struct {
			ID string `json:"connectionTemplateId"`
		}
		h.must(200, h.do("POST", "/projects/"+proj.ID+"/connection-templates", obj{"systemId": sys.ID, "name": "other",
			"environmentId": proj.Environments[0].ID, "dynamic": true})).JSON(t, &tpl)
		var c connectionView
		h.must(201, h.do("POST", "/connections", obj{"connectionTemplateId": tpl.ID, "externalId": "customer-1",
			"connection": inlineConnection(tpl.ID, "other-system", "SECRET-other")["connection"]})).JSON(t, &c)
		return c.ID
	}()
	good := inlineConnection(tplProd, "good", "SECRET-good")
	link := func(tpl, id string) obj { return obj{"connectionTemplateId": tpl, "existingConnectionId": id} }
	// In the fixture's environment: an api-key credential under the template offering basic only.
	badCredential := inlineConnection(f.templates["basic"], "bad", "SECRET-bad")

	snapshot := func() string {
		var users struct {
			TotalCount int `json:"totalCount"`
		}
		h.must(200, h.do("GET", "/users", nil)).JSON(t, &users)
		var conns struct {
			TotalCount int `json:"totalCount"`
		}
		h.must(200, h.do("GET", "/connections", nil)).JSON(t, &conns)
		var acts []activationView
		n := 0
		for _, env := range []string{prod, staging, f.envID} {
			h.must(200, h.do("GET", "/environments/"+env+"/activations", nil)).JSON(t, &acts)
			for _, a := range acts {
				n += len(a.Connections) + 1
			}
		}
		return fmt.Sprintf("users %d, connections %d, activations and their connections %d, last event %s",
			users.TotalCount, conns.TotalCount, n, h.latestEventID())
	}
	before := snapshot()

	for _, c := range []struct {
		name   string
		body   obj
		status int
		field  string // the field named, or its prefix when it ends in "["
	}{
		{"no userId", obj{"environmentId": prod, "connections": arr{good}}, 400, "userId"},
		{"no environmentId", obj{"userId": "new-user", "connections": arr{good}}, 400, "environmentId"},
		{"unknown environment", obj{"userId": "new-user", "environmentId": ulid.Make().String(), "connections": arr{good}}, 404, "environmentId"},
		{"no template", obj{"userId": "new-user", "environmentId": prod, "connections": arr{obj{"existingConnectionId": mine.Connections[0].ID}}}, 400, "connections[0].connectionTemplateId"},
		{"neither connection nor existing one", obj{"userId": "new-user", "environmentId": prod, "connections": arr{obj{"connectionTemplateId": tplProd}}}, 400, "connections[0].existingConnectionId"},
		{"unknown template", obj{"userId": "new-user", "environmentId": prod, "connections": arr{inlineConnection(ulid.Make().String(), "x", "SECRET-x")}}, 404, "connections[0].connectionTemplateId"},
		{"template of another environment", obj{"userId": "new-user", "environmentId": prod, "connections": arr{inlineConnection(tplStaging, "x", "SECRET-x")}}, 400, "connections[0].connectionTemplateId"},
		{"static template", obj{"userId": "new-user", "environmentId": prod, "connections": arr{inlineConnection(tplStatic, "x", "SECRET-x")}}, 400, "connections[0].connectionTemplateId"},
		{"template twice", obj{"userId": "new-user", "environmentId": prod, "connections": arr{good, inlineConnection(tplProd, "again", "SECRET-again")}}, 400, "connections[1].connectionTemplateId"},
		{"no name", obj{"userId": "new-user", "environmentId": prod, "connections": arr{inlineConnection(tplProd, "", "SECRET-x")}}, 400, "connections[0].connection.name"},
		{"bad credential after a good entry", obj{"userId": "new-user", "environmentId": f.envID, "connections": arr{inlineConnection(f.templates["api-key"], "fine", "SECRET-fine"), badCredential}}, 400, "connections[1].connection.credentials["},
		{"bad credential after a link", obj{"userId": "customer-1", "environmentId": f.envID, "connections": arr{link(f.templates["api-key"], mine.Connections[0].ID), badCredential}}, 400, "connections[1].connection.credentials["},
		{"empty secret", obj{"userId": "new-user", "environmentId": prod, "connections": arr{inlineConnection(tplProd, "empty", "")}}, 400, "connections[0].connection.credentials["},
		{"unknown connection", obj{"userId": "customer-1", "environmentId": prod, "connections": arr{link(tplProd, ulid.Make().String())}}, 404, "connections[0].existingConnectionId"},
		{"another end user's connection", obj{"userId": "customer-1", "environmentId": prod, "connections": arr{link(tplProd, theirs.Connections[0].ID)}}, 400, "connections[0].existingConnectionId"},
		{"a static connection", obj{"userId": "customer-1", "environmentId": prod, "connections": arr{link(tplProd, static.ID)}}, 400, "connections[0].existingConnectionId"},
		{"another system's connection", obj{"userId": "customer-1", "environmentId": prod, "connections": arr{link(tplProd, otherSystem)}}, 400, "connections[0].existingConnectionId"},
		{"a template the activation has a connection for", obj{"userId": "customer-1", "environmentId": staging, "connections": arr{inlineConnection(tplStaging, "second", "SECRET-second")}}, 409, "connections[0].connectionTemplateId"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := h.do("POST", "/activations", c.body)
			if r.Status != c.status {
				t.Fatalf("%d, want %d: %s", r.Status, c.status, r.Body)
			}
			names := r.Error(t).fieldNames()
			if len(names) == 0 || (names[0] != c.field && !(strings.HasSuffix(c.field, "[") && strings.HasPrefix(names[0], c.field))) {
				t.Fatalf("fields %v, want %s: %s", names, c.field, r.Body)
			}
			if after := snapshot(); after != before {
				t.Fatalf("something was written:\n before %s\n after  %s", before, after)
			}
		})
	}
}
