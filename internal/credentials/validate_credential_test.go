package credentials

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
)

const (
	P = "connection.credentials[0]"
	C = P + ".credential"
	D = C + ".data"
	A = P + ".authSchemeConfig"
)

func cred(typ api.CredentialType, d *api.CredentialData) *api.Credential {
	return &api.Credential{Type: typ, Data: d}
}

func cc(c *api.Credential, cfg *api.AuthSchemeConfig) api.ConnectionCredential {
	return api.ConnectionCredential{Credential: c, AuthSchemeConfig: cfg}
}

// with returns good data for typ changed by f.
func with(typ api.CredentialType, f func(d *api.CredentialData)) *api.CredentialData {
	d := goodData(typ)
	f(d)
	return d
}

type credCase struct {
	name   string
	cc     api.ConnectionCredential
	fields []string
	// matched is the id of the offered config ValidateCredential should return; "" for nil.
	matched string
}

func credentialCases() []credCase {
	p := pki()
	str, bin, basic := api.CredentialTypeString, api.CredentialTypeBinary, api.CredentialTypeBasicAuth
	o2c, o2code, o2pw, o2tok := api.CredentialTypeOauth2Client, api.CredentialTypeOauth2Code, api.CredentialTypeOauth2Password, api.CredentialTypeOauth2Token
	o1, o1t, cert, jwt := api.CredentialTypeOauth1, api.CredentialTypeOauth1Token, api.CredentialTypeCertificate, api.CredentialTypeJwtBearer
	none := api.CredentialTypeNone
	good := func(typ api.CredentialType, id string) credCase {
		return credCase{name: "good " + string(typ) + " with " + id, cc: cc(cred(typ, goodData(typ)), ref(id)), matched: id}
	}
	bad := func(name string, typ api.CredentialType, id string, f func(d *api.CredentialData), fields ...string) credCase {
		return credCase{name: name, cc: cc(cred(typ, with(typ, f)), ref(id)), fields: fields, matched: id}
	}
	certData := func(cert, key, ca string) func(d *api.CredentialData) {
		return func(d *api.CredentialData) {
			d.Certificate = &api.CredentialDataCertificate{Certificate: cert, Key: key, Ca: ca}
		}
	}
	jwtData := func(alg api.CredentialDataJWTBearerAlgorithm, secret, expires string) func(d *api.CredentialData) {
		return func(d *api.CredentialData) {
			d.JwtBearer = &api.CredentialDataJWTBearer{Algorithm: alg, Secret: secret, ExpiresIn: expires}
		}
	}

	cases := []credCase{
		// Every credential type with every config it may be used with.
		good(none, "none"),
		good(str, "api-key"), good(str, "hmac"), good(str, "secret"),
		good(bin, "hmac"), good(bin, "secret"),
		good(basic, "basic"),
		good(o2c, "oauth2-client"),
		good(o2code, "oauth2-code"),
		good(o2pw, "oauth2-password"),
		good(o2tok, "oauth2-code"), good(o2tok, "oauth2-password"),
		good(o1, "oauth1"),
		good(o1t, "oauth1-token"),
		good(cert, "cert"),
		good(jwt, "jwt"),

		// The credential itself.
		{name: "credential missing", cc: cc(nil, ref("api-key")), fields: []string{C}, matched: "api-key"},
		{name: "type missing", cc: cc(cred("", goodData(str)), ref("api-key")), fields: []string{C + ".type"}, matched: "api-key"},
		{name: "type unknown", cc: cc(cred("SECRET-type", goodData(str)), ref("api-key")), fields: []string{C + ".type"}, matched: "api-key"},
		{name: "organisation of another tenant", cc: cc(&api.Credential{Type: str, Data: goodData(str), OrganisationID: ulid.MustParse("01HZX4R3JQ6Y7M8N9P0A1B2C3E")}, ref("api-key")),
			fields: []string{C + ".organisationId"}, matched: "api-key"},
		{name: "organisation of the caller", cc: cc(&api.Credential{Type: str, Data: goodData(str), OrganisationID: testOrg, ID: ulid.Make()}, ref("api-key")), matched: "api-key"},

		// data holds exactly the member for the type.
		{name: "none with empty data", cc: cc(cred(none, &api.CredentialData{}), ref("none")), matched: "none"},
		{name: "none with data.none", cc: cc(cred(none, &api.CredentialData{None: &api.CredentialDataNone{}}), ref("none")), matched: "none"},
		{name: "none with data.string", cc: cc(cred(none, goodData(str)), ref("none")), fields: []string{D + ".string"}, matched: "none"},
		{name: "string without data", cc: cc(cred(str, nil), ref("api-key")), fields: []string{D + ".string"}, matched: "api-key"},
		{name: "string with basicAuth instead", cc: cc(cred(str, goodData(basic)), ref("api-key")), fields: []string{D + ".basicAuth", D + ".string"}, matched: "api-key"},
		bad("string with extra basicAuth", str, "api-key", func(d *api.CredentialData) { d.BasicAuth = goodData(basic).BasicAuth }, D+".basicAuth"),
		bad("certificate with extra none and jwtBearer", cert, "cert", func(d *api.CredentialData) {
			d.None = &api.CredentialDataNone{}
			d.JwtBearer = goodData(jwt).JwtBearer
		}, D+".none", D+".jwtBearer"),

		// Per type fields.
		bad("string empty value", str, "api-key", func(d *api.CredentialData) { d.String.Value = "" }, D+".string.value"),
		bad("binary empty", bin, "hmac", func(d *api.CredentialData) { d.Binary.ValueBase64 = "" }, D+".binary.valueBase64"),
		bad("binary not base64", bin, "hmac", func(d *api.CredentialData) { d.Binary.ValueBase64 = "SECRET-not base64!" }, D+".binary.valueBase64"),
		bad("binary url alphabet", bin, "hmac", func(d *api.CredentialData) { d.Binary.ValueBase64 = "SECRET_-_" }, D+".binary.valueBase64"),
		bad("binary unpadded", bin, "secret", func(d *api.CredentialData) { d.Binary.ValueBase64 = "U0VDUkVULXg" }),
		bad("basic-auth empty username", basic, "basic", func(d *api.CredentialData) { d.BasicAuth.Username = "" }, D+".basicAuth.username"),
		bad("basic-auth empty password", basic, "basic", func(d *api.CredentialData) { d.BasicAuth.Password = "" }),
		bad("oauth2-client empty", o2c, "oauth2-client", func(d *api.CredentialData) { d.Oauth2Client = &api.CredentialDataOAuth2Client{} },
			D+".oauth2Client.clientId", D+".oauth2Client.clientSecret", D+".oauth2Client.tokenUrl"),
		// RFC 8705 tls_client_auth: the certificate alone authenticates, when the config presents one.
		bad("oauth2-client by certificate", o2c, "oauth2-client-mtls", func(d *api.CredentialData) {
			d.Oauth2Client.ClientSecret, d.Oauth2Client.MTLSEnabled = "", true
		}),
		bad("oauth2-client with mTLSEnabled and a secret", o2c, "oauth2-client-mtls", func(d *api.CredentialData) { d.Oauth2Client.MTLSEnabled = true }),
		bad("oauth2-client without secret or mTLSEnabled under an mTLS config", o2c, "oauth2-client-mtls", func(d *api.CredentialData) {
			d.Oauth2Client.ClientSecret = ""
		}, D+".oauth2Client.clientSecret"),
		bad("oauth2-client by certificate under a config without mtlsEnabled", o2c, "oauth2-client", func(d *api.CredentialData) {
			d.Oauth2Client.ClientSecret, d.Oauth2Client.MTLSEnabled = "", true
		}, D+".oauth2Client.clientSecret"),
		bad("oauth2-client by certificate at another origin", o2c, "oauth2-client-mtls", func(d *api.CredentialData) {
			d.Oauth2Client.ClientSecret, d.Oauth2Client.MTLSEnabled = "", true
			d.Oauth2Client.TokenURL = "https://SECRET.example.org/token"
		}, D+".oauth2Client.tokenUrl"),
		bad("oauth2-client ftp token url", o2c, "oauth2-client", func(d *api.CredentialData) { d.Oauth2Client.TokenURL = "ftp://SECRET.example.com/token" }, D+".oauth2Client.tokenUrl"),
		bad("oauth2-client relative token url", o2c, "oauth2-client", func(d *api.CredentialData) { d.Oauth2Client.TokenURL = "/SECRET/token" }, D+".oauth2Client.tokenUrl"),
		bad("oauth2-client token url without host", o2c, "oauth2-client", func(d *api.CredentialData) { d.Oauth2Client.TokenURL = "https:///SECRET" }, D+".oauth2Client.tokenUrl"),
		bad("oauth2-client templated token url", o2c, "oauth2-client", func(d *api.CredentialData) { d.Oauth2Client.TokenURL = "https://{shop}.example.com/token" }),
		bad("oauth2-code empty", o2code, "oauth2-code", func(d *api.CredentialData) { d.Oauth2Code = &api.CredentialDataOAuth2Code{} },
			D+".oauth2Code.code", D+".oauth2Code.state"),
		bad("oauth2-password empty", o2pw, "oauth2-password", func(d *api.CredentialData) { d.Oauth2Password = &api.CredentialDataOAuth2Password{} },
			D+".oauth2Password.username", D+".oauth2Password.password"),
		bad("oauth2-token empty refresh token", o2tok, "oauth2-code", func(d *api.CredentialData) { d.Oauth2Token.RefreshToken = "" }, D+".oauth2Token.refreshToken"),
		bad("oauth2-token without scopes or access token", o2tok, "oauth2-code", func(d *api.CredentialData) {
			d.Oauth2Token.Scopes, d.Oauth2Token.AccessToken = nil, ""
		}),
		bad("oauth1 empty", o1, "oauth1", func(d *api.CredentialData) { d.Oauth1 = &api.CredentialDataOAuth1{} },
			D+".oauth1.state", D+".oauth1.oauthToken", D+".oauth1.oauthVerifier"),
		bad("oauth1-token empty", o1t, "oauth1-token", func(d *api.CredentialData) { d.Oauth1Token = &api.CredentialDataOAuth1Token{} },
			D+".oauth1Token.token", D+".oauth1Token.tokenSecret"),
		bad("oauth1-token unnamed param", o1t, "oauth1-token", func(d *api.CredentialData) {
			d.Oauth1Token.AdditionalParams = append(d.Oauth1Token.AdditionalParams, api.AdditionalParam{Value: ptr("SECRET-param")})
		}, D+".oauth1Token.additionalParams[1].name"),
		bad("certificate empty", cert, "cert", certData("", "", ""), D+".certificate.certificate", D+".certificate.key", D+".certificate.ca"),
		bad("certificate not PEM", cert, "cert", certData("SECRET-not-pem", p.leafKey, p.ca), D+".certificate.certificate"),
		bad("certificate with its key pasted in", cert, "cert", certData(p.leafAndKey, p.leafKey, p.ca), D+".certificate.certificate"),
		bad("certificate garbage block", cert, "cert", certData("-----BEGIN CERTIFICATE-----\nU0VDUkVU\n-----END CERTIFICATE-----\n", p.leafKey, p.ca), D+".certificate.certificate"),
		bad("certificate key not PEM", cert, "cert", certData(p.leaf, "SECRET-not-a-key", p.ca), D+".certificate.key"),
		bad("certificate key encrypted", cert, "cert", certData(p.leaf, p.encrypted, p.ca), D+".certificate.key"),
		bad("certificate mismatched key", cert, "cert", certData(p.leaf, p.otherKey, p.ca), D+".certificate.key"),
		bad("certificate RSA key for EC certificate", cert, "cert", certData(p.leaf, p.rsaLeafKey, p.ca), D+".certificate.key"),
		bad("certificate CA not PEM", cert, "cert", certData(p.leaf, p.leafKey, "SECRET-not-a-ca"), D+".certificate.ca"),
		bad("certificate CA is a key", cert, "cert", certData(p.leaf, p.leafKey, p.leafKey), D+".certificate.ca"),
		bad("certificate CA with trailing text", cert, "cert", certData(p.leaf, p.leafKey, p.caAndGarble), D+".certificate.ca"),
		bad("certificate PKCS#8 key", cert, "cert", certData(p.leaf, p.leafKeyP8, p.ca)),
		bad("certificate key after EC PARAMETERS", cert, "cert", certData(p.leaf, p.leafKeyECP, p.ca)),
		bad("certificate RSA PKCS#1 key", cert, "cert", certData(p.rsaLeaf, p.rsaLeafKey, p.ca)),
		bad("certificate chain and CA bundle", cert, "cert", certData(p.leaf+p.ca, p.leafKey, p.ca+p.ca)),
		bad("jwt-bearer empty", jwt, "jwt", jwtData("", "", ""), D+".jwtBearer.algorithm", D+".jwtBearer.secret"),
		bad("jwt-bearer unknown algorithm", jwt, "jwt", jwtData("ES256", secJWT, ""), D+".jwtBearer.algorithm"),
		bad("jwt-bearer RS256 secret not PEM", jwt, "jwt", jwtData(api.RS256, secJWT, ""), D+".jwtBearer.secret"),
		bad("jwt-bearer RS256 with EC key", jwt, "jwt", jwtData(api.RS256, p.leafKeyP8, ""), D+".jwtBearer.secret"),
		bad("jwt-bearer RS256 PKCS#1", jwt, "jwt", jwtData(api.RS256, p.rsaLeafKey, "90s")),
		bad("jwt-bearer RS512 PKCS#8", jwt, "jwt", jwtData(api.RS512, p.rsaKeyP8, "1m30s")),
		bad("jwt-bearer HS512 any secret", jwt, "jwt", jwtData(api.HS512, secJWT, "")),
		bad("jwt-bearer expiresIn not a duration", jwt, "jwt", jwtData(api.HS384, secJWT, "SECRET-forever"), D+".jwtBearer.expiresIn"),
		bad("jwt-bearer expiresIn negative", jwt, "jwt", jwtData(api.HS256, secJWT, "-1h"), D+".jwtBearer.expiresIn"),
		bad("jwt-bearer expiresIn zero", jwt, "jwt", jwtData(api.HS256, secJWT, "0s"), D+".jwtBearer.expiresIn"),
		bad("jwt-bearer header prefix with newline", jwt, "jwt", func(d *api.CredentialData) {
			d.JwtBearer.AuthorizationHeaderPrefix = "Bearer\r\nX-SECRET: 1"
		}, D+".jwtBearer.authorizationHeaderPrefix"),

		// The auth scheme config reference.
		{name: "config missing", cc: cc(cred(str, goodData(str)), nil), fields: []string{A}},
		{name: "config type missing", cc: cc(cred(str, goodData(str)), &api.AuthSchemeConfig{ApiKey: &api.AuthSchemeConfigAPIKey{ID: "api-key"}}), fields: []string{A + ".type"}},
		{name: "config type unknown", cc: cc(cred(str, goodData(str)), &api.AuthSchemeConfig{Type: "SECRET-kind", ApiKey: &api.AuthSchemeConfigAPIKey{ID: "api-key"}}), fields: []string{A + ".type"}},
		{name: "config member missing", cc: cc(cred(str, goodData(str)), &api.AuthSchemeConfig{Type: api.AuthSchemeTypeApiKey}), fields: []string{A + ".apiKey"}},
		{name: "config id empty", cc: cc(cred(str, goodData(str)), &api.AuthSchemeConfig{Type: api.AuthSchemeTypeApiKey, ApiKey: &api.AuthSchemeConfigAPIKey{}}), fields: []string{A + ".apiKey.id"}},
		{name: "config id not offered", cc: cc(cred(str, goodData(str)), &api.AuthSchemeConfig{Type: api.AuthSchemeTypeApiKey, ApiKey: &api.AuthSchemeConfigAPIKey{ID: "SECRET-other"}}), fields: []string{A + ".apiKey.id"}},
		{name: "config type differs from offered", cc: cc(cred(str, goodData(str)), &api.AuthSchemeConfig{Type: api.AuthSchemeTypeBasicAuth, BasicAuth: &api.AuthSchemeConfigBase{ID: "api-key"}}),
			fields: []string{A + ".type"}, matched: "api-key"},
		{name: "config copy otherwise ignored", cc: cc(cred(str, goodData(str)), &api.AuthSchemeConfig{Type: api.AuthSchemeTypeApiKey, ApiKey: &api.AuthSchemeConfigAPIKey{ID: "api-key", In: "SECRET-nowhere"}}),
			matched: "api-key"},
		{name: "oauth2 config copied by the CLI with empty secrets", cc: cc(cred(o2code, goodData(o2code)), ref("oauth2-code")), matched: "oauth2-code"},

		// Compatibility, decided by the offered config.
		{name: "string with basic-auth config", cc: cc(cred(str, goodData(str)), ref("basic")), fields: []string{C + ".type"}, matched: "basic"},
		{name: "oauth2-code with password grant", cc: cc(cred(o2code, goodData(o2code)), ref("oauth2-password")), fields: []string{C + ".type"}, matched: "oauth2-password"},
		{name: "oauth2-token with client credentials grant", cc: cc(cred(o2tok, goodData(o2tok)), ref("oauth2-client")), fields: []string{C + ".type"}, matched: "oauth2-client"},
		{name: "oauth1 with token auth", cc: cc(cred(o1, goodData(o1)), ref("oauth1-token")), fields: []string{C + ".type"}, matched: "oauth1-token"},
		{name: "oauth1-token without token auth", cc: cc(cred(o1t, goodData(o1t)), ref("oauth1")), fields: []string{C + ".type"}, matched: "oauth1"},

		// Several problems at once are all reported.
		{name: "everything wrong", cc: cc(&api.Credential{Type: str, OrganisationID: ulid.Make(), Data: &api.CredentialData{
			String: &api.CredentialDataString{}, Binary: &api.CredentialDataBinary{ValueBase64: secBinary},
		}}, ref("basic")), fields: []string{C + ".organisationId", D + ".binary", D + ".string.value", C + ".type"}, matched: "basic"},
	}
	return cases
}

func fieldsOf(errs []plugboard.FieldError) []string {
	var f []string
	for _, e := range errs {
		f = append(f, e.Field)
	}
	return f
}

func TestValidateCredential(t *testing.T) {
	for _, tc := range credentialCases() {
		t.Run(tc.name, func(t *testing.T) {
			offered := offeredConfigs()
			matched, errs := ValidateCredential(tc.cc, offered, testOrg, P)
			if got := fieldsOf(errs); !slices.Equal(got, tc.fields) {
				t.Errorf("fields = %q, want %q\nerrors: %v", got, tc.fields, errs)
			}
			for _, e := range errs {
				if e.Message == "" {
					t.Errorf("%s: empty message", e.Field)
				}
			}
			switch {
			case tc.matched == "" && matched != nil:
				t.Errorf("matched %q, want nil", ConfigID(*matched))
			case tc.matched != "" && matched == nil:
				t.Errorf("matched nil, want %q", tc.matched)
			case tc.matched != "":
				if ConfigID(*matched) != tc.matched {
					t.Errorf("matched %q, want %q", ConfigID(*matched), tc.matched)
				}
				if !isElem(offered, matched) {
					t.Errorf("matched config is not an element of offered")
				}
			}
		})
	}
}

func isElem(s []api.AuthSchemeConfig, p *api.AuthSchemeConfig) bool {
	for i := range s {
		if &s[i] == p {
			return true
		}
	}
	return false
}

// TestValidateCredentialCompatibility tries every credential type against every offered config,
// with an expectation written independently of compatRules.
func TestValidateCredentialCompatibility(t *testing.T) {
	want := map[string][]api.CredentialType{
		"none":               {api.CredentialTypeNone},
		"api-key":            {api.CredentialTypeString},
		"basic":              {api.CredentialTypeBasicAuth},
		"oauth2-code":        {api.CredentialTypeOauth2Code, api.CredentialTypeOauth2Token},
		"oauth2-password":    {api.CredentialTypeOauth2Password, api.CredentialTypeOauth2Token},
		"oauth2-client":      {api.CredentialTypeOauth2Client},
		"oauth2-client-mtls": {api.CredentialTypeOauth2Client},
		"hmac":               {api.CredentialTypeString, api.CredentialTypeBinary},
		"jwt":                {api.CredentialTypeJwtBearer},
		"cert":               {api.CredentialTypeCertificate},
		"oauth1":             {api.CredentialTypeOauth1},
		"oauth1-token":       {api.CredentialTypeOauth1Token},
		"secret":             {api.CredentialTypeString, api.CredentialTypeBinary},
	}
	for _, cfg := range offeredConfigs() {
		id := ConfigID(cfg)
		if got := AllowedCredentialTypes(cfg); !slices.Equal(got, want[id]) {
			t.Errorf("AllowedCredentialTypes(%s) = %v, want %v", id, got, want[id])
		}
		for _, k := range credentialKinds {
			t.Run(string(k.typ)+" with "+id, func(t *testing.T) {
				_, errs := ValidateCredential(cc(cred(k.typ, goodData(k.typ)), ref(id)), offeredConfigs(), testOrg, P)
				var wantFields []string
				if !slices.Contains(want[id], k.typ) {
					wantFields = []string{C + ".type"}
				}
				if got := fieldsOf(errs); !slices.Equal(got, wantFields) {
					t.Fatalf("fields = %q, want %q (%v)", got, wantFields, errs)
				}
				if len(errs) == 1 {
					for _, allowed := range want[id] {
						if !strings.Contains(errs[0].Message, string(allowed)) {
							t.Errorf("message %q does not name allowed type %s", errs[0].Message, allowed)
						}
					}
				}
			})
		}
	}
}

// TestValidateCredentialMessagesNeverQuoteValues checks every case: no message (or field) holds
// a submitted string of six characters or more that is not one of our enum values.
func TestValidateCredentialMessagesNeverQuoteValues(t *testing.T) {
	ours := map[string]bool{}
	// Enum values of the offered configs' copies, which are ours to name.
	for _, e := range []string{"password", "authorizationCode", "clientCredentials", "header", "sha256", "sha512"} {
		ours[e] = true
	}
	for _, k := range credentialKinds {
		ours[string(k.typ)] = true
	}
	for _, k := range schemeKinds {
		ours[string(k.typ)] = true
	}
	for _, tc := range credentialCases() {
		raw, err := json.Marshal(tc.cc)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatal(err)
		}
		var submitted []string
		collectStrings(v, &submitted)
		_, errs := ValidateCredential(tc.cc, offeredConfigs(), testOrg, P)
		for _, e := range errs {
			if strings.Contains(e.Message, "SECRET") || strings.Contains(e.Field, "SECRET") {
				t.Errorf("%s: %s: %q leaks a submitted value", tc.name, e.Field, e.Message)
			}
			for _, s := range submitted {
				if len(s) >= 6 && !ours[s] && (strings.Contains(e.Message, s) || strings.Contains(e.Field, s)) {
					t.Errorf("%s: %s: message %q contains submitted value %q", tc.name, e.Field, e.Message, s)
				}
			}
		}
	}
}

func collectStrings(v any, out *[]string) {
	switch v := v.(type) {
	case string:
		*out = append(*out, v)
		// PEM bodies: any line of them counts too.
		for _, line := range strings.Split(v, "\n") {
			if len(line) >= 16 {
				*out = append(*out, line)
			}
		}
	case []any:
		for _, e := range v {
			collectStrings(e, out)
		}
	case map[string]any:
		for _, e := range v {
			collectStrings(e, out)
		}
	}
}

func TestCompatibilityTable(t *testing.T) {
	rows := CompatibilityTable()
	seen := map[string]bool{}
	for _, r := range rows {
		seen[r.Scheme] = true
		if len(r.CredentialTypes) == 0 {
			t.Errorf("%s %s: no credential types", r.Scheme, r.Condition)
		}
		for _, ct := range r.CredentialTypes {
			if !api.CredentialType(ct).Valid() {
				t.Errorf("%s: unknown credential type %s", r.Scheme, ct)
			}
		}
	}
	for _, k := range schemeKinds {
		if !seen[string(k.typ)] {
			t.Errorf("scheme %s has no row", k.typ)
		}
	}
	if len(rows) != 12 {
		t.Errorf("%d rows, want 12", len(rows))
	}
	// Rows are copies: changing them does not change the table.
	rows[0].CredentialTypes[0] = "changed"
	if CompatibilityTable()[0].CredentialTypes[0] == "changed" {
		t.Error("CompatibilityTable shares its slices")
	}
	// An oauth2 config without a grant type, or an unknown scheme, accepts nothing.
	if got := AllowedCredentialTypes(api.AuthSchemeConfig{Type: api.AuthSchemeTypeOauth2, Oauth2: &api.AuthSchemeConfigOAuth2{}}); got != nil {
		t.Errorf("oauth2 without grant: %v", got)
	}
	if got := AllowedCredentialTypes(api.AuthSchemeConfig{Type: api.AuthSchemeTypeOauth1}); got != nil {
		t.Errorf("oauth1 without member: %v", got)
	}
	if got := AllowedCredentialTypes(api.AuthSchemeConfig{Type: "nope"}); got != nil {
		t.Errorf("unknown scheme: %v", got)
	}
}

func TestNeedsExchange(t *testing.T) {
	want := map[api.CredentialType]bool{
		api.CredentialTypeOauth2Code: true, api.CredentialTypeOauth2Password: true, api.CredentialTypeOauth1: true,
	}
	for _, k := range credentialKinds {
		if got := NeedsExchange(k.typ); got != want[k.typ] {
			t.Errorf("NeedsExchange(%s) = %v, want %v", k.typ, got, want[k.typ])
		}
	}
	if NeedsExchange("nope") {
		t.Error("NeedsExchange(nope) = true")
	}
}
