package credentials

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/oklog/ulid/v2"
	"golang.org/x/net/http/httpguts"

	"github.com/plugboard/plugboard"

	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/hmacsig"
)

// Messages never quote a submitted value: any field may hold a secret. They may name enum
// values, which are ours.

// maxConfigIDLen bounds a client-chosen auth scheme config id, which ends up in URL paths.
const maxConfigIDLen = 100

// fieldErrors collects FieldErrors in the order they are found.
type fieldErrors []plugboard.FieldError

func (e *fieldErrors) add(field, message string) {
	*e = append(*e, plugboard.FieldError{Field: field, Message: message})
}

// join appends dotted JSON names to a path; an empty path means the top level.
func join(path string, names ...string) string {
	for _, n := range names {
		if path == "" {
			path = n
		} else {
			path += "." + n
		}
	}
	return path
}

// index appends an array index to a path.
func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// template matches a templated value such as {shop} in a URL, filled in per connection later.
var template = regexp.MustCompile(`\{[^{}/]*\}`)

// httpURL reports whether s is an absolute http or https URL with a host. Templated values in
// curly braces are allowed (the published spec allows them in endpoint URLs) and stand for one
// host label or path segment.
func httpURL(s string) bool {
	u, err := url.Parse(template.ReplaceAllString(s, "x"))
	if err != nil || u.Host == "" {
		return false
	}
	scheme := strings.ToLower(u.Scheme)
	return scheme == "http" || scheme == "https"
}

// userinfoMessage is the field error for a URL that carries a user name or password.
const userinfoMessage = "must not contain a user name or password: it would be stored and returned in the clear; store them as a credential"

// CheckURLUserinfo is the one check for userinfo in URLs a client gives (https://user:pass@host):
// it returns a field error naming field when raw carries a user name or password, else nil.
// Values that do not parse as URLs are left to the field's own checks.
func CheckURLUserinfo(field, raw string) []plugboard.FieldError {
	u, err := url.Parse(template.ReplaceAllString(strings.TrimSpace(raw), "x"))
	if err != nil || u.User == nil {
		return nil
	}
	return []plugboard.FieldError{{Field: field, Message: userinfoMessage}}
}

// configURLs returns a config's URL fields, by JSON path under its member.
func configURLs(cfg api.AuthSchemeConfig) (fields, values []string) {
	add := func(f, v string) {
		fields, values = append(fields, f), append(values, v)
	}
	if c := cfg.Oauth2; c != nil {
		add("authorizeUrl", c.AuthorizeURL)
		add("tokenUrl", c.TokenURL)
		add("redirectUrl", c.RedirectURL)
	}
	if c := cfg.Oauth1; c != nil {
		for _, ep := range []struct {
			name string
			e    *api.Endpoint
		}{{"tempCredentialEndpoint", c.TempCredentialEndpoint}, {"resourceOwnerAuthorizationEndpoint", c.ResourceOwnerAuthorizationEndpoint},
			{"tokenEndpoint", c.TokenEndpoint}} {
			if ep.e != nil {
				add(ep.name+".url", ep.e.Url)
			}
		}
	}
	return fields, values
}

// checkConfigURLs refuses userinfo in every URL of a config whose member is at mp.
func checkConfigURLs(errs *fieldErrors, cfg api.AuthSchemeConfig, mp string) {
	fields, values := configURLs(cfg)
	for i, f := range fields {
		*errs = append(*errs, CheckURLUserinfo(join(mp, f), values[i])...)
	}
}

// absoluteURL reports whether s is an absolute URL of any scheme (an app's redirect URL may be
// a custom scheme).
func absoluteURL(s string) bool {
	u, err := url.Parse(template.ReplaceAllString(s, "x"))
	return err == nil && u.IsAbs()
}

func enumList[T ~string](values ...T) string {
	s := make([]string, len(values))
	for i, v := range values {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}

func schemeTypeList() string {
	s := make([]string, len(schemeKinds))
	for i, k := range schemeKinds {
		s[i] = string(k.typ)
	}
	return strings.Join(s, ", ")
}

// ValidateAuthSchemeConfig checks a system's auth scheme config; path prefixes field names (""
// at the top level, "authSchemeConfigs[2]" inside a system). Secret fields are checked as sent,
// so on an update call KeepAuthSchemeConfigSecrets first. validationMessages are ignored. It does
// not check that ids are unique among a system's configs; the caller, who sees them all, does.
func ValidateAuthSchemeConfig(cfg api.AuthSchemeConfig, path string) []plugboard.FieldError {
	var errs fieldErrors
	if cfg.Type == "" {
		errs.add(join(path, "type"), "is required")
		return errs
	}
	k, ok := schemeKindOf(cfg.Type)
	if !ok {
		errs.add(join(path, "type"), "must be one of: "+schemeTypeList())
		return errs
	}
	for _, m := range schemeMembers(cfg) {
		if m != k.member {
			errs.add(join(path, m), "must not be set for auth scheme type "+string(k.typ))
		}
	}
	id, present := configID(cfg)
	mp := join(path, k.member)
	if !present {
		errs.add(mp, "is required for auth scheme type "+string(k.typ))
		return errs
	}
	validateConfigID(&errs, id, join(mp, "id"))

	switch cfg.Type {
	case api.AuthSchemeTypeApiKey:
		c := cfg.ApiKey
		validateParamName(&errs, c.Name, string(c.In), join(mp, "name"))
		if c.Prefix != "" && (utf8.RuneCountInString(c.Prefix) > maxPrefixLen || !httpguts.ValidHeaderFieldValue(c.Prefix)) {
			errs.add(join(mp, "prefix"), fmt.Sprintf("must be at most %d characters valid in a header value (no control characters)", maxPrefixLen))
		}
		if !c.In.Valid() {
			errs.add(join(mp, "in"), "must be one of: "+enumList(api.AuthSchemeConfigAPIKeyInQuery,
				api.AuthSchemeConfigAPIKeyInHeader, api.AuthSchemeConfigAPIKeyInCookie))
		}
	case api.AuthSchemeTypeHmac:
		validateHMAC(&errs, cfg.Hmac, mp)
	case api.AuthSchemeTypeOauth2:
		validateOAuth2Config(&errs, cfg.Oauth2, mp)
	case api.AuthSchemeTypeOauth1:
		validateOAuth1Config(&errs, cfg.Oauth1, mp)
	}
	checkConfigURLs(&errs, cfg, mp)
	return errs
}

func validateConfigID(errs *fieldErrors, id, field string) {
	switch {
	case id == "":
		errs.add(field, "is required")
	case utf8.RuneCountInString(id) > maxConfigIDLen:
		errs.add(field, fmt.Sprintf("must be at most %d characters", maxConfigIDLen))
	case strings.ContainsFunc(id, func(r rune) bool {
		return r == '/' || unicode.IsSpace(r) || unicode.IsControl(r)
	}):
		errs.add(field, "must not contain '/', whitespace or control characters")
	}
}

func validateHMAC(errs *fieldErrors, c *api.AuthSchemeConfigHMAC, mp string) {
	validateParamName(errs, c.Name, string(c.In), join(mp, "name"))
	if !c.In.Valid() {
		errs.add(join(mp, "in"), "must be one of: "+enumList(api.AuthSchemeConfigHMACInQuery,
			api.AuthSchemeConfigHMACInHeader, api.AuthSchemeConfigHMACInCookie))
	}
	if !c.Algorithm.Valid() {
		errs.add(join(mp, "algorithm"), "must be one of: "+enumList(api.Sha1, api.Sha256, api.Sha512))
	}
	if len(c.DigestInputs) == 0 {
		errs.add(join(mp, "digestInputs"), "must list at least one input")
	}
	for i, in := range c.DigestInputs {
		if !in.Valid() {
			errs.add(index(join(mp, "digestInputs"), i), "must be one of: "+enumList(api.Body, api.Url))
		}
	}
	if !c.Encoding.Valid() {
		errs.add(join(mp, "encoding"), "must be one of: "+enumList(api.Hex, api.Base64, api.Base64url))
	}
	validateHMACExtensions(errs, c, mp)
}

// maxPrefixLen bounds an hmac config's signature prefix.
const maxPrefixLen = 64

// validPrefix reports whether s may precede a signature: visible ASCII, and none of the
// characters that would end or split a cookie value or a list in a header.
func validPrefix(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b <= ' ' || b >= 0x7f || b == '"' || b == ',' || b == ';' || b == '\\' {
			return false
		}
	}
	return len(s) <= maxPrefixLen
}

// validateHMACExtensions checks the fields Plugboard adds to Versori's hmac config: prefix,
// timestampHeader, timestampTolerance, template and preset (internal/hmacsig defines them).
func validateHMACExtensions(errs *fieldErrors, c *api.AuthSchemeConfigHMAC, mp string) {
	if c.Prefix != "" && !validPrefix(c.Prefix) {
		errs.add(join(mp, "prefix"), fmt.Sprintf("must be 1-%d visible ASCII characters other than '\"', ',', ';' and '\\'", maxPrefixLen))
	}
	if c.TimestampHeader != "" && !httpguts.ValidHeaderFieldName(c.TimestampHeader) {
		errs.add(join(mp, "timestampHeader"), "must be a token (letters, digits and !#$%&'*+-.^_`|~) for a header name")
	}
	switch {
	case c.TimestampTolerance < 0 || c.TimestampTolerance > 86400:
		errs.add(join(mp, "timestampTolerance"), "must be between 1 and 86400 seconds")
	case c.TimestampTolerance > 0 && c.TimestampHeader == "":
		errs.add(join(mp, "timestampTolerance"), "needs timestampHeader: without a timestamp there is nothing to compare with the clock")
	}
	signsTimestamp, templateBad := false, false
	if c.Template != "" {
		parts, err := hmacsig.ParseTemplate(c.Template)
		if err != nil {
			errs.add(join(mp, "template"), err.Error())
			templateBad = true
		} else {
			uses := hmacsig.Uses(parts)
			signsTimestamp = uses[hmacsig.PlaceholderTimestamp]
			if signsTimestamp && c.TimestampHeader == "" {
				errs.add(join(mp, "template"), "uses {timestamp}, which needs timestampHeader")
			}
			listed := map[api.AuthSchemeConfigHMACDigestInputs]bool{}
			for _, in := range c.DigestInputs {
				listed[in] = true
			}
			if listed[api.Body] != uses[hmacsig.PlaceholderBody] || listed[api.Url] != uses[hmacsig.PlaceholderURL] {
				errs.add(join(mp, "digestInputs"), "must list exactly the inputs the template uses ({body}: body, {url}: url), so that clients that do not read the template know what is signed")
			}
		}
	}
	if c.TimestampHeader != "" && !signsTimestamp && !templateBad {
		errs.add(join(mp, "timestampHeader"), "needs a template that signs {timestamp}: an unsigned timestamp protects against nothing")
	}
	if c.Preset == "" {
		return
	}
	want, ok := hmacsig.Preset(c.Preset)
	if !ok {
		errs.add(join(mp, "preset"), "must be one of: "+enumList(api.Github, api.Shopify, api.Slack))
		return
	}
	differs := func(field string, got, preset any) {
		switch p := fmt.Sprint(preset); {
		case fmt.Sprint(got) == p:
		case p == "" || p == "[]":
			errs.add(join(mp, field), fmt.Sprintf("must be left out: preset %s defines none (or leave out preset)", c.Preset))
		default:
			errs.add(join(mp, field), fmt.Sprintf("must be left out or be %s, as preset %s defines it (or leave out preset)", p, c.Preset))
		}
	}
	differs("name", c.Name, want.Name)
	differs("in", c.In, want.In)
	differs("algorithm", c.Algorithm, want.Algorithm)
	differs("digestInputs", c.DigestInputs, want.DigestInputs)
	differs("encoding", c.Encoding, want.Encoding)
	differs("prefix", c.Prefix, want.Prefix)
	differs("timestampHeader", c.TimestampHeader, want.TimestampHeader)
	differs("template", c.Template, want.Template)
}

// ExpandPreset fills in, on an hmac config with a preset, each field the preset defines that the
// config leaves out (empty), so that the config is stored complete. Fields set to another value
// are left for ValidateAuthSchemeConfig to refuse. Other configs are left alone.
func ExpandPreset(cfg *api.AuthSchemeConfig) {
	if cfg.Type != api.AuthSchemeTypeHmac || cfg.Hmac == nil || cfg.Hmac.Preset == "" {
		return
	}
	p, ok := hmacsig.Preset(cfg.Hmac.Preset)
	if !ok {
		return
	}
	c := cfg.Hmac
	fill := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	fill(&c.Name, p.Name)
	fill((*string)(&c.In), string(p.In))
	fill((*string)(&c.Algorithm), string(p.Algorithm))
	fill((*string)(&c.Encoding), string(p.Encoding))
	fill(&c.Prefix, p.Prefix)
	fill(&c.TimestampHeader, p.TimestampHeader)
	fill(&c.Template, p.Template)
	if len(c.DigestInputs) == 0 {
		c.DigestInputs = slices.Clone(p.DigestInputs)
	}
}

// validateParamName checks the name a credential is sent under: in a header or a cookie it must
// be an RFC 9110 token (a CR LF would split the request, a space or separator corrupt it); in a
// query any name will do, since it is percent-encoded, but control characters have no place.
func validateParamName(errs *fieldErrors, name, in, field string) {
	switch {
	case name == "":
		errs.add(field, "is required")
	case in == "header" || in == "cookie":
		if !httpguts.ValidHeaderFieldName(name) {
			errs.add(field, "must be a token (letters, digits and !#$%&'*+-.^_`|~) for a "+in+" name")
		}
	case strings.ContainsFunc(name, unicode.IsControl):
		errs.add(field, "must not contain control characters")
	}
}

// validateAuthWord checks a word Plugboard puts before a token in the Authorization header (a
// jwt-bearer prefix, an OAuth 2.0 token type): one word, valid in a header value.
func validateAuthWord(errs *fieldErrors, word, field string) {
	if word != "" && (!httpguts.ValidHeaderFieldValue(word) || strings.ContainsFunc(word, unicode.IsSpace)) {
		errs.add(field, "must be one word, without whitespace or control characters: it goes into the Authorization header")
	}
}

func validateOAuth2Config(errs *fieldErrors, c *api.AuthSchemeConfigOAuth2, mp string) {
	switch {
	case c.TokenURL == "":
		errs.add(join(mp, "tokenUrl"), "is required")
	case !httpURL(c.TokenURL):
		errs.add(join(mp, "tokenUrl"), "must be an absolute http or https URL")
	}
	switch {
	case c.AuthorizeURL == "" && c.Grant.Type == api.AuthorizationCode:
		errs.add(join(mp, "authorizeUrl"), "is required for grant type authorizationCode")
	case c.AuthorizeURL != "" && !httpURL(c.AuthorizeURL):
		errs.add(join(mp, "authorizeUrl"), "must be an absolute http or https URL")
	}
	if c.RedirectURL != "" && (!absoluteURL(c.RedirectURL) || scriptScheme(c.RedirectURL)) {
		// Native apps use their own schemes (RFC 8252), so any absolute URL will do, but never
		// one a browser would run or read locally.
		errs.add(join(mp, "redirectUrl"), "must be an absolute URL, and not javascript:, data:, vbscript: or file:")
	}
	if msg := TokenParamsProblem(c.AdditionalTokenParams); msg != "" {
		errs.add(join(mp, "additionalTokenParams"), msg)
	}
	if c.MTLSCredentialID != nil && *c.MTLSCredentialID != "" {
		if _, err := ulid.ParseStrict(*c.MTLSCredentialID); err != nil {
			errs.add(join(mp, "mtlsCredentialId"), "must be the id (a ULID) of a certificate credential")
		}
	}
	if c.TokenEndpointAuthMethod != "" && !c.TokenEndpointAuthMethod.Valid() {
		errs.add(join(mp, "tokenEndpointAuthMethod"), "must be one of: client_secret_basic, client_secret_post")
	}
	// Only the grant member of the grant's type may be set: another one's client secret would be
	// kept, unused, and never moved into a credential.
	if c.Grant.AuthorizationCode != nil && c.Grant.Type != api.AuthorizationCode {
		errs.add(join(mp, "grant", "authorizationCode"), "must not be set for grant type "+string(c.Grant.Type))
	}
	if c.Grant.Password != nil && c.Grant.Type != api.Password {
		errs.add(join(mp, "grant", "password"), "must not be set for grant type "+string(c.Grant.Type))
	}
	switch {
	case c.Grant.ClientCredentials != nil && len(*c.Grant.ClientCredentials) > 0:
		// The published schema leaves this object open; nothing belongs in it, and whatever a
		// client put there would be stored in the clear.
		errs.add(join(mp, "grant", "clientCredentials"), "must be empty: the client credentials live on the connection's oauth2-client credential")
	case c.Grant.Type == "":
		errs.add(join(mp, "grant", "type"), "is required")
	case !c.Grant.Type.Valid():
		errs.add(join(mp, "grant", "type"), "must be one of: "+enumList(api.AuthorizationCode, api.ClientCredentials, api.Password))
	}
	for i, s := range c.Scopes {
		if s.Name == "" {
			errs.add(join(index(join(mp, "scopes"), i), "name"), "is required")
		}
	}
}

func validateOAuth1Config(errs *fieldErrors, c *api.AuthSchemeConfigOAuth1, mp string) {
	if c.ConsumerKey == "" {
		errs.add(join(mp, "consumerKey"), "is required")
	}
	if c.ConsumerSecret == "" {
		errs.add(join(mp, "consumerSecret"), "is required")
	}
	if c.SignatureMethod != "sha1" && c.SignatureMethod != "sha256" {
		errs.add(join(mp, "signatureMethod"), "must be one of: sha1, sha256")
	}
	endpoints := []struct {
		name string
		e    *api.Endpoint
	}{
		{"tempCredentialEndpoint", c.TempCredentialEndpoint},
		{"resourceOwnerAuthorizationEndpoint", c.ResourceOwnerAuthorizationEndpoint},
		{"tokenEndpoint", c.TokenEndpoint},
	}
	for _, ep := range endpoints {
		ef := join(mp, ep.name)
		if ep.e == nil {
			if !c.TokenAuth {
				errs.add(ef, "is required unless tokenAuth is true")
			}
			continue
		}
		switch {
		case ep.e.Url == "" && !c.TokenAuth:
			errs.add(join(ef, "url"), "is required")
		case ep.e.Url != "" && !httpURL(ep.e.Url):
			errs.add(join(ef, "url"), "must be an absolute http or https URL")
		}
		if ep.e.ParameterTransmission != nil && !ep.e.ParameterTransmission.Valid() {
			errs.add(join(ef, "parameterTransmission"), "must be one of: "+enumList(api.AUTHSTYLEAUTHORIZATIONHEADER,
				api.AUTHSTYLEFORM, api.AUTHSTYLEQUERY))
		}
	}
}

// reservedTokenParams are set by Plugboard in token requests; additional parameters may not
// override them (a redirect_uri or client_id of another flow, a grant_type of another grant).
var reservedTokenParams = []string{"grant_type", "code", "redirect_uri", "client_id", "client_secret", "code_verifier",
	"refresh_token", "username", "password", "assertion"}

// TokenParamsProblem says what is wrong with additional token request parameters (a URL-encoded
// query string), or "" when nothing is.
func TokenParamsProblem(q string) string {
	v, err := url.ParseQuery(q)
	if err != nil {
		return "is not a URL-encoded query string"
	}
	for _, name := range reservedTokenParams {
		if v.Has(name) {
			return "must not set " + name + ", which Plugboard sets"
		}
	}
	return ""
}

// scriptScheme reports whether a URL's scheme makes a browser run or read something locally.
func scriptScheme(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return true
	}
	switch strings.ToLower(u.Scheme) {
	case "javascript", "data", "vbscript", "file":
		return true
	}
	return false
}
