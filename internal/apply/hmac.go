package apply

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"strings"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
)

// signHMAC applies an hmac config: the signature is HMAC(key, input₁ ‖ input₂ ‖ ...) over the
// config's digestInputs in their order, where
//
//   - "body" is the raw request body bytes (nothing for a request without a body), read and put
//     back so the request can still be sent, and
//   - "url" is req.URL.String() at this point: the absolute URL with the query as the request
//     has it, including what credentials earlier in the list added to it,
//
// with nothing between the inputs. The key is the string credential's UTF-8 bytes or the binary
// credential's decoded bytes. The signature is encoded as hex (lower case), base64 (standard,
// padded) or base64url (RFC 4648 section 5, padded, as Go's base64.URLEncoding) and set at the
// config's `in` under its `name`.
func signHMAC(c Credential, r *outgoing) error {
	cfg := c.Config.Hmac
	key, err := hmacKey(c)
	if err != nil {
		return err
	}
	var newHash func() hash.Hash
	switch cfg.Algorithm {
	case api.Sha1:
		newHash = sha1.New
	case api.Sha256:
		newHash = sha256.New
	case api.Sha512:
		newHash = sha512.New
	default:
		return plugboard.Errorf(plugboard.EInvalid, "credential %s: unknown hmac algorithm %q", c.ID, cfg.Algorithm)
	}
	if len(cfg.DigestInputs) == 0 {
		return plugboard.Errorf(plugboard.EInvalid, "credential %s: its hmac config names no digestInputs", c.ID)
	}
	mac := hmac.New(newHash, key)
	for _, in := range cfg.DigestInputs {
		switch in {
		case api.Body:
			b, err := r.bodyBytes()
			if err != nil {
				return err
			}
			mac.Write(b)
		case api.Url:
			mac.Write([]byte(r.req.URL.String()))
		default:
			return plugboard.Errorf(plugboard.EInvalid, "credential %s: unknown hmac digest input %q", c.ID, in)
		}
	}
	sum := mac.Sum(nil)
	var sig string
	switch cfg.Encoding {
	case api.Hex:
		sig = hex.EncodeToString(sum)
	case api.Base64:
		sig = base64.StdEncoding.EncodeToString(sum)
	case api.Base64url:
		sig = base64.URLEncoding.EncodeToString(sum)
	default:
		return plugboard.Errorf(plugboard.EInvalid, "credential %s: unknown hmac encoding %q", c.ID, cfg.Encoding)
	}
	return requestSink{r.req}.put(c.ID, location(cfg.In), cfg.Name, sig)
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
