package httpapi_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard/internal/httpapi"
)

// The matrices below are generated from api/openapi.yaml: an operation added to the contract is
// covered without a change here, and one the tests cannot build a request for fails them.

// requestFor builds a request for op from the input tests' examples: its path with the given
// parameter values (the environment's by default) and the first example body ("{}" without one).
func (e *inputEnv) requestFor(op specOp, params map[string]string) (string, any) {
	var ex example
	if exs := e.examples[op.id]; len(exs) > 0 {
		ex = exs[0]
	}
	values := e.paramsFor(ex)
	maps.Copy(values, params)
	path := fillPath(op.path, values)
	var query []string
	for _, p := range op.params {
		if p.In == "query" && p.Required {
			query = append(query, p.Name+"="+values[p.Name])
		}
	}
	if len(query) > 0 {
		path += "?" + strings.Join(query, "&")
	}
	body := ex.body
	if body == nil && op.body != nil {
		body = obj{}
	}
	return path, body
}

// relative turns a contract path under the organisation into the harness's relative form.
func relative(path string, org ulid.ULID) string {
	prefix := "/o/" + org.String()
	if strings.HasPrefix(path, prefix) {
		return strings.TrimPrefix(path, prefix)
	}
	return "/" + path // absolute: the harness takes "//healthz" as /healthz
}

// TestScopeMatrix: every operation of the contract, with a key holding each scope in turn, is
// refused (403 permission_denied) exactly when the key lacks the scope the operation's security
// names; a key without scopes may call every operation. The proxy's operations are included.
func TestScopeMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("a catalogue of every operation: runs once in CI, not again under -race -short")
	}
	e := newInputEnv(t)
	h := e.h
	byID := map[string]httpapi.Operation{}
	for _, op := range httpapi.Operations() {
		byID[op.ID] = op
	}
	keys := map[string]string{"": h.keyWith()} // stored with no scopes: every scope
	for _, scope := range httpapi.Scopes {
		keys[scope] = h.keyWith(scope)
	}
	ops := keyedOperations(t)
	for _, op := range httpapi.Operations() {
		if strings.Contains(op.Path, "/proxy/") {
			ops = append(ops, specOp{id: op.ID, method: op.Method, path: op.Path})
		}
	}
	cases := 0
	for _, op := range ops {
		want, ok := byID[op.id]
		if !ok {
			t.Fatalf("%s is not in the server's operation table", op.id)
		}
		if want.Public || want.Scope == "" {
			t.Fatalf("%s takes a key but its security names no scope", op.id)
		}
		path, body := e.requestFor(op, map[string]string{"path": "x"})
		for _, scope := range append([]string{""}, httpapi.Scopes...) {
			cases++
			r := h.doAs(keys[scope], h.org, op.method, relative(path, h.org), body)
			allowed := scope == "" || scope == want.Scope
			switch {
			case allowed && (r.Status == 401 || r.Status == 403):
				t.Errorf("%s with scope %q: %d, want it allowed: %s", op.id, scope, r.Status, r.Body)
			case !allowed && (r.Status != 403 || (op.method != "HEAD" && r.Error(t).Code != "permission_denied")):
				t.Errorf("%s with scope %q: %d, want 403 (it needs %s): %s", op.id, scope, r.Status, want.Scope, r.Body)
			}
		}
	}
	// Every scope the contract names is one the server knows, and every known scope is used.
	used := map[string]bool{}
	for _, op := range byID {
		used[op.Scope] = true
	}
	for _, scope := range httpapi.Scopes {
		if !used[scope] {
			t.Errorf("no operation needs the scope %s", scope)
		}
	}
	t.Logf("%d operation × scope cases", cases)
}

// otherTenant is a second organisation in the same harness, with its own key and one resource of
// every kind, so requests can be well formed for it while naming the first one's ids.
type otherTenant struct {
	org    ulid.ULID
	key    string
	params map[string]string
	// ids maps each of the first organisation's ids to the second's id of the same kind.
	ids map[string]string
}

func (e *inputEnv) otherTenant(t *testing.T) otherTenant {
	h := e.h
	org, key := h.newOrg("other")
	saveOrg, saveKey := h.org, h.key
	h.org, h.key = org, key
	defer func() { h.org, h.key = saveOrg, saveKey }()
	f := h.fixture()
	samples := storableSamples(t, "https://provider.example/token")
	var conn struct {
		ID        string `json:"id"`
		EndUserID string `json:"endUserId"`
	}
	h.must(201, h.do("POST", "/connections", connectionBody(f.templates["api-key"], "existing", samples[1], configByID("api-key")))).JSON(t, &conn)
	o := otherTenant{org: org, key: key, params: map[string]string{
		"organisation_id": org.String(), "project_id": f.projectID, "system_id": f.systemID,
		"connection_id": conn.ID, "user_id": conn.EndUserID, "template_id": f.templates["api-key"],
		"auth_scheme_config_id": "api-key", "env_id": f.envID, "path": "x", "api_key_id": h.keyID(h.keyWith(httpapi.ScopeRead)),
		"event_id": h.latestEventID(),
	}}
	o.params["webhook_endpoint_id"] = h.webhookFixture()
	o.params["connect_session_id"] = h.connectSessionFixture(f)
	maps.Copy(o.params, h.activationParams(f, conn.EndUserID))
	o.ids = map[string]string{saveOrg.String(): org.String(), e.f.systemID: f.systemID, e.f.projectID: f.projectID, e.f.envID: f.envID}
	for id, tpl := range e.f.templates {
		o.ids[tpl] = f.templates[id]
	}
	for name, v := range e.params {
		if _, ok := o.ids[v]; !ok && v != "api-key" {
			o.ids[v] = o.params[name]
		}
	}
	return o
}

// swapIDs replaces, everywhere in a JSON value, the first organisation's ids by the second's.
func swapIDs(v any, ids map[string]string) any {
	raw, _ := json.Marshal(v)
	s := string(raw)
	for from, to := range ids {
		s = strings.ReplaceAll(s, from, to)
	}
	var out any
	_ = json.Unmarshal([]byte(s), &out)
	return out
}

// uniquify makes the names and external ids in a body unique (an activation's userId is one), so
// two requests that create something do not collide with each other.
func uniquify(v any, n int) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, val := range x {
			if s, ok := val.(string); ok && (k == "name" || k == "externalId" || k == "userId") {
				val = fmt.Sprintf("%s-%d", s, n)
			}
			out[k] = uniquify(val, n)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = uniquify(x[i], n)
		}
		return out
	}
	return v
}

// TestTenantMatrix: an organisation's ids are, to every other organisation's key, exactly like ids
// that do not exist. Every operation with another organisation's ids in its path is a 404; every
// id field of every request body, given another organisation's id, gets the answer a fresh id
// gets (and a success never shows the other organisation's id); every id filter of a list,
// given another organisation's id, lists nothing.
func TestTenantMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("a catalogue of every operation: runs once in CI, not again under -race -short")
	}
	e := newInputEnv(t)
	h := e.h
	other := e.otherTenant(t)
	ops := keyedOperations(t)
	for _, op := range httpapi.Operations() {
		if strings.Contains(op.Path, "/proxy/") {
			ops = append(ops, specOp{id: op.ID, method: op.Method, path: op.Path})
		}
	}
	pathCases, bodyCases, filterCases := 0, 0, 0

	// Paths: the other organisation's key, its own organisation id, the first one's other ids.
	for _, op := range ops {
		if strings.Count(op.path, "{") < 2 {
			continue // only the organisation: nothing of another tenant's to name
		}
		path, body := e.requestFor(op, map[string]string{"organisation_id": other.org.String(), "path": "x"})
		pathCases++
		r := h.doAs(other.key, other.org, op.method, relative(path, other.org), swapIDs(body, other.ids))
		if r.Status != 404 {
			t.Errorf("%s %s with another organisation's ids: %d, want 404: %s", op.method, path, r.Status, r.Body)
		}
		// And the first organisation's path with the other's key.
		path, body = e.requestFor(op, map[string]string{"path": "x"})
		if r := h.doAs(other.key, h.org, op.method, relative(path, h.org), body); r.Status != 404 {
			t.Errorf("%s %s with another organisation's key: %d, want 404: %s", op.method, path, r.Status, r.Body)
		}
	}

	// Bodies: every id field, the other organisation's id against a fresh one.
	n := 0
	for _, op := range ops {
		if op.body == nil {
			continue
		}
		for _, field := range stringFields(op.body) {
			if field.schema.Format != "ulid" {
				continue
			}
			// The first organisation's id of the kind this field names: the value the example
			// holds there (mapped back), else the organisation's own id for organisationId.
			ex, concrete, ok := e.bodyWith(op, field, "PLACEHOLDER", true)
			if !ok {
				t.Errorf("%s: no example reaches %s", op.id, field.path)
				continue
			}
			theirs := e.firstIDFor(field)
			if theirs == "" {
				t.Errorf("%s.%s: no id of the first organisation for this field; add one to firstIDFor", op.id, concrete)
				continue
			}
			bodyCases++
			params := maps.Clone(other.params)
			maps.Copy(params, ex.params)
			path := relative(fillPath(op.path, params), other.org)
			send := func(id string) response {
				n++
				b := swapIDs(ex.body, other.ids)
				raw, _ := json.Marshal(uniquify(b, n))
				return h.doAs(other.key, other.org, op.method, path, []byte(strings.ReplaceAll(string(raw), "PLACEHOLDER", id)))
			}
			freshID := ulid.Make().String()
			fresh, foreign := send(freshID), send(theirs)
			if fresh.Status != foreign.Status || (fresh.Status >= 400 && fresh.Error(t).Code != foreign.Error(t).Code) {
				t.Errorf("%s.%s: another organisation's id answers %d %s, a fresh id %d %s", op.id, concrete,
					foreign.Status, foreign.Body, fresh.Status, fresh.Body)
			}
			// A field that is only echoed (a fresh id comes back too) may show the id it was sent.
			if foreign.Status < 300 && strings.Contains(string(foreign.Body), theirs) && !strings.Contains(string(fresh.Body), freshID) {
				t.Errorf("%s.%s: the answer shows the other organisation's id: %s", op.id, concrete, foreign.Body)
			}
		}
	}

	// List filters: ids of the first organisation list nothing for the second.
	for _, op := range ops {
		if op.method != "GET" {
			continue
		}
		for _, p := range op.params {
			if p.In != "query" || !strings.HasSuffix(p.Name, "_id") {
				continue
			}
			name := p.Name
			switch name {
			case "end_user_id":
				name = "user_id" // an end user's id (or external id)
			case "environment_id":
				name = "env_id"
			}
			theirs, ok := e.params[name]
			if !ok {
				t.Errorf("%s: no id of the first organisation for the filter %s", op.id, p.Name)
				continue
			}
			filterCases++
			query := p.Name + "=" + theirs
			if p.Name == "environment_id" {
				query += "&activated=true" // the contract: environment_id goes with activated
			}
			r := h.doAs(other.key, other.org, "GET", relative(fillPath(op.path, other.params), other.org)+"?"+query, nil)
			if r.Status != 200 {
				t.Errorf("%s?%s=<another organisation's id>: %d, want 200 and nothing: %s", op.id, p.Name, r.Status, r.Body)
				continue
			}
			var page map[string]any
			r.JSON(t, &page)
			lists := 0
			for _, v := range page {
				if items, ok := v.([]any); ok {
					lists++
					if len(items) != 0 {
						t.Errorf("%s?%s=<another organisation's id> lists %d items", op.id, p.Name, len(items))
					}
				}
			}
			if lists != 1 {
				t.Errorf("%s: a page with %d lists", op.id, lists)
			}
		}
	}
	t.Logf("%d path, %d body and %d filter cases", pathCases, bodyCases, filterCases)
	if pathCases == 0 || bodyCases == 0 || filterCases == 0 {
		t.Fatal("a part of the matrix generated no case")
	}
}

// firstIDFor returns the first organisation's id of the kind a body id field names.
func (e *inputEnv) firstIDFor(field schemaField) string {
	switch field.name {
	case "organisationId":
		return e.h.org.String()
	case "connectionTemplateId", "templateId", "templateIds":
		return e.f.templates["api-key"]
	case "systemId":
		return e.f.systemID
	case "environmentId":
		return e.f.envID
	case "projectId":
		return e.f.projectID
	case "id", "credentialId":
		// Credential ids (and connection credential ids): the first organisation's connection's.
		var c connectionView
		e.h.must(200, e.h.do("GET", "/connections/"+e.params["connection_id"], nil)).JSON(e.h.t, &c)
		if strings.Contains(field.path, "credentials[]") && !strings.Contains(field.path, "credential.") {
			return c.Credentials[0].ID
		}
		return c.Credentials[0].Credential.ID
	case "existingConnectionId", "connectionId":
		return e.params["connection_id"]
	case "userId", "endUserId":
		return e.params["user_id"]
	}
	return ""
}
