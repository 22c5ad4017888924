// Package vault is the one place that seals and opens stored secrets. Every other package that
// stores or reads a sealed value (the HTTP layer, internal/access, the commands) goes through a
// *Vault, and only this package imports internal/seal: like a barrier in front of storage, it
// decides which master key seals, which associated data binds each kind of record, and how a
// rotation re-seals what is stored (rewrap.go). A test checks that no other package imports seal.
//
// Each kind of sealed record has its own associated data, defined here and nowhere else:
//
//	credentials          ("credential", organisation, credential id)
//	auth scheme configs  ("auth-scheme-config", organisation, system, config id)
//	OAuth states         ("oauth-state", organisation, state id)
//
// so a value copied to another row, organisation or kind of record does not open.
package vault

import (
	"fmt"
	"os"
	"strings"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/seal"
)

// Vault seals with its first master key and opens with any of them. It is immutable and safe for
// concurrent use; its String method names key ids only.
type Vault struct {
	keys *seal.Keyring
}

// Parse returns a vault of the master keys in text form: comma-separated base64 keys of 32 bytes,
// the first sealing (the form of PLUGBOARD_ENCRYPTION_KEY and of a key file). Errors name a bad
// key by its position and never quote the text.
func Parse(text string) (*Vault, error) {
	kr, err := seal.ParseKeys(text)
	if err != nil {
		return nil, err
	}
	return &Vault{keys: kr}, nil
}

// LoadOrCreateFile returns the vault of the key file at path, generating the file (mode 0600)
// with one new key when it does not exist; created reports that it did.
func LoadOrCreateFile(path string) (v *Vault, created bool, err error) {
	kr, created, err := seal.LoadOrCreateKeyFile(path)
	if err != nil {
		return nil, false, err
	}
	return &Vault{keys: kr}, created, nil
}

// LoadFile returns the vault of an existing key file; an error wrapping fs.ErrNotExist when there
// is none. Commands that only read use it, so that they never leave a new key behind.
func LoadFile(path string) (*Vault, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	v, _, err := LoadOrCreateFile(path)
	return v, err
}

// NewKey returns a new random master key in text form, for configuration and tests.
func NewKey() string {
	key := seal.GenerateKey()
	defer clear(key)
	return seal.EncodeKey(key)
}

// KeyIDOfText returns the id of the first master key in text form, without keeping the key.
func KeyIDOfText(text string) (string, error) {
	v, err := Parse(text)
	if err != nil {
		return "", err
	}
	return v.PrimaryKeyID(), nil
}

// KeyIDs returns the ids of the vault's master keys, the sealing one first: 16 hex digits each, the
// start of SHA-256 of the key, which names a key without revealing it.
func (v *Vault) KeyIDs() []string { return v.keys.KeyIDs() }

// PrimaryKeyID returns the id of the master key that seals.
func (v *Vault) PrimaryKeyID() string { return v.keys.PrimaryKeyID() }

// Holds reports whether the vault has the master key of that id.
func (v *Vault) Holds(keyID string) bool {
	for _, id := range v.KeyIDs() {
		if id == keyID {
			return true
		}
	}
	return false
}

// String names the vault's key ids, never its keys.
func (v *Vault) String() string {
	if v == nil {
		return "vault(nil)"
	}
	return "vault[" + strings.Join(v.KeyIDs(), ",") + "]"
}

// GoString is String, so that %#v prints no key either.
func (v *Vault) GoString() string { return v.String() }

// KeyIDOf returns the id of the master key a sealed value was sealed with, without opening it.
func KeyIDOf(sealed []byte) (string, error) { return seal.KeyIDOf(sealed) }

// Kinds of sealed record, named as their tables are.
const (
	KindCredential       = "credentials"
	KindAuthSchemeConfig = "auth_scheme_configs"
	KindOAuthState       = "oauth_states"
	KindEvent            = "events"
)

// aad returns the associated data of a sealed record of a kind.
func aad(kind string, orgID ulid.ULID, systemID ulid.ULID, id string) ([]byte, error) {
	switch kind {
	case KindCredential:
		return seal.AAD("credential", orgID.String(), id), nil
	case KindAuthSchemeConfig:
		return seal.AAD("auth-scheme-config", orgID.String(), systemID.String(), id), nil
	case KindOAuthState:
		return seal.AAD("oauth-state", orgID.String(), id), nil
	case KindEvent:
		return seal.AAD("event", orgID.String(), id), nil
	}
	return nil, fmt.Errorf("vault: unknown kind of sealed record %q", kind)
}

func (v *Vault) seal(kind string, orgID, systemID ulid.ULID, id string, plaintext []byte) ([]byte, error) {
	ad, err := aad(kind, orgID, systemID, id)
	if err != nil {
		return nil, plugboard.Internal(err)
	}
	out, err := v.keys.Seal(plaintext, ad)
	if err != nil {
		return nil, plugboard.Internal(err)
	}
	return out, nil
}

func (v *Vault) open(kind string, orgID, systemID ulid.ULID, id string, sealed []byte) ([]byte, error) {
	ad, err := aad(kind, orgID, systemID, id)
	if err != nil {
		return nil, plugboard.Internal(err)
	}
	out, err := v.keys.Open(sealed, ad)
	if err != nil {
		return nil, plugboard.Internal(fmt.Errorf("open %s %s: %w", kind, id, err))
	}
	return out, nil
}

// SealCredential seals a credential's secrets half.
func (v *Vault) SealCredential(orgID, credentialID ulid.ULID, secrets []byte) ([]byte, error) {
	return v.seal(KindCredential, orgID, ulid.ULID{}, credentialID.String(), secrets)
}

// OpenCredential opens a credential's sealed secrets half.
func (v *Vault) OpenCredential(orgID, credentialID ulid.ULID, sealed []byte) ([]byte, error) {
	return v.open(KindCredential, orgID, ulid.ULID{}, credentialID.String(), sealed)
}

// SealConfig seals an auth scheme config's secret fields.
func (v *Vault) SealConfig(orgID, systemID ulid.ULID, configID string, secrets []byte) ([]byte, error) {
	return v.seal(KindAuthSchemeConfig, orgID, systemID, configID, secrets)
}

// OpenConfig opens an auth scheme config's sealed secret fields.
func (v *Vault) OpenConfig(orgID, systemID ulid.ULID, configID string, sealed []byte) ([]byte, error) {
	return v.open(KindAuthSchemeConfig, orgID, systemID, configID, sealed)
}

// SealState seals what a pending OAuth flow keeps secret (PKCE verifier, temporary credentials).
func (v *Vault) SealState(orgID ulid.ULID, stateID string, raw []byte) ([]byte, error) {
	return v.seal(KindOAuthState, orgID, ulid.ULID{}, stateID, raw)
}

// OpenState opens a pending OAuth flow's sealed data.
func (v *Vault) OpenState(orgID ulid.ULID, stateID string, sealed []byte) ([]byte, error) {
	return v.open(KindOAuthState, orgID, ulid.ULID{}, stateID, sealed)
}

// SealEvent seals an event's private details (an inbound webhook's headers and body).
func (v *Vault) SealEvent(orgID, eventID ulid.ULID, details []byte) ([]byte, error) {
	return v.seal(KindEvent, orgID, ulid.ULID{}, eventID.String(), details)
}

// OpenEvent opens an event's sealed details.
func (v *Vault) OpenEvent(orgID, eventID ulid.ULID, sealed []byte) ([]byte, error) {
	return v.open(KindEvent, orgID, ulid.ULID{}, eventID.String(), sealed)
}
