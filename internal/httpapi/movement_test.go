package httpapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/apitest"
	"github.com/plugboard/plugboard/internal/credentials"
)

// TestSecretMovementMatrix: for every storable credential type with secrets, and every field of
// the trust rule (internal/trust), a change that would send the stored secret somewhere new is
// refused to a key that may not read it (400 naming each secret field to send again, or 403 where
// the request cannot carry the secret), and accepted with the secret sent again or from a key that
// may read it. The fields come from the tables internal/credentials checks against the contract,
// the new values from the contract's schemas, so a new placement field is covered by construction.
func TestSecretMovementMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("a catalogue of every operation: runs once in CI, not again under -race -short")
	}
	spec := apitest.Spec(t)
	cases := 0
	// Token URLs must answer: an oauth2-client credential fetches a token when it is stored. The
	// second provider is "somewhere new", with the same client.
	prov, elsewhere := newGoProvider(t), newGoProvider(t)
	for _, s := range storableSamples(t, prov.TokenURL) {
		typ := api.CredentialType(s.credType)
		if len(credentials.SecretFields(typ)) == 0 {
			continue
		}
		t.Run(s.name, func(t *testing.T) {
			m := newMovement(t, spec, s)
			m.elsewhere = elsewhere.TokenURL
			// Where requests go.
			// A config with a sealed secret of its own (OAuth 1.0a's consumer secret) signs wherever
			// the connection's requests go: no connection request can carry it, so moving the
			// connection or binding it there takes a key that may read secrets (403).
			_, sealedConfig := configByID(s.configID)["oauth1"]
			m.connectionCase("connection.baseUrl", sealedConfig, func(b obj) { b["baseUrl"] = "https://elsewhere.example/v1" })
			// Which auth scheme config the secret is used with.
			clone := m.cloneConfig()
			m.connectionCase("credential binding", sealedConfig, func(b obj) { m.cred(b)["authSchemeConfig"] = clone })
			// The credential's own placement fields.
			for _, field := range credentials.PlacementFields(typ) {
				m.connectionCase("credential "+field, false, func(b obj) {
					data := m.cred(b)["credential"].(map[string]any)["data"].(map[string]any)[credentials.Member(typ)].(map[string]any)
					data[field] = m.mutate(m.credentialSchema(field), field, data[field])
				})
			}
			// The system's base URL, which connections without one of their own follow.
			m.systemCase("system.templateBaseUrl", "PUT", "/systems/"+m.f.systemID, obj{"templateBaseUrl": "https://elsewhere.example"})
			// The auth scheme config's placement fields.
			cfgType := api.AuthSchemeType(configByID(s.configID)["type"].(string))
			for _, field := range credentials.ConfigPlacementFields(cfgType) {
				path := "/systems/" + m.f.systemID + "/auth-scheme-configs/" + s.configID
				before := m.configWith("")
				m.systemCase("config "+field, "PUT", path, m.configWith(field))
				m.h.must(201, m.h.do("PUT", path, before)) // as it was, for the next field's case
			}
			// A certificate named by a config's mtlsCredentialId authenticates to its token URL.
			if typ == api.CredentialTypeCertificate {
				m.systemCase("config mtlsCredentialId naming a stored certificate", "PUT", "/systems/"+m.f.systemID+"/auth-scheme-configs/mtls-new",
					obj{"type": "oauth2", "oauth2": obj{"id": "mtls-new", "description": "", "tokenUrl": "https://elsewhere.example/token",
						"scopes": arr{}, "defaultScopes": arr{}, "mtlsEnabled": true, "mtlsCredentialId": m.certID(),
						"grant": obj{"type": "clientCredentials"}}})
			}
			// The proxy's per-request base URL.
			m.proxyCase()
			cases += m.cases
		})
	}
	t.Logf("%d credential type × rule field cases", cases)
}

// movement is one credential type's part of the matrix: a harness, the fixture, and keys.
type movement struct {
	t      *testing.T
	h      *harness
	f      fixture
	spec   *openapi3.T
	s      sample
	member string
	// writer may change connections but not read secrets; admin may change systems but not read
	// secrets; the *Read keys may also read secrets (connections:access).
	writer, writerRead, admin, adminRead, proxy, proxyRead string
	cases                                                  int
	cert                                                   string
	// elsewhere is a URL on another origin that answers token requests.
	elsewhere string
}

func newMovement(t *testing.T, spec *openapi3.T, s sample) *movement {
	h := newHarness(t)
	m := &movement{t: t, h: h, f: h.fixture(), spec: spec, s: s, member: credentials.Member(api.CredentialType(s.credType))}
	m.writer = h.keyWith("connections:write", "connections:read")
	m.writerRead = h.keyWith("connections:write", "connections:read", "connections:access")
	m.admin = h.keyWith("admin")
	m.adminRead = h.keyWith("admin", "connections:access")
	m.proxy = h.keyWith("connections:proxy")
	m.proxyRead = h.keyWith("connections:proxy", "connections:access")
	return m
}

// newConnection stores a connection holding the sample, with a base URL of its own or not.
func (m *movement) newConnection(ownBase bool) string {
	m.t.Helper()
	m.cases++
	body := connectionBody(m.f.templates[m.s.configID], fmt.Sprintf("conn-%d", m.cases), m.s, configByID(m.s.configID))
	if !ownBase {
		delete(body["connection"].(obj), "baseUrl")
	}
	var c connectionView
	m.h.must(201, m.h.do("POST", "/connections", body)).JSON(m.t, &c)
	return c.ID
}

// cred returns the first credential of an update body.
func (m *movement) cred(b obj) map[string]any { return b["credentials"].(arr)[0].(obj) }

// keptFields are the error fields a refused update names: the sample's secrets, kept.
func (m *movement) keptFields() []string {
	var out []string
	data := m.s.data[m.member].(obj)
	for _, f := range credentials.SecretFields(api.CredentialType(m.s.credType)) {
		if v, _ := data[f].(string); v != "" {
			out = append(out, "credentials[0].credential.data."+m.member+"."+f)
		}
	}
	sort.Strings(out)
	return out
}

// connectionCase changes a connection as read (secrets "") with change: a writer is refused with
// a 400 naming the kept secrets; the same change with the secrets sent again, or from a key that
// may read them, is accepted. With movesConfig the change also moves a config's sealed secret,
// which no connection request carries: the writer is refused with 403, secrets sent or not.
func (m *movement) connectionCase(name string, movesConfig bool, change func(obj)) {
	t := m.t
	t.Helper()
	id := m.newConnection(true)
	body := func(resend bool) obj {
		c, creds := m.h.asRead(id)
		b := obj{"name": c.Name, "credentials": creds}
		// The values read back (JSON) as the request sends them.
		raw, _ := json.Marshal(b)
		var out obj
		_ = json.Unmarshal(raw, &out)
		out["credentials"] = arr{out["credentials"].([]any)[0].(map[string]any)}
		change(out)
		if resend {
			data := m.cred(out)["credential"].(map[string]any)["data"].(map[string]any)[m.member].(map[string]any)
			for _, f := range credentials.SecretFields(api.CredentialType(m.s.credType)) {
				if v, ok := m.s.data[m.member].(obj)[f]; ok {
					data[f] = v
				}
			}
		}
		return out
	}
	if movesConfig {
		for _, resend := range []bool{false, true} {
			if r := m.h.doAs(m.writer, m.h.org, "PUT", "/connections/"+id, body(resend)); r.Status != 403 {
				t.Errorf("%s: a writer moved a config's stored secret (resent credential: %v): %d %s", name, resend, r.Status, r.Body)
			}
		}
		if r := m.h.doAs(m.writerRead, m.h.org, "PUT", "/connections/"+id, body(false)); r.Status != 200 {
			t.Errorf("%s: from a key that may read the secret: %d %s", name, r.Status, r.Body)
		}
		return
	}
	r := m.h.doAs(m.writer, m.h.org, "PUT", "/connections/"+id, body(false))
	if r.Status != 400 {
		t.Errorf("%s: a writer moved the stored secret: %d %s", name, r.Status, r.Body)
	} else if got := r.Error(t).fieldNames(); !slices.Equal(sorted(got), m.keptFields()) {
		t.Errorf("%s: refused naming %v, want %v", name, got, m.keptFields())
	}
	if r := m.h.doAs(m.writer, m.h.org, "PUT", "/connections/"+id, body(true)); r.Status != 200 {
		t.Errorf("%s: with the secret sent again: %d %s", name, r.Status, r.Body)
	}
	id = m.newConnection(true)
	if r := m.h.doAs(m.writerRead, m.h.org, "PUT", "/connections/"+id, body(false)); r.Status != 200 {
		t.Errorf("%s: from a key that may read the secret: %d %s", name, r.Status, r.Body)
	}
}

// systemCase sends a change of the system or a config while a connection without a base URL of
// its own holds the sample: an admin key is refused (403), one that may read secrets is not.
func (m *movement) systemCase(name, method, path string, body obj) {
	t := m.t
	t.Helper()
	m.newConnection(false)
	r := m.h.doAs(m.admin, m.h.org, method, path, body)
	if r.Status != 403 || r.Error(t).Code != "permission_denied" {
		t.Errorf("%s: an admin key moved stored secrets: %d %s", name, r.Status, r.Body)
	}
	if r := m.h.doAs(m.adminRead, m.h.org, method, path, body); r.Status >= 300 {
		t.Errorf("%s: from a key that may read the secrets: %d %s", name, r.Status, r.Body)
	}
}

// proxyCase: X-Plugboard-Base-Url to another origin needs a key that may read the secrets.
func (m *movement) proxyCase() {
	t := m.t
	id := m.newConnection(true)
	send := func(key string) response {
		return m.h.doWithHeader(key, "GET", "/connections/"+id+"/proxy/x", "X-Plugboard-Base-Url", "https://elsewhere.example")
	}
	if r := send(m.proxy); r.Status != 403 {
		t.Errorf("proxy base URL override: a proxy key moved the stored secret: %d %s", r.Status, r.Body)
	}
	if r := send(m.proxyRead); r.Status == 403 {
		t.Errorf("proxy base URL override from a key that may read the secret: %d %s", r.Status, r.Body)
	}
}

// cloneConfig adds a config like the sample's under another id, offered by its template, and
// returns it as a request shows it.
func (m *movement) cloneConfig() obj {
	cfg := configByID(m.s.configID)
	raw, _ := json.Marshal(cfg)
	var clone obj
	_ = json.Unmarshal(raw, &clone)
	for k, v := range clone {
		if member, ok := v.(map[string]any); ok && k != "type" {
			member["id"] = m.s.configID + "-b"
		}
	}
	m.h.must(201, m.h.do("PUT", "/systems/"+m.f.systemID+"/auth-scheme-configs/"+m.s.configID+"-b", clone))
	m.h.must(200, m.h.do("PUT", "/projects/"+m.f.projectID+"/connection-templates/"+m.f.templates[m.s.configID],
		obj{"authSchemeConfigIds": arr{m.s.configID, m.s.configID + "-b"}}))
	return clone
}

// configWith returns the sample's config as the system has it now, with field changed (none when
// field is "").
func (m *movement) configWith(field string) obj {
	var sys struct {
		Configs []map[string]any `json:"authSchemeConfigs"`
	}
	m.h.must(200, m.h.do("GET", "/systems/"+m.f.systemID, nil)).JSON(m.t, &sys)
	for _, c := range sys.Configs {
		memberName := ""
		for k := range c {
			if k != "type" {
				memberName = k
			}
		}
		member := c[memberName].(map[string]any)
		if member["id"] != m.s.configID {
			continue
		}
		if field == "" {
			return c
		}
		parts := strings.Split(field, ".")
		parent := member
		for _, p := range parts[:len(parts)-1] {
			next, ok := parent[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				parent[p] = next
			}
			parent = next
		}
		last := parts[len(parts)-1]
		if memberName == "hmac" && field == "preset" {
			// A preset defines these (and github's no timestamp, so no tolerance); the config takes the preset's values.
			for _, f := range []string{"name", "in", "algorithm", "digestInputs", "encoding", "prefix", "timestampHeader", "timestampTolerance", "template"} {
				delete(member, f)
			}
		}
		parent[last] = m.mutate(m.configSchema(memberName, field), last, parent[last])
		return c
	}
	m.t.Fatalf("no config %s", m.s.configID)
	return nil
}

// credentialSchema returns the contract's schema of a credential data member's field.
func (m *movement) credentialSchema(field string) *openapi3.Schema {
	ref := m.spec.Components.Schemas["CredentialData"].Value.Properties[m.member]
	return propertyAt(m.t, ref, strings.Split(field, "."))
}

// configSchema returns the contract's schema of an auth scheme config member's field.
func (m *movement) configSchema(member, field string) *openapi3.Schema {
	ref := m.spec.Components.Schemas["AuthSchemeConfig"].Value.Properties[member]
	return propertyAt(m.t, ref, strings.Split(field, "."))
}

func propertyAt(t *testing.T, ref *openapi3.SchemaRef, path []string) *openapi3.Schema {
	t.Helper()
	if len(path) == 0 {
		return ref.Value
	}
	if p, ok := ref.Value.Properties[path[0]]; ok {
		return propertyAt(t, p, path[1:])
	}
	for _, sub := range ref.Value.AllOf {
		if s := propertyAtOrNil(sub, path); s != nil {
			return s
		}
	}
	t.Fatalf("the contract has no field %v", path)
	return nil
}

func propertyAtOrNil(ref *openapi3.SchemaRef, path []string) *openapi3.Schema {
	if p, ok := ref.Value.Properties[path[0]]; ok {
		if len(path) == 1 {
			return p.Value
		}
		return propertyAtOrNil(p, path[1:])
	}
	for _, sub := range ref.Value.AllOf {
		if s := propertyAtOrNil(sub, path); s != nil {
			return s
		}
	}
	return nil
}

// mutate returns another valid value for a field, from its schema where the schema decides it.
func (m *movement) mutate(s *openapi3.Schema, name string, cur any) any {
	m.t.Helper()
	switch {
	case len(s.Enum) > 0:
		for _, v := range s.Enum {
			// A grant type of authorizationCode needs an authorizeUrl the config may not have.
			if fmt.Sprint(v) != fmt.Sprint(cur) && v != "authorizationCode" {
				return v
			}
		}
	case s.Type.Includes("integer"):
		n, _ := cur.(float64)
		return n + 1
	case s.Type.Includes("boolean"):
		b, _ := cur.(bool)
		return !b
	case s.Type.Includes("array") && s.Items != nil && len(s.Items.Value.Enum) > 0:
		list, _ := cur.([]any)
		if len(list) > 1 {
			out := slices.Clone(list)
			slices.Reverse(out)
			return out
		}
		return []any{s.Items.Value.Enum[len(s.Items.Value.Enum)-1]}
	case s.Type.Includes("array"):
		return []any{map[string]any{"name": "realm", "value": "elsewhere"}}
	case s.Type.Includes("object"):
		out := map[string]any{}
		if c, ok := cur.(map[string]any); ok {
			maps.Copy(out, c)
		}
		out["sub"] = "admin"
		return out
	case name == "url" || strings.HasSuffix(name, "Url"):
		return m.elsewhere
	}
	switch name {
	case "name":
		return "X-Elsewhere"
	case "prefix":
		return "elsewhere="
	case "timestampHeader":
		return "X-Elsewhere-Timestamp"
	case "template":
		s, _ := cur.(string)
		return "elsewhere:" + s
	case "expiresIn":
		return "8760h"
	case "signatureMethod":
		if cur == "sha1" {
			return "sha256"
		}
		return "sha1"
	case "certificate", "ca":
		s, _ := cur.(string)
		return s + "\n"
	case "mtlsCredentialId", "mTLSCredentialId":
		return m.certID()
	}
	m.t.Fatalf("no way to change the field %s: add one to mutate", name)
	return nil
}

// certID returns the credential id of a certificate stored in another connection.
func (m *movement) certID() string {
	if m.cert != "" {
		return m.cert
	}
	for _, s := range storableSamples(m.t, "https://provider.example/token") {
		if s.credType == "certificate" {
			var c connectionView
			m.h.must(201, m.h.do("POST", "/connections", connectionBody(m.f.templates[s.configID], "cert-holder", s, configByID(s.configID)))).JSON(m.t, &c)
			m.cert = c.Credentials[0].Credential.ID
		}
	}
	return m.cert
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	return out
}

// doWithHeader sends a GET with one extra header.
func (h *harness) doWithHeader(key, method, path, name, value string) response {
	h.t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+"/o/"+h.org.String()+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set(name, value)
	res, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return response{Status: res.StatusCode, Body: data, Header: res.Header}
}
