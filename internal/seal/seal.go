// Package seal encrypts secret values before they are stored, and decrypts them after they are read.
//
// It uses envelope encryption: every value gets its own random 256-bit data key, the value is
// encrypted with AES-256-GCM under that data key, and the data key is itself encrypted ("wrapped")
// with AES-256-GCM under a master key from a [Keyring]. A leaked database therefore holds nothing
// readable without a master key, and master keys can rotate: a Keyring seals with its first key and
// opens with any of its keys, and every sealed value names the master key it needs.
//
// Every value is sealed together with associated data (see [AAD]) that names where it belongs, for
// example ("credential", organisationID, credentialID). The associated data is authenticated but not
// stored, so a sealed value copied into another row, or another organisation, fails to open.
//
// # Sealed format, version 1
//
// All lengths are in bytes; the total is len(plaintext) + 97.
//
//	offset  length  field
//	0       1       version, 0x01
//	1       8       master key id: the first 8 bytes of SHA-256(master key), shown as 16 hex digits
//	9       12      wrap nonce, random
//	21      48      wrapped data key: AES-256-GCM(master key, wrap nonce, data key, wrapAAD), 32 + 16-byte tag
//	69      12      data nonce, random
//	81      n + 16  ciphertext: AES-256-GCM(data key, data nonce, plaintext, dataAAD), n + 16-byte tag
//
// where wrapAAD = bytes[0:9] || aad and dataAAD = bytes[0:81] || aad. Both layers thus authenticate
// the header and the caller's associated data; the data layer also authenticates the wrapped key it
// belongs to. A reader that meets a version other than 0x01 refuses the value.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the length of a master key: AES-256.
const KeySize = 32

// Version is the format version this package writes, stored in the first byte of a sealed value.
const Version byte = 1

// Layout of version 1; see the package documentation.
const (
	keyIDSize      = 8
	nonceSize      = 12
	tagSize        = 16
	headerSize     = 1 + keyIDSize                           // version, key id
	wrappedKeySize = KeySize + tagSize                       // data key and its tag
	prefixSize     = headerSize + nonceSize + wrappedKeySize // up to the data nonce
	envelopeSize   = prefixSize + nonceSize                  // up to the ciphertext
)

// Overhead is how many bytes Seal adds to a plaintext: 97.
const Overhead = envelopeSize + tagSize

// ErrOpen is wrapped by every error from Open and KeyIDOf: the value is malformed, was sealed
// under a key the keyring does not hold, was sealed for other associated data, or was altered.
// The wrapping message says which, without including any key or plaintext material.
var ErrOpen = errors.New("seal: cannot open sealed value")

// masterKey is one master key with its id and its ready-made AEAD.
type masterKey struct {
	id   [keyIDSize]byte
	aead cipher.AEAD
}

// Keyring holds the master keys. The first key seals; any key opens, so a new key is rotated in by
// putting it first and an old one is retired once no stored value names it (see KeyIDOf).
// A Keyring is immutable and safe for concurrent use. Its String and GoString methods print key
// ids only, so logging a Keyring by accident does not leak keys.
type Keyring struct {
	keys []masterKey
}

// NewKeyring returns a keyring of the given master keys, the first being the one that seals. Each
// key must be KeySize bytes, and no key may appear twice. The keyring keeps no reference to the
// slices passed in.
func NewKeyring(keys ...[]byte) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("seal: no keys")
	}
	kr := &Keyring{keys: make([]masterKey, 0, len(keys))}
	for i, key := range keys {
		if len(key) != KeySize {
			return nil, fmt.Errorf("seal: key %d: not %d bytes", i+1, KeySize)
		}
		mk, err := newMasterKey(key)
		if err != nil {
			return nil, fmt.Errorf("seal: key %d: %w", i+1, err)
		}
		for j, other := range kr.keys {
			if other.id == mk.id {
				return nil, fmt.Errorf("seal: key %d: same as key %d", i+1, j+1)
			}
		}
		kr.keys = append(kr.keys, mk)
	}
	return kr, nil
}

func newMasterKey(key []byte) (masterKey, error) {
	sum := sha256.Sum256(key)
	aead, err := newGCM(key)
	if err != nil {
		return masterKey{}, err
	}
	var mk masterKey
	copy(mk.id[:], sum[:keyIDSize])
	mk.aead = aead
	return mk, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// ParseKeys parses a keyring from its text form: a comma-separated list of master keys, first one
// sealing, each the base64 encoding (standard or URL-safe alphabet, padded or not) of exactly
// KeySize bytes. Whitespace around each key is ignored. This is the form of a key file and of the
// configuration value that carries keys. Errors name the bad key by its position from 1 and never
// include any of s.
func ParseKeys(s string) (*Keyring, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("seal: no keys")
	}
	parts := strings.Split(s, ",")
	keys := make([][]byte, 0, len(parts))
	for i, part := range parts {
		part = strings.TrimSpace(part)
		if part == "" {
			return nil, fmt.Errorf("seal: key %d: empty", i+1)
		}
		key, ok := decodeKey(part)
		if !ok {
			return nil, fmt.Errorf("seal: key %d: not %d bytes of base64", i+1, KeySize)
		}
		keys = append(keys, key)
	}
	kr, err := NewKeyring(keys...)
	for _, key := range keys {
		clear(key)
	}
	return kr, err
}

// decodeKey decodes one key in any of the accepted base64 forms. It reports only success, so
// that no decoder error (which may quote the input) can reach a caller.
func decodeKey(s string) ([]byte, bool) {
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding,
	} {
		if enc.DecodedLen(len(s)) < KeySize {
			continue
		}
		key, err := enc.DecodeString(s)
		if err == nil && len(key) == KeySize {
			return key, true
		}
		clear(key)
	}
	return nil, false
}

// EncodeKey returns the text form of one master key, as ParseKeys reads it: standard padded base64.
func EncodeKey(key []byte) string {
	return base64.StdEncoding.EncodeToString(key)
}

// GenerateKey returns a new random master key.
func GenerateKey() []byte {
	key := make([]byte, KeySize)
	rand.Read(key) // never returns an error; a broken system source crashes the program
	return key
}

// KeyIDs returns the ids of the keyring's master keys, the sealing one first. An id is the first
// 16 hex digits of SHA-256 of the key: it tells keys apart in logs and configuration without
// revealing them.
func (k *Keyring) KeyIDs() []string {
	ids := make([]string, len(k.keys))
	for i, mk := range k.keys {
		ids[i] = hex.EncodeToString(mk.id[:])
	}
	return ids
}

// PrimaryKeyID returns the id of the master key that Seal uses. Values whose KeyIDOf differs were
// sealed before the latest rotation.
func (k *Keyring) PrimaryKeyID() string {
	if k == nil || len(k.keys) == 0 {
		return ""
	}
	return hex.EncodeToString(k.keys[0].id[:])
}

// String describes the keyring by its key ids, never by its keys.
func (k *Keyring) String() string {
	if k == nil {
		return "seal.Keyring(nil)"
	}
	return "seal.Keyring[" + strings.Join(k.KeyIDs(), ",") + "]"
}

// GoString is String, so that %#v does not print keys either.
func (k *Keyring) GoString() string { return k.String() }

// Seal encrypts plaintext under a new data key wrapped by the keyring's first master key, binding
// it to aad, which Open must be given again. Build aad with AAD. The result is in the format the
// package documentation describes, Overhead bytes longer than plaintext.
func (k *Keyring) Seal(plaintext, aad []byte) ([]byte, error) {
	if k == nil || len(k.keys) == 0 {
		return nil, errors.New("seal: keyring has no keys")
	}
	mk := k.keys[0]

	var dataKey [KeySize]byte
	defer clear(dataKey[:])
	rand.Read(dataKey[:])
	dataAEAD, err := newGCM(dataKey[:])
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}

	out := make([]byte, envelopeSize, envelopeSize+len(plaintext)+tagSize)
	out[0] = Version
	copy(out[1:headerSize], mk.id[:])

	wrapNonce := out[headerSize : headerSize+nonceSize]
	rand.Read(wrapNonce)
	wrapAAD := concat(out[:headerSize], aad)
	mk.aead.Seal(out[headerSize+nonceSize:headerSize+nonceSize], wrapNonce, dataKey[:], wrapAAD)

	dataNonce := out[prefixSize:envelopeSize]
	rand.Read(dataNonce)
	dataAAD := concat(out[:prefixSize], aad)
	return dataAEAD.Seal(out, dataNonce, plaintext, dataAAD), nil
}

// Open decrypts a value that Seal returned, given the same aad. It fails, with an error wrapping
// ErrOpen, if the value is malformed or of an unknown version, names a master key the keyring does
// not hold, was sealed with different aad, or was altered in any byte.
func (k *Keyring) Open(sealed, aad []byte) ([]byte, error) {
	id, err := parseHeader(sealed)
	if err != nil {
		return nil, err
	}
	if len(sealed) < Overhead {
		return nil, fmt.Errorf("%w: truncated", ErrOpen)
	}
	mk, ok := k.key(id)
	if !ok {
		return nil, fmt.Errorf("%w: sealed with key %x, which the keyring does not hold", ErrOpen, id)
	}

	wrapNonce := sealed[headerSize : headerSize+nonceSize]
	wrapped := sealed[headerSize+nonceSize : prefixSize]
	dataKey, err := mk.aead.Open(make([]byte, 0, KeySize), wrapNonce, wrapped, concat(sealed[:headerSize], aad))
	defer clear(dataKey)
	if err != nil {
		return nil, fmt.Errorf("%w: data key failed authentication (wrong associated data, or altered)", ErrOpen)
	}
	dataAEAD, err := newGCM(dataKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrOpen, err)
	}

	dataNonce := sealed[prefixSize:envelopeSize]
	plaintext, err := dataAEAD.Open(nil, dataNonce, sealed[envelopeSize:], concat(sealed[:prefixSize], aad))
	if err != nil {
		return nil, fmt.Errorf("%w: ciphertext failed authentication (altered)", ErrOpen)
	}
	return plaintext, nil
}

func (k *Keyring) key(id [keyIDSize]byte) (masterKey, bool) {
	if k == nil {
		return masterKey{}, false
	}
	for _, mk := range k.keys {
		if mk.id == id {
			return mk, true
		}
	}
	return masterKey{}, false
}

// KeyIDOf returns the id of the master key a value was sealed with, in the form KeyIDs uses,
// without opening it. Re-sealing every value whose id is not PrimaryKeyID completes a rotation.
// The error wraps ErrOpen if the value is not in a format this package reads.
func KeyIDOf(sealed []byte) (string, error) {
	id, err := parseHeader(sealed)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(id[:]), nil
}

func parseHeader(sealed []byte) (id [keyIDSize]byte, err error) {
	if len(sealed) < headerSize {
		return id, fmt.Errorf("%w: truncated", ErrOpen)
	}
	if sealed[0] != Version {
		return id, fmt.Errorf("%w: unknown format version %d", ErrOpen, sealed[0])
	}
	copy(id[:], sealed[1:headerSize])
	return id, nil
}

// AAD builds associated data for Seal and Open from parts, such as ("credential", organisationID,
// credentialID). Each part is prefixed with its length, so different lists of parts never give the
// same bytes: ("ab", "c") and ("a", "bc") differ.
func AAD(parts ...string) []byte {
	n := 0
	for _, p := range parts {
		n += binary.MaxVarintLen64 + len(p)
	}
	b := make([]byte, 0, n)
	for _, p := range parts {
		b = binary.AppendUvarint(b, uint64(len(p)))
		b = append(b, p...)
	}
	return b
}

// concat returns a new slice holding a followed by b.
func concat(a, b []byte) []byte {
	out := make([]byte, 0, len(a)+len(b))
	return append(append(out, a...), b...)
}
