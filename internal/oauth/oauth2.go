// Package oauth performs the token requests of OAuth connect flows with golang.org/x/oauth2 (and
// OAuth 1.0a with github.com/dghubble/oauth1), always through Plugboard's guarded outbound client,
// and turns providers' refusals into domain errors that name the provider's error code but never a
// secret. It keeps no state: the HTTP layer stores flows and tokens.
package oauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/outbound"
)

// Client makes token requests.
type Client struct {
	out *outbound.Client
}

// New returns a Client whose requests go through out.
func New(out *outbound.Client) *Client { return &Client{out: out} }

// Endpoint is a provider's token endpoint with the client's identity at it.
type Endpoint struct {
	TokenURL     string
	ClientID     string
	ClientSecret string
	// TLS carries the client certificate for mTLS and the CA that verifies the provider; nil for defaults.
	TLS *tls.Config
	// Params are added to the token request's form (additionalTokenParams and the like).
	Params url.Values
	// SecretInForm sends the client secret in the form (client_secret_post) instead of the
	// Authorization header (client_secret_basic, the default RFC 6749 requires providers to accept).
	SecretInForm bool
}

// Token is what a token endpoint granted.
type Token struct {
	AccessToken  string
	RefreshToken string
	TokenType    string
	// ExpiresAt is zero when the provider gave no expires_in.
	ExpiresAt time.Time
	// Scopes are the granted scopes when the provider says, else the requested ones.
	Scopes []string
}

func (c *Client) context(ctx context.Context, ep Endpoint) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, c.tokenClient(ep.TLS))
}

// tokenClient is the guarded client for token requests. It never follows redirects: a 307 or 308
// would send the form again (password, code, client secret) to wherever the provider points.
func (c *Client) tokenClient(tlsConfig *tls.Config) *http.Client {
	hc := c.out.HTTPClient(tlsConfig)
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return hc
}

func (ep Endpoint) config(redirectURI string, scopes []string) *oauth2.Config {
	return &oauth2.Config{ClientID: ep.ClientID, ClientSecret: ep.ClientSecret, RedirectURL: redirectURI, Scopes: scopes,
		Endpoint: oauth2.Endpoint{TokenURL: ep.TokenURL, AuthStyle: ep.authStyle()}}
}

// authStyle is where the client's credentials go. It is fixed, never auto-detected: x/oauth2's
// detection sends a failed request again the other way, which replays single-use codes and
// rotated refresh tokens (and doubles every timeout).
func (ep Endpoint) authStyle() oauth2.AuthStyle {
	if ep.ClientSecret == "" || ep.SecretInForm {
		// A client without a secret (mTLS, public clients) identifies itself in the form.
		return oauth2.AuthStyleInParams
	}
	return oauth2.AuthStyleInHeader
}

func paramOptions(params url.Values) []oauth2.AuthCodeOption {
	var opts []oauth2.AuthCodeOption
	for k, vs := range params {
		for _, v := range vs {
			opts = append(opts, oauth2.SetAuthURLParam(k, v))
		}
	}
	return opts
}

// ExchangeCode trades an authorization code for tokens (with the PKCE verifier when there is one).
func (c *Client) ExchangeCode(ctx context.Context, ep Endpoint, code, redirectURI, verifier string, scopes []string) (*Token, error) {
	opts := paramOptions(ep.Params)
	if verifier != "" {
		opts = append(opts, oauth2.VerifierOption(verifier))
	}
	tok, err := ep.config(redirectURI, scopes).Exchange(c.context(ctx, ep), code, opts...)
	if err != nil {
		return nil, c.providerError(err, "authorization code", ep.ClientSecret, code, verifier)
	}
	return fromOAuth2(tok, scopes), nil
}

// Password runs the resource owner password grant.
func (c *Client) Password(ctx context.Context, ep Endpoint, username, password string, scopes []string) (*Token, error) {
	tok, err := ep.config("", scopes).PasswordCredentialsToken(c.context(ctx, ep), username, password)
	if err != nil {
		return nil, c.providerError(err, "password", ep.ClientSecret, password)
	}
	return fromOAuth2(tok, scopes), nil
}

// ClientCredentials runs the client credentials grant.
func (c *Client) ClientCredentials(ctx context.Context, ep Endpoint, scopes []string) (*Token, error) {
	cfg := clientcredentials.Config{ClientID: ep.ClientID, ClientSecret: ep.ClientSecret, TokenURL: ep.TokenURL,
		Scopes: scopes, EndpointParams: ep.Params, AuthStyle: ep.authStyle()}
	tok, err := cfg.Token(c.context(ctx, ep))
	if err != nil {
		return nil, c.providerError(err, "client credentials", ep.ClientSecret)
	}
	return fromOAuth2(tok, scopes), nil
}

// Refresh trades a refresh token for new tokens. A response without a refresh token keeps the
// old one, as RFC 6749 section 6 allows.
func (c *Client) Refresh(ctx context.Context, ep Endpoint, refreshToken string, scopes []string) (*Token, error) {
	src := ep.config("", scopes).TokenSource(c.context(ctx, ep), &oauth2.Token{RefreshToken: refreshToken, Expiry: time.Unix(1, 0)})
	tok, err := src.Token()
	if err != nil {
		return nil, c.providerError(err, "refresh", ep.ClientSecret, refreshToken)
	}
	out := fromOAuth2(tok, scopes)
	if out.RefreshToken == "" {
		out.RefreshToken = refreshToken
	}
	return out, nil
}

func fromOAuth2(tok *oauth2.Token, requested []string) *Token {
	out := &Token{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, TokenType: tok.Type(), ExpiresAt: tok.Expiry, Scopes: requested}
	if s, ok := tok.Extra("scope").(string); ok && s != "" {
		out.Scopes = strings.Fields(s)
	}
	if out.Scopes == nil {
		out.Scopes = []string{}
	}
	return out
}

// providerError turns a failed token request into a domain error. A provider's OAuth error
// (invalid_grant and friends) is EUpstreamRejected (400) with the provider's error code; its 5xx
// is EUpstreamUnavailable (502); transport failures are classified by the outbound client (502,
// 504, or the guard's refusal). Any of secrets appearing in the provider's description is cut out.
func (c *Client) providerError(err error, grant string, secrets ...string) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		if status >= 500 {
			return &plugboard.Error{Code: plugboard.EUpstreamUnavailable,
				Message: fmt.Sprintf("the provider's token endpoint failed (HTTP %d) on the %s grant", status, grant),
				Details: "the provider had an internal error; try again later"}
		}
		code := re.ErrorCode
		if code == "" {
			code = fmt.Sprintf("HTTP %d", status)
		}
		return &plugboard.Error{Code: plugboard.EUpstreamRejected,
			Message: fmt.Sprintf("the provider refused the %s grant: %s", grant, scrub(code, secrets)),
			Details: scrub(re.ErrorDescription, secrets)}
	}
	return outbound.Classify(err)
}

// scrub removes secrets from text a provider wrote, which might echo what it was sent.
func scrub(text string, secrets []string) string {
	for _, s := range secrets {
		if len(s) < 4 {
			continue
		}
		// A provider may echo a secret as sent: plain, form- or path-encoded, or in base64 (a Basic
		// header's client:secret).
		for _, form := range []string{s, url.QueryEscape(s), url.PathEscape(s), base64.StdEncoding.EncodeToString([]byte(s)),
			strings.TrimRight(base64.StdEncoding.EncodeToString([]byte(s)), "=")} {
			text = strings.ReplaceAll(text, form, "[redacted]")
		}
	}
	if strings.Contains(text, "Basic ") || strings.Contains(strings.ToLower(text), "authorization") {
		return "(the provider's description quoted request credentials and is withheld)"
	}
	if len(text) > 500 {
		text = text[:500]
	}
	return text
}

// NewVerifier returns a PKCE code verifier (RFC 7636, 32 random bytes).
func NewVerifier() string { return oauth2.GenerateVerifier() }

// S256Challenge returns the S256 code challenge of a verifier.
func S256Challenge(verifier string) string { return oauth2.S256ChallengeFromVerifier(verifier) }

// statePrefix versions the state format: "pb1.<organisation ULID>.<43 random characters>".
const statePrefix = "pb1."

// NewState returns an unguessable state for an organisation's flow and the id it is stored under
// (its SHA-256). The organisation is readable in the state, so that a callback without an API key
// can find the flow by an index that starts with the organisation.
func NewState(orgID ulid.ULID) (state, id string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	state = statePrefix + orgID.String() + "." + base64.RawURLEncoding.EncodeToString(b)
	return state, StateID(state)
}

// StateID is the stored id of a state.
func StateID(state string) string {
	sum := sha256.Sum256([]byte(state))
	return hex.EncodeToString(sum[:])
}

// StateOrganisation reads the organisation out of a state, ok false when it is not one of ours.
func StateOrganisation(state string) (ulid.ULID, bool) {
	rest, found := strings.CutPrefix(state, statePrefix)
	if !found {
		return ulid.ULID{}, false
	}
	orgPart, random, found := strings.Cut(rest, ".")
	if !found || len(random) != 43 {
		return ulid.ULID{}, false
	}
	id, err := ulid.ParseStrict(orgPart)
	if err != nil {
		return ulid.ULID{}, false
	}
	return id, true
}

// AuthorizeURL adds params to a provider's authorize URL, keeping any query it already has.
func AuthorizeURL(base string, params url.Values) (string, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("authorizeUrl must be an absolute http(s) URL")
	}
	q := u.Query()
	for k, vs := range params {
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}
