package oauth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/dghubble/oauth1"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/outbound"
)

// OAuth1Endpoints are a provider's three OAuth 1.0a endpoints and the consumer's identity there.
type OAuth1Endpoints struct {
	ConsumerKey, ConsumerSecret string
	// SignatureMethod is "sha1" (HMAC-SHA1) or "sha256" (HMAC-SHA256).
	SignatureMethod                               string
	RequestTokenURL, AuthorizeURL, AccessTokenURL string
}

func (c *Client) oauth1Config(ctx context.Context, ep OAuth1Endpoints, callback string, rec *recorder) *oauth1.Config {
	cfg := &oauth1.Config{ConsumerKey: ep.ConsumerKey, ConsumerSecret: ep.ConsumerSecret, CallbackURL: callback,
		Endpoint: oauth1.Endpoint{RequestTokenURL: ep.RequestTokenURL, AuthorizeURL: ep.AuthorizeURL, AccessTokenURL: ep.AccessTokenURL}}
	if ep.SignatureMethod == "sha256" {
		cfg.Signer = &oauth1.HMAC256Signer{ConsumerSecret: ep.ConsumerSecret}
	} else {
		cfg.Signer = &oauth1.HMACSigner{ConsumerSecret: ep.ConsumerSecret}
	}
	base := c.out.HTTPClient(nil)
	// dghubble/oauth1 builds its requests without a context; the transport gives them the caller's,
	// and keeps the response body, whose extra parameters the library drops.
	cfg.HTTPClient = &http.Client{Timeout: base.Timeout, Transport: &ctxTransport{ctx: ctx, base: base.Transport, rec: rec}}
	return cfg
}

// ctxTransport gives requests a context and records the last response body.
type ctxTransport struct {
	ctx  context.Context
	base http.RoundTripper
	rec  *recorder
}

type recorder struct{ body []byte }

func (t *ctxTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := t.base.RoundTrip(req.WithContext(t.ctx))
	if err != nil || t.rec == nil {
		return res, err
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	t.rec.body = body
	res.Body = io.NopCloser(bytes.NewReader(body))
	return res, nil
}

// RequestToken obtains temporary credentials (RFC 5849 section 2.1) and returns them with the URL
// to send the resource owner to.
func (c *Client) RequestToken(ctx context.Context, ep OAuth1Endpoints, callback string) (token, secret, authorizeURL string, err error) {
	cfg := c.oauth1Config(ctx, ep, callback, nil)
	token, secret, err = cfg.RequestToken()
	if err != nil {
		return "", "", "", oauth1Error(err, "temporary credentials")
	}
	u, err := cfg.AuthorizationURL(token)
	if err != nil {
		return "", "", "", plugboard.Invalid("the config's resourceOwnerAuthorizationEndpoint is not a URL")
	}
	return token, secret, u.String(), nil
}

// OAuth1Token is what a provider's token endpoint granted.
type OAuth1Token struct {
	Token, TokenSecret string
	// Params are the response's other parameters (user ids and the like).
	Params url.Values
}

// AccessToken exchanges temporary credentials and the verifier for token credentials (RFC 5849
// section 2.3).
func (c *Client) AccessToken(ctx context.Context, ep OAuth1Endpoints, requestToken, requestSecret, verifier string) (*OAuth1Token, error) {
	rec := &recorder{}
	cfg := c.oauth1Config(ctx, ep, "", rec)
	token, secret, err := cfg.AccessToken(requestToken, requestSecret, verifier)
	if err != nil {
		return nil, oauth1Error(err, "token credentials")
	}
	out := &OAuth1Token{Token: token, TokenSecret: secret, Params: url.Values{}}
	if values, err := url.ParseQuery(strings.TrimSpace(string(rec.body))); err == nil {
		for k, vs := range values {
			if k != "oauth_token" && k != "oauth_token_secret" {
				out.Params[k] = vs
			}
		}
	}
	return out, nil
}

var statusPattern = regexp.MustCompile(`^oauth1: invalid status (\d+)`)

// oauth1Error turns dghubble/oauth1's errors into domain errors. Its status errors quote the
// response body, which is never passed on.
func oauth1Error(err error, what string) error {
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		return outbound.Classify(err)
	}
	if m := statusPattern.FindStringSubmatch(err.Error()); m != nil {
		status, _ := strconv.Atoi(m[1])
		if status >= 500 {
			return &plugboard.Error{Code: plugboard.EUpstreamUnavailable,
				Message: fmt.Sprintf("the provider failed (HTTP %d) to issue %s", status, what)}
		}
		return &plugboard.Error{Code: plugboard.EUpstreamRejected,
			Message: fmt.Sprintf("the provider refused to issue %s (HTTP %d)", what, status),
			Details: "check the consumer key and secret, the signature method, and that the verifier belongs to this flow"}
	}
	return &plugboard.Error{Code: plugboard.EUpstreamRejected, Message: fmt.Sprintf("the provider's answer for %s was not usable", what)}
}
