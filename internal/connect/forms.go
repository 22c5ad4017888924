package connect

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/credentials"
)

// How the page connects a scheme: a form of fields, or the provider's page in a popup.
const (
	FlowForm  = "form"
	FlowPopup = "popup"
)

// MaxPEMBytes bounds each PEM field of the page's certificate form.
const MaxPEMBytes = 65536

// Scheme is one way the page offers to connect a template: a config, and the form for it.
type Scheme struct {
	AuthSchemeConfigID string
	Type               string
	Name               string
	Flow               string
	Fields             []Field
}

// Field is one field of a scheme's form; its value goes into the credential as FormCredential says.
type Field struct {
	Name, Label string
	// Kind is text, password, pem or textarea.
	Kind     string
	Required bool
	// MaxBytes bounds the value, when set; PEM is the PEM block type a pem field takes.
	MaxBytes int
	PEM      string
}

// formPath is the path credential errors of the page's forms start with; formErrors renames them.
const formPath = "form"

var (
	secretField = func(name, label string) Field {
		return Field{Name: name, Label: label, Kind: "password", Required: true}
	}
	textField = func(name, label string) Field { return Field{Name: name, Label: label, Kind: "text", Required: true} }
)

// SchemeOf returns the form the page shows for a config, and false for configs the page cannot
// connect (jwt-bearer, secret, a token-only OAuth 1.0a config).
func SchemeOf(cfg api.AuthSchemeConfig) (Scheme, bool) {
	sc := Scheme{AuthSchemeConfigID: configIDOf(cfg), Type: string(cfg.Type), Name: configName(cfg), Flow: FlowForm, Fields: []Field{}}
	switch cfg.Type {
	case api.AuthSchemeTypeNone:
	case api.AuthSchemeTypeApiKey:
		sc.Fields = []Field{secretField("key", "API key")}
	case api.AuthSchemeTypeBasicAuth:
		sc.Fields = []Field{textField("username", "Username"), secretField("password", "Password")}
	case api.AuthSchemeTypeHmac:
		sc.Fields = []Field{secretField("secret", "Signing secret")}
	case api.AuthSchemeTypeCertificate:
		sc.Fields = []Field{
			{Name: "certificate", Label: "Certificate (PEM)", Kind: "pem", Required: true, MaxBytes: MaxPEMBytes, PEM: "CERTIFICATE"},
			{Name: "privateKey", Label: "Private key (PEM)", Kind: "pem", Required: true, MaxBytes: MaxPEMBytes, PEM: "PRIVATE KEY"},
			// The credential's CA verifies the service's own certificate.
			{Name: "ca", Label: "CA certificate of the service (PEM)", Kind: "pem", Required: true, MaxBytes: MaxPEMBytes, PEM: "CERTIFICATE"},
		}
	case api.AuthSchemeTypeOauth2:
		if cfg.Oauth2 == nil {
			return sc, false
		}
		switch cfg.Oauth2.Grant.Type {
		case api.AuthorizationCode:
			sc.Flow = FlowPopup
		case api.ClientCredentials:
			sc.Fields = []Field{textField("clientId", "Client ID"), secretField("clientSecret", "Client secret")}
		case api.Password:
			sc.Fields = []Field{textField("username", "Username"), secretField("password", "Password")}
		default:
			return sc, false
		}
	case api.AuthSchemeTypeOauth1:
		if cfg.Oauth1 == nil || cfg.Oauth1.TokenAuth {
			return sc, false
		}
		sc.Flow = FlowPopup
	default:
		return sc, false
	}
	return sc, true
}

// configIDOf is a config's id.
func configIDOf(cfg api.AuthSchemeConfig) string { return credentials.ConfigID(cfg) }

// configName is a config's description, else its type.
func configName(cfg api.AuthSchemeConfig) string {
	raw, _ := json.Marshal(cfg)
	var members map[string]json.RawMessage
	_ = json.Unmarshal(raw, &members)
	for k, v := range members {
		if k == "type" {
			continue
		}
		var base struct {
			Description string `json:"description"`
		}
		if json.Unmarshal(v, &base) == nil && strings.TrimSpace(base.Description) != "" {
			return base.Description
		}
	}
	return string(cfg.Type)
}

// formValueFields maps each credential data field a form fills to the form's field name, for
// error messages.
var formValueFields = map[string]string{
	"string.value":              "key",
	"basicAuth.username":        "username",
	"basicAuth.password":        "password",
	"certificate.certificate":   "certificate",
	"certificate.key":           "privateKey",
	"oauth2Client.clientId":     "clientId",
	"oauth2Client.clientSecret": "clientSecret",
	"oauth2Password.username":   "username",
	"oauth2Password.password":   "password",
}

// FormCredential turns a form's values into the credential of its scheme, checking each value
// (field errors name values.<field>). PEM values are parsed: the certificate as X.509, the key as
// a private key that matches it; neither is ever repeated in a message.
func FormCredential(cfg api.AuthSchemeConfig, values map[string]string) (api.ConnectionCredential, error) {
	sc, ok := SchemeOf(cfg)
	var cc api.ConnectionCredential
	if !ok {
		return cc, fieldErr("invalid connection", "authSchemeConfigId", "cannot be connected on this page")
	}
	if sc.Flow == FlowPopup {
		return cc, fieldErr("invalid connection", "authSchemeConfigId", "connects through the provider's page: start it with POST /connect/api/oauth")
	}
	var errs []plugboard.FieldError
	for k := range values {
		if !slices.ContainsFunc(sc.Fields, func(f Field) bool { return f.Name == k }) {
			errs = append(errs, plugboard.FieldError{Field: "values." + k, Message: "is not a field of this form"})
		}
	}
	for _, f := range sc.Fields {
		v := values[f.Name]
		switch {
		case f.MaxBytes > 0 && len(v) > f.MaxBytes:
			return cc, &plugboard.Error{Code: plugboard.ETooLarge, Message: "the upload is too large",
				Fields: []plugboard.FieldError{{Field: "values." + f.Name, Message: "must be at most " + strconv.Itoa(f.MaxBytes) + " bytes"}}}
		case f.Required && strings.TrimSpace(v) == "":
			errs = append(errs, plugboard.FieldError{Field: "values." + f.Name, Message: "is required"})
		}
	}
	if len(errs) > 0 {
		slices.SortFunc(errs, func(a, b plugboard.FieldError) int { return strings.Compare(a.Field, b.Field) })
		return cc, plugboard.Invalid("invalid connection", errs...)
	}
	data := &api.CredentialData{}
	typ := api.CredentialTypeNone
	switch cfg.Type {
	case api.AuthSchemeTypeNone:
		data.None = &api.CredentialDataNone{}
	case api.AuthSchemeTypeApiKey:
		typ, data.String = api.CredentialTypeString, &api.CredentialDataString{Value: values["key"]}
	case api.AuthSchemeTypeHmac:
		typ, data.String = api.CredentialTypeString, &api.CredentialDataString{Value: values["secret"]}
	case api.AuthSchemeTypeBasicAuth:
		typ, data.BasicAuth = api.CredentialTypeBasicAuth, &api.CredentialDataBasicAuth{Username: values["username"], Password: values["password"]}
	case api.AuthSchemeTypeCertificate:
		if err := CheckCertificatePair(values["certificate"], values["privateKey"]); err != nil {
			return cc, err
		}
		if b, _ := pem.Decode([]byte(values["ca"])); b == nil || b.Type != "CERTIFICATE" {
			return cc, fieldErr("invalid certificate", "values.ca", "is not a PEM certificate (-----BEGIN CERTIFICATE-----)")
		} else if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return cc, fieldErr("invalid certificate", "values.ca", "does not parse as an X.509 certificate")
		}
		typ, data.Certificate = api.CredentialTypeCertificate, &api.CredentialDataCertificate{Certificate: values["certificate"],
			Key: values["privateKey"], Ca: values["ca"]}
	case api.AuthSchemeTypeOauth2:
		if cfg.Oauth2.Grant.Type == api.ClientCredentials {
			typ = api.CredentialTypeOauth2Client
			data.Oauth2Client = &api.CredentialDataOAuth2Client{ClientID: values["clientId"], ClientSecret: values["clientSecret"],
				TokenURL: cfg.Oauth2.TokenURL, Scopes: cfg.Oauth2.DefaultScopes,
				TokenEndpointAuthMethod: api.CredentialDataOAuth2ClientTokenEndpointAuthMethod(cfg.Oauth2.TokenEndpointAuthMethod)}
		} else {
			typ, data.Oauth2Password = api.CredentialTypeOauth2Password, &api.CredentialDataOAuth2Password{Username: values["username"], Password: values["password"]}
		}
	}
	c := cfg
	cc.AuthSchemeConfig = &c
	cc.Credential = &api.Credential{Type: typ, Data: data}
	return cc, nil
}

// CheckCertificatePair checks a certificate form's PEM values: one CERTIFICATE block that parses
// as X.509, one PRIVATE KEY block (PKCS #8, PKCS #1 or SEC 1) that parses, and the key matching
// the certificate. Messages name the field and never repeat the value.
func CheckCertificatePair(certPEM, keyPEM string) error {
	bad := func(field, msg string) error { return fieldErr("invalid certificate", "values."+field, msg) }
	block, _ := pem.Decode([]byte(certPEM))
	if block == nil || block.Type != "CERTIFICATE" {
		return bad("certificate", "is not a PEM certificate (-----BEGIN CERTIFICATE-----)")
	}
	if _, err := x509.ParseCertificate(block.Bytes); err != nil {
		return bad("certificate", "does not parse as an X.509 certificate")
	}
	kb, _ := pem.Decode([]byte(keyPEM))
	if kb == nil || !strings.HasSuffix(kb.Type, "PRIVATE KEY") {
		return bad("privateKey", "is not a PEM private key (-----BEGIN PRIVATE KEY-----)")
	}
	if _, err := x509.ParsePKCS8PrivateKey(kb.Bytes); err != nil {
		if _, err1 := x509.ParsePKCS1PrivateKey(kb.Bytes); err1 != nil {
			if _, err2 := x509.ParseECPrivateKey(kb.Bytes); err2 != nil {
				return bad("privateKey", "does not parse as a private key")
			}
		}
	}
	if _, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM)); err != nil {
		return bad("privateKey", "does not match the certificate")
	}
	return nil
}

// formErrors renames the credential field errors of a form's credential (form[0].credential.data.
// string.value) to the form's fields (values.key).
func formErrors(err error) error {
	var e *plugboard.Error
	if err == nil || !errors.As(err, &e) || len(e.Fields) == 0 {
		return err
	}
	out := *e
	out.Fields = make([]plugboard.FieldError, len(e.Fields))
	prefix := formPath + "[0].credential.data."
	for i, f := range e.Fields {
		f.Field = strings.TrimPrefix(f.Field, formPath+"[0].")
		if rest, ok := strings.CutPrefix(e.Fields[i].Field, prefix); ok {
			if name, ok := formValueFields[rest]; ok {
				f.Field = "values." + name
			} else {
				f.Field = "values"
			}
		} else if strings.HasPrefix(e.Fields[i].Field, formPath) {
			f.Field = "values"
		}
		out.Fields[i] = f
	}
	return &out
}

func asError(err error, e **plugboard.Error) bool { return errors.As(err, e) }

// NormaliseBaseURL applies the spec's rules to a connection's base URL: a missing scheme becomes
// https://, and everything after host and port is dropped.
func NormaliseBaseURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", nil
	}
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("is not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("must use http or https")
	}
	if u.Hostname() == "" {
		return "", fmt.Errorf("has no host")
	}
	if u.User != nil {
		return "", fmt.Errorf("must not carry credentials; store them as a connection credential")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("has an invalid port")
		}
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host}).String(), nil
}
