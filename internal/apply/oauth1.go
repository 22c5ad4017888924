package apply

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"

	"github.com/dghubble/oauth1"

	"github.com/plugboard/plugboard"
)

const formContentType = "application/x-www-form-urlencoded"

// signOAuth1 signs the request with token credentials (RFC 5849 section 3) and sets the
// Authorization: OAuth header.
//
// The signing is github.com/dghubble/oauth1's: its public API signs only inside its
// http.RoundTripper (Config.Client), with no way to sign a *http.Request in place. So a copy of
// the request goes through that transport on top of a base RoundTripper that sends nothing: it
// captures the signed copy and answers an empty 200; the captured Authorization header is then
// set on the real request. The copy carries its own reader over the form body, so the library
// never touches the real request's body.
//
// What the library signs, and what is adapted to it:
//
//   - The method, the base string URI (scheme and host lower-cased, default port dropped, the
//     escaped path), the query and, when the body is a form (Content-Type
//     application/x-www-form-urlencoded, parameters such as "; charset=utf-8" allowed: the copy is
//     given the bare media type, which is all the library recognises), the form body's
//     parameters.
//   - The library keeps only the first value of a repeated parameter name, so its signature over a
//     request with a repeated name (a=1&a=2, or a name both in the query and the form) is wrong
//     for any provider; such requests are refused (EInvalid) rather than sent to fail.
//   - An additionalParam named "realm" becomes the header's realm, which is not signed (RFC 5849
//     section 3.5.1). The other additionalParams are token-response parameters (user ids and the
//     like) kept for the integration's information: they are not sent.
//   - The timestamp is the real clock, not the Applier's: the library takes no clock, and a
//     provider checks timestamps against the real time anyway. The nonce is the library's (32
//     random bytes, base64).
func signOAuth1(c Credential, r *outgoing) error {
	cfg, tok := c.Config.Oauth1, c.Data.Oauth1Token
	var signer oauth1.Signer
	switch cfg.SignatureMethod {
	case "sha1":
		signer = &oauth1.HMACSigner{ConsumerSecret: cfg.ConsumerSecret}
	case "sha256":
		signer = &oauth1.HMAC256Signer{ConsumerSecret: cfg.ConsumerSecret}
	default:
		return plugboard.Errorf(plugboard.EInvalid, "credential %s: unknown oauth1 signature method %q (want sha1 or sha256)", c.ID, cfg.SignatureMethod)
	}
	conf := &oauth1.Config{ConsumerKey: cfg.ConsumerKey, ConsumerSecret: cfg.ConsumerSecret, Signer: signer}
	for _, p := range tok.AdditionalParams {
		if p.Name == "realm" && p.Value != nil {
			conf.Realm = *p.Value
		}
	}

	req := r.req
	seen := map[string]bool{}
	for name, vs := range req.URL.Query() {
		if len(vs) > 1 {
			return repeated(c.ID, name)
		}
		seen[name] = true
	}
	signing := req.Clone(req.Context())
	signing.Body, signing.GetBody, signing.ContentLength = nil, nil, 0
	if mt, _, err := mime.ParseMediaType(req.Header.Get("Content-Type")); err == nil && mt == formContentType {
		body, err := r.bodyBytes()
		if err != nil {
			return err
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			// ParseQuery's errors quote the offending part of the body.
			return plugboard.Errorf(plugboard.EInvalid, "credential %s: the request's form body cannot be parsed for the oauth1 signature", c.ID)
		}
		for name, vs := range form {
			if len(vs) > 1 || seen[name] {
				return repeated(c.ID, name)
			}
		}
		signing.Header.Set("Content-Type", formContentType)
		signing.Body = io.NopCloser(bytes.NewReader(body))
		signing.ContentLength = int64(len(body))
	}

	capture := &captureTransport{}
	ctx := context.WithValue(context.Background(), oauth1.HTTPClient, &http.Client{Transport: capture})
	client := conf.Client(ctx, oauth1.NewToken(tok.Token, tok.TokenSecret))
	res, err := client.Transport.RoundTrip(signing)
	if err != nil {
		return &plugboard.Error{Code: plugboard.EInvalid, Message: "credential " + c.ID + ": the request could not be signed with oauth1", Err: err}
	}
	_ = res.Body.Close()
	auth := ""
	if capture.signed != nil {
		auth = capture.signed.Header.Get("Authorization")
	}
	if auth == "" {
		return plugboard.Internal(errNotSigned)
	}
	req.Header.Set("Authorization", auth)
	return nil
}

func repeated(id, name string) error {
	return plugboard.Errorf(plugboard.EInvalid,
		"credential %s: the request repeats the parameter %q, which the oauth1 signer cannot sign (it keeps only the first value); send each parameter name once",
		id, name)
}

var errNotSigned = errors.New("apply: dghubble/oauth1's transport produced no Authorization header")

// captureTransport is the base RoundTripper under dghubble/oauth1's transport: it keeps the
// signed request instead of sending it.
type captureTransport struct{ signed *http.Request }

func (t *captureTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.signed = req
	if req.Body != nil {
		_ = req.Body.Close() // our own reader; closing is the RoundTripper's duty
	}
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: http.NoBody, Request: req}, nil
}
