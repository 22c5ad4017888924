package importer_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/importer"
)

// configs renders the result's configs as compact JSON, one per config, for comparison.
func configs(t *testing.T, r *importer.Result) []string {
	t.Helper()
	var out []string
	for _, c := range r.System.AuthSchemeConfigs {
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

func codes(r *importer.Result) []string {
	var out []string
	for _, w := range r.Warnings {
		out = append(out, w.Code+" "+w.Pointer)
	}
	return out
}

type mappingCase struct {
	name     string
	doc      string
	opts     importer.Options
	base     string
	configs  []string
	warnings []string
}

func runCases(t *testing.T, cases []mappingCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := importer.Import(context.Background(), []byte(tc.doc), tc.opts)
			if err != nil {
				t.Fatalf("Import: %v", err)
			}
			if r.System.TemplateBaseUrl != tc.base {
				t.Errorf("templateBaseUrl = %q, want %q", r.System.TemplateBaseUrl, tc.base)
			}
			got := configs(t, r)
			if strings.Join(got, "\n") != strings.Join(tc.configs, "\n") {
				t.Errorf("configs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.configs, "\n"))
			}
			if w := codes(r); strings.Join(w, "\n") != strings.Join(tc.warnings, "\n") {
				t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(w, "\n"), strings.Join(tc.warnings, "\n"))
			}
		})
	}
}

// oas3 wraps servers and securitySchemes (YAML fragments) in a document of the given version.
func oas3(version, servers, schemes string) string {
	return "openapi: " + version + "\ninfo: {title: Test API, version: '1'}\npaths: {}\n" + servers + "\ncomponents:\n  securitySchemes:\n" + schemes
}

const none = `{"none":{"description":"No authentication","id":"none"},"type":"none"}`

func TestOpenAPI3Mapping(t *testing.T) {
	srv := "servers: [{url: 'https://api.example.com/v1'}]"
	for _, v := range []string{"3.0.3", "3.1.0"} {
		t.Run(v, func(t *testing.T) {
			runCases(t, []mappingCase{
				{name: "apiKey header", doc: oas3(v, srv, "    key: {type: apiKey, in: header, name: X-API-Key, description: \"Your key\\nmore\"}"),
					base:    "https://api.example.com/v1",
					configs: []string{`{"apiKey":{"description":"Your key","id":"key","in":"header","name":"X-API-Key"},"type":"api-key"}`}},
				{name: "apiKey query", doc: oas3(v, srv, "    k: {type: apiKey, in: query, name: api_key}"), base: "https://api.example.com/v1",
					configs: []string{`{"apiKey":{"description":"","id":"k","in":"query","name":"api_key"},"type":"api-key"}`}},
				{name: "apiKey cookie", doc: oas3(v, srv, "    k: {type: apiKey, in: cookie, name: session}"), base: "https://api.example.com/v1",
					configs: []string{`{"apiKey":{"description":"","id":"k","in":"cookie","name":"session"},"type":"api-key"}`}},
				{name: "http basic", doc: oas3(v, srv, "    b: {type: http, scheme: basic}"), base: "https://api.example.com/v1",
					configs: []string{`{"basicAuth":{"description":"","id":"b"},"type":"basic-auth"}`}},
				{name: "http bearer", doc: oas3(v, srv, "    t: {type: http, scheme: Bearer, bearerFormat: JWT}"), base: "https://api.example.com/v1",
					configs: []string{`{"apiKey":{"description":"","id":"t","in":"header","name":"Authorization","prefix":"Bearer "},"type":"api-key"}`}},
				{name: "http digest", doc: oas3(v, srv, "    d: {type: http, scheme: digest}"), base: "https://api.example.com/v1",
					configs:  []string{none},
					warnings: []string{"unsupported_scheme /components/securitySchemes/d/scheme", "no_security_schemes /components/securitySchemes"}},
				{name: "oauth2 code, relative URLs", doc: oas3(v, srv, `    o:
      type: oauth2
      flows:
        authorizationCode:
          authorizationUrl: /oauth/authorize
          tokenUrl: https://auth.example.com/token
          scopes: {write: Write things, read: Read things}`), base: "https://api.example.com/v1",
					configs: []string{`{"oauth2":{"authorizeUrl":"https://api.example.com/oauth/authorize","defaultScopes":[],"description":"","grant":{"type":"authorizationCode"},"id":"o","scopes":[{"description":"Read things","name":"read"},{"description":"Write things","name":"write"}],"tokenUrl":"https://auth.example.com/token"},"type":"oauth2"}`}},
				{name: "oauth2 several flows and implicit", doc: oas3(v, srv, `    o:
      type: oauth2
      flows:
        implicit: {authorizationUrl: 'https://a.example.com/auth', scopes: {}}
        clientCredentials: {tokenUrl: 'https://a.example.com/token', scopes: {}}
        password: {tokenUrl: 'token', scopes: {}}`), base: "https://api.example.com/v1",
					configs: []string{
						`{"oauth2":{"defaultScopes":[],"description":"","grant":{"clientCredentials":{},"type":"clientCredentials"},"id":"o-client-credentials","scopes":[],"tokenUrl":"https://a.example.com/token"},"type":"oauth2"}`,
						`{"oauth2":{"defaultScopes":[],"description":"","grant":{"type":"password"},"id":"o-password","scopes":[],"tokenUrl":"https://api.example.com/token"},"type":"oauth2"}`},
					warnings: []string{"implicit_flow /components/securitySchemes/o/flows/implicit"}},
				{name: "oauth2 relative without server", doc: oas3(v, "", `    o:
      type: oauth2
      flows: {clientCredentials: {tokenUrl: '/token', scopes: {}}}`),
					configs: []string{none},
					warnings: []string{"no_server /servers/0", "invalid_scheme /components/securitySchemes/o/flows/clientCredentials/tokenUrl",
						"no_security_schemes /components/securitySchemes"}},
				{name: "mutualTLS", doc: oas3(v, srv, "    m: {type: mutualTLS}"), base: "https://api.example.com/v1",
					configs: []string{`{"certificate":{"description":"","id":"m"},"type":"certificate"}`}},
				{name: "openIdConnect without fetcher", doc: oas3(v, srv, "    oidc: {type: openIdConnect, openIdConnectUrl: 'https://id.example.com/.well-known/openid-configuration'}"),
					base: "https://api.example.com/v1", configs: []string{none},
					warnings: []string{"openid_discovery_failed /components/securitySchemes/oidc/openIdConnectUrl", "no_security_schemes /components/securitySchemes"}},
				{name: "openIdConnect discovered", doc: oas3(v, srv, "    oidc: {type: openIdConnect, openIdConnectUrl: '/.well-known/openid-configuration'}"),
					opts: importer.Options{Fetch: func(_ context.Context, u string) ([]byte, error) {
						if u != "https://api.example.com/.well-known/openid-configuration" {
							return nil, errors.New("unexpected URL " + u)
						}
						return []byte(`{"authorization_endpoint":"https://id.example.com/auth","token_endpoint":"https://id.example.com/token","scopes_supported":["openid","email"]}`), nil
					}},
					base:    "https://api.example.com/v1",
					configs: []string{`{"oauth2":{"authorizeUrl":"https://id.example.com/auth","defaultScopes":["openid"],"description":"","grant":{"type":"authorizationCode"},"id":"oidc","scopes":[{"name":"email"},{"name":"openid"}],"tokenUrl":"https://id.example.com/token"},"type":"oauth2"}`}},
				{name: "openIdConnect fetch fails", doc: oas3(v, srv, "    oidc: {type: openIdConnect, openIdConnectUrl: 'https://id.example.com/x'}"),
					opts: importer.Options{Fetch: func(context.Context, string) ([]byte, error) { return nil, errors.New("refused") }},
					base: "https://api.example.com/v1", configs: []string{none},
					warnings: []string{"openid_discovery_failed /components/securitySchemes/oidc/openIdConnectUrl", "no_security_schemes /components/securitySchemes"}},
				{name: "AWS SigV4", doc: oas3(v, srv, "    sigv4: {type: apiKey, in: header, name: Authorization, x-amazon-apigateway-authtype: awsSigv4}"),
					base: "https://api.example.com/v1", configs: []string{none},
					warnings: []string{"aws_sigv4 /components/securitySchemes/sigv4/x-amazon-apigateway-authtype", "no_security_schemes /components/securitySchemes"}},
				{name: "unknown type", doc: oas3(v, srv, "    x: {type: magic}"), base: "https://api.example.com/v1", configs: []string{none},
					warnings: []string{"unsupported_scheme /components/securitySchemes/x/type", "no_security_schemes /components/securitySchemes"}},
				{name: "no security schemes", doc: "openapi: " + v + "\ninfo: {title: T, version: '1'}\nservers: [{url: 'http://localhost:8080/'}]\npaths: {}\n",
					base: "http://localhost:8080", configs: []string{none}, warnings: []string{"no_security_schemes /components/securitySchemes"}},
				{name: "ids made valid and unique", doc: oas3(v, srv, "    'my key/v2': {type: apiKey, in: header, name: A}\n    'my-key-v2': {type: apiKey, in: header, name: B}\n    ' ': {type: http, scheme: basic}"),
					base: "https://api.example.com/v1",
					configs: []string{`{"basicAuth":{"description":"","id":"basic-auth"},"type":"basic-auth"}`,
						`{"apiKey":{"description":"","id":"my-key-v2","in":"header","name":"A"},"type":"api-key"}`,
						`{"apiKey":{"description":"","id":"my-key-v2-2","in":"header","name":"B"},"type":"api-key"}`}},
				{name: "schemes option keeps some", doc: oas3(v, srv, "    a: {type: http, scheme: basic}\n    b: {type: mutualTLS}"),
					opts: importer.Options{Schemes: []string{"b"}}, base: "https://api.example.com/v1",
					configs: []string{`{"certificate":{"description":"","id":"b"},"type":"certificate"}`}},
				{name: "server variables and index", doc: oas3(v, `servers:
- url: https://a.example.com
- url: 'https://{region}.example.com:{port}/{base}'
  variables:
    region: {default: eu, enum: [eu, us]}
    port: {default: '8443'}
    base: {default: v2}`, "    b: {type: http, scheme: basic}"),
					opts: importer.Options{Server: 1}, base: "https://eu.example.com:8443/v2",
					configs: []string{`{"basicAuth":{"description":"","id":"b"},"type":"basic-auth"}`},
					warnings: []string{"server_variable /servers/1/variables/region", "server_variable /servers/1/variables/port",
						"server_variable /servers/1/variables/base"}},
				{name: "relative server against the document URL", doc: oas3(v, "servers: [{url: /api}]", "    b: {type: http, scheme: basic}"),
					opts: importer.Options{DocumentURL: "https://docs.example.com/openapi.yaml"}, base: "https://docs.example.com/api",
					configs: []string{`{"basicAuth":{"description":"","id":"b"},"type":"basic-auth"}`}},
			})
		})
	}
}

func TestSwagger2Mapping(t *testing.T) {
	doc := func(head, defs string) string {
		return `{"swagger":"2.0","info":{"title":"Swagger API","version":"1"},` + head + `"paths":{},"securityDefinitions":{` + defs + `}}`
	}
	h := `"host":"api.example.com","basePath":"/v2","schemes":["http","https"],`
	runCases(t, []mappingCase{
		{name: "apiKey", doc: doc(h, `"k":{"type":"apiKey","in":"header","name":"api_key"}`), base: "https://api.example.com/v2",
			configs: []string{`{"apiKey":{"description":"","id":"k","in":"header","name":"api_key"},"type":"api-key"}`}},
		{name: "basic", doc: doc(h, `"b":{"type":"basic"}`), base: "https://api.example.com/v2",
			configs: []string{`{"basicAuth":{"description":"","id":"b"},"type":"basic-auth"}`}},
		{name: "oauth2 accessCode", doc: doc(h, `"o":{"type":"oauth2","flow":"accessCode","authorizationUrl":"https://x.example.com/auth","tokenUrl":"/token","scopes":{"a":"A"}}`),
			base:    "https://api.example.com/v2",
			configs: []string{`{"oauth2":{"authorizeUrl":"https://x.example.com/auth","defaultScopes":[],"description":"","grant":{"type":"authorizationCode"},"id":"o","scopes":[{"description":"A","name":"a"}],"tokenUrl":"https://api.example.com/token"},"type":"oauth2"}`}},
		{name: "oauth2 application and password", doc: doc(`"host":"h.example.com",`, `"a":{"type":"oauth2","flow":"application","tokenUrl":"https://h.example.com/t"},"p":{"type":"oauth2","flow":"password","tokenUrl":"https://h.example.com/t"}`),
			base: "https://h.example.com",
			configs: []string{`{"oauth2":{"defaultScopes":[],"description":"","grant":{"clientCredentials":{},"type":"clientCredentials"},"id":"a","scopes":[],"tokenUrl":"https://h.example.com/t"},"type":"oauth2"}`,
				`{"oauth2":{"defaultScopes":[],"description":"","grant":{"type":"password"},"id":"p","scopes":[],"tokenUrl":"https://h.example.com/t"},"type":"oauth2"}`}},
		{name: "oauth2 implicit", doc: doc(h, `"i":{"type":"oauth2","flow":"implicit","authorizationUrl":"https://x.example.com/a"}`), base: "https://api.example.com/v2",
			configs: []string{none}, warnings: []string{"implicit_flow /securityDefinitions/i/flow", "no_security_schemes /securityDefinitions"}},
		{name: "AWS SigV4", doc: doc(h, `"s":{"type":"apiKey","in":"header","name":"Authorization","x-amazon-apigateway-authtype":"awsSigv4"}`), base: "https://api.example.com/v2",
			configs: []string{none}, warnings: []string{"aws_sigv4 /securityDefinitions/s/x-amazon-apigateway-authtype", "no_security_schemes /securityDefinitions"}},
		{name: "unknown type", doc: doc(h, `"u":{"type":"weird"}`), base: "https://api.example.com/v2",
			configs: []string{none}, warnings: []string{"unsupported_scheme /securityDefinitions/u/type", "no_security_schemes /securityDefinitions"}},
		{name: "no host", doc: doc(`"basePath":"/v1",`, ``), configs: []string{none},
			warnings: []string{"no_server /host", "no_security_schemes /securityDefinitions"}},
		{name: "no host, document URL", doc: doc(`"basePath":"/v1",`, `"b":{"type":"basic"}`), opts: importer.Options{DocumentURL: "http://files.example.com/x/swagger.json"},
			base: "http://files.example.com/v1", configs: []string{`{"basicAuth":{"description":"","id":"b"},"type":"basic-auth"}`}},
	})
}

func postman(schema, auth, folders, variables string) string {
	return `{"info":{"_postman_id":"1","name":"Postman API","schema":"https://schema.getpostman.com/json/collection/` + schema + `/collection.json"},` +
		`"auth":` + auth + `,"item":[` + folders + `],"variable":[` + variables + `]}`
}

func TestPostmanMapping(t *testing.T) {
	base := `{"key":"baseUrl","value":"https://api.example.com/v3/"}`
	runCases(t, []mappingCase{
		{name: "v2.1 apikey query", doc: postman("v2.1.0", `{"type":"apikey","apikey":[{"key":"value","value":"SECRET-VALUE"},{"key":"key","value":"token"},{"key":"in","value":"query"}]}`, ``, base),
			base: "https://api.example.com/v3", configs: []string{`{"apiKey":{"description":"","id":"apikey","in":"query","name":"token"},"type":"api-key"}`}},
		{name: "v2.0 apikey object", doc: postman("v2.0.0", `{"type":"apikey","apikey":{"key":"X-Key","value":"SECRET-VALUE"}}`, ``, base),
			base: "https://api.example.com/v3", configs: []string{`{"apiKey":{"description":"","id":"apikey","in":"header","name":"X-Key"},"type":"api-key"}`}},
		{name: "basic", doc: postman("v2.1.0", `{"type":"basic","basic":[{"key":"password","value":"SECRET-VALUE"}]}`, ``, base),
			base: "https://api.example.com/v3", configs: []string{`{"basicAuth":{"description":"","id":"basic"},"type":"basic-auth"}`}},
		{name: "bearer", doc: postman("v2.1.0", `{"type":"bearer","bearer":[{"key":"token","value":"SECRET-VALUE"}]}`, ``, base),
			base: "https://api.example.com/v3", configs: []string{`{"apiKey":{"description":"","id":"bearer","in":"header","name":"Authorization","prefix":"Bearer "},"type":"api-key"}`}},
		{name: "jwt", doc: postman("v2.1.0", `{"type":"jwt","jwt":[{"key":"secret","value":"SECRET-VALUE"},{"key":"addTokenTo","value":"header"}]}`, ``, base),
			base: "https://api.example.com/v3", configs: []string{`{"jwtBearer":{"description":"","id":"jwt"},"type":"jwt-bearer"}`}},
		{name: "oauth2 pkce", doc: postman("v2.1.0", `{"type":"oauth2","oauth2":[{"key":"grant_type","value":"authorization_code_with_pkce"},{"key":"authUrl","value":"https://id.example.com/a"},{"key":"accessTokenUrl","value":"https://id.example.com/t"},{"key":"scope","value":"read write"},{"key":"clientSecret","value":"SECRET-VALUE"}]}`, ``, base),
			base:    "https://api.example.com/v3",
			configs: []string{`{"oauth2":{"authorizeUrl":"https://id.example.com/a","defaultScopes":[],"description":"","grant":{"type":"authorizationCode"},"id":"oauth2","pkce":true,"scopes":[{"name":"read"},{"name":"write"}],"tokenUrl":"https://id.example.com/t"},"type":"oauth2"}`}},
		{name: "oauth2 client credentials", doc: postman("v2.1.0", `{"type":"oauth2","oauth2":[{"key":"grant_type","value":"client_credentials"},{"key":"accessTokenUrl","value":"https://id.example.com/t"}]}`, ``, base),
			base:    "https://api.example.com/v3",
			configs: []string{`{"oauth2":{"defaultScopes":[],"description":"","grant":{"clientCredentials":{},"type":"clientCredentials"},"id":"oauth2","scopes":[],"tokenUrl":"https://id.example.com/t"},"type":"oauth2"}`}},
		{name: "oauth2 implicit", doc: postman("v2.1.0", `{"type":"oauth2","oauth2":[{"key":"grant_type","value":"implicit"}]}`, ``, base),
			base: "https://api.example.com/v3", configs: []string{none}, warnings: []string{"implicit_flow /auth", "no_security_schemes /auth"}},
		{name: "oauth1", doc: postman("v2.1.0", `{"type":"oauth1","oauth1":[{"key":"signatureMethod","value":"HMAC-SHA256"}]}`, ``, base),
			base: "https://api.example.com/v3", configs: []string{none}, warnings: []string{"oauth1_needs_consumer /auth", "no_security_schemes /auth"}},
		{name: "digest unsupported", doc: postman("v2.1.0", `{"type":"digest","digest":[]}`, ``, base),
			base: "https://api.example.com/v3", configs: []string{none}, warnings: []string{"unsupported_scheme /auth", "no_security_schemes /auth"}},
		{name: "folders", doc: postman("v2.1.0", `{"type":"bearer","bearer":[]}`,
			`{"name":"Admin area","auth":{"type":"basic","basic":[]},"item":[{"name":"Deep","auth":{"type":"bearer"},"item":[{"name":"r","request":{"url":"https://x"}}]}]},`+
				`{"name":"req","request":{"method":"GET","url":{"raw":"{{baseUrl}}/x"}}}`, base),
			base: "https://api.example.com/v3",
			configs: []string{`{"apiKey":{"description":"","id":"bearer","in":"header","name":"Authorization","prefix":"Bearer "},"type":"api-key"}`,
				`{"basicAuth":{"description":"","id":"Admin-area"},"type":"basic-auth"}`}},
		{name: "base URL from a request", doc: postman("v2.1.0", `null`,
			`{"name":"req","request":{"method":"GET","url":{"raw":"https://{{host}}/v1/things?x=1"}}}`, `{"key":"host","value":"api.example.org"}`),
			base: "https://api.example.org", configs: []string{none}, warnings: []string{"no_security_schemes /auth"}},
		{name: "a secret variable is never put into the base URL", doc: postman("v2.1.0", `null`, ``,
			`{"key":"baseUrl","value":"https://api.example.com/{{apiKey}}/v1"},{"key":"apiKey","value":"SECRET-VALUE"}`),
			configs: []string{none}, warnings: []string{"no_server /variable", "no_security_schemes /auth"}},
		{name: "a secret variable in a request's host", doc: postman("v2.1.0", `null`,
			`{"name":"req","request":{"method":"GET","url":{"raw":"https://{{token}}.example.org/v1"}}}`, `{"key":"token","value":"SECRET-VALUE"}`),
			configs: []string{none}, warnings: []string{"no_server /variable", "no_security_schemes /auth"}},
		{name: "no base URL", doc: postman("v2.1.0", `{"type":"basic"}`, ``, ``),
			configs: []string{`{"basicAuth":{"description":"","id":"basic"},"type":"basic-auth"}`}, warnings: []string{"no_server /variable"}},
	})
}

func TestNoSecretIsCopied(t *testing.T) {
	for _, auth := range []string{
		`{"type":"apikey","apikey":[{"key":"value","value":"SECRET-VALUE"},{"key":"key","value":"k"}]}`,
		`{"type":"basic","basic":[{"key":"password","value":"SECRET-VALUE"},{"key":"username","value":"SECRET-VALUE"}]}`,
		`{"type":"oauth2","oauth2":[{"key":"clientSecret","value":"SECRET-VALUE"},{"key":"clientId","value":"SECRET-VALUE"},{"key":"accessTokenUrl","value":"https://t.example.com"},{"key":"grant_type","value":"client_credentials"}]}`,
		`{"type":"jwt","jwt":[{"key":"secret","value":"SECRET-VALUE"}]}`,
	} {
		r, err := importer.Import(context.Background(), []byte(postman("v2.1.0", auth, ``, ``)), importer.Options{})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(r)
		if strings.Contains(string(b), "SECRET-VALUE") {
			t.Errorf("%s: the result holds a secret value: %s", auth, b)
		}
	}
}

func TestBadDocuments(t *testing.T) {
	cases := []struct {
		name, doc string
		opts      importer.Options
		field     string
	}{
		{"empty", "", importer.Options{}, "body"},
		{"malformed JSON", `{"openapi": "3.0.0",`, importer.Options{}, "body"},
		{"malformed YAML", "openapi: [3.0\n  x: :", importer.Options{}, "body"},
		{"a YAML scalar", "just text", importer.Options{}, "body"},
		{"unknown OpenAPI version", `{"openapi":"4.0.0"}`, importer.Options{}, "body"},
		{"unknown Swagger version", `{"swagger":"1.2"}`, importer.Options{}, "body"},
		{"Postman v1", `{"info":{"schema":"https://schema.getpostman.com/json/collection/v1.0.0/collection.json"}}`, importer.Options{}, "body"},
		{"neither", `{"hello":"world"}`, importer.Options{}, "body"},
		{"servers of the wrong type", `{"openapi":"3.0.0","servers":"x"}`, importer.Options{}, "body"},
		{"unknown scheme kept", `{"openapi":"3.0.0","components":{"securitySchemes":{"a":{"type":"http","scheme":"basic"}}}}`,
			importer.Options{Schemes: []string{"b"}}, "schemes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := importer.Import(context.Background(), []byte(tc.doc), tc.opts)
			var pe *plugboard.Error
			if !errors.As(err, &pe) || pe.Code != plugboard.EInvalid || len(pe.Fields) != 1 || pe.Fields[0].Field != tc.field {
				t.Fatalf("err = %#v, want invalid_argument naming %s", err, tc.field)
			}
		})
	}
}
