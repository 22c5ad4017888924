// Package apikey makes and reads the API keys that authenticate calls to Plugboard's own API.
//
// A key is Prefix, then the organisation's ULID, then the key's ULID, then 32 random bytes in
// unpadded base64url:
//
//	pbk_01JABCDEFGHJKMNPQRSTVWXYZ001JZZZZZZZZZZZZZZZZZZZZZZ0<43 characters of secret>
//
// Length characters in all. The two ids let the server fetch the one stored key by
// (organisation_id, id), which is how every table is keyed, instead of scanning or indexing by hash.
// The store keeps only SHA-256 of the 32 secret bytes ([plugboard.APIKey.Hash]), so a leaked store
// does not yield usable keys; a key is shown once, when it is made. The prefix makes keys easy for
// secret scanners to recognise.
package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
)

const (
	// Prefix starts every key.
	Prefix = "pbk_"
	// SecretSize is the number of random bytes in a key's secret part.
	SecretSize = 32
	// Length is the number of characters in a key.
	Length = len(Prefix) + 2*ulid.EncodedSize + secretLen

	secretLen = 43 // base64.RawURLEncoding.EncodedLen(SecretSize)
)

// PrefixLen is how many leading characters of a key the API shows, to recognise it by. They are
// the key's Prefix and the start of its organisation's id, nothing secret.
const PrefixLen = 12

// PrefixOf returns the first PrefixLen characters of the key with these ids.
func PrefixOf(orgID, id ulid.ULID) string {
	return (Prefix + orgID.String() + id.String())[:PrefixLen]
}

// ErrMalformed is wrapped by Parse's errors: the string is not a key in this package's format. It
// says nothing about whether a key exists.
var ErrMalformed = errors.New("apikey: malformed")

// New makes a key for the organisation orgID. It returns the key, to be shown once to whoever
// asked for it; the key's new id; and the hash of its secret part, to be stored with the id.
// The error has code EInvalid for a zero orgID and EInternal if no id could be made.
func New(orgID ulid.ULID) (key string, id ulid.ULID, hash []byte, err error) {
	if orgID == (ulid.ULID{}) {
		return "", ulid.ULID{}, nil, plugboard.Errorf(plugboard.EInvalid, "API key: organisation id is zero")
	}
	id, err = ulid.New(ulid.Timestamp(time.Now()), rand.Reader)
	if err != nil {
		return "", ulid.ULID{}, nil, plugboard.Internal(fmt.Errorf("API key id: %w", err))
	}
	var secret [SecretSize]byte
	rand.Read(secret[:]) // never returns an error; a broken system source crashes the program
	sum := sha256.Sum256(secret[:])

	var b strings.Builder
	b.Grow(Length)
	b.WriteString(Prefix)
	b.WriteString(orgID.String())
	b.WriteString(id.String())
	b.WriteString(base64.RawURLEncoding.EncodeToString(secret[:]))
	clear(secret[:])
	return b.String(), id, sum[:], nil
}

// Parse splits key into the organisation id and key id to look the key up by, and the hash of its
// secret part to compare, with Verify, against the stored hash. It checks the format only, never
// whether the key exists. A malformed key gives an *plugboard.Error with code EUnauthenticated
// that wraps ErrMalformed; its Details say what is wrong, without quoting the key.
func Parse(key string) (orgID, id ulid.ULID, secretHash []byte, err error) {
	fail := func(reason string) (ulid.ULID, ulid.ULID, []byte, error) {
		return ulid.ULID{}, ulid.ULID{}, nil, &plugboard.Error{
			Code:    plugboard.EUnauthenticated,
			Message: "malformed API key",
			Details: reason,
			Err:     fmt.Errorf("%w: %s", ErrMalformed, reason),
		}
	}
	if !strings.HasPrefix(key, Prefix) {
		return fail("it does not start with " + Prefix)
	}
	if len(key) != Length {
		return fail(fmt.Sprintf("it is not %d characters long", Length))
	}
	rest := key[len(Prefix):]
	orgID, ok := parseULID(rest[:ulid.EncodedSize])
	if !ok {
		return fail("bad organisation id")
	}
	id, ok = parseULID(rest[ulid.EncodedSize : 2*ulid.EncodedSize])
	if !ok {
		return fail("bad key id")
	}
	// Strict: the unused low bits of the last character must be zero, so that each secret has one
	// spelling.
	secret, err := base64.RawURLEncoding.Strict().DecodeString(rest[2*ulid.EncodedSize:])
	if err != nil || len(secret) != SecretSize {
		return fail("bad secret part")
	}
	sum := sha256.Sum256(secret)
	clear(secret)
	return orgID, id, sum[:], nil
}

// parseULID accepts only the canonical (upper-case) spelling, so that a key has exactly one
// spelling and ids in logs match ids in the store.
func parseULID(s string) (ulid.ULID, bool) {
	id, err := ulid.ParseStrict(s)
	if err != nil || id.String() != s {
		return ulid.ULID{}, false
	}
	return id, true
}

// Verify reports whether secretHash, from Parse, equals storedHash, from New, in time that does
// not depend on where they differ. A stored hash of the wrong length never matches.
func Verify(secretHash, storedHash []byte) bool {
	if len(secretHash) != sha256.Size || len(storedHash) != sha256.Size {
		return false
	}
	return subtle.ConstantTimeCompare(secretHash, storedHash) == 1
}

// FromAuthorizationHeader returns the key in an Authorization header value of the form
// "Bearer <key>" or "JWT <key>": the scheme in any case, then one or more spaces, then the key,
// which must contain no whitespace. It reports false for any other value, including an empty one.
// It does not check the key's format; Parse does.
func FromAuthorizationHeader(h string) (string, bool) {
	h = strings.Trim(h, " \t")
	scheme, rest, ok := strings.Cut(h, " ")
	if !ok || !(strings.EqualFold(scheme, "Bearer") || strings.EqualFold(scheme, "JWT")) {
		return "", false
	}
	key := strings.TrimLeft(rest, " ")
	if key == "" || strings.ContainsAny(key, " \t\r\n") {
		return "", false
	}
	return key, true
}
