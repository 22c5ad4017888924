// Package hmacsig is the one definition of what an hmac auth scheme config signs and how the
// signature is written, so that a config means the same thing on a request Plugboard signs
// (internal/apply) and on a webhook delivery it verifies (internal/httpapi's inbound endpoint).
//
// The signed string is the config's template with its placeholders filled in, or, without a
// template, the digestInputs one after another (Versori's definition). The signature is
// HMAC(key, signed string) with the config's algorithm, encoded as the config says, after the
// config's prefix. The package holds no keys and does no I/O.
package hmacsig

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"strconv"
	"strings"
	"time"

	"github.com/plugboard/plugboard/api"
)

// The template placeholders.
const (
	PlaceholderBody      = "{body}"
	PlaceholderURL       = "{url}"
	PlaceholderTimestamp = "{timestamp}"
)

// DefaultTolerance is how far an inbound timestamp may be from the clock when the config does
// not say.
const DefaultTolerance = 300 * time.Second

// Inputs are the parts of a request a signature may cover.
type Inputs struct {
	// Body is the raw request body.
	Body []byte
	// URL is the absolute URL of the request, query included.
	URL string
	// Timestamp is the timestamp header's value as sent ("" when the config names none).
	Timestamp string
}

// Part is one piece of a parsed template: literal text, or a placeholder.
type Part struct {
	Literal     string
	Placeholder string // one of the Placeholder constants, or "" for literal text
}

// Template problems, for validation messages. They never quote the template.
var (
	ErrUnknownPlaceholder = errors.New("may use only the placeholders {body}, {url} and {timestamp}; '{' and '}' may appear only in them")
	ErrNoRequestInput     = errors.New("must use {body} or {url}: a signature over fixed text would not depend on the request")
)

// ParseTemplate splits a template into literal text and placeholders.
func ParseTemplate(t string) ([]Part, error) {
	var parts []Part
	for t != "" {
		open := strings.IndexAny(t, "{}")
		if open < 0 {
			parts = append(parts, Part{Literal: t})
			break
		}
		if open > 0 {
			parts = append(parts, Part{Literal: t[:open]})
		}
		rest := t[open:]
		var ph string
		for _, p := range []string{PlaceholderBody, PlaceholderURL, PlaceholderTimestamp} {
			if strings.HasPrefix(rest, p) {
				ph = p
			}
		}
		if ph == "" {
			return nil, ErrUnknownPlaceholder
		}
		parts = append(parts, Part{Placeholder: ph})
		t = rest[len(ph):]
	}
	uses := Uses(parts)
	if !uses[PlaceholderBody] && !uses[PlaceholderURL] {
		return nil, ErrNoRequestInput
	}
	return parts, nil
}

// Uses reports which placeholders parts hold.
func Uses(parts []Part) map[string]bool {
	out := map[string]bool{}
	for _, p := range parts {
		if p.Placeholder != "" {
			out[p.Placeholder] = true
		}
	}
	return out
}

// Message returns the string a config signs for a request.
func Message(cfg *api.AuthSchemeConfigHMAC, in Inputs) ([]byte, error) {
	var msg []byte
	if cfg.Template != "" {
		parts, err := ParseTemplate(cfg.Template)
		if err != nil {
			return nil, errors.New("its hmac template " + err.Error())
		}
		for _, p := range parts {
			switch p.Placeholder {
			case "":
				msg = append(msg, p.Literal...)
			case PlaceholderBody:
				msg = append(msg, in.Body...)
			case PlaceholderURL:
				msg = append(msg, in.URL...)
			case PlaceholderTimestamp:
				msg = append(msg, in.Timestamp...)
			}
		}
		return msg, nil
	}
	if len(cfg.DigestInputs) == 0 {
		return nil, errors.New("its hmac config names no digestInputs")
	}
	for _, d := range cfg.DigestInputs {
		switch d {
		case api.Body:
			msg = append(msg, in.Body...)
		case api.Url:
			msg = append(msg, in.URL...)
		default:
			return nil, errors.New("its hmac config names an unknown digest input")
		}
	}
	return msg, nil
}

func newHash(alg api.AuthSchemeConfigHMACAlgorithm) (func() hash.Hash, error) {
	switch alg {
	case api.Sha1:
		return sha1.New, nil
	case api.Sha256:
		return sha256.New, nil
	case api.Sha512:
		return sha512.New, nil
	}
	return nil, errors.New("its hmac config names an unknown algorithm")
}

// Sum returns the raw HMAC of the request under key.
func Sum(cfg *api.AuthSchemeConfigHMAC, key []byte, in Inputs) ([]byte, error) {
	h, err := newHash(cfg.Algorithm)
	if err != nil {
		return nil, err
	}
	msg, err := Message(cfg, in)
	if err != nil {
		return nil, err
	}
	mac := hmac.New(h, key)
	mac.Write(msg)
	return mac.Sum(nil), nil
}

// Signature returns the value a request carries: the prefix and the encoded HMAC. Hex is lower
// case; base64 is standard and padded; base64url is RFC 4648 section 5, padded.
func Signature(cfg *api.AuthSchemeConfigHMAC, key []byte, in Inputs) (string, error) {
	sum, err := Sum(cfg, key, in)
	if err != nil {
		return "", err
	}
	switch cfg.Encoding {
	case api.Hex:
		return cfg.Prefix + hex.EncodeToString(sum), nil
	case api.Base64:
		return cfg.Prefix + base64.StdEncoding.EncodeToString(sum), nil
	case api.Base64url:
		return cfg.Prefix + base64.URLEncoding.EncodeToString(sum), nil
	}
	return "", errors.New("its hmac config names an unknown encoding")
}

// decode reads an encoded signature. Hex is read in either case, base64 with or without padding.
func decode(enc api.AuthSchemeConfigHMACEncoding, s string) ([]byte, bool) {
	var (
		b   []byte
		err error
	)
	switch enc {
	case api.Hex:
		b, err = hex.DecodeString(s)
	case api.Base64:
		b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
	case api.Base64url:
		b, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	default:
		return nil, false
	}
	return b, err == nil
}

// Verify reports whether presented (the value the request carried, prefix included) is the
// config's signature of the request under key. The HMACs are compared in constant time.
func Verify(cfg *api.AuthSchemeConfigHMAC, key []byte, in Inputs, presented string) bool {
	rest, ok := strings.CutPrefix(presented, cfg.Prefix)
	if !ok || rest == "" {
		return false
	}
	got, ok := decode(cfg.Encoding, rest)
	if !ok {
		return false
	}
	want, err := Sum(cfg, key, in)
	if err != nil {
		return false
	}
	return hmac.Equal(got, want)
}

// Tolerance is how far an inbound timestamp may be from the clock under cfg.
func Tolerance(cfg *api.AuthSchemeConfigHMAC) time.Duration {
	if cfg.TimestampTolerance > 0 {
		return time.Duration(cfg.TimestampTolerance) * time.Second
	}
	return DefaultTolerance
}

// Timestamp is the value of a timestamp header for the time t: whole seconds since the Unix
// epoch, in decimal.
func Timestamp(t time.Time) string {
	return strconv.FormatInt(t.Unix(), 10)
}

// FreshTimestamp reports whether v is a timestamp (decimal seconds since the Unix epoch, digits
// only) within the config's tolerance of now, either way.
func FreshTimestamp(cfg *api.AuthSchemeConfigHMAC, v string, now time.Time) bool {
	if v == "" || len(v) > 18 || strings.TrimLeft(v, "0123456789") != "" {
		return false
	}
	sec, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return false
	}
	d := now.Sub(time.Unix(sec, 0))
	if d < 0 {
		d = -d
	}
	return d <= Tolerance(cfg)
}

// Preset returns the fields a preset defines (ID and Description empty), and whether p is a
// preset. Each follows its sender's public documentation:
//
//   - github: X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>
//   - shopify: X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256 of the body>
//   - slack: X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:" timestamp ":" body>, with the
//     timestamp in X-Slack-Request-Timestamp
func Preset(p api.AuthSchemeConfigHMACPreset) (api.AuthSchemeConfigHMAC, bool) {
	body := []api.AuthSchemeConfigHMACDigestInputs{api.Body}
	switch p {
	case api.Github:
		return api.AuthSchemeConfigHMAC{Name: "X-Hub-Signature-256", In: api.AuthSchemeConfigHMACInHeader, Algorithm: api.Sha256,
			DigestInputs: body, Encoding: api.Hex, Prefix: "sha256="}, true
	case api.Shopify:
		return api.AuthSchemeConfigHMAC{Name: "X-Shopify-Hmac-Sha256", In: api.AuthSchemeConfigHMACInHeader, Algorithm: api.Sha256,
			DigestInputs: body, Encoding: api.Base64}, true
	case api.Slack:
		return api.AuthSchemeConfigHMAC{Name: "X-Slack-Signature", In: api.AuthSchemeConfigHMACInHeader, Algorithm: api.Sha256,
			DigestInputs: body, Encoding: api.Hex, Prefix: "v0=", TimestampHeader: "X-Slack-Request-Timestamp",
			Template: "v0:" + PlaceholderTimestamp + ":" + PlaceholderBody}, true
	}
	return api.AuthSchemeConfigHMAC{}, false
}
