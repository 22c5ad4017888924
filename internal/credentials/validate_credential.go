package credentials

import (
	"bytes"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"slices"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
)

func credentialTypeList() string {
	s := make([]string, len(credentialKinds))
	for i, k := range credentialKinds {
		s[i] = string(k.typ)
	}
	return strings.Join(s, ", ")
}

// ValidateCredential checks one connection credential against the auth scheme configs the
// template offers (as stored, secrets not needed). orgID is the caller's organisation. path is
// for example "connection.credentials[0]"; every FieldError names a full JSON path under it, and
// no message quotes a submitted value.
//
// The client's authSchemeConfig only names the offered config (by its member's id, with a type
// that must agree); everything else in it is ignored, so the verbatim copy the Versori CLI sends,
// secrets emptied, is accepted. It returns the matched offered config (a pointer into offered),
// or nil when none matches; the matched config is returned even when there are other errors.
func ValidateCredential(cc api.ConnectionCredential, offered []api.AuthSchemeConfig, orgID ulid.ULID, path string) (*api.AuthSchemeConfig, []plugboard.FieldError) {
	var errs fieldErrors
	cp := join(path, "credential")
	typeOK := false
	if cc.Credential == nil {
		errs.add(cp, "is required")
	} else {
		c := cc.Credential
		switch {
		case c.Type == "":
			errs.add(join(cp, "type"), "is required")
		case !c.Type.Valid():
			errs.add(join(cp, "type"), "must be one of: "+credentialTypeList())
		default:
			typeOK = true
		}
		if c.OrganisationID != (ulid.ULID{}) && c.OrganisationID != orgID {
			errs.add(join(cp, "organisationId"), "must be your organisation's id or the zero ULID")
		}
		if typeOK {
			validateData(&errs, c.Type, c.Data, join(cp, "data"))
		}
	}

	matched := matchConfig(&errs, cc.AuthSchemeConfig, offered, join(path, "authSchemeConfig"))
	if matched != nil && typeOK {
		allowed := AllowedCredentialTypes(*matched)
		if !slices.Contains(allowed, cc.Credential.Type) {
			msg := "is not accepted by this auth scheme config"
			if len(allowed) > 0 {
				msg = "must be " + enumList(allowed...) + " for auth scheme type " + string(matched.Type)
				if len(allowed) > 1 {
					msg = "must be one of " + enumList(allowed...) + " for auth scheme type " + string(matched.Type)
				}
			}
			errs.add(join(cp, "type"), msg)
		}
		if msg := MTLSTokenURLProblem(*matched, cc.Credential); msg != "" {
			errs.add(join(cp, "data", "oauth2Client", "tokenUrl"), msg)
		}
		if msg := MTLSSecretProblem(*matched, cc.Credential); msg != "" {
			errs.add(join(cp, "data", "oauth2Client", "clientSecret"), msg)
		}
	}
	return matched, errs
}

// MTLSTokenURLProblem says why an oauth2-client credential may not fetch tokens under an OAuth 2.0
// config with mtlsEnabled: its token requests authenticate with a stored certificate (the one the
// config's mtlsCredentialId names, or the connection's), which is presented only at the origin of
// the config's tokenUrl, never at one the credential chooses. "" when there is no problem.
func MTLSTokenURLProblem(cfg api.AuthSchemeConfig, c *api.Credential) string {
	if cfg.Oauth2 == nil || !cfg.Oauth2.MTLSEnabled || c == nil || c.Type != api.CredentialTypeOauth2Client ||
		c.Data == nil || c.Data.Oauth2Client == nil {
		return ""
	}
	if Origin(c.Data.Oauth2Client.TokenURL) != Origin(cfg.Oauth2.TokenURL) {
		return "must be on the origin of the auth scheme config's tokenUrl: with mtlsEnabled, token requests present a stored client certificate, which goes nowhere else"
	}
	return ""
}

// CertificateAuthenticates reports whether an oauth2-client credential authenticates its token
// requests with a client certificate alone (RFC 8705 tls_client_auth): it says mTLSEnabled and
// holds no client secret. Its token requests then carry client_id and nothing else of the client.
func CertificateAuthenticates(c *api.CredentialDataOAuth2Client) bool {
	return c != nil && c.MTLSEnabled && c.ClientSecret == ""
}

// MTLSSecretProblem says why an oauth2-client credential without a client secret cannot
// authenticate under cfg: it relies on its certificate (mTLSEnabled), but only a config with
// mtlsEnabled presents one. "" when there is no problem.
func MTLSSecretProblem(cfg api.AuthSchemeConfig, c *api.Credential) string {
	if c == nil || c.Type != api.CredentialTypeOauth2Client || c.Data == nil || !CertificateAuthenticates(c.Data.Oauth2Client) {
		return ""
	}
	if cfg.Oauth2 == nil || !cfg.Oauth2.MTLSEnabled {
		return "is required: mTLSEnabled alone does not authenticate the client, since no certificate is presented unless the auth scheme config has mtlsEnabled"
	}
	return ""
}

// matchConfig finds the offered config the client's copy names.
func matchConfig(errs *fieldErrors, ref *api.AuthSchemeConfig, offered []api.AuthSchemeConfig, ap string) *api.AuthSchemeConfig {
	if ref == nil {
		errs.add(ap, "is required")
		return nil
	}
	k, ok := schemeKindOf(ref.Type)
	switch {
	case ref.Type == "":
		errs.add(join(ap, "type"), "is required")
		return nil
	case !ok:
		errs.add(join(ap, "type"), "must be one of: "+schemeTypeList())
		return nil
	}
	id, present := configID(*ref)
	switch {
	case !present:
		errs.add(join(ap, k.member), "is required for auth scheme type "+string(k.typ))
		return nil
	case id == "":
		errs.add(join(ap, k.member, "id"), "is required")
		return nil
	}
	// The rest of the copy is ignored, but a URL with a password has no place in a request either.
	checkConfigURLs(errs, *ref, join(ap, k.member))
	for i := range offered {
		if ConfigID(offered[i]) != id {
			continue
		}
		if offered[i].Type != ref.Type {
			errs.add(join(ap, "type"), "must be "+string(offered[i].Type)+", the type of the auth scheme config with this id")
		}
		return &offered[i]
	}
	errs.add(join(ap, k.member, "id"), "does not name an auth scheme config the connection template offers")
	return nil
}

// validateData checks that data holds exactly the member for typ, and that member's fields.
func validateData(errs *fieldErrors, typ api.CredentialType, d *api.CredentialData, dp string) {
	k, _ := credentialKindOf(typ)
	for _, m := range credentialMembers(d) {
		if m != k.member {
			errs.add(join(dp, m), "must not be set for credential type "+string(typ))
		}
	}
	if typ == api.CredentialTypeNone {
		// CredentialDataNone allows no properties; anything sent there would be stored in the clear.
		if d != nil && d.None != nil && len(*d.None) > 0 {
			errs.add(join(dp, k.member), "must be empty for credential type none")
		}
		return
	}
	mp := join(dp, k.member)
	if !slices.Contains(credentialMembers(d), k.member) {
		errs.add(mp, "is required for credential type "+string(typ))
		return
	}
	required := func(name, value string) bool {
		if value == "" {
			errs.add(join(mp, name), "is required")
			return false
		}
		return true
	}
	switch typ {
	case api.CredentialTypeString:
		required("value", d.String.Value)
	case api.CredentialTypeBinary:
		if required("valueBase64", d.Binary.ValueBase64) && !isBase64(d.Binary.ValueBase64) {
			errs.add(join(mp, "valueBase64"), "must be standard base64")
		}
	case api.CredentialTypeBasicAuth:
		// The password may be empty: some APIs take a key as the username and no password.
		required("username", d.BasicAuth.Username)
	case api.CredentialTypeOauth2Client:
		c := d.Oauth2Client
		required("clientId", c.ClientID)
		// With mTLSEnabled the client may authenticate with its certificate alone (RFC 8705
		// tls_client_auth); whether a certificate is presented at all is the config's to say, so
		// ValidateCredential decides once it knows the config.
		if c.ClientSecret == "" && !c.MTLSEnabled {
			errs.add(join(mp, "clientSecret"), "is required, unless the client authenticates with its certificate (RFC 8705 tls_client_auth): then set mTLSEnabled, under an auth scheme config with mtlsEnabled")
		}
		if required("tokenUrl", c.TokenURL) && !httpURL(c.TokenURL) {
			errs.add(join(mp, "tokenUrl"), "must be an absolute http or https URL")
		}
		*errs = append(*errs, CheckURLUserinfo(join(mp, "tokenUrl"), c.TokenURL)...)
	case api.CredentialTypeOauth2Code:
		required("code", d.Oauth2Code.Code)
		required("state", d.Oauth2Code.State)
		*errs = append(*errs, CheckURLUserinfo(join(mp, "redirectUrl"), d.Oauth2Code.RedirectURL)...)
	case api.CredentialTypeOauth2Password:
		required("username", d.Oauth2Password.Username)
		required("password", d.Oauth2Password.Password)
	case api.CredentialTypeOauth2Token:
		required("refreshToken", d.Oauth2Token.RefreshToken)
		validateAuthWord(errs, d.Oauth2Token.TokenType, join(mp, "tokenType"))
	case api.CredentialTypeOauth1:
		required("state", d.Oauth1.State)
		required("oauthToken", d.Oauth1.OauthToken)
		required("oauthVerifier", d.Oauth1.OauthVerifier)
	case api.CredentialTypeOauth1Token:
		required("token", d.Oauth1Token.Token)
		required("tokenSecret", d.Oauth1Token.TokenSecret)
		for i, p := range d.Oauth1Token.AdditionalParams {
			if p.Name == "" {
				errs.add(join(index(join(mp, "additionalParams"), i), "name"), "is required")
			}
		}
	case api.CredentialTypeCertificate:
		validateCertificate(errs, d.Certificate, mp)
	case api.CredentialTypeJwtBearer:
		validateJWTBearer(errs, d.JwtBearer, mp)
	}
}

func isBase64(s string) bool {
	if _, err := base64.StdEncoding.DecodeString(s); err == nil {
		return true
	}
	_, err := base64.RawStdEncoding.DecodeString(s)
	return err == nil
}

func validateCertificate(errs *fieldErrors, c *api.CredentialDataCertificate, mp string) {
	certOK, keyOK := false, false
	switch {
	case c.Certificate == "":
		errs.add(join(mp, "certificate"), "is required")
	case !pemCertificates(c.Certificate):
		errs.add(join(mp, "certificate"), "must be one or more PEM CERTIFICATE blocks and nothing else")
	default:
		certOK = true
	}
	switch {
	case c.Key == "":
		errs.add(join(mp, "key"), "is required")
	case pemPrivateKey(c.Key) == nil:
		errs.add(join(mp, "key"), "must be an unencrypted PEM private key (PKCS#1, PKCS#8 or EC)")
	default:
		keyOK = true
	}
	switch {
	case c.Ca == "":
		errs.add(join(mp, "ca"), "is required")
	case !pemCertificates(c.Ca):
		errs.add(join(mp, "ca"), "must be one or more PEM CERTIFICATE blocks and nothing else")
	}
	if certOK && keyOK {
		if _, err := tls.X509KeyPair([]byte(c.Certificate), []byte(c.Key)); err != nil {
			errs.add(join(mp, "key"), "does not match the certificate")
		}
	}
}

// pemCertificates reports whether s is one or more PEM CERTIFICATE blocks that parse, with only
// whitespace around them. Anything else is refused: the certificate and CA are stored in the
// clear, and a private key pasted into them by mistake must not be.
func pemCertificates(s string) bool {
	rest := []byte(s)
	n := 0
	for {
		rest = bytes.TrimSpace(rest)
		if len(rest) == 0 {
			return n > 0
		}
		if !bytes.HasPrefix(rest, []byte("-----BEGIN ")) {
			return false
		}
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil || block.Type != "CERTIFICATE" {
			return false
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return false
		}
		n++
	}
}

// pemPrivateKey parses the first PEM private key block of s as PKCS#1, PKCS#8 or SEC 1 (EC),
// skipping other blocks such as the EC PARAMETERS that openssl writes first. It returns nil when
// there is none or it does not parse.
func pemPrivateKey(s string) any {
	rest := []byte(s)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil
		}
		if !strings.HasSuffix(block.Type, "PRIVATE KEY") {
			continue
		}
		if key, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
			return key
		}
		if key, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
			return key
		}
		if key, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
			return key
		}
		return nil
	}
}

// pemRSAPrivateKey parses s as a PEM RSA private key in PKCS#1 or PKCS#8.
func pemRSAPrivateKey(s string) bool {
	block, _ := pem.Decode([]byte(s))
	if block == nil {
		return false
	}
	if _, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return true
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return false
	}
	_, ok := key.(*rsa.PrivateKey)
	return ok
}

func validateJWTBearer(errs *fieldErrors, j *api.CredentialDataJWTBearer, mp string) {
	algOK := false
	switch {
	case j.Algorithm == "":
		errs.add(join(mp, "algorithm"), "is required")
	case !j.Algorithm.Valid():
		errs.add(join(mp, "algorithm"), "must be one of: "+enumList(api.HS256, api.HS384, api.HS512, api.RS256, api.RS384, api.RS512))
	default:
		algOK = true
	}
	switch {
	case j.Secret == "":
		errs.add(join(mp, "secret"), "is required")
	case algOK && strings.HasPrefix(string(j.Algorithm), "RS") && !pemRSAPrivateKey(j.Secret):
		errs.add(join(mp, "secret"), "must be a PEM RSA private key (PKCS#1 or PKCS#8) for algorithm "+string(j.Algorithm))
	}
	if j.ExpiresIn != "" {
		if d, err := time.ParseDuration(j.ExpiresIn); err != nil || d <= 0 {
			errs.add(join(mp, "expiresIn"), "must be a positive Go duration such as 24h or 1m30s")
		}
	}
	validateAuthWord(errs, j.AuthorizationHeaderPrefix, join(mp, "authorizationHeaderPrefix"))
}
