package apply

import (
	"encoding/base64"
	"strings"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/hmacsig"
)

// signHMAC applies an hmac config as internal/hmacsig defines it (the same definition the inbound
// endpoint verifies with). The signed string is the config's template filled in, or without one
// HMAC(key, input₁ ‖ input₂ ‖ ...) over the config's digestInputs in their order, where
//
//   - "body" ({body}) is the raw request body bytes (nothing for a request without a body), read
//     and put back so the request can still be sent,
//   - "url" ({url}) is req.URL.String() at this point: the absolute URL with the query as the
//     request has it, including what credentials earlier in the list added to it, and
//   - {timestamp} is the current time in whole seconds since the Unix epoch, which is also set in
//     the config's timestampHeader,
//
// with nothing between the inputs. The key is the string credential's UTF-8 bytes or the binary
// credential's decoded bytes. The signature is encoded as hex (lower case), base64 (standard,
// padded) or base64url (RFC 4648 section 5, padded, as Go's base64.URLEncoding), written after
// the config's prefix, and set at the config's `in` under its `name`.
func (a *Applier) signHMAC(c Credential, r *outgoing) error {
	cfg := c.Config.Hmac
	key, err := hmacKey(c)
	if err != nil {
		return err
	}
	var in hmacsig.Inputs
	if uses(cfg, api.Body, hmacsig.PlaceholderBody) {
		if in.Body, err = r.bodyBytes(); err != nil {
			return err
		}
	}
	if uses(cfg, api.Url, hmacsig.PlaceholderURL) {
		in.URL = r.req.URL.String()
	}
	if cfg.TimestampHeader != "" {
		in.Timestamp = hmacsig.Timestamp(a.now())
		if err := (requestSink{r.req}).put(c.ID, inHeader, cfg.TimestampHeader, in.Timestamp); err != nil {
			return err
		}
	}
	sig, err := hmacsig.Signature(cfg, key, in)
	if err != nil {
		// hmacsig's errors name the config's fault, never a value.
		return plugboard.Errorf(plugboard.EInvalid, "credential %s: %s", c.ID, err.Error())
	}
	return requestSink{r.req}.put(c.ID, location(cfg.In), cfg.Name, sig)
}

// uses reports whether an hmac config signs an input: listed in digestInputs, or, with a
// template, named by its placeholder.
func uses(cfg *api.AuthSchemeConfigHMAC, input api.AuthSchemeConfigHMACDigestInputs, placeholder string) bool {
	if cfg.Template != "" {
		return strings.Contains(cfg.Template, placeholder)
	}
	for _, d := range cfg.DigestInputs {
		if d == input {
			return true
		}
	}
	return false
}

// hmacKey returns the HMAC key of a string or binary credential. Binary values are standard
// base64, padded or not, as credential validation accepts them.
func hmacKey(c Credential) ([]byte, error) {
	if c.Type == api.CredentialTypeString {
		return []byte(c.Data.String.Value), nil
	}
	key, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(c.Data.Binary.ValueBase64, "="))
	if err != nil {
		// base64 errors name only an offset, never the input.
		return nil, invalid(err, c.ID, "its binary value is not valid base64")
	}
	return key, nil
}

// HMACKey returns the HMAC key of an opened string or binary credential, for verifying what a
// sender signed with it.
func HMACKey(c Credential) ([]byte, error) { return hmacKey(c) }
