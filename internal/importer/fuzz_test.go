package importer_test

import (
	"context"
	"errors"
	"testing"

	"github.com/plugboard/plugboard/internal/credentials"
	"github.com/plugboard/plugboard/internal/importer"
)

// FuzzImport feeds arbitrary documents to Import: it must never panic, and whatever it returns
// must be storable (every config valid, ids unique).
//
//	go test ./internal/importer/ -run '^$' -fuzz FuzzImport -fuzztime 60s
func FuzzImport(f *testing.F) {
	for _, seed := range []string{
		oas3("3.0.3", "servers: [{url: 'https://{r}.example.com', variables: {r: {default: eu}}}]", "    k: {type: apiKey, in: header, name: X}\n    o: {type: oauth2, flows: {authorizationCode: {authorizationUrl: /a, tokenUrl: /t, scopes: {a: b}}}}"),
		oas3("3.1.0", "", "    m: {type: mutualTLS}\n    oidc: {type: openIdConnect, openIdConnectUrl: /x}\n    r: {$ref: '#/components/securitySchemes/m'}"),
		`{"swagger":"2.0","host":"h","securityDefinitions":{"o":{"type":"oauth2","flow":"accessCode","authorizationUrl":"/a","tokenUrl":"/t"}}}`,
		postman("v2.1.0", `{"type":"oauth2","oauth2":[{"key":"grant_type","value":"authorization_code_with_pkce"}]}`,
			`{"name":"f","auth":{"type":"apikey","apikey":{"key":"k"}},"item":[{"name":"x","item":[]}]}`, `{"key":"baseUrl","value":"https://x"}`),
		"openapi: 3.0.0\nservers: &a [*a]",
		`{"openapi":"3.0.0","components":{"securitySchemes":{"a":null}}}`,
		"- 1\n- 2",
	} {
		f.Add([]byte(seed))
	}
	fetch := func(context.Context, string) ([]byte, error) {
		return []byte(`{"authorization_endpoint":"/a","token_endpoint":"https://t.example.com","scopes_supported":["", "openid"]}`), nil
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		r, err := importer.Import(context.Background(), doc, importer.Options{Fetch: fetch, Server: 1})
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for i, c := range r.System.AuthSchemeConfigs {
			if errs := credentials.ValidateAuthSchemeConfig(c, ""); len(errs) > 0 {
				t.Fatalf("config %d is invalid: %v", i, errs)
			}
			id := credentials.ConfigID(c)
			if seen[id] {
				t.Fatalf("id %q twice", id)
			}
			seen[id] = true
		}
		if len(r.System.AuthSchemeConfigs) == 0 {
			t.Fatal(errors.New("no config"))
		}
	})
}
