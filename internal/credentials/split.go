package credentials

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
)

// The public half of a credential or config is JSON with every secret field of the type's
// member present and "". The secrets half is a flat JSON object of the non-empty secret fields,
// keyed by the field's JSON name inside the credential data member ("value", "password") or, for
// a config, by its dotted path from the config's top ("oauth1.consumerSecret"); it is nil when no
// secret field is set. Both are built from the tables in table.go, so every function here
// agrees on what is secret.
//
// Errors are internal: the inputs were validated before they were split, and the halves come
// from our own store when they are joined.

// decodeObject decodes a JSON object keeping numbers as written. Empty input and null decode to
// an empty object.
func decodeObject(b []byte) (map[string]any, error) {
	if len(bytes.TrimSpace(b)) == 0 || bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		return map[string]any{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

// decodeSecrets decodes a secrets half; nil decodes to an empty map.
func decodeSecrets(b []byte) (map[string]string, error) {
	s := map[string]string{}
	if len(bytes.TrimSpace(b)) == 0 {
		return s, nil
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, err
	}
	if s == nil {
		s = map[string]string{}
	}
	return s, nil
}

// encodeSecrets encodes a secrets half, nil when it is empty.
func encodeSecrets(s map[string]string) ([]byte, error) {
	if len(s) == 0 {
		return nil, nil
	}
	return json.Marshal(s)
}

func internalf(format string, args ...any) error {
	return plugboard.Internal(fmt.Errorf("credentials: "+format, args...))
}

// SplitCredential returns the data member for c.Type as JSON with its secret fields present and
// emptied, and the non-empty secret fields as a JSON object (nil when none is set, always for a
// type without secret fields). Members other than the type's are dropped. A credential of type
// none may have no data; any other type must have its member.
func SplitCredential(c api.Credential) (public []byte, secrets []byte, err error) {
	k, ok := credentialKindOf(c.Type)
	if !ok {
		return nil, nil, internalf("unknown credential type %q", c.Type)
	}
	obj := map[string]any{}
	found := false
	if c.Data != nil {
		raw, err := json.Marshal(c.Data)
		if err != nil {
			return nil, nil, internalf("encode credential data: %w", err)
		}
		top, err := decodeObject(raw)
		if err != nil {
			return nil, nil, internalf("decode credential data: %w", err)
		}
		if m, ok := top[k.member].(map[string]any); ok {
			obj, found = m, true
		}
	}
	if !found && c.Type != api.CredentialTypeNone {
		return nil, nil, internalf("credential of type %s has no data.%s", c.Type, k.member)
	}
	if c.Type == api.CredentialTypeNone {
		obj = map[string]any{}
	}
	fillLists(k.member, obj)
	sec := map[string]string{}
	for _, f := range k.secrets {
		if v, ok := obj[f].(string); ok && v != "" {
			sec[f] = v
		}
		obj[f] = ""
	}
	if public, err = json.Marshal(obj); err != nil {
		return nil, nil, internalf("encode public half: %w", err)
	}
	if secrets, err = encodeSecrets(sec); err != nil {
		return nil, nil, internalf("encode secrets half: %w", err)
	}
	return public, secrets, nil
}

// JoinCredential rebuilds full CredentialData of type typ from the two halves; secrets may be nil.
func JoinCredential(typ api.CredentialType, public, secrets []byte) (api.CredentialData, error) {
	sec, err := decodeSecrets(secrets)
	if err != nil {
		return api.CredentialData{}, internalf("decode secrets half: %w", err)
	}
	return buildCredential(typ, public, sec)
}

// Redacted returns CredentialData of type typ from the public half only, for responses: every
// secret field is "" (present, so responses stay valid against the schema), whatever the
// public half holds.
func Redacted(typ api.CredentialType, public []byte) (api.CredentialData, error) {
	return buildCredential(typ, public, nil)
}

// KeepSecrets fills every empty secret field of data (of type typ) from oldSecrets, the secrets
// half stored for the same credential with the same type, so that a client that sends back what
// it read loses nothing. data is rebuilt holding only the member for typ.
func KeepSecrets(typ api.CredentialType, data *api.CredentialData, oldSecrets []byte) error {
	public, secrets, err := SplitCredential(api.Credential{Type: typ, Data: data})
	if err != nil {
		return err
	}
	merged, err := decodeSecrets(oldSecrets)
	if err != nil {
		return internalf("decode old secrets half: %w", err)
	}
	fresh, err := decodeSecrets(secrets)
	if err != nil {
		return internalf("decode secrets half: %w", err)
	}
	for f, v := range fresh {
		merged[f] = v
	}
	d, err := buildCredential(typ, public, merged)
	if err != nil {
		return err
	}
	*data = d
	return nil
}

// secretPath is one secret field of a config: where it sits, and its key in the secrets half.
type secretPath struct {
	key    string   // "oauth2.grant.authorizationCode.clientSecret"
	parent []string // {"grant", "authorizationCode"}, inside the member
	field  string   // "clientSecret"
}

func (k schemeKind) secretPaths() []secretPath {
	paths := make([]secretPath, len(k.secrets))
	for i, s := range k.secrets {
		parts := strings.Split(s, ".")
		paths[i] = secretPath{key: k.member + "." + s, parent: parts[:len(parts)-1], field: parts[len(parts)-1]}
	}
	return paths
}

// walk returns the object at path under m, creating missing objects when create is set; nil when
// it is absent (or not an object) and create is not set.
func walk(m map[string]any, path []string, create bool) map[string]any {
	for _, p := range path {
		next, ok := m[p].(map[string]any)
		if !ok {
			if !create {
				return nil
			}
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	return m
}

// configObject returns cfg as a JSON object and its kind.
func configObject(cfg api.AuthSchemeConfig) (map[string]any, schemeKind, error) {
	k, ok := schemeKindOf(cfg.Type)
	if !ok {
		return nil, k, internalf("unknown auth scheme type %q", cfg.Type)
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return nil, k, internalf("encode auth scheme config: %w", err)
	}
	top, err := decodeObject(raw)
	if err != nil {
		return nil, k, internalf("decode auth scheme config: %w", err)
	}
	return top, k, nil
}

// SplitAuthSchemeConfig returns the config as JSON with its type, its member for that type (other
// members are dropped), secret fields emptied and validationMessages dropped; and the non-empty
// secret fields as a JSON object (nil when none is set).
func SplitAuthSchemeConfig(cfg api.AuthSchemeConfig) (public []byte, secrets []byte, err error) {
	top, k, err := configObject(cfg)
	if err != nil {
		return nil, nil, err
	}
	member, ok := top[k.member].(map[string]any)
	if !ok {
		return nil, nil, internalf("auth scheme config of type %s has no %s member", cfg.Type, k.member)
	}
	delete(member, "validationMessages")
	fillLists(k.member, member)
	sec := map[string]string{}
	for _, p := range k.secretPaths() {
		parent := walk(member, p.parent, false)
		if parent == nil {
			continue
		}
		v, present := parent[p.field]
		if !present {
			continue
		}
		if s, ok := v.(string); ok && s != "" {
			sec[p.key] = s
		}
		parent[p.field] = ""
	}
	if public, err = json.Marshal(map[string]any{"type": cfg.Type, k.member: member}); err != nil {
		return nil, nil, internalf("encode public half: %w", err)
	}
	if secrets, err = encodeSecrets(sec); err != nil {
		return nil, nil, internalf("encode secrets half: %w", err)
	}
	return public, secrets, nil
}

// JoinAuthSchemeConfig rebuilds the full config from the two halves; secrets may be nil.
func JoinAuthSchemeConfig(public, secrets []byte) (api.AuthSchemeConfig, error) {
	top, err := decodeObject(public)
	if err != nil {
		return api.AuthSchemeConfig{}, internalf("decode public half: %w", err)
	}
	sec, err := decodeSecrets(secrets)
	if err != nil {
		return api.AuthSchemeConfig{}, internalf("decode secrets half: %w", err)
	}
	typ, _ := top["type"].(string)
	k, ok := schemeKindOf(api.AuthSchemeType(typ))
	if !ok {
		return api.AuthSchemeConfig{}, internalf("public half has unknown auth scheme type %q", typ)
	}
	if len(sec) > 0 {
		member, ok := top[k.member].(map[string]any)
		if !ok {
			return api.AuthSchemeConfig{}, internalf("public half of type %s has no %s member", typ, k.member)
		}
		for _, p := range k.secretPaths() {
			if v, ok := sec[p.key]; ok {
				walk(member, p.parent, true)[p.field] = v
			}
		}
	}
	raw, err := json.Marshal(top)
	if err != nil {
		return api.AuthSchemeConfig{}, internalf("encode auth scheme config: %w", err)
	}
	var cfg api.AuthSchemeConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return api.AuthSchemeConfig{}, internalf("decode auth scheme config: %w", err)
	}
	return cfg, nil
}

// KeepAuthSchemeConfigSecrets fills every secret field of cfg that is empty from oldSecrets, the
// secrets half stored for the same config, so that a client that PUTs back what it read loses
// nothing. A secret is only filled where its enclosing object is present in cfg (a config whose
// grant no longer has a password section does not get its old client secret back).
func KeepAuthSchemeConfigSecrets(cfg *api.AuthSchemeConfig, oldSecrets []byte) error {
	old, err := decodeSecrets(oldSecrets)
	if err != nil {
		return internalf("decode old secrets half: %w", err)
	}
	if len(old) == 0 {
		return nil
	}
	top, k, err := configObject(*cfg)
	if err != nil {
		return err
	}
	member, ok := top[k.member].(map[string]any)
	if !ok {
		return nil
	}
	changed := false
	for _, p := range k.secretPaths() {
		v, ok := old[p.key]
		if !ok {
			continue
		}
		parent := walk(member, p.parent, false)
		if parent == nil {
			continue
		}
		if cur, _ := parent[p.field].(string); cur == "" {
			parent[p.field] = v
			changed = true
		}
	}
	if !changed {
		return nil
	}
	raw, err := json.Marshal(top)
	if err != nil {
		return internalf("encode auth scheme config: %w", err)
	}
	var out api.AuthSchemeConfig
	if err := json.Unmarshal(raw, &out); err != nil {
		return internalf("decode auth scheme config: %w", err)
	}
	*cfg = out
	return nil
}

// requiredLists names, per data or config member, the array fields the schema requires: a client
// may leave them out, but responses must carry them as [] rather than null.
var requiredLists = map[string][]string{
	"oauth2Token": {"scopes"},
	"oauth2":      {"scopes", "defaultScopes"},
}

// fillLists sets the member's required array fields that are missing or null to [].
func fillLists(member string, obj map[string]any) {
	for _, f := range requiredLists[member] {
		if v, ok := obj[f]; !ok || v == nil {
			obj[f] = []any{}
		}
	}
}

// PublicConfig decodes a stored public half for a response, with required lists present.
func PublicConfig(public []byte) (api.AuthSchemeConfig, error) {
	top, err := decodeObject(public)
	if err != nil {
		return api.AuthSchemeConfig{}, internalf("decode public half: %w", err)
	}
	typ, _ := top["type"].(string)
	if k, ok := schemeKindOf(api.AuthSchemeType(typ)); ok {
		if member, ok := top[k.member].(map[string]any); ok {
			fillLists(k.member, member)
		}
	}
	raw, err := json.Marshal(top)
	if err != nil {
		return api.AuthSchemeConfig{}, internalf("encode config: %w", err)
	}
	var cfg api.AuthSchemeConfig
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return api.AuthSchemeConfig{}, internalf("decode config: %w", err)
	}
	return cfg, nil
}
