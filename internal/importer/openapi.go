package importer

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"

	"github.com/plugboard/plugboard/api"
)

// awsAuthType is the extension by which API Gateway marks a scheme signed with AWS SigV4.
const awsAuthType = "x-amazon-apigateway-authtype"

// pointerEscape escapes a name for a JSON pointer (RFC 6901).
func pointerEscape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// openapi3 maps an OpenAPI 3.0 or 3.1 document. kin-openapi reads both versions; the import
// decodes only servers and components.securitySchemes with its types, so that an error elsewhere
// in a document (a broken schema, an unresolvable $ref in a path) does not stop its import.
func (im *importer) openapi3(t *top) error {
	im.res.System.Name = t.Info.Title
	var servers openapi3.Servers
	if len(t.Servers) > 0 && string(t.Servers) != "null" {
		if err := json.Unmarshal(t.Servers, &servers); err != nil {
			return bad("servers: " + jsonProblem(err))
		}
	}
	im.servers(servers)
	schemes := map[string]*openapi3.SecuritySchemeRef{}
	if len(t.Components.SecuritySchemes) > 0 && string(t.Components.SecuritySchemes) != "null" {
		if err := json.Unmarshal(t.Components.SecuritySchemes, &schemes); err != nil {
			return bad("components.securitySchemes: " + jsonProblem(err))
		}
	}
	for _, name := range sortedKeys(schemes) {
		ref := schemes[name]
		ptr := "/components/securitySchemes/" + pointerEscape(name)
		if ref != nil && ref.Value == nil && ref.Ref != "" {
			// A local reference to another scheme of the same map is all a document can mean here.
			target := strings.TrimPrefix(ref.Ref, "#/components/securitySchemes/")
			if r, ok := schemes[target]; ok && target != ref.Ref && r != nil && r.Value != nil {
				ref = r
			}
		}
		if !im.wanted(name) {
			continue
		}
		if ref == nil || ref.Value == nil {
			im.warn(WUnsupportedScheme, ptr, "the scheme is empty or an unresolvable reference")
			continue
		}
		im.scheme(name, ptr, ref.Value)
	}
	return nil
}

// swagger2 maps a Swagger 2.0 document: its securityDefinitions through kin-openapi's
// openapi2conv, and host, basePath and schemes as the one server.
func (im *importer) swagger2(t *top) error {
	im.res.System.Name = t.Info.Title
	if t.Host != "" {
		scheme := "https"
		if len(t.Schemes) > 0 && !slices.Contains(t.Schemes, "https") {
			scheme = t.Schemes[0]
		}
		basePath := t.BasePath
		if basePath != "" && !strings.HasPrefix(basePath, "/") {
			basePath = "/" + basePath
		}
		im.servers(openapi3.Servers{{URL: scheme + "://" + t.Host + strings.TrimSuffix(basePath, "/")}})
	} else {
		// Without host, the API is served where the document is (Swagger 2.0).
		im.servers(openapi3.Servers{{URL: strings.TrimSuffix(t.BasePath, "/")}})
	}
	defs := map[string]*openapi2.SecurityScheme{}
	if len(t.SecurityDefinitions) > 0 && string(t.SecurityDefinitions) != "null" {
		if err := json.Unmarshal(t.SecurityDefinitions, &defs); err != nil {
			return bad("securityDefinitions: " + jsonProblem(err))
		}
	}
	for _, name := range sortedKeys(defs) {
		ptr := "/securityDefinitions/" + pointerEscape(name)
		if !im.wanted(name) {
			continue
		}
		def := defs[name]
		if def == nil {
			im.warn(WUnsupportedScheme, ptr, "the scheme is empty")
			continue
		}
		if def.Type == "oauth2" && def.Flow == "implicit" {
			im.warn(WImplicitFlow, ptr+"/flow", "the implicit flow is not supported (it hands tokens to the browser); left out")
			continue
		}
		ref, err := openapi2conv.ToV3SecurityScheme(def)
		if err != nil || ref == nil || ref.Value == nil {
			im.warn(WUnsupportedScheme, ptr, "the scheme cannot be read: type %q, flow %q", clip(def.Type, 50), clip(def.Flow, 50))
			continue
		}
		if ref.Value.Type == "" {
			ref.Value.Type = def.Type // an unknown type, warned about by scheme
		}
		im.scheme(name, ptr, ref.Value)
	}
	return nil
}

var serverVar = regexp.MustCompile(`\{([^{}]*)\}`)

// servers picks the server the options name and resolves its variables to their defaults.
func (im *importer) servers(servers openapi3.Servers) {
	ptr := "/servers"
	if im.res.Format == FormatSwagger2 {
		ptr = "/host"
	}
	if len(servers) == 0 {
		servers = openapi3.Servers{{URL: "/"}} // the OpenAPI default
	}
	i := im.opts.Server
	if i < 0 || i >= len(servers) {
		im.warn(WNoServer, ptr, "the document has %d servers; server %d does not exist, server 0 is used", len(servers), i)
		i = 0
	}
	srv := servers[i]
	if im.res.Format != FormatSwagger2 {
		ptr += "/" + strconv.Itoa(i)
	}
	if srv == nil {
		im.warn(WNoServer, ptr, "the server is empty; templateBaseUrl is left empty")
		return
	}
	raw := serverVar.ReplaceAllStringFunc(srv.URL, func(m string) string {
		name := m[1 : len(m)-1]
		v, ok := srv.Variables[name]
		if !ok || v == nil {
			im.warn(WServerVariable, ptr+"/url", "the variable %q has no definition; it is left in templateBaseUrl", clip(name, 100))
			return m
		}
		im.res.Variables = append(im.res.Variables, Variable{Name: name, Default: v.Default, Enum: v.Enum})
		msg := fmt.Sprintf("the variable %q is resolved to its default %q", clip(name, 100), clip(v.Default, 200))
		if len(v.Enum) > 0 {
			msg += fmt.Sprintf(" (one of %d values)", len(v.Enum))
		}
		im.warn(WServerVariable, ptr+"/variables/"+pointerEscape(name), "%s", msg)
		return v.Default
	})
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		im.warn(WNoServer, ptr, "the server URL cannot be parsed; templateBaseUrl is left empty")
		return
	}
	if !u.IsAbs() || u.Host == "" {
		if im.opts.DocumentURL != "" {
			if d, err := url.Parse(im.opts.DocumentURL); err == nil && d.IsAbs() {
				u = d.ResolveReference(u)
			}
		}
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || strings.Contains(u.Host, "{") {
		im.warn(WNoServer, ptr, "the server URL %q is not an absolute http or https URL; templateBaseUrl is left empty", clip(raw, 200))
		return
	}
	u.RawQuery, u.Fragment = "", ""
	im.base = u
	im.res.System.TemplateBaseUrl = strings.TrimSuffix(u.String(), "/")
}

// scheme maps one security scheme, in its OpenAPI 3 form.
func (im *importer) scheme(name, ptr string, s *openapi3.SecurityScheme) {
	desc := clip(firstLine(s.Description), 500)
	if _, ok := s.Extensions[awsAuthType]; ok {
		im.warn(WAWSSigV4, ptr+"/"+awsAuthType, "AWS Signature Version 4 is not supported; left out")
		return
	}
	switch strings.ToLower(s.Type) {
	case "apikey":
		in := api.AuthSchemeConfigAPIKeyIn(strings.ToLower(s.In))
		im.add(name, ptr, api.AuthSchemeConfig{Type: api.AuthSchemeTypeApiKey,
			ApiKey: &api.AuthSchemeConfigAPIKey{Description: desc, Name: s.Name, In: in}})
	case "http", "basic":
		switch strings.ToLower(s.Scheme) {
		case "basic":
			im.add(name, ptr, api.AuthSchemeConfig{Type: api.AuthSchemeTypeBasicAuth, BasicAuth: &api.AuthSchemeConfigBasicAuth{Description: desc}})
		case "bearer":
			im.add(name, ptr, api.AuthSchemeConfig{Type: api.AuthSchemeTypeApiKey, ApiKey: &api.AuthSchemeConfigAPIKey{
				Description: desc, Name: "Authorization", In: api.AuthSchemeConfigAPIKeyInHeader, Prefix: "Bearer "}})
		default:
			im.warn(WUnsupportedScheme, ptr+"/scheme", "the http scheme %q is not supported; left out", clip(s.Scheme, 50))
		}
	case "oauth2":
		im.oauth2(name, ptr, desc, s.Flows)
	case "openidconnect":
		im.openID(name, ptr, desc, s.OpenIdConnectUrl)
	case "mutualtls":
		im.add(name, ptr, api.AuthSchemeConfig{Type: api.AuthSchemeTypeCertificate, Certificate: &api.AuthSchemeConfigCertificate{Description: desc}})
	default:
		im.warn(WUnsupportedScheme, ptr+"/type", "the scheme type %q is not supported; left out", clip(s.Type, 50))
	}
}

// oauth2 maps each supported flow of an OAuth 2.0 scheme to a config: the scheme's name when it
// has one such flow, the name with -code, -client-credentials or -password when it has several.
func (im *importer) oauth2(name, ptr, desc string, flows *openapi3.OAuthFlows) {
	if flows == nil {
		im.warn(WInvalidScheme, ptr+"/flows", "the oauth2 scheme has no flows; left out")
		return
	}
	if flows.Implicit != nil {
		im.warn(WImplicitFlow, ptr+"/flows/implicit", "the implicit flow is not supported (it hands tokens to the browser); left out")
	}
	type flow struct {
		key, suffix string
		grant       api.AuthSchemeConfigOAuth2GrantType
		f           *openapi3.OAuthFlow
	}
	all := []flow{
		{"authorizationCode", "-code", api.AuthorizationCode, flows.AuthorizationCode},
		{"clientCredentials", "-client-credentials", api.ClientCredentials, flows.ClientCredentials},
		{"password", "-password", api.Password, flows.Password},
	}
	var present []flow
	for _, f := range all {
		if f.f != nil {
			present = append(present, f)
		}
	}
	for _, f := range present {
		id := name
		if len(present) > 1 {
			id = name + f.suffix
		}
		fptr := ptr + "/flows/" + f.key
		if im.res.Format == FormatSwagger2 {
			fptr = ptr
		}
		cfg := &api.AuthSchemeConfigOAuth2{Description: desc, Scopes: scopes(f.f.Scopes), DefaultScopes: []string{},
			Grant: grant(f.grant)}
		var ok bool
		if cfg.TokenURL, ok = im.resolveURL(f.f.TokenURL); !ok {
			im.warn(WInvalidScheme, fptr+"/tokenUrl", "the token URL %q is relative and there is no server to resolve it against; left out", clip(f.f.TokenURL, 200))
			continue
		}
		if f.grant == api.AuthorizationCode {
			if cfg.AuthorizeURL, ok = im.resolveURL(f.f.AuthorizationURL); !ok {
				im.warn(WInvalidScheme, fptr+"/authorizationUrl", "the authorization URL %q is relative and there is no server to resolve it against; left out", clip(f.f.AuthorizationURL, 200))
				continue
			}
		}
		im.add(id, fptr, api.AuthSchemeConfig{Type: api.AuthSchemeTypeOauth2, Oauth2: cfg})
	}
}

func grant(t api.AuthSchemeConfigOAuth2GrantType) api.AuthSchemeConfigOAuth2Grant {
	g := api.AuthSchemeConfigOAuth2Grant{Type: t}
	if t == api.ClientCredentials {
		g.ClientCredentials = &api.AuthSchemeConfigOAuth2GrantClientCredentials{}
	}
	return g
}

func scopes(m map[string]string) []api.OAuth2Scope {
	out := []api.OAuth2Scope{}
	for _, k := range sortedKeys(m) {
		if k == "" {
			continue
		}
		out = append(out, api.OAuth2Scope{Name: k, Description: clip(firstLine(m[k]), 500)})
	}
	return out
}

// discovery is the part of an OpenID Provider's metadata the import reads.
type discovery struct {
	AuthorizationEndpoint string   `json:"authorization_endpoint"`
	TokenEndpoint         string   `json:"token_endpoint"`
	ScopesSupported       []string `json:"scopes_supported"`
	GrantTypesSupported   []string `json:"grant_types_supported"`
}

// openID maps an openIdConnect scheme by fetching its discovery document: an authorization code
// config when the provider offers that grant (it does unless it says otherwise), with its scopes.
func (im *importer) openID(name, ptr, desc, raw string) {
	uptr := ptr + "/openIdConnectUrl"
	u, ok := im.resolveURL(raw)
	if !ok || u == "" {
		im.warn(WOpenIDDiscovery, uptr, "the discovery URL %q is missing or relative without a server; left out", clip(raw, 200))
		return
	}
	if im.opts.Fetch == nil {
		im.warn(WOpenIDDiscovery, uptr, "discovery is not available here; left out")
		return
	}
	body, err := im.opts.Fetch(im.ctx, u)
	if err != nil {
		im.warn(WOpenIDDiscovery, uptr, "the discovery document cannot be fetched (%s); left out", clip(err.Error(), 200))
		return
	}
	var d discovery
	if err := json.Unmarshal(body, &d); err != nil {
		im.warn(WOpenIDDiscovery, uptr, "the discovery document is not valid JSON metadata; left out")
		return
	}
	if len(d.GrantTypesSupported) > 0 && !slices.Contains(d.GrantTypesSupported, "authorization_code") {
		im.warn(WOpenIDDiscovery, uptr, "the provider does not offer the authorization code grant; left out")
		return
	}
	sc := map[string]string{}
	for _, s := range d.ScopesSupported {
		sc[s] = ""
	}
	defaults := []string{}
	if len(d.ScopesSupported) == 0 || slices.Contains(d.ScopesSupported, "openid") {
		defaults = append(defaults, "openid")
		sc["openid"] = ""
	}
	im.add(name, ptr, api.AuthSchemeConfig{Type: api.AuthSchemeTypeOauth2, Oauth2: &api.AuthSchemeConfigOAuth2{
		Description: desc, AuthorizeURL: d.AuthorizationEndpoint, TokenURL: d.TokenEndpoint, Scopes: scopes(sc),
		DefaultScopes: defaults, Grant: grant(api.AuthorizationCode)}})
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
