package httpapi_test

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard/internal/apitest"
	"github.com/plugboard/plugboard/internal/httpapi"
)

// specOp is an operation of api/openapi.yaml that takes an API key, as the input tests see it.
type specOp struct {
	id, method, path string
	params           []*openapi3.Parameter // path and query parameters
	body             *openapi3.SchemaRef   // the JSON request body's schema, or nil
}

// keyedOperations lists the contract's operations that take an API key, in a stable order. The
// proxy operations (tag proxy) are left out: they are served by hand and forward paths upstream.
func keyedOperations(t *testing.T) []specOp {
	t.Helper()
	spec := apitest.Spec(t)
	var out []specOp
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			if slices.Contains(op.Tags, "proxy") {
				continue
			}
			if op.Security != nil && len(*op.Security) == 0 {
				continue // public: health and the OAuth callbacks
			}
			o := specOp{id: op.OperationID, method: method, path: path}
			for _, p := range append(append(openapi3.Parameters{}, item.Parameters...), op.Parameters...) {
				if p.Value.In == openapi3.ParameterInPath || p.Value.In == openapi3.ParameterInQuery {
					o.params = append(o.params, p.Value)
				}
			}
			if op.RequestBody != nil && op.RequestBody.Value != nil {
				if mt := op.RequestBody.Value.Content.Get("application/json"); mt != nil {
					o.body = mt.Schema
				}
			}
			out = append(out, o)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	if len(out) < 20 {
		t.Fatalf("only %d keyed operations in the contract", len(out))
	}
	return out
}

// schemaField is a string field reachable in a request body: its path from the body's root, with
// "[]" for any array element and "{}" for any key of a map.
type schemaField struct {
	path   string
	name   string // the property's name
	schema *openapi3.Schema
}

// stringFields lists every string field reachable in a schema, following $ref, allOf, oneOf,
// anyOf, arrays, objects and maps.
func stringFields(ref *openapi3.SchemaRef) []schemaField {
	var out []schemaField
	seen := map[string]bool{}
	var walk func(ref *openapi3.SchemaRef, path, name string, depth int)
	walk = func(ref *openapi3.SchemaRef, path, name string, depth int) {
		if ref == nil || ref.Value == nil || depth > 16 {
			return
		}
		s := ref.Value
		for _, group := range []openapi3.SchemaRefs{s.AllOf, s.OneOf, s.AnyOf} {
			for _, sub := range group {
				walk(sub, path, name, depth+1)
			}
		}
		switch {
		case s.Type.Includes("string"):
			if !seen[path] {
				seen[path] = true
				out = append(out, schemaField{path: path, name: name, schema: s})
			}
		case s.Type.Includes("array"):
			walk(s.Items, path+"[]", name, depth+1)
		}
		if s.Type.Includes("object") || len(s.Properties) > 0 {
			names := make([]string, 0, len(s.Properties))
			for n := range s.Properties {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				walk(s.Properties[n], joinPath(path, n), n, depth+1)
			}
			if ap := s.AdditionalProperties; ap.Schema != nil {
				walk(ap.Schema, joinPath(path, "{}"), name, depth+1)
			}
		}
	}
	walk(ref, "", "", 0)
	return out
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// pathSegments splits a schema path into keys and "[]" markers.
func pathSegments(path string) []string {
	var segs []string
	for _, part := range strings.Split(path, ".") {
		name := strings.TrimRight(part, "[]")
		if name != "" {
			segs = append(segs, name)
		}
		for range strings.Count(part[len(name):], "[]") {
			segs = append(segs, "[]")
		}
	}
	return segs
}

// example is a request an operation accepts (or nearly): path parameters that differ from the
// defaults, and a body.
type example struct {
	params map[string]string
	body   any
}

// placeField puts value at a schema path (split by pathSegments) inside body, without changing
// body. An array marker picks the first element through which the field's parent exists; a map
// marker is the key "k". With create, objects and arrays missing on the way are made (in the
// first element of an array); without, the field's parent must exist. It returns the new body and
// the field's concrete JSON path, or ok false.
func placeField(body any, segs []string, value any, create bool) (out any, path string, ok bool) {
	if len(segs) == 0 {
		return value, "", true
	}
	if segs[0] == "[]" {
		list, isList := body.([]any)
		if body != nil && !isList {
			return nil, "", false
		}
		for i := range list {
			if v, p, ok := placeField(list[i], segs[1:], value, false); ok {
				cp := slices.Clone(list)
				cp[i] = v
				return cp, fmt.Sprintf("[%d]", i) + dotted(p), true
			}
		}
		if !create {
			return nil, "", false
		}
		var first any
		if len(list) > 0 {
			first = list[0]
		}
		v, p, ok := placeField(first, segs[1:], value, true)
		if !ok {
			return nil, "", false
		}
		cp := slices.Clone(list)
		if len(cp) == 0 {
			cp = []any{v}
		} else {
			cp[0] = v
		}
		return cp, "[0]" + dotted(p), true
	}
	key := segs[0]
	if key == "{}" {
		key = "k"
	}
	m, isMap := body.(map[string]any)
	if (body != nil && !isMap) || (body == nil && !create) {
		return nil, "", false
	}
	child, present := m[key]
	if !present && len(segs) > 1 && !create {
		return nil, "", false
	}
	v, p, ok := placeField(child, segs[1:], value, create)
	if !ok {
		return nil, "", false
	}
	cp := maps.Clone(m)
	if cp == nil {
		cp = map[string]any{}
	}
	cp[key] = v
	return cp, key + dotted(p), true
}

// dotted prefixes a sub-path with "." unless it is empty or starts with an index.
func dotted(p string) string {
	if p == "" || strings.HasPrefix(p, "[") {
		return p
	}
	return "." + p
}

// fillPath puts path parameter values into a contract path.
func fillPath(path string, values map[string]string) string {
	for name, v := range values {
		path = strings.ReplaceAll(path, "{"+name+"}", v)
	}
	return path
}

// inputEnv is a harness with one resource of every kind, the path parameter values naming them,
// and requests every operation with a body accepts (or nearly: enough for a field to reach the
// checks and the store).
type inputEnv struct {
	h        *harness
	f        fixture
	params   map[string]string
	examples map[string][]example // by operationId
}

func newInputEnv(t *testing.T) *inputEnv {
	h := newHarness(t)
	f := h.fixture()
	samples := storableSamples(t, "https://provider.example/token")
	var conn struct {
		ID        string `json:"id"`
		EndUserID string `json:"endUserId"`
	}
	h.must(201, h.do("POST", "/connections", connectionBody(f.templates["api-key"], "existing", samples[1], configByID("api-key")))).JSON(t, &conn)
	e := &inputEnv{h: h, f: f, examples: map[string][]example{}, params: map[string]string{
		"organisation_id": h.org.String(), "project_id": f.projectID, "system_id": f.systemID,
		"connection_id": conn.ID, "user_id": conn.EndUserID, "template_id": f.templates["api-key"],
		"auth_scheme_config_id": "api-key", "env_id": f.envID, "api_key_id": h.keyID(h.keyWith(httpapi.ScopeRead)),
		"event_id": h.latestEventID(),
	}}
	e.params["webhook_endpoint_id"] = h.webhookFixture()
	e.params["connect_session_id"] = h.connectSessionFixture(f)
	maps.Copy(e.params, h.activationParams(f, conn.EndUserID))
	// Credentials of every type, the exchanged ones included.
	samples = append(samples, sample{"oauth2 code", "oauth2-code", "oauth2-code",
		obj{"oauth2Code": obj{"code": "c", "state": "s", "redirectUrl": "https://app.example/callback"}}, nil},
		sample{"oauth1", "oauth1", "oauth1", obj{"oauth1": obj{"state": "s", "oauthToken": "t", "oauthVerifier": "v"}}, nil})
	add := func(op string, ex example) { e.examples[op] = append(e.examples[op], ex) }
	for i, s := range samples {
		add("CreateConnection", example{body: connectionBody(f.templates[s.configID], fmt.Sprintf("new-%d", i), s, configByID(s.configID))})
		add("ActivateUser", example{body: obj{"userId": fmt.Sprintf("activated-%d", i), "environmentId": f.envID,
			"connections": arr{obj{"connectionTemplateId": f.templates[s.configID],
				"connection": connectionBody(f.templates[s.configID], fmt.Sprintf("activated-%d", i), s, configByID(s.configID))["connection"]}},
			"dynamicVariables": obj{"region": "eu"}}})
		add("UpdateConnection", example{body: obj{"name": "existing", "baseUrl": "https://api.customer.example",
			"credentials": arr{obj{"id": zeroID, "authSchemeConfig": configByID(s.configID),
				"credential": obj{"id": zeroID, "organisationId": zeroID, "type": s.credType, "name": s.name, "data": s.data}}}}})
	}
	configs := schemeConfigs()
	list := make(arr, len(configs))
	for i, c := range configs {
		list[i] = c
		id := ""
		for _, m := range c {
			if m, ok := m.(obj); ok {
				id = m["id"].(string)
			}
		}
		add("UpsertAuthSchemeConfig", example{params: map[string]string{"auth_scheme_config_id": id}, body: c})
	}
	add("ActivateUser", example{body: obj{"userId": conn.EndUserID, "environmentId": f.envID,
		"connections": arr{obj{"connectionTemplateId": f.templates["basic"], "existingConnectionId": conn.ID}}}})
	add("CreateSystem", example{body: obj{"name": "Another", "domain": "another.example",
		"templateBaseUrl": "https://api.another.example", "authSchemeConfigs": list, "labels": obj{"team": "a"}}})
	add("ImportSystem", example{body: obj{"openapi": "3.1.0", "info": obj{"title": "Imported", "version": "1"},
		"servers": arr{obj{"url": "https://api.imported.example"}}, "paths": obj{},
		"components": obj{"securitySchemes": obj{"key": obj{"type": "apiKey", "in": "header", "name": "X-Key"}}}}})
	add("UpdateSystem", example{body: obj{"name": "Everything", "domain": "everything.example", "templateBaseUrl": "https://api.everything.example"}})
	add("CreateProject", example{body: obj{"name": "Another project", "environments": arr{"production", "staging"}}})
	add("UpdateProject", example{body: obj{"name": "Project"}})
	add("CreateConnectionTemplate", example{body: obj{"systemId": f.systemID, "name": "tpl-new", "environmentId": f.envID, "dynamic": true}})
	add("UpdateConnectionTemplate", example{body: obj{"name": "tpl-api-key", "authSchemeConfigIds": arr{"api-key"}}})
	add("CreateEndUser", example{body: obj{"externalId": "another-user", "displayName": "Another user"}})
	add("LinkConnectionToEnvironment", example{body: obj{"connectionTemplateId": f.templates["api-key"]}})
	add("UnlinkConnectionFromEnvironment", example{body: obj{"connectionTemplateId": f.templates["api-key"]}})
	add("InitialiseOAuth2Connection", example{body: obj{"credential": obj{"id": ulid.Make().String(), "organisationId": h.org.String()},
		"authorizeUrl": "https://provider.example/authorize", "clientId": "client", "scopes": arr{"read"},
		"redirectUrl": "https://app.example/callback", "returnUrl": "https://app.example/done"}})
	// A key minting only the scope it needs itself, so every key allowed to call it may.
	add("CreateAPIKey", example{body: obj{"name": "ci", "scopes": arr{httpapi.ScopeAPIKeys},
		"expiresAt": time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)}})
	add("CreateConnectSession", example{body: obj{"endUser": obj{"externalId": "session-user", "displayName": "Session user"},
		"environmentId": f.envID, "templateIds": arr{f.templates["api-key"]}, "returnUrl": "https://app.example/done",
		"allowedOrigins": arr{"https://app.example"}}})
	add("CreateWebhookEndpoint", example{body: obj{"url": "https://hooks.example.com/new", "description": "CRM sync",
		"eventTypes": arr{"connection.created", "credential.deleted"}, "enabled": true}})
	add("UpdateWebhookEndpoint", example{body: obj{"url": "https://hooks.example.com/updated", "description": "CRM sync",
		"eventTypes": arr{"connection.deleted"}, "enabled": true}})
	add("ReplayWebhookEndpoint", example{body: obj{"since": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)}})
	add("InitialiseOAuth1Connection", example{body: obj{"credential": obj{"id": ulid.Make().String(), "organisationId": h.org.String()},
		"returnUrl": "https://app.example/done"}})
	return e
}

// paramsFor returns the path parameter values for one of op's examples.
func (e *inputEnv) paramsFor(ex example) map[string]string {
	out := maps.Clone(e.params)
	maps.Copy(out, ex.params)
	return out
}

// bodyWith places value at a field of one of op's examples: the first example through which the
// field's parent exists or, with create, the first example with the missing objects made.
func (e *inputEnv) bodyWith(op specOp, field schemaField, value any, create bool) (example, string, bool) {
	segs := pathSegments(field.path)
	exs := e.examples[op.id]
	for _, ex := range exs {
		if body, path, ok := placeField(ex.body, segs, value, false); ok {
			return example{params: ex.params, body: body}, path, true
		}
	}
	if !create {
		return example{}, "", false
	}
	var ex example
	if len(exs) > 0 {
		ex = exs[0]
	}
	body, path, ok := placeField(ex.body, segs, value, true)
	return example{params: ex.params, body: body}, path, ok
}
