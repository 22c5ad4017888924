// Package apply puts a connection's credentials on outbound requests. It is the one place that
// knows how each auth scheme is sent (where an API key goes, how an HMAC or OAuth 1.0a signature
// is computed, when a JWT is minted anew), so that the proxy, the access endpoint and the Go
// client cannot disagree about it.
//
// The package does no storage, no token refresh and no network calls: callers hand it opened
// credentials (secrets included), and for OAuth 2.0 the access token to send.
package apply

import (
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
)

// MaxBodySize is the largest request body read for signing (hmac with the "body" input, oauth1
// with a form body). The whole body has to be in memory to be signed and then sent, so a limit
// keeps one request from taking the process's memory; larger bodies are refused with
// plugboard.ETooLarge.
const MaxBodySize = 10 << 20

// Credential is one of a connection's credentials, opened (secrets included), with the auth
// scheme config it is used with (full, as the system holds it, consumer secret included).
type Credential struct {
	// ID is the credential's id. Minted JWTs are cached under it.
	ID string
	// Config is the auth scheme config the credential is used with; its Type decides the rule.
	Config api.AuthSchemeConfig
	// Type and Data are the credential's type and data, secrets included.
	Type api.CredentialType
	Data api.CredentialData
	// AccessToken and TokenType are the OAuth 2.0 token to send, for oauth2 configs. The caller
	// fills them (from the stored oauth2-token after any refresh, or a client-credentials token
	// it fetched) because only the caller knows whether the stored token is still fresh: this
	// package never sends a stored token on its own. TokenType defaults to Bearer.
	AccessToken, TokenType string
	// ExpiresAt is the credential's expiresAt; zero when it does not expire. A JWT minted from the
	// credential expires no later, and none is minted (or reused from the cache) from then on.
	ExpiresAt time.Time
	// TLS is a certificate credential's TLS settings as ClientTLS built them from Data, when the
	// caller keeps them (internal/access builds them once per opened connection, so that the key
	// is not parsed per request and the same settings keep their transport); Apply and Material
	// build them from Data when nil.
	TLS *tls.Config
}

// Applier applies credentials to requests. It holds the clock and the cache of minted JWTs, so
// one Applier should be shared by everything that applies credentials in a process: a JWT is
// then minted once per credential and lifetime, not once per request. Safe for concurrent use.
type Applier struct {
	now func() time.Time
	// fpKey keys the fingerprints of cached JWT inputs, so the cache holds no plain hash of a
	// signing secret.
	fpKey []byte

	mu      sync.Mutex
	jwts    map[string]jwtEntry // by credential ID
	sweepAt int                 // map size at which expired entries are next swept
}

// NewApplier returns an Applier that reads the time from now (time.Now when nil). Tests pass a
// fake clock to exercise JWT lifetimes; OAuth 1.0a timestamps always use the real clock (see
// signOAuth1).
func NewApplier(now func() time.Time) *Applier {
	if now == nil {
		now = time.Now
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return &Applier{now: now, fpKey: key, jwts: map[string]jwtEntry{}, sweepAt: 64}
}

// Apply puts the credentials on req, in the order given (the order the connection lists them;
// later credentials see what earlier ones added, which matters for hmac over the URL). Headers
// are set, replacing any value the request already had under the name; query parameters and
// cookies replace a parameter or cookie of the same name and keep the others as they were.
//
// It returns the TLS settings that certificate credentials call for (client certificate, and
// RootCAs from the credential's CA), or nil if there are none; the caller uses them for the
// connection that sends req. On error req may be partly modified and must not be sent. Errors
// are *plugboard.Error (EInvalid for a credential that cannot be applied, ETooLarge for a body
// over MaxBodySize) and never contain a secret.
func (a *Applier) Apply(req *http.Request, creds []Credential) (*tls.Config, error) {
	if req == nil || req.URL == nil {
		return nil, plugboard.Errorf(plugboard.EInvalid, "no request to apply credentials to")
	}
	r := &outgoing{req: req}
	res, err := a.apply(creds, requestSink{req}, r)
	if err != nil {
		return nil, err
	}
	if res.cert != nil {
		return res.cert.tls, nil
	}
	return nil, nil
}

// Material is what credentials put on a request, for callers that send requests themselves
// (the access endpoint hands it to integrations; the Go client applies it to its own requests).
type Material struct {
	// Headers are set on each request, replacing values of the same name.
	Headers http.Header
	// Query parameters are added to each request's query, replacing parameters of the same name.
	Query url.Values
	// Cookies are sent with each request, replacing cookies of the same name.
	Cookies []*http.Cookie
	// TLS is the client certificate and the CA to verify the server with, from a certificate
	// credential; nil if there is none.
	TLS *tls.Config
	// ClientCertificatePEM and CAPEM are the certificate credential's public parts, for callers
	// in other processes (the private key is only in TLS).
	ClientCertificatePEM, CAPEM string
	// ExpiresAt is when the earliest minted value in Headers (a JWT) expires; zero when nothing
	// does. Callers that keep Material must fetch it anew before then.
	ExpiresAt time.Time
}

// Material returns what the credentials put on any request. Schemes whose value depends on the
// request (oauth1 and hmac sign the method, URL or body) cannot be precomputed: if any is
// present it returns an EInvalid error naming the scheme and saying to send the request through
// the proxy. Other errors are as for Apply.
func (a *Applier) Material(creds []Credential) (*Material, error) {
	for _, c := range creds {
		switch c.Config.Type {
		case api.AuthSchemeTypeOauth1, api.AuthSchemeTypeHmac:
			return nil, plugboard.Errorf(plugboard.EInvalid,
				"credential %s uses the %s auth scheme, which signs each request and cannot be precomputed: send the request through the proxy",
				c.ID, c.Config.Type)
		}
	}
	m := &Material{Headers: http.Header{}, Query: url.Values{}}
	res, err := a.apply(creds, &materialSink{m}, nil)
	if err != nil {
		return nil, err
	}
	if res.cert != nil {
		m.TLS = res.cert.tls
		m.ClientCertificatePEM = res.cert.certPEM
		m.CAPEM = res.cert.caPEM
	}
	m.ExpiresAt = res.expires
	return m, nil
}

// result is what applying contributes besides what goes through the sink.
type result struct {
	cert    *certificate
	expires time.Time // earliest JWT expiry
}

// apply runs the rules. r is nil when there is no request (Material); Material has already
// refused the schemes that need one.
func (a *Applier) apply(creds []Credential, s sink, r *outgoing) (result, error) {
	var res result
	for _, c := range creds {
		if c.Config.Type == api.AuthSchemeTypeSecret {
			continue // stored for the integration's own use, never sent
		}
		if err := checkFit(c); err != nil {
			return res, err
		}
		switch c.Config.Type {
		case api.AuthSchemeTypeNone:
		case api.AuthSchemeTypeApiKey:
			cfg := c.Config.ApiKey
			if err := s.put(c.ID, location(cfg.In), cfg.Name, cfg.Prefix+c.Data.String.Value); err != nil {
				return res, err
			}
		case api.AuthSchemeTypeBasicAuth:
			if err := s.put(c.ID, inHeader, "Authorization", basicAuth(c.Data.BasicAuth)); err != nil {
				return res, err
			}
		case api.AuthSchemeTypeOauth2:
			v, err := bearer(c)
			if err != nil {
				return res, err
			}
			if err := s.put(c.ID, inHeader, "Authorization", v); err != nil {
				return res, err
			}
		case api.AuthSchemeTypeJwtBearer:
			v, exp, err := a.jwt(c)
			if err != nil {
				return res, err
			}
			if err := s.put(c.ID, inHeader, "Authorization", v); err != nil {
				return res, err
			}
			if res.expires.IsZero() || exp.Before(res.expires) {
				res.expires = exp
			}
		case api.AuthSchemeTypeCertificate:
			if res.cert != nil {
				return res, plugboard.Errorf(plugboard.EInvalid,
					"credential %s: a connection can present only one client certificate, and an earlier credential already has one", c.ID)
			}
			if c.TLS != nil {
				res.cert = &certificate{tls: c.TLS, certPEM: c.Data.Certificate.Certificate, caPEM: c.Data.Certificate.Ca}
				break
			}
			cert, err := newCertificate(c.ID, c.Data.Certificate)
			if err != nil {
				return res, err
			}
			res.cert = cert
		case api.AuthSchemeTypeHmac:
			if err := a.signHMAC(c, r); err != nil {
				return res, err
			}
		case api.AuthSchemeTypeOauth1:
			if err := signOAuth1(c, r); err != nil {
				return res, err
			}
		}
	}
	return res, nil
}

// fits lists, per auth scheme, the credential types that can be applied with it. These are the
// stored forms: the types exchanged with a provider before storage (oauth2-code,
// oauth2-password, oauth1) are never applied. oauth2 takes both stored forms whatever the
// grant, since only the access token the caller passes is sent.
var fits = map[api.AuthSchemeType][]api.CredentialType{
	api.AuthSchemeTypeNone:        {api.CredentialTypeNone},
	api.AuthSchemeTypeApiKey:      {api.CredentialTypeString},
	api.AuthSchemeTypeBasicAuth:   {api.CredentialTypeBasicAuth},
	api.AuthSchemeTypeOauth2:      {api.CredentialTypeOauth2Token, api.CredentialTypeOauth2Client},
	api.AuthSchemeTypeOauth1:      {api.CredentialTypeOauth1Token},
	api.AuthSchemeTypeHmac:        {api.CredentialTypeString, api.CredentialTypeBinary},
	api.AuthSchemeTypeCertificate: {api.CredentialTypeCertificate},
	api.AuthSchemeTypeJwtBearer:   {api.CredentialTypeJwtBearer},
}

// checkFit refuses a credential whose type does not fit its config, or whose config or data
// lacks the member its type names, so that the rules below can use the members without checks.
func checkFit(c Credential) error {
	types, ok := fits[c.Config.Type]
	if !ok {
		return plugboard.Errorf(plugboard.EInvalid, "credential %s: unknown auth scheme type %q", c.ID, c.Config.Type)
	}
	fit := false
	for _, t := range types {
		fit = fit || t == c.Type
	}
	if !fit {
		return plugboard.Errorf(plugboard.EInvalid, "credential %s: a %s credential cannot be applied with a %s auth scheme config",
			c.ID, c.Type, c.Config.Type)
	}
	cfg, d := c.Config, c.Data
	var configOK bool
	switch cfg.Type {
	case api.AuthSchemeTypeNone:
		configOK = true // a placeholder: nothing is read from it
	case api.AuthSchemeTypeApiKey:
		configOK = cfg.ApiKey != nil
	case api.AuthSchemeTypeBasicAuth:
		configOK = true
	case api.AuthSchemeTypeOauth2:
		configOK = true // only the caller's access token is used
	case api.AuthSchemeTypeOauth1:
		configOK = cfg.Oauth1 != nil
	case api.AuthSchemeTypeHmac:
		configOK = cfg.Hmac != nil
	case api.AuthSchemeTypeCertificate, api.AuthSchemeTypeJwtBearer:
		configOK = true
	}
	if !configOK {
		return plugboard.Errorf(plugboard.EInvalid, "credential %s: its %s auth scheme config has no %s settings", c.ID, cfg.Type, cfg.Type)
	}
	var dataOK bool
	switch c.Type {
	case api.CredentialTypeNone, api.CredentialTypeOauth2Token, api.CredentialTypeOauth2Client:
		dataOK = true // nothing is read from the data
	case api.CredentialTypeString:
		dataOK = d.String != nil
	case api.CredentialTypeBinary:
		dataOK = d.Binary != nil
	case api.CredentialTypeBasicAuth:
		dataOK = d.BasicAuth != nil
	case api.CredentialTypeOauth1Token:
		dataOK = d.Oauth1Token != nil
	case api.CredentialTypeCertificate:
		dataOK = d.Certificate != nil
	case api.CredentialTypeJwtBearer:
		dataOK = d.JwtBearer != nil
	}
	if !dataOK {
		return plugboard.Errorf(plugboard.EInvalid, "credential %s: a %s credential without its %s data", c.ID, c.Type, c.Type)
	}
	return nil
}

// invalid returns an EInvalid error for credential id with cause err (logged, never shown).
// Callers make sure neither message nor err can hold a secret.
func invalid(err error, id, format string, args ...any) *plugboard.Error {
	return &plugboard.Error{Code: plugboard.EInvalid, Message: fmt.Sprintf("credential %s: ", id) + fmt.Sprintf(format, args...), Err: err}
}
