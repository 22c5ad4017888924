package credentials

import (
	"encoding/json"
	"net/url"
	"strings"

	"github.com/plugboard/plugboard/api"
)

// Placement is the canonical form of the fields that decide where and how a credential's or a
// config's secrets are used: a JSON object of the placement fields that are set, URLs reduced to
// their origin. Two equal placements send the same secret to the same place in the same way.
type Placement string

// CredentialPlacement returns the placement of a credential of type typ from its public half.
func CredentialPlacement(typ api.CredentialType, public []byte) (Placement, error) {
	k, ok := credentialKindOf(typ)
	if !ok {
		return "", internalf("unknown credential type %q", typ)
	}
	member, err := decodeObject(public)
	if err != nil {
		return "", internalf("decode public half: %w", err)
	}
	return placementOf(member, k.placement)
}

// ConfigPlacement returns the placement of an auth scheme config: its type and the placement
// fields of its member.
func ConfigPlacement(cfg api.AuthSchemeConfig) (Placement, error) {
	top, k, err := configObject(cfg)
	if err != nil {
		return "", err
	}
	member, _ := top[k.member].(map[string]any)
	p, err := placementOf(member, append([]string{"type"}, k.placement...))
	if err != nil {
		return "", err
	}
	// The type is not in the member; put it in by hand.
	var m map[string]any
	_ = json.Unmarshal([]byte(p), &m)
	m["type"] = string(cfg.Type)
	raw, err := json.Marshal(m)
	return Placement(raw), err
}

// Member returns the JSON name of the CredentialData member that holds a credential type's data.
func Member(typ api.CredentialType) string {
	k, _ := credentialKindOf(typ)
	return k.member
}

// PlacementFields returns the placement fields of a credential type, by JSON name.
func PlacementFields(typ api.CredentialType) []string {
	k, _ := credentialKindOf(typ)
	return append([]string(nil), k.placement...)
}

// ConfigPlacementFields returns the placement fields of an auth scheme type, by dotted path.
func ConfigPlacementFields(typ api.AuthSchemeType) []string {
	k, _ := schemeKindOf(typ)
	return append([]string(nil), k.placement...)
}

func placementOf(member map[string]any, paths []string) (Placement, error) {
	out := map[string]any{}
	for _, path := range paths {
		parts := strings.Split(path, ".")
		parent := walk(member, parts[:len(parts)-1], false)
		if parent == nil {
			continue
		}
		v, ok := parent[parts[len(parts)-1]]
		if !ok || v == nil {
			continue
		}
		if s, isString := v.(string); isString && isURLField(parts[len(parts)-1]) {
			v = Origin(s)
		}
		out[path] = v
	}
	raw, err := json.Marshal(out) // map keys are sorted: the form is canonical
	if err != nil {
		return "", internalf("encode placement: %w", err)
	}
	return Placement(raw), nil
}

// isURLField reports whether a field holds a URL, which counts by its origin.
func isURLField(name string) bool {
	return name == "url" || strings.HasSuffix(name, "Url")
}

// Origin returns a URL's scheme://host[:port], lower-cased; "" for an empty URL, and the text
// itself when it does not parse (so that any change to it counts).
func Origin(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return raw
	}
	return strings.ToLower(u.Scheme + "://" + u.Host)
}
