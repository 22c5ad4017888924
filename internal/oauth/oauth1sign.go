package oauth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dghubble/oauth1"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/outbound"
)

// Parameter transmissions of RFC 5849 section 3.5, as the published spec names them.
const (
	TransmitHeader = "AUTH_STYLE_AUTHORIZATION_HEADER"
	TransmitForm   = "AUTH_STYLE_FORM"
	TransmitQuery  = "AUTH_STYLE_QUERY"
)

// This file signs OAuth 1.0a token requests itself. github.com/dghubble/oauth1 signs them only with
// the Authorization header and drops the provider's extra response parameters, while configs may
// ask for the form body or the query (RFC 5849 section 3.5.2, 3.5.3). The HMAC is still the
// library's (its Signer); only the base string and the placement are written here.

// percentEncode encodes per RFC 5849 section 3.6: everything but ALPHA, DIGIT, "-", ".", "_", "~",
// with upper-case hex.
func percentEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// baseString is the signature base string of RFC 5849 section 3.4.1 for a request whose query and
// form parameters are given with the OAuth parameters (without realm and signature).
func baseString(method string, u *url.URL, params url.Values) string {
	type pair struct{ k, v string }
	var pairs []pair
	for k, vs := range params {
		for _, v := range vs {
			pairs = append(pairs, pair{percentEncode(k), percentEncode(v)})
		}
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	normal := make([]string, len(pairs))
	for i, p := range pairs {
		normal[i] = p.k + "=" + p.v
	}
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Host)
	if (scheme == "http" && strings.HasSuffix(host, ":80")) || (scheme == "https" && strings.HasSuffix(host, ":443")) {
		host = host[:strings.LastIndex(host, ":")]
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	return strings.ToUpper(method) + "&" + percentEncode(scheme+"://"+host+path) + "&" + percentEncode(strings.Join(normal, "&"))
}

func nonce() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// signedTokenRequest builds a signed POST to endpoint carrying extra OAuth parameters (oauth_callback,
// or oauth_token and oauth_verifier), placed as transmission says.
func signedTokenRequest(ctx context.Context, ep OAuth1Endpoints, endpoint, transmission string, extra map[string]string, tokenSecret string) (*http.Request, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, plugboard.Invalid("an OAuth 1.0a endpoint of the config is not an absolute http(s) URL")
	}
	var signer oauth1.Signer = &oauth1.HMACSigner{ConsumerSecret: ep.ConsumerSecret}
	if ep.SignatureMethod == "sha256" {
		signer = &oauth1.HMAC256Signer{ConsumerSecret: ep.ConsumerSecret}
	}
	oauthParams := url.Values{
		"oauth_consumer_key":     {ep.ConsumerKey},
		"oauth_signature_method": {signer.Name()},
		"oauth_timestamp":        {strconv.FormatInt(time.Now().Unix(), 10)},
		"oauth_nonce":            {nonce()},
		"oauth_version":          {"1.0"},
	}
	for k, v := range extra {
		oauthParams.Set(k, v)
	}
	all := u.Query()
	for k, vs := range oauthParams {
		all[k] = append(all[k], vs...)
	}
	signature, err := signer.Sign(tokenSecret, baseString(http.MethodPost, u, all))
	if err != nil {
		return nil, plugboard.Internal(err)
	}
	oauthParams.Set("oauth_signature", signature)

	var body io.Reader
	switch transmission {
	case TransmitForm:
		body = strings.NewReader(oauthParams.Encode())
	case TransmitQuery:
		q := u.Query()
		for k, vs := range oauthParams {
			q[k] = vs
		}
		u.RawQuery = q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), body)
	if err != nil {
		return nil, plugboard.Internal(err)
	}
	switch transmission {
	case TransmitForm:
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	case TransmitQuery:
	default:
		keys := make([]string, 0, len(oauthParams))
		for k := range oauthParams {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = percentEncode(k) + `="` + percentEncode(oauthParams.Get(k)) + `"`
		}
		req.Header.Set("Authorization", "OAuth "+strings.Join(parts, ", "))
	}
	return req, nil
}

// tokenRequest sends a signed token request and returns the provider's form-encoded answer.
func (c *Client) tokenRequest(ctx context.Context, ep OAuth1Endpoints, endpoint, transmission string, extra map[string]string, tokenSecret, what string) (url.Values, error) {
	req, err := signedTokenRequest(ctx, ep, endpoint, transmission, extra, tokenSecret)
	if err != nil {
		return nil, err
	}
	res, err := c.tokenClient(nil).Do(req)
	if err != nil {
		return nil, oauth1Error(err, what)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, outbound.Classify(err) // a timeout or an oversized answer, not a refusal
	}
	if res.StatusCode != http.StatusOK && res.StatusCode != http.StatusCreated {
		// The body is the provider's and may quote what it was sent; only the status is passed on.
		return nil, oauth1Error(fmt.Errorf("oauth1: invalid status %d", res.StatusCode), what)
	}
	values, err := url.ParseQuery(strings.TrimSpace(string(data)))
	if err != nil || values.Get("oauth_token") == "" || values.Get("oauth_token_secret") == "" {
		return nil, &plugboard.Error{Code: plugboard.EUpstreamRejected, Message: fmt.Sprintf("the provider's answer for %s has no oauth_token and oauth_token_secret", what)}
	}
	return values, nil
}
