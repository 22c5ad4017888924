package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/outbound"
)

// OAuth1Endpoints are a provider's three OAuth 1.0a endpoints and the consumer's identity there.
type OAuth1Endpoints struct {
	ConsumerKey, ConsumerSecret string
	// SignatureMethod is "sha1" (HMAC-SHA1) or "sha256" (HMAC-SHA256).
	SignatureMethod                               string
	RequestTokenURL, AuthorizeURL, AccessTokenURL string
	// RequestTokenTransmission and AccessTokenTransmission place the OAuth parameters of the two
	// token requests: TransmitHeader (also when empty), TransmitForm or TransmitQuery.
	RequestTokenTransmission, AccessTokenTransmission string
}

// RequestToken obtains temporary credentials (RFC 5849 section 2.1) and returns them with the URL
// to send the resource owner to.
func (c *Client) RequestToken(ctx context.Context, ep OAuth1Endpoints, callback string) (token, secret, authorizeURL string, err error) {
	values, err := c.tokenRequest(ctx, ep, ep.RequestTokenURL, ep.RequestTokenTransmission,
		map[string]string{"oauth_callback": callback}, "", "temporary credentials")
	if err != nil {
		return "", "", "", err
	}
	if values.Get("oauth_callback_confirmed") != "true" {
		return "", "", "", &plugboard.Error{Code: plugboard.EUpstreamRejected, Message: "the provider did not confirm the callback (oauth_callback_confirmed)"}
	}
	token, secret = values.Get("oauth_token"), values.Get("oauth_token_secret")
	u, err := url.Parse(ep.AuthorizeURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", "", "", plugboard.Invalid("the config's resourceOwnerAuthorizationEndpoint is not an absolute http(s) URL")
	}
	q := u.Query()
	q.Set("oauth_token", token)
	u.RawQuery = q.Encode()
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
	values, err := c.tokenRequest(ctx, ep, ep.AccessTokenURL, ep.AccessTokenTransmission,
		map[string]string{"oauth_token": requestToken, "oauth_verifier": verifier}, requestSecret, "token credentials")
	if err != nil {
		return nil, err
	}
	out := &OAuth1Token{Token: values.Get("oauth_token"), TokenSecret: values.Get("oauth_token_secret"), Params: url.Values{}}
	for k, vs := range values {
		if k != "oauth_token" && k != "oauth_token_secret" {
			out.Params[k] = vs
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
