package credentials

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/plugboard/plugboard/api"
)

// goodConfigs are valid configs as a client creates them, secrets included.
func goodConfigs() []api.AuthSchemeConfig {
	cfgs := offeredConfigs()
	for i := range cfgs {
		switch ConfigID(cfgs[i]) {
		case "oauth2-code":
			cfgs[i].Oauth2.Grant.AuthorizationCode.ClientSecret = ptr(secAuthCode)
			cfgs[i].Oauth2.Scopes = []api.OAuth2Scope{{Name: "read"}, {Name: "write", Description: "Write"}}
			cfgs[i].Oauth2.RedirectURL = "http://127.0.0.1:62168/oauth/callback"
			cfgs[i].Oauth2.Pkce = true
		case "oauth2-password":
			cfgs[i].Oauth2.Grant.Password.ClientSecret = ptr(secPwdGrant)
		case "oauth1", "oauth1-token":
			cfgs[i].Oauth1.ConsumerSecret = secConsumer
		}
	}
	return cfgs
}

func goodConfig(id string) api.AuthSchemeConfig {
	for _, c := range goodConfigs() {
		if ConfigID(c) == id {
			return c
		}
	}
	panic("no good config " + id)
}

func TestValidateAuthSchemeConfig(t *testing.T) {
	const S = "authSchemeConfigs[2]"
	type tc struct {
		name   string
		cfg    api.AuthSchemeConfig
		path   string
		fields []string
	}
	var cases []tc
	for _, c := range goodConfigs() {
		cases = append(cases, tc{name: "good " + ConfigID(c), cfg: c, path: S})
	}
	bad := func(name, id string, f func(c *api.AuthSchemeConfig), fields ...string) tc {
		c := goodConfig(id)
		f(&c)
		return tc{name: name, cfg: c, path: S, fields: fields}
	}
	cases = append(cases,
		tc{name: "top level good", cfg: goodConfig("api-key"), path: ""},
		tc{name: "top level bad api key", cfg: api.AuthSchemeConfig{Type: api.AuthSchemeTypeApiKey, ApiKey: &api.AuthSchemeConfigAPIKey{ID: "k", In: "header"}},
			fields: []string{"apiKey.name"}},
		tc{name: "top level type missing", fields: []string{"type"}},
		bad("type missing", "api-key", func(c *api.AuthSchemeConfig) { c.Type = "" }, S+".type"),
		bad("type unknown", "api-key", func(c *api.AuthSchemeConfig) { c.Type = "SECRET-kind" }, S+".type"),
		bad("member missing", "api-key", func(c *api.AuthSchemeConfig) { c.ApiKey = nil }, S+".apiKey"),
		bad("other members set", "api-key", func(c *api.AuthSchemeConfig) {
			c.BasicAuth = &api.AuthSchemeConfigBase{ID: "basic"}
			c.Oauth1 = goodConfig("oauth1").Oauth1
		}, S+".basicAuth", S+".oauth1"),
		bad("placeholder member missing", "basic", func(c *api.AuthSchemeConfig) { c.BasicAuth = nil }, S+".basicAuth"),
		bad("id empty", "api-key", func(c *api.AuthSchemeConfig) { c.ApiKey.ID = "" }, S+".apiKey.id"),
		bad("id 100 characters", "jwt", func(c *api.AuthSchemeConfig) { c.JwtBearer.ID = strings.Repeat("é", 100) }),
		bad("id too long", "jwt", func(c *api.AuthSchemeConfig) { c.JwtBearer.ID = strings.Repeat("a", 101) }, S+".jwtBearer.id"),
		bad("id with slash", "none", func(c *api.AuthSchemeConfig) { c.None.ID = "SECRET/x" }, S+".none.id"),
		bad("id with space", "cert", func(c *api.AuthSchemeConfig) { c.Certificate.ID = "SECRET x" }, S+".certificate.id"),
		bad("id with tab", "secret", func(c *api.AuthSchemeConfig) { c.Secret.ID = "SECRET\tx" }, S+".secret.id"),
		bad("id a ULID", "secret", func(c *api.AuthSchemeConfig) { c.Secret.ID = "01HZX4R3JQ6Y7M8N9P0A1B2C3D" }),
		bad("api-key empty", "api-key", func(c *api.AuthSchemeConfig) { c.ApiKey.Name, c.ApiKey.In = "", "" }, S+".apiKey.name", S+".apiKey.in"),
		bad("api-key in body", "api-key", func(c *api.AuthSchemeConfig) { c.ApiKey.In = "body" }, S+".apiKey.in"),
		bad("api-key in query", "api-key", func(c *api.AuthSchemeConfig) { c.ApiKey.In = api.AuthSchemeConfigAPIKeyInQuery }),
		bad("hmac empty", "hmac", func(c *api.AuthSchemeConfig) {
			c.Hmac = &api.AuthSchemeConfigHMAC{ID: "hmac"}
		}, S+".hmac.name", S+".hmac.in", S+".hmac.algorithm", S+".hmac.digestInputs", S+".hmac.encoding"),
		bad("hmac bad enums", "hmac", func(c *api.AuthSchemeConfig) {
			c.Hmac.In, c.Hmac.Algorithm, c.Hmac.Encoding = "body", "md5", "base32"
			c.Hmac.DigestInputs = []api.AuthSchemeConfigHMACDigestInputs{api.Url, "headers", api.Body}
		}, S+".hmac.in", S+".hmac.algorithm", S+".hmac.digestInputs[1]", S+".hmac.encoding"),
		bad("hmac every good enum", "hmac", func(c *api.AuthSchemeConfig) {
			c.Hmac.In, c.Hmac.Algorithm, c.Hmac.Encoding = api.AuthSchemeConfigHMACInQuery, api.Sha512, api.Base64url
			c.Hmac.DigestInputs = []api.AuthSchemeConfigHMACDigestInputs{api.Url, api.Body}
		}),
		bad("hmac github's fields by hand", "hmac", func(c *api.AuthSchemeConfig) {
			c.Hmac.Name, c.Hmac.Encoding, c.Hmac.Prefix = "X-Hub-Signature-256", api.Hex, "sha256="
		}),
		bad("hmac slack's fields by hand", "hmac", func(c *api.AuthSchemeConfig) {
			c.Hmac.Prefix, c.Hmac.TimestampHeader, c.Hmac.TimestampTolerance = "v0=", "X-Slack-Request-Timestamp", 600
			c.Hmac.Template = "v0:{timestamp}:{body}"
		}),
		bad("hmac template over url and body", "hmac", func(c *api.AuthSchemeConfig) {
			c.Hmac.Template = "{url}\n{body}"
			c.Hmac.DigestInputs = []api.AuthSchemeConfigHMACDigestInputs{api.Url, api.Body}
		}),
		bad("hmac bad prefixes", "hmac", func(c *api.AuthSchemeConfig) { c.Hmac.Prefix = "SECRET \r\n" }, S+".hmac.prefix"),
		bad("hmac prefix with a semicolon", "hmac", func(c *api.AuthSchemeConfig) { c.Hmac.Prefix = "SECRET;" }, S+".hmac.prefix"),
		bad("hmac prefix too long", "hmac", func(c *api.AuthSchemeConfig) { c.Hmac.Prefix = strings.Repeat("a", 65) }, S+".hmac.prefix"),
		bad("hmac timestamp header not a token", "hmac", func(c *api.AuthSchemeConfig) {
			c.Hmac.TimestampHeader, c.Hmac.Template = "SECRET ts", "{timestamp}.{body}"
		}, S+".hmac.timestampHeader"),
		bad("hmac timestamp header unsigned", "hmac", func(c *api.AuthSchemeConfig) { c.Hmac.TimestampHeader = "X-Timestamp" }, S+".hmac.timestampHeader"),
		bad("hmac timestamp header, template without it", "hmac", func(c *api.AuthSchemeConfig) {
			c.Hmac.TimestampHeader, c.Hmac.Template = "X-Timestamp", "v1:{body}"
		}, S+".hmac.timestampHeader"),
		bad("hmac tolerance without header", "hmac", func(c *api.AuthSchemeConfig) { c.Hmac.TimestampTolerance = 60 }, S+".hmac.timestampTolerance"),
		bad("hmac tolerance out of range", "hmac", func(c *api.AuthSchemeConfig) {
			c.Hmac.TimestampHeader, c.Hmac.Template, c.Hmac.TimestampTolerance = "X-Timestamp", "{timestamp}.{body}", 86401
		}, S+".hmac.timestampTolerance"),
		bad("hmac negative tolerance", "hmac", func(c *api.AuthSchemeConfig) {
			c.Hmac.TimestampHeader, c.Hmac.Template, c.Hmac.TimestampTolerance = "X-Timestamp", "{timestamp}.{body}", -1
		}, S+".hmac.timestampTolerance"),
		bad("hmac template with an unknown placeholder", "hmac", func(c *api.AuthSchemeConfig) { c.Hmac.Template = "{body}{SECRET}" }, S+".hmac.template"),
		bad("hmac template with a stray brace", "hmac", func(c *api.AuthSchemeConfig) { c.Hmac.Template = "SECRET}{body}" }, S+".hmac.template"),
		bad("hmac template over fixed text", "hmac", func(c *api.AuthSchemeConfig) { c.Hmac.Template = "SECRET" }, S+".hmac.template"),
		bad("hmac template's timestamp without header", "hmac", func(c *api.AuthSchemeConfig) { c.Hmac.Template = "{timestamp}:{body}" }, S+".hmac.template"),
		bad("hmac template and digestInputs disagree", "hmac", func(c *api.AuthSchemeConfig) { c.Hmac.Template = "{url}" }, S+".hmac.digestInputs"),
		bad("hmac unknown preset", "hmac", func(c *api.AuthSchemeConfig) { c.Hmac.Preset = "SECRET" }, S+".hmac.preset"),
		bad("hmac preset contradicted", "hmac", func(c *api.AuthSchemeConfig) {
			c.Hmac.Preset = api.Shopify
			c.Hmac.Prefix = "SECRET="
		}, S+".hmac.name", S+".hmac.encoding", S+".hmac.prefix"),
		bad("hmac preset with its own fields", "hmac", func(c *api.AuthSchemeConfig) {
			c.Hmac = &api.AuthSchemeConfigHMAC{ID: "hmac", Preset: api.Github, Name: "X-Hub-Signature-256", In: "header", Algorithm: api.Sha256,
				DigestInputs: []api.AuthSchemeConfigHMACDigestInputs{api.Body}, Encoding: api.Hex, Prefix: "sha256="}
		}),
		bad("oauth2 token url missing", "oauth2-client", func(c *api.AuthSchemeConfig) { c.Oauth2.TokenURL = "" }, S+".oauth2.tokenUrl"),
		bad("oauth2 token url not a URL", "oauth2-client", func(c *api.AuthSchemeConfig) { c.Oauth2.TokenURL = "SECRET token" }, S+".oauth2.tokenUrl"),
		bad("oauth2 token url templated", "oauth2-client", func(c *api.AuthSchemeConfig) {
			c.Oauth2.TokenURL = "https://{shop}.myshopify.com/admin/oauth/access_token"
		}),
		bad("oauth2 authorization code without authorize url", "oauth2-code", func(c *api.AuthSchemeConfig) { c.Oauth2.AuthorizeURL = "" }, S+".oauth2.authorizeUrl"),
		bad("oauth2 client credentials without authorize url", "oauth2-client", func(c *api.AuthSchemeConfig) { c.Oauth2.AuthorizeURL = "" }),
		bad("oauth2 javascript authorize url", "oauth2-password", func(c *api.AuthSchemeConfig) { c.Oauth2.AuthorizeURL = "javascript:alert('SECRET')" }, S+".oauth2.authorizeUrl"),
		bad("oauth2 relative redirect url", "oauth2-code", func(c *api.AuthSchemeConfig) { c.Oauth2.RedirectURL = "/SECRET/callback" }, S+".oauth2.redirectUrl"),
		bad("oauth2 custom scheme redirect url", "oauth2-code", func(c *api.AuthSchemeConfig) { c.Oauth2.RedirectURL = "myapp://callback" }),
		bad("oauth2 grant type missing", "oauth2-client", func(c *api.AuthSchemeConfig) { c.Oauth2.Grant.Type = "" }, S+".oauth2.grant.type"),
		bad("oauth2 grant type implicit", "oauth2-client", func(c *api.AuthSchemeConfig) { c.Oauth2.Grant.Type = "implicit" }, S+".oauth2.grant.type"),
		bad("oauth2 unnamed scope", "oauth2-code", func(c *api.AuthSchemeConfig) {
			c.Oauth2.Scopes = append(c.Oauth2.Scopes, api.OAuth2Scope{Description: "SECRET scope"})
		}, S+".oauth2.scopes[2].name"),
		bad("oauth1 empty", "oauth1-token", func(c *api.AuthSchemeConfig) {
			c.Oauth1.ConsumerKey, c.Oauth1.ConsumerSecret, c.Oauth1.SignatureMethod = "", "", ""
		}, S+".oauth1.consumerKey", S+".oauth1.consumerSecret", S+".oauth1.signatureMethod"),
		bad("oauth1 plaintext signature", "oauth1", func(c *api.AuthSchemeConfig) { c.Oauth1.SignatureMethod = "PLAINTEXT" }, S+".oauth1.signatureMethod"),
		bad("oauth1 endpoints missing", "oauth1", func(c *api.AuthSchemeConfig) {
			c.Oauth1.TempCredentialEndpoint, c.Oauth1.ResourceOwnerAuthorizationEndpoint, c.Oauth1.TokenEndpoint = nil, nil, nil
		}, S+".oauth1.tempCredentialEndpoint", S+".oauth1.resourceOwnerAuthorizationEndpoint", S+".oauth1.tokenEndpoint"),
		bad("oauth1 endpoint urls bad", "oauth1", func(c *api.AuthSchemeConfig) {
			c.Oauth1.TempCredentialEndpoint.Url = ""
			c.Oauth1.TokenEndpoint.Url = "/SECRET/access_token"
		}, S+".oauth1.tempCredentialEndpoint.url", S+".oauth1.tokenEndpoint.url"),
		bad("oauth1 parameter transmission", "oauth1", func(c *api.AuthSchemeConfig) {
			c.Oauth1.TokenEndpoint.ParameterTransmission = ptr(api.EndpointParameterTransmission("SECRET_STYLE"))
			c.Oauth1.TempCredentialEndpoint.ParameterTransmission = ptr(api.AUTHSTYLEFORM)
		}, S+".oauth1.tokenEndpoint.parameterTransmission"),
		bad("oauth1 templated endpoint", "oauth1", func(c *api.AuthSchemeConfig) {
			c.Oauth1.TokenEndpoint.Url = "https://{region}.example.com/oauth/{version}/access_token"
		}),
		bad("oauth1 token auth with bad optional endpoint", "oauth1-token", func(c *api.AuthSchemeConfig) {
			c.Oauth1.TokenEndpoint = &api.Endpoint{Url: "SECRET"}
			c.Oauth1.TempCredentialEndpoint = &api.Endpoint{}
		}, S+".oauth1.tokenEndpoint.url"),
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			errs := ValidateAuthSchemeConfig(c.cfg, c.path)
			if got := fieldsOf(errs); !slices.Equal(got, c.fields) {
				t.Errorf("fields = %q, want %q\nerrors: %v", got, c.fields, errs)
			}
			for _, e := range errs {
				if e.Message == "" {
					t.Errorf("%s: empty message", e.Field)
				}
				if strings.Contains(e.Message, "SECRET") || strings.Contains(e.Field, "SECRET") {
					t.Errorf("%s: %q quotes a submitted value", e.Field, e.Message)
				}
			}
		})
	}
}

func TestConfigID(t *testing.T) {
	for _, c := range goodConfigs() {
		id, ok := configID(c)
		if !ok || id == "" || ConfigID(c) != id {
			t.Errorf("%s: configID = %q, %v", c.Type, id, ok)
		}
		c.Type = "nope"
		if ConfigID(c) != "" {
			t.Errorf("unknown type has id %q", ConfigID(c))
		}
	}
	for _, k := range schemeKinds {
		if got := ConfigID(api.AuthSchemeConfig{Type: k.typ}); got != "" {
			t.Errorf("%s without member: %q", k.typ, got)
		}
	}
}

// TestExpandPreset: a preset fills in what the config leaves out, the result validates, and it
// is each sender's documented signature; fields sent with other values are kept, to be refused.
func TestExpandPreset(t *testing.T) {
	for _, p := range []api.AuthSchemeConfigHMACPreset{api.Github, api.Shopify, api.Slack} {
		cfg := api.AuthSchemeConfig{Type: api.AuthSchemeTypeHmac, Hmac: &api.AuthSchemeConfigHMAC{ID: "in", Preset: p}}
		if errs := ValidateAuthSchemeConfig(cfg, ""); len(errs) == 0 {
			t.Errorf("%s: an unexpanded preset validated", p)
		}
		ExpandPreset(&cfg)
		if errs := ValidateAuthSchemeConfig(cfg, ""); len(errs) > 0 {
			t.Errorf("%s: expanded config refused: %v", p, errs)
		}
		h := cfg.Hmac
		var got string
		switch p {
		case api.Github:
			got = fmt.Sprint(h.Name, h.In, h.Algorithm, h.DigestInputs, h.Encoding, h.Prefix, h.TimestampHeader, h.Template)
			if want := fmt.Sprint("X-Hub-Signature-256", "header", "sha256", "[body]", "hex", "sha256=", "", ""); got != want {
				t.Errorf("github: %s, want %s", got, want)
			}
		case api.Shopify:
			got = fmt.Sprint(h.Name, h.In, h.Algorithm, h.DigestInputs, h.Encoding, h.Prefix, h.TimestampHeader, h.Template)
			if want := fmt.Sprint("X-Shopify-Hmac-Sha256", "header", "sha256", "[body]", "base64", "", "", ""); got != want {
				t.Errorf("shopify: %s, want %s", got, want)
			}
		case api.Slack:
			got = fmt.Sprint(h.Name, h.In, h.Algorithm, h.DigestInputs, h.Encoding, h.Prefix, h.TimestampHeader, h.Template)
			if want := fmt.Sprint("X-Slack-Signature", "header", "sha256", "[body]", "hex", "v0=", "X-Slack-Request-Timestamp", "v0:{timestamp}:{body}"); got != want {
				t.Errorf("slack: %s, want %s", got, want)
			}
		}
		if h.TimestampTolerance != 0 {
			t.Errorf("%s: the preset set a tolerance", p)
		}
	}
	// A field sent with another value is kept, and refused.
	cfg := api.AuthSchemeConfig{Type: api.AuthSchemeTypeHmac, Hmac: &api.AuthSchemeConfigHMAC{ID: "in", Preset: api.Github, Encoding: api.Base64}}
	ExpandPreset(&cfg)
	if cfg.Hmac.Encoding != api.Base64 {
		t.Errorf("encoding overwritten: %s", cfg.Hmac.Encoding)
	}
	if got := fieldsOf(ValidateAuthSchemeConfig(cfg, "")); !slices.Equal(got, []string{"hmac.encoding"}) {
		t.Errorf("fields %v, want hmac.encoding", got)
	}
	// Other configs are left alone.
	other := goodConfig("api-key")
	ExpandPreset(&other)
	if fmt.Sprint(other.ApiKey) != fmt.Sprint(goodConfig("api-key").ApiKey) {
		t.Error("an api-key config changed")
	}
}
