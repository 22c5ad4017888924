package importer

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/plugboard/plugboard/api"
)

// The Postman collection format (v2.0 and v2.1) has no maintained Go library; the import reads the
// few members it needs (auth, item, variable) with encoding/json. Secret values in a collection
// (keys, passwords, tokens, client secrets) are never read into the result: only names and
// placements are.

// postmanAuth is an auth object. v2.1 gives each type's attributes as [{key, value}] lists, v2.0
// as an object; attrs reads both.
type postmanAuth struct {
	Type string                     `json:"type"`
	Raw  map[string]json.RawMessage `json:"-"`
}

func (a *postmanAuth) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	a.Raw = m
	if t, ok := m["type"]; ok {
		_ = json.Unmarshal(t, &a.Type)
	}
	return nil
}

// attrs returns the attributes of the auth's type as strings (non-string values as their JSON).
func (a *postmanAuth) attrs() map[string]string {
	out := map[string]string{}
	raw, ok := a.Raw[a.Type]
	if !ok {
		return out
	}
	var list []struct {
		Key   string          `json:"key"`
		Value json.RawMessage `json:"value"`
	}
	if json.Unmarshal(raw, &list) == nil {
		for _, kv := range list {
			out[kv.Key] = jsonString(kv.Value)
		}
		return out
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) == nil {
		for k, v := range obj {
			out[k] = jsonString(v)
		}
	}
	return out
}

func jsonString(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	return strings.TrimSpace(string(v))
}

type postmanItem struct {
	Name    string          `json:"name"`
	Auth    *postmanAuth    `json:"auth"`
	Item    json.RawMessage `json:"item"`
	Request json.RawMessage `json:"request"`
}

type postmanVariable struct {
	Key   string          `json:"key"`
	ID    string          `json:"id"`
	Value json.RawMessage `json:"value"`
}

// baseURLVariable matches the names collections give their base URL variable.
var baseURLVariable = regexp.MustCompile(`(?i)^(base[_-]?url|baseuri|base[_-]?path|api[_-]?url|api[_-]?base[_-]?url|url|host|server|endpoint)$`)

// maxPostmanDepth bounds the folder nesting the import walks.
const maxPostmanDepth = 32

func (im *importer) postman(t *top) error {
	im.res.System.Name = t.Info.Name
	vars := map[string]string{}
	if len(t.Variable) > 0 && string(t.Variable) != "null" {
		var list []postmanVariable
		if err := json.Unmarshal(t.Variable, &list); err != nil {
			return bad("variable: " + jsonProblem(err))
		}
		for i, v := range list {
			key := v.Key
			if key == "" {
				key = v.ID
			}
			vars[key] = jsonString(v.Value)
			if baseURLVariable.MatchString(key) && im.res.System.TemplateBaseUrl == "" {
				im.postmanServer(jsonString(v.Value), fmt.Sprintf("/variable/%d/value", i), vars)
			}
		}
	}
	if t.Auth != nil && string(t.Auth) != "null" {
		var a postmanAuth
		if err := json.Unmarshal(t.Auth, &a); err != nil {
			return bad("auth: " + jsonProblem(err))
		}
		im.postmanAuth("", "/auth", &a)
	}
	firstURL := ""
	if err := im.postmanItems(t.Item, "/item", 0, &firstURL); err != nil {
		return err
	}
	if im.res.System.TemplateBaseUrl == "" {
		if firstURL != "" {
			im.postmanServer(firstURL, "/item", vars)
		}
		if im.res.System.TemplateBaseUrl == "" {
			im.warn(WNoServer, "/variable", "no base URL variable (baseUrl, url, host, ...) with an absolute http or https URL; templateBaseUrl is left empty")
		}
	}
	return nil
}

// postmanServer takes a base URL, with {{variables}} replaced by the collection's values.
func (im *importer) postmanServer(raw, ptr string, vars map[string]string) {
	for i := 0; i < 4 && strings.Contains(raw, "{{"); i++ {
		raw = postmanVar.ReplaceAllStringFunc(raw, func(m string) string {
			name := m[2 : len(m)-2]
			if v, ok := vars[name]; ok && !secretVariable.MatchString(name) {
				return v
			}
			return m
		})
	}
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || strings.Contains(raw, "{{") {
		return
	}
	u.RawQuery, u.Fragment = "", ""
	if ptr == "/item" {
		// A request's URL: only its origin is the API's.
		u.Path, u.RawPath = "", ""
	}
	im.base = u
	im.res.System.TemplateBaseUrl = strings.TrimSuffix(u.String(), "/")
}

var postmanVar = regexp.MustCompile(`\{\{[^{}]*\}\}`)

// secretVariable matches the names of variables that may hold a secret: their values are never
// put into a base URL (which is stored and shown in the clear), so a URL that needs one yields no
// base URL and a no_server warning instead.
var secretVariable = regexp.MustCompile(`(?i)(key|token|secret|passw|pwd|auth|credential|signature|session|cookie|bearer|private)`)

func (im *importer) postmanItems(raw json.RawMessage, ptr string, depth int, firstURL *string) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if depth > maxPostmanDepth {
		im.warn(WUnsupportedScheme, ptr, "folders nested deeper than %d are not read", maxPostmanDepth)
		return nil
	}
	var items []postmanItem
	if err := json.Unmarshal(raw, &items); err != nil {
		return bad(strings.ReplaceAll(strings.TrimPrefix(ptr, "/"), "/", ".") + ": " + jsonProblem(err))
	}
	for i, it := range items {
		p := fmt.Sprintf("%s/%d", ptr, i)
		if *firstURL == "" && len(it.Request) > 0 {
			*firstURL = requestURL(it.Request)
		}
		if len(it.Item) == 0 {
			continue // a request; request-level auth is not the system's
		}
		if it.Auth != nil {
			im.postmanAuth(it.Name, p+"/auth", it.Auth)
		}
		if err := im.postmanItems(it.Item, p+"/item", depth+1, firstURL); err != nil {
			return err
		}
	}
	return nil
}

func requestURL(raw json.RawMessage) string {
	var r struct {
		URL json.RawMessage `json:"url"`
	}
	if json.Unmarshal(raw, &r) != nil || len(r.URL) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(r.URL, &s) == nil {
		return s
	}
	var u struct {
		Raw string `json:"raw"`
	}
	_ = json.Unmarshal(r.URL, &u)
	return u.Raw
}

// postmanAuth maps one auth object; folder is "" at the collection level. Ids are the auth type
// (collection level) or the folder's name; a folder's auth equal to one already mapped adds
// nothing.
func (im *importer) postmanAuth(folder, ptr string, a *postmanAuth) {
	name := folder
	if name == "" {
		name = a.Type
	}
	if a.Type == "noauth" || a.Type == "" || a.Type == "inherit" {
		return
	}
	if !im.wanted(name) {
		return
	}
	at := a.attrs()
	var cfg api.AuthSchemeConfig
	switch a.Type {
	case "apikey":
		in := api.AuthSchemeConfigAPIKeyIn(strings.ToLower(at["in"]))
		if in == "" {
			in = api.AuthSchemeConfigAPIKeyInHeader // Postman's default
		}
		cfg = api.AuthSchemeConfig{Type: api.AuthSchemeTypeApiKey, ApiKey: &api.AuthSchemeConfigAPIKey{Name: at["key"], In: in}}
	case "basic":
		cfg = api.AuthSchemeConfig{Type: api.AuthSchemeTypeBasicAuth, BasicAuth: &api.AuthSchemeConfigBasicAuth{}}
	case "bearer":
		cfg = api.AuthSchemeConfig{Type: api.AuthSchemeTypeApiKey, ApiKey: &api.AuthSchemeConfigAPIKey{
			Name: "Authorization", In: api.AuthSchemeConfigAPIKeyInHeader, Prefix: "Bearer "}}
	case "jwt":
		if to := at["addTokenTo"]; to != "" && to != "header" {
			im.warn(WJWTPlacement, ptr, "the JWT goes to %q; Plugboard sends a jwt-bearer token in the Authorization header", clip(to, 50))
		}
		cfg = api.AuthSchemeConfig{Type: api.AuthSchemeTypeJwtBearer, JwtBearer: &api.AuthSchemeConfigJWTBearer{}}
	case "oauth2":
		var g string
		switch at["grant_type"] {
		case "", "authorization_code", "authorization_code_with_pkce":
			g = "authorizationCode"
		case "client_credentials":
			g = "clientCredentials"
		case "password_credentials":
			g = "password"
		case "implicit":
			im.warn(WImplicitFlow, ptr, "the implicit flow is not supported (it hands tokens to the browser); left out")
			return
		default:
			im.warn(WUnsupportedScheme, ptr, "the oauth2 grant %q is not supported; left out", clip(at["grant_type"], 50))
			return
		}
		flow := &openapi3.OAuthFlow{AuthorizationURL: at["authUrl"], TokenURL: at["accessTokenUrl"], Scopes: map[string]string{}}
		for _, s := range strings.Fields(at["scope"]) {
			flow.Scopes[s] = ""
		}
		if strings.Contains(flow.TokenURL, "{{") || strings.Contains(flow.AuthorizationURL, "{{") {
			im.warn(WInvalidScheme, ptr, "the oauth2 URLs use variables; left out")
			return
		}
		flows := &openapi3.OAuthFlows{}
		switch g {
		case "authorizationCode":
			flows.AuthorizationCode = flow
		case "clientCredentials":
			flows.ClientCredentials = flow
		default:
			flows.Password = flow
		}
		n := len(im.res.System.AuthSchemeConfigs)
		im.oauth2(name, ptr, "", flows)
		if at["grant_type"] == "authorization_code_with_pkce" && len(im.res.System.AuthSchemeConfigs) > n {
			im.res.System.AuthSchemeConfigs[n].Oauth2.Pkce = true
		}
		return
	case "oauth1":
		im.warn(WOAuth1Consumer, ptr, "an oauth1 config needs the consumer key and secret, which the collection does not give; "+
			"add it with UpsertAuthSchemeConfig (signatureMethod %s)", oauth1Method(at["signatureMethod"]))
		return
	default:
		im.warn(WUnsupportedScheme, ptr, "the Postman auth type %q is not supported; left out", clip(a.Type, 50))
		return
	}
	if folder != "" && im.duplicate(cfg) {
		return
	}
	im.add(name, ptr, cfg)
}

func oauth1Method(m string) string {
	if strings.Contains(strings.ToUpper(m), "SHA256") {
		return "sha256"
	}
	return "sha1"
}

// duplicate says whether a config equal to cfg, but for its id, was already mapped.
func (im *importer) duplicate(cfg api.AuthSchemeConfig) bool {
	norm := func(c api.AuthSchemeConfig) string {
		b, _ := json.Marshal(c)
		var m map[string]json.RawMessage
		_ = json.Unmarshal(b, &m)
		for k, v := range m {
			var member map[string]any
			if json.Unmarshal(v, &member) == nil {
				delete(member, "id")
				m[k], _ = json.Marshal(member)
			}
		}
		b, _ = json.Marshal(m)
		return string(b)
	}
	want := norm(cfg)
	for _, c := range im.res.System.AuthSchemeConfigs {
		if norm(c) == want {
			return true
		}
	}
	return false
}
