package apikey

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
)

func TestRoundTrip(t *testing.T) {
	org := ulid.Make()
	key, id, hash, err := New(org)
	if err != nil {
		t.Fatal(err)
	}
	if len(key) != Length || Length != 99 || !strings.HasPrefix(key, Prefix) {
		t.Fatalf("key %q: length %d, want %d with prefix %s", key, len(key), Length, Prefix)
	}
	if want := Prefix + org.String() + id.String(); !strings.HasPrefix(key, want) {
		t.Errorf("key %q does not start with %q", key, want)
	}
	if len(hash) != sha256.Size {
		t.Errorf("hash length %d", len(hash))
	}
	if strings.Contains(key, base64.RawURLEncoding.EncodeToString(hash)) {
		t.Error("key contains its own hash")
	}

	gotOrg, gotID, secretHash, err := Parse(key)
	if err != nil {
		t.Fatal(err)
	}
	if gotOrg != org || gotID != id {
		t.Errorf("Parse = (%s, %s), want (%s, %s)", gotOrg, gotID, org, id)
	}
	if !Verify(secretHash, hash) {
		t.Error("Verify rejects the key's own hash")
	}

	key2, id2, hash2, err := New(org)
	if err != nil {
		t.Fatal(err)
	}
	if key2 == key || id2 == id || bytes.Equal(hash2, hash) {
		t.Error("two keys share a key, id or hash")
	}
	if Verify(secretHash, hash2) {
		t.Error("Verify accepts another key's hash")
	}
}

func TestNewZeroOrg(t *testing.T) {
	_, _, _, err := New(ulid.ULID{})
	if !plugboard.IsCode(err, plugboard.EInvalid) {
		t.Fatalf("New(zero) = %v, want EInvalid", err)
	}
}

func TestTamperedSecretFailsVerify(t *testing.T) {
	key, _, stored, err := New(ulid.Make())
	if err != nil {
		t.Fatal(err)
	}
	secretStart := len(Prefix) + 2*ulid.EncodedSize
	// Change each character of the secret to another that keeps the key well-formed; the last
	// character carries 2 unused bits, so only changes to its top 4 bits keep it canonical.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	tried := 0
	for i := secretStart; i < len(key); i++ {
		for _, c := range []byte(alphabet) {
			if c == key[i] {
				continue
			}
			bad := key[:i] + string(c) + key[i+1:]
			_, _, h, err := Parse(bad)
			if err != nil {
				continue // not canonical: Parse rejects it, which is also a failure to authenticate
			}
			tried++
			if Verify(h, stored) {
				t.Fatalf("tampered key verified (position %d)", i)
			}
		}
	}
	if tried < 42*63 {
		t.Errorf("only %d tampered keys were well-formed", tried)
	}
	// Ids are looked up, not verified, but a key moved to another id must still fail there.
	org2 := ulid.Make()
	moved := Prefix + org2.String() + key[len(Prefix)+ulid.EncodedSize:]
	_, _, h, err := Parse(moved)
	if err != nil {
		t.Fatal(err)
	}
	_, _, stored2, _ := New(org2)
	if Verify(h, stored2) {
		t.Error("secret verified against another key's hash")
	}
}

func TestVerify(t *testing.T) {
	h := sha256.Sum256([]byte("x"))
	other := sha256.Sum256([]byte("y"))
	for _, tc := range []struct {
		name           string
		secret, stored []byte
		want           bool
	}{
		{"equal", h[:], bytes.Clone(h[:]), true},
		{"different", h[:], other[:], false},
		{"both empty", nil, nil, false},
		{"stored empty", h[:], nil, false},
		{"secret empty", nil, h[:], false},
		{"stored truncated", h[:], h[:31], false},
		{"both truncated", h[:16], h[:16], false},
		{"stored longer", h[:], append(bytes.Clone(h[:]), 0), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Verify(tc.secret, tc.stored); got != tc.want {
				t.Errorf("Verify = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseMalformed(t *testing.T) {
	org, id := ulid.Make(), ulid.Make()
	var secret [SecretSize]byte
	rand.Read(secret[:])
	sec := base64.RawURLEncoding.EncodeToString(secret[:])
	good := Prefix + org.String() + id.String() + sec
	if _, _, _, err := Parse(good); err != nil {
		t.Fatalf("control key: %v", err)
	}
	lastBits := []byte(sec)
	lastBits[len(lastBits)-1] = nonCanonicalLast(lastBits[len(lastBits)-1])

	for _, tc := range []struct{ name, key, reason string }{
		{"empty", "", "does not start"},
		{"prefix only", Prefix, "characters long"},
		{"no prefix", "xxx_" + good[4:], "does not start"},
		{"upper-case prefix", "PBK_" + good[4:], "does not start"},
		{"other prefix", "sk_live_" + good[4:], "does not start"},
		{"one short", good[:len(good)-1], "characters long"},
		{"one long", good + "A", "characters long"},
		{"with newline", good + "\n", "characters long"},
		{"with padding", good + "=", "characters long"},
		{"lower-case org id", Prefix + strings.ToLower(org.String()) + id.String() + sec, "organisation id"},
		{"lower-case key id", Prefix + org.String() + strings.ToLower(id.String()) + sec, "key id"},
		{"org id with U", Prefix + "U" + org.String()[1:] + id.String() + sec, "organisation id"},
		{"org id overflow", Prefix + "8" + org.String()[1:] + id.String() + sec, "organisation id"},
		{"key id with symbol", Prefix + org.String() + "!" + id.String()[1:] + sec, "key id"},
		{"secret with plus", Prefix + org.String() + id.String() + "+" + sec[1:], "secret"},
		{"secret with slash", Prefix + org.String() + id.String() + sec[:10] + "/" + sec[11:], "secret"},
		{"secret with space", Prefix + org.String() + id.String() + sec[:10] + " " + sec[11:], "secret"},
		{"secret non-canonical", Prefix + org.String() + id.String() + string(lastBits), "secret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gotOrg, gotID, h, err := Parse(tc.key)
			if err == nil {
				t.Fatalf("Parse accepted it: (%s, %s, %x)", gotOrg, gotID, h)
			}
			if !errors.Is(err, ErrMalformed) || !plugboard.IsCode(err, plugboard.EUnauthenticated) {
				t.Errorf("err = %v, want EUnauthenticated wrapping ErrMalformed", err)
			}
			var perr *plugboard.Error
			if errors.As(err, &perr) && !strings.Contains(perr.Details, tc.reason) {
				t.Errorf("details %q do not contain %q", perr.Details, tc.reason)
			}
			if h != nil {
				t.Error("hash returned with an error")
			}
			// Nothing of the key may appear in the error, shown or logged.
			msg := err.Error()
			if perr != nil {
				msg += perr.Message + perr.Details
			}
			for _, part := range []string{sec[:8], sec[len(sec)-8:], org.String()[10:], id.String()[10:]} {
				if strings.Contains(msg, part) {
					t.Errorf("error %q quotes the key", msg)
				}
			}
		})
	}
}

// nonCanonicalLast returns a base64url character whose value has the same top 4 bits as c but
// non-zero low 2 bits, which a strict decoder rejects in the last position of 32 encoded bytes.
func nonCanonicalLast(c byte) byte {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	v := strings.IndexByte(alphabet, c)
	return alphabet[v|1]
}

func TestFromAuthorizationHeader(t *testing.T) {
	const key = "pbk_01JABCDEFGHJKMNPQRSTVWXYZ001JZZZZZZZZZZZZZZZZZZZZZZ0AAAA"
	for _, tc := range []struct {
		name, header, want string
		ok                 bool
	}{
		{"bearer", "Bearer " + key, key, true},
		{"bearer lower", "bearer " + key, key, true},
		{"bearer upper", "BEARER " + key, key, true},
		{"bearer mixed", "bEaReR " + key, key, true},
		{"jwt", "JWT " + key, key, true},
		{"jwt lower", "jwt " + key, key, true},
		{"jwt mixed", "Jwt " + key, key, true},
		{"several spaces", "Bearer    " + key, key, true},
		{"surrounding whitespace", " \tBearer " + key + " \t", key, true},
		{"opaque token", "Bearer abc.def", "abc.def", true},
		{"empty", "", "", false},
		{"scheme only", "Bearer", "", false},
		{"scheme and space", "Bearer ", "", false},
		{"scheme and spaces", "Bearer    ", "", false},
		{"no scheme", key, "", false},
		{"basic", "Basic " + key, "", false},
		{"token scheme", "Token " + key, "", false},
		{"scheme prefix", "Bearerx " + key, "", false},
		{"scheme without space", "Bearer" + key, "", false},
		{"tab separator", "Bearer\t" + key, "", false},
		{"two tokens", "Bearer " + key + " extra", "", false},
		{"inner tab", "Bearer " + key + "\textra", "", false},
		{"leading space", " Bearer " + key, key, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := FromAuthorizationHeader(tc.header)
			if got != tc.want || ok != tc.ok {
				t.Errorf("FromAuthorizationHeader(%q) = (%q, %v), want (%q, %v)", tc.header, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestHeaderThenParse(t *testing.T) {
	key, id, hash, err := New(ulid.Make())
	if err != nil {
		t.Fatal(err)
	}
	got, ok := FromAuthorizationHeader("Bearer " + key)
	if !ok {
		t.Fatal("header rejected")
	}
	_, gotID, h, err := Parse(got)
	if err != nil || gotID != id || !Verify(h, hash) {
		t.Fatalf("Parse(header key) = %s, %v; verified %v", gotID, err, Verify(h, hash))
	}
}

func TestPrefixOf(t *testing.T) {
	org := ulid.Make()
	key, id, _, err := New(org)
	if err != nil {
		t.Fatal(err)
	}
	if got := PrefixOf(org, id); got != key[:PrefixLen] || len(got) != 12 {
		t.Errorf("PrefixOf = %q, want the key's first 12 characters %q", got, key[:12])
	}
}
