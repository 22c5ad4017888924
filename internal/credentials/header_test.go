package credentials

import (
	"slices"
	"strings"
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard/api"
)

// Names and values that end up in request headers, cookies or queries must fit there: a CR LF in
// an api-key or hmac header name used to be stored, and then broke every proxied request (a
// misleading 502) and was handed to clients by the access endpoint.
func TestHeaderNamesAndValues(t *testing.T) {
	const S = "authSchemeConfigs[0]"
	apiKey := func(name string, in api.AuthSchemeConfigAPIKeyIn) api.AuthSchemeConfig {
		c := goodConfig("api-key")
		c.ApiKey.Name, c.ApiKey.In = name, in
		return c
	}
	hmac := func(name string, in api.AuthSchemeConfigHMACIn) api.AuthSchemeConfig {
		c := goodConfig("hmac")
		c.Hmac.Name, c.Hmac.In = name, in
		return c
	}
	hmacExt := func(prefix, tsHeader string) api.AuthSchemeConfig {
		c := goodConfig("hmac")
		c.Hmac.Prefix, c.Hmac.TimestampHeader = prefix, tsHeader
		if tsHeader != "" {
			c.Hmac.Template = "{timestamp}.{body}"
			c.Hmac.DigestInputs = []api.AuthSchemeConfigHMACDigestInputs{api.Body}
		}
		return c
	}
	apiKeyPrefix := func(prefix string) api.AuthSchemeConfig {
		c := goodConfig("api-key")
		c.ApiKey.Name, c.ApiKey.In, c.ApiKey.Prefix = "Authorization", api.AuthSchemeConfigAPIKeyInHeader, prefix
		return c
	}
	header, cookie, query := api.AuthSchemeConfigAPIKeyInHeader, api.AuthSchemeConfigAPIKeyInCookie, api.AuthSchemeConfigAPIKeyInQuery
	hHeader, hCookie, hQuery := api.AuthSchemeConfigHMACInHeader, api.AuthSchemeConfigHMACInCookie, api.AuthSchemeConfigHMACInQuery
	configs := []struct {
		name  string
		cfg   api.AuthSchemeConfig
		field string // "" when valid
	}{
		{"api-key header token", apiKey("X-Api-Key", header), ""},
		{"api-key header with tchars", apiKey("x_api.key~1!#$%&'*+^`|", header), ""},
		{"api-key header CR LF", apiKey("X-A\r\nX-Injected", header), "apiKey.name"},
		{"api-key header space", apiKey("X Api Key", header), "apiKey.name"},
		{"api-key header colon", apiKey("X-Api-Key:", header), "apiKey.name"},
		{"api-key header non-ASCII", apiKey("X-Clé", header), "apiKey.name"},
		{"api-key cookie token", apiKey("session_id", cookie), ""},
		{"api-key cookie separator", apiKey("session;id", cookie), "apiKey.name"},
		{"api-key cookie equals", apiKey("a=b", cookie), "apiKey.name"},
		{"api-key query with space", apiKey("api key", query), ""},
		{"api-key query non-ASCII", apiKey("clé", query), ""},
		{"api-key query newline", apiKey("api\nkey", query), "apiKey.name"},
		{"api-key query DEL", apiKey("api\x7fkey", query), "apiKey.name"},
		{"api-key prefix Bearer", apiKeyPrefix("Bearer "), ""},
		{"api-key prefix CR LF", apiKeyPrefix("Bearer\r\nX-Injected: 1 "), "apiKey.prefix"},
		{"api-key prefix too long", apiKeyPrefix(strings.Repeat("p", 65)), "apiKey.prefix"},
		{"hmac header token", hmac("X-Signature", hHeader), ""},
		{"hmac header CR LF", hmac("X-Sig\r\nX-Injected: 1", hHeader), "hmac.name"},
		{"hmac cookie space", hmac("sig nature", hCookie), "hmac.name"},
		{"hmac query tab", hmac("sig\tnature", hQuery), "hmac.name"},
		{"hmac query token", hmac("signature", hQuery), ""},
		{"hmac prefix", hmacExt("sha256=", ""), ""},
		{"hmac prefix CR LF", hmacExt("v0=\r\nX-Injected: 1", ""), "hmac.prefix"},
		{"hmac prefix space", hmacExt("t= ", ""), "hmac.prefix"},
		{"hmac prefix non-ASCII", hmacExt("é=", ""), "hmac.prefix"},
		{"hmac timestamp header token", hmacExt("", "X-Request-Timestamp"), ""},
		{"hmac timestamp header CR LF", hmacExt("", "X-Ts\r\nX-Injected: 1"), "hmac.timestampHeader"},
		{"hmac timestamp header colon", hmacExt("", "X-Ts:"), "hmac.timestampHeader"},
	}
	for _, c := range configs {
		for _, path := range []string{"", S} {
			errs := ValidateAuthSchemeConfig(c.cfg, path)
			var want []string
			if c.field != "" {
				want = []string{join(path, c.field)}
			}
			if got := fieldsOf(errs); !slices.Equal(got, want) {
				t.Errorf("%s at %q: fields %q, want %q", c.name, path, got, want)
			}
		}
	}

	creds := []struct {
		name  string
		typ   api.CredentialType
		id    string
		edit  func(d *api.CredentialData)
		field string
	}{
		{"jwt prefix JWT", api.CredentialTypeJwtBearer, "jwt", func(d *api.CredentialData) { d.JwtBearer.AuthorizationHeaderPrefix = "JWT" }, ""},
		{"jwt prefix empty", api.CredentialTypeJwtBearer, "jwt", func(d *api.CredentialData) { d.JwtBearer.AuthorizationHeaderPrefix = "" }, ""},
		{"jwt prefix CR LF", api.CredentialTypeJwtBearer, "jwt", func(d *api.CredentialData) { d.JwtBearer.AuthorizationHeaderPrefix = "JWT\r\nX-Injected:" },
			D + ".jwtBearer.authorizationHeaderPrefix"},
		{"jwt prefix two words", api.CredentialTypeJwtBearer, "jwt", func(d *api.CredentialData) { d.JwtBearer.AuthorizationHeaderPrefix = "Bearer JWT" },
			D + ".jwtBearer.authorizationHeaderPrefix"},
		{"jwt prefix trailing space", api.CredentialTypeJwtBearer, "jwt", func(d *api.CredentialData) { d.JwtBearer.AuthorizationHeaderPrefix = "Bearer " },
			D + ".jwtBearer.authorizationHeaderPrefix"},
		{"token type bearer", api.CredentialTypeOauth2Token, "oauth2-code", func(d *api.CredentialData) { d.Oauth2Token.TokenType = "bearer" }, ""},
		{"token type empty", api.CredentialTypeOauth2Token, "oauth2-code", func(d *api.CredentialData) { d.Oauth2Token.TokenType = "" }, ""},
		{"token type LF", api.CredentialTypeOauth2Token, "oauth2-code", func(d *api.CredentialData) { d.Oauth2Token.TokenType = "Bearer\nX-Injected: 1" },
			D + ".oauth2Token.tokenType"},
		{"token type two words", api.CredentialTypeOauth2Token, "oauth2-code", func(d *api.CredentialData) { d.Oauth2Token.TokenType = "Bearer x" },
			D + ".oauth2Token.tokenType"},
		{"token type tab", api.CredentialTypeOauth2Token, "oauth2-code", func(d *api.CredentialData) { d.Oauth2Token.TokenType = "\tBearer" },
			D + ".oauth2Token.tokenType"},
	}
	for _, c := range creds {
		_, errs := ValidateCredential(cc(cred(c.typ, with(c.typ, c.edit)), ref(c.id)), offeredConfigs(), ulid.ULID{}, P)
		var want []string
		if c.field != "" {
			want = []string{c.field}
		}
		if got := fieldsOf(errs); !slices.Equal(got, want) {
			t.Errorf("%s: fields %q, want %q", c.name, got, want)
		}
		for _, e := range errs {
			if strings.Contains(e.Message, "Injected") {
				t.Errorf("%s: message quotes the value: %s", c.name, e.Message)
			}
		}
	}
}
