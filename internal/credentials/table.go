// Package credentials knows the shapes of credentials and auth scheme configs: which credential
// types an auth scheme accepts, what a valid credential or config looks like, and which of their
// fields are secret. It splits a credential or config into a public half (stored as JSON, returned
// to clients) and a secrets half (sealed by the caller), and joins them again.
//
// The tables in table.go are the one place that names each type's data member, its secret fields
// and the compatibility of scheme and credential types, so that validation, splitting, joining,
// redaction and secret keeping cannot disagree about a type.
package credentials

import (
	"slices"

	"github.com/plugboard/plugboard/api"
)

// credentialKind is what this package knows about one credential type.
type credentialKind struct {
	typ api.CredentialType
	// member is the JSON name of the CredentialData member that holds the type's data.
	member string
	// secrets are the JSON names of the member's secret fields: emptied in the public half,
	// kept in the secrets half. This is the only list of them.
	secrets []string
	// exchange is true when the credential must be exchanged with a provider before it is stored.
	exchange bool
	// placement are the JSON names of the member's public fields that decide where or how its
	// secrets are used (internal/trust): changing one moves the stored secrets somewhere new.
	// Fields named *Url or url count by their origin. inert are the public fields that do not;
	// every field of the member's schema in api/openapi.yaml is secret, placement or inert (a
	// test checks), so a new field must be classified before it can be stored.
	placement, inert []string
}

// credentialKinds lists every credential type, in the order messages name them.
var credentialKinds = []credentialKind{
	{typ: api.CredentialTypeNone, member: "none"},
	{typ: api.CredentialTypeString, member: "string", secrets: []string{"value"}},
	{typ: api.CredentialTypeBinary, member: "binary", secrets: []string{"valueBase64"}},
	{typ: api.CredentialTypeBasicAuth, member: "basicAuth", secrets: []string{"password"}, inert: []string{"username"}},
	{typ: api.CredentialTypeOauth2Client, member: "oauth2Client", secrets: []string{"clientSecret"},
		placement: []string{"tokenUrl", "tokenEndpointAuthMethod", "mTLSEnabled", "mTLSCredentialId"},
		inert:     []string{"clientId", "scopes", "additionalParams"}},
	{typ: api.CredentialTypeOauth2Code, member: "oauth2Code", secrets: []string{"code"}, exchange: true,
		inert: []string{"state", "additionalParams", "redirectUrl"}},
	{typ: api.CredentialTypeOauth2Password, member: "oauth2Password", secrets: []string{"password"}, exchange: true,
		inert: []string{"username"}},
	{typ: api.CredentialTypeOauth2Token, member: "oauth2Token", secrets: []string{"accessToken", "refreshToken"},
		inert: []string{"scopes", "tokenType", "expiresAt"}},
	{typ: api.CredentialTypeOauth1, member: "oauth1", secrets: []string{"oauthToken", "oauthVerifier"}, exchange: true,
		inert: []string{"state"}},
	{typ: api.CredentialTypeOauth1Token, member: "oauth1Token", secrets: []string{"token", "tokenSecret"},
		placement: []string{"additionalParams"}},
	{typ: api.CredentialTypeCertificate, member: "certificate", secrets: []string{"key"},
		placement: []string{"certificate", "ca"}},
	{typ: api.CredentialTypeJwtBearer, member: "jwtBearer", secrets: []string{"secret"},
		placement: []string{"algorithm", "payload", "expiresIn"}, inert: []string{"authorizationHeaderPrefix"}},
}

// schemeKind is what this package knows about one auth scheme type.
type schemeKind struct {
	typ api.AuthSchemeType
	// member is the JSON name of the AuthSchemeConfig member that holds the type's config.
	member string
	// secrets are the dotted JSON paths, inside the member, of its secret fields. In the
	// secrets half they are keyed by member + "." + path, for example
	// "oauth2.grant.authorizationCode.clientSecret". This is the only list of them.
	secrets []string
	// placement and inert classify the member's other fields as credentialKind's do, by dotted
	// path; the base fields (id, description, validationMessages) are the config's identity and
	// its notes, never placement.
	placement, inert []string
}

// schemeKinds lists every auth scheme type, in the order messages name them.
var schemeKinds = []schemeKind{
	{typ: api.AuthSchemeTypeNone, member: "none"},
	{typ: api.AuthSchemeTypeApiKey, member: "apiKey", placement: []string{"name", "in"}, inert: []string{"prefix"}},
	{typ: api.AuthSchemeTypeBasicAuth, member: "basicAuth"},
	{typ: api.AuthSchemeTypeOauth2, member: "oauth2", secrets: []string{
		"grant.authorizationCode.clientSecret",
		"grant.password.clientSecret",
	},
		placement: []string{"authorizeUrl", "tokenUrl", "mtlsEnabled", "mtlsCredentialId", "tokenEndpointAuthMethod", "grant.type"},
		inert: []string{"scopes", "defaultScopes", "additionalAuthorizeParams", "additionalTokenParams", "pkce", "redirectUrl",
			"grant.clientCredentials",
			"grant.authorizationCode.credentialId", "grant.authorizationCode.organisationId", "grant.authorizationCode.clientId",
			"grant.password.credentialId", "grant.password.organisationId", "grant.password.clientId"}},
	{typ: api.AuthSchemeTypeOauth1, member: "oauth1", secrets: []string{"consumerSecret"},
		placement: []string{"signatureMethod", "tempCredentialEndpoint.url", "tempCredentialEndpoint.parameterTransmission",
			"resourceOwnerAuthorizationEndpoint.url", "tokenEndpoint.url", "tokenEndpoint.parameterTransmission"},
		inert: []string{"consumerKey", "tokenAuth", "credentialId", "tempCredentialEndpoint.additionalParamConfigs",
			"resourceOwnerAuthorizationEndpoint.additionalParamConfigs", "resourceOwnerAuthorizationEndpoint.parameterTransmission",
			"tokenEndpoint.additionalParamConfigs"}},
	// Plugboard's additions to hmac decide what is signed and how far a signature vouches for an
	// inbound delivery (prefix, timestamp, template, the preset that expands to them), so they
	// are placement like Versori's fields.
	{typ: api.AuthSchemeTypeHmac, member: "hmac", placement: []string{"name", "in", "algorithm", "digestInputs", "encoding",
		"prefix", "timestampHeader", "timestampTolerance", "template", "preset"}},
	{typ: api.AuthSchemeTypeCertificate, member: "certificate"},
	{typ: api.AuthSchemeTypeJwtBearer, member: "jwtBearer"},
	{typ: api.AuthSchemeTypeSecret, member: "secret"},
}

func credentialKindOf(typ api.CredentialType) (credentialKind, bool) {
	for _, k := range credentialKinds {
		if k.typ == typ {
			return k, true
		}
	}
	return credentialKind{}, false
}

func schemeKindOf(typ api.AuthSchemeType) (schemeKind, bool) {
	for _, k := range schemeKinds {
		if k.typ == typ {
			return k, true
		}
	}
	return schemeKind{}, false
}

// credentialMembers returns the JSON names of the members of d that are set, in a fixed order.
func credentialMembers(d *api.CredentialData) []string {
	if d == nil {
		return nil
	}
	var set []string
	add := func(present bool, name string) {
		if present {
			set = append(set, name)
		}
	}
	add(d.None != nil, "none")
	add(d.String != nil, "string")
	add(d.Binary != nil, "binary")
	add(d.BasicAuth != nil, "basicAuth")
	add(d.Oauth2Client != nil, "oauth2Client")
	add(d.Oauth2Code != nil, "oauth2Code")
	add(d.Oauth2Password != nil, "oauth2Password")
	add(d.Oauth2Token != nil, "oauth2Token")
	add(d.Oauth1 != nil, "oauth1")
	add(d.Oauth1Token != nil, "oauth1Token")
	add(d.Certificate != nil, "certificate")
	add(d.JwtBearer != nil, "jwtBearer")
	return set
}

// schemeMembers returns the JSON names of the members of cfg that are set, in a fixed order.
func schemeMembers(cfg api.AuthSchemeConfig) []string {
	var set []string
	add := func(present bool, name string) {
		if present {
			set = append(set, name)
		}
	}
	add(cfg.None != nil, "none")
	add(cfg.ApiKey != nil, "apiKey")
	add(cfg.BasicAuth != nil, "basicAuth")
	add(cfg.Oauth2 != nil, "oauth2")
	add(cfg.Oauth1 != nil, "oauth1")
	add(cfg.Hmac != nil, "hmac")
	add(cfg.Certificate != nil, "certificate")
	add(cfg.JwtBearer != nil, "jwtBearer")
	add(cfg.Secret != nil, "secret")
	return set
}

// configID returns the id of the config's member for its type, and whether that member is set.
func configID(cfg api.AuthSchemeConfig) (string, bool) {
	base := func(b *api.AuthSchemeConfigBase) (string, bool) {
		if b == nil {
			return "", false
		}
		return b.ID, true
	}
	switch cfg.Type {
	case api.AuthSchemeTypeNone:
		return base(cfg.None)
	case api.AuthSchemeTypeBasicAuth:
		return base(cfg.BasicAuth)
	case api.AuthSchemeTypeCertificate:
		return base(cfg.Certificate)
	case api.AuthSchemeTypeJwtBearer:
		return base(cfg.JwtBearer)
	case api.AuthSchemeTypeSecret:
		return base(cfg.Secret)
	case api.AuthSchemeTypeApiKey:
		if cfg.ApiKey != nil {
			return cfg.ApiKey.ID, true
		}
	case api.AuthSchemeTypeOauth2:
		if cfg.Oauth2 != nil {
			return cfg.Oauth2.ID, true
		}
	case api.AuthSchemeTypeOauth1:
		if cfg.Oauth1 != nil {
			return cfg.Oauth1.ID, true
		}
	case api.AuthSchemeTypeHmac:
		if cfg.Hmac != nil {
			return cfg.Hmac.ID, true
		}
	}
	return "", false
}

// ConfigID returns the id of the config's member for its type ("" if absent).
func ConfigID(cfg api.AuthSchemeConfig) string {
	id, _ := configID(cfg)
	return id
}

// NeedsExchange reports whether a credential of type typ must be exchanged with a provider before
// it can be stored (oauth2-code, oauth2-password, oauth1): what the client sends is not what is kept.
func NeedsExchange(typ api.CredentialType) bool {
	k, ok := credentialKindOf(typ)
	return ok && k.exchange
}

// SecretFields returns the JSON names of the secret fields of the data member for typ, which are
// redacted in responses and sealed at rest; nil for a type without secrets or an unknown type.
func SecretFields(typ api.CredentialType) []string {
	k, _ := credentialKindOf(typ)
	return slices.Clone(k.secrets)
}

// compatRule says which credential types an auth scheme config accepts, possibly only under a
// condition on the config.
type compatRule struct {
	scheme    api.AuthSchemeType
	condition string
	// applies reports whether the rule covers cfg; nil means it always does.
	applies func(cfg api.AuthSchemeConfig) bool
	types   []api.CredentialType
}

func oauth2Grant(g api.AuthSchemeConfigOAuth2GrantType) func(api.AuthSchemeConfig) bool {
	return func(cfg api.AuthSchemeConfig) bool { return cfg.Oauth2 != nil && cfg.Oauth2.Grant.Type == g }
}

func oauth1TokenAuth(tokenAuth bool) func(api.AuthSchemeConfig) bool {
	return func(cfg api.AuthSchemeConfig) bool { return cfg.Oauth1 != nil && cfg.Oauth1.TokenAuth == tokenAuth }
}

// compatRules is the compatibility table: the only place that says which credential types an
// auth scheme accepts.
var compatRules = []compatRule{
	{scheme: api.AuthSchemeTypeNone, types: []api.CredentialType{api.CredentialTypeNone}},
	{scheme: api.AuthSchemeTypeApiKey, types: []api.CredentialType{api.CredentialTypeString}},
	{scheme: api.AuthSchemeTypeBasicAuth, types: []api.CredentialType{api.CredentialTypeBasicAuth}},
	{scheme: api.AuthSchemeTypeOauth2, condition: "grant.type authorizationCode", applies: oauth2Grant(api.AuthorizationCode),
		types: []api.CredentialType{api.CredentialTypeOauth2Code, api.CredentialTypeOauth2Token}},
	{scheme: api.AuthSchemeTypeOauth2, condition: "grant.type password", applies: oauth2Grant(api.Password),
		types: []api.CredentialType{api.CredentialTypeOauth2Password, api.CredentialTypeOauth2Token}},
	{scheme: api.AuthSchemeTypeOauth2, condition: "grant.type clientCredentials", applies: oauth2Grant(api.ClientCredentials),
		types: []api.CredentialType{api.CredentialTypeOauth2Client}},
	{scheme: api.AuthSchemeTypeHmac, types: []api.CredentialType{api.CredentialTypeString, api.CredentialTypeBinary}},
	{scheme: api.AuthSchemeTypeJwtBearer, types: []api.CredentialType{api.CredentialTypeJwtBearer}},
	{scheme: api.AuthSchemeTypeCertificate, types: []api.CredentialType{api.CredentialTypeCertificate}},
	{scheme: api.AuthSchemeTypeOauth1, condition: "tokenAuth false", applies: oauth1TokenAuth(false),
		types: []api.CredentialType{api.CredentialTypeOauth1}},
	{scheme: api.AuthSchemeTypeOauth1, condition: "tokenAuth true", applies: oauth1TokenAuth(true),
		types: []api.CredentialType{api.CredentialTypeOauth1Token}},
	{scheme: api.AuthSchemeTypeSecret, types: []api.CredentialType{api.CredentialTypeString, api.CredentialTypeBinary}},
}

// AllowedCredentialTypes lists the credential types an auth scheme config accepts, following
// CompatibilityTable. It returns nil for a config no row covers (an unknown type, an oauth2
// config without a known grant type).
func AllowedCredentialTypes(cfg api.AuthSchemeConfig) []api.CredentialType {
	for _, r := range compatRules {
		if r.scheme == cfg.Type && (r.applies == nil || r.applies(cfg)) {
			return slices.Clone(r.types)
		}
	}
	return nil
}

// Compatibility is one row of the compatibility table, in a form documentation can print: an
// auth scheme config of type Scheme (when Condition, if any, holds) accepts credentials of the
// CredentialTypes.
type Compatibility struct {
	Scheme          string
	Condition       string
	CredentialTypes []string
}

// CompatibilityTable returns the table AllowedCredentialTypes follows, one row per scheme type
// and condition.
func CompatibilityTable() []Compatibility {
	rows := make([]Compatibility, 0, len(compatRules))
	for _, r := range compatRules {
		row := Compatibility{Scheme: string(r.scheme), Condition: r.condition}
		for _, t := range r.types {
			row.CredentialTypes = append(row.CredentialTypes, string(t))
		}
		rows = append(rows, row)
	}
	return rows
}
