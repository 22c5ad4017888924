package credentials

import (
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/plugboard/plugboard/api"
)

// memberFields lists the dotted paths of a schema's fields: objects are followed (through $ref and
// allOf); arrays, maps and scalars are fields. Base config fields are left out: they are the
// config's identity and notes.
func memberFields(ref *openapi3.SchemaRef, prefix string) []string {
	var out []string
	s := ref.Value
	for _, sub := range s.AllOf {
		out = append(out, memberFields(sub, prefix)...)
	}
	for name, p := range s.Properties {
		path := name
		if prefix != "" {
			path = prefix + "." + name
		}
		if prefix == "" && (name == "id" || name == "description" || name == "validationMessages") {
			continue
		}
		if (p.Value.Type.Includes("object") || len(p.Value.Properties) > 0 || len(p.Value.AllOf) > 0) && p.Value.AdditionalProperties.Schema == nil &&
			(p.Value.AdditionalProperties.Has == nil || !*p.Value.AdditionalProperties.Has) && (len(p.Value.Properties) > 0 || len(p.Value.AllOf) > 0) {
			out = append(out, memberFields(p, path)...)
			continue
		}
		out = append(out, path)
	}
	sort.Strings(out)
	return out
}

// TestEveryFieldIsClassified: every field of every credential data member and auth scheme config
// member in api/openapi.yaml is secret, placement or inert in table.go, exactly once, and the
// table names no field the contract lacks. A new field cannot be stored before someone decides
// whether changing it moves a stored secret (internal/trust).
func TestEveryFieldIsClassified(t *testing.T) {
	doc, err := api.Spec()
	if err != nil {
		t.Fatal(err)
	}
	data := doc.Components.Schemas["CredentialData"].Value.Properties
	for _, k := range credentialKinds {
		ref, ok := data[k.member]
		if !ok {
			t.Errorf("CredentialData has no member %s", k.member)
			continue
		}
		check(t, "credential "+string(k.typ), memberFields(ref, ""), k.secrets, k.placement, k.inert)
	}
	configs := doc.Components.Schemas["AuthSchemeConfig"].Value.Properties
	for _, k := range schemeKinds {
		ref, ok := configs[k.member]
		if !ok {
			t.Errorf("AuthSchemeConfig has no member %s", k.member)
			continue
		}
		check(t, "auth scheme "+string(k.typ), memberFields(ref, ""), k.secrets, k.placement, k.inert)
	}
}

func check(t *testing.T, what string, fields, secrets, placement, inert []string) {
	t.Helper()
	seen := map[string]int{}
	for _, list := range [][]string{secrets, placement, inert} {
		for _, f := range list {
			seen[f]++
		}
	}
	for _, f := range fields {
		switch seen[f] {
		case 0:
			if !classifiedParent(f, seen) {
				t.Errorf("%s: field %s is neither secret, placement nor inert", what, f)
			}
		case 1:
		default:
			t.Errorf("%s: field %s is classified %d times", what, f, seen[f])
		}
	}
	for f := range seen {
		if !slices.Contains(fields, f) && !slices.ContainsFunc(fields, func(g string) bool { return strings.HasPrefix(g, f+".") }) {
			t.Errorf("%s: the table classifies %s, which the contract does not have", what, f)
		}
	}
}

func classifiedParent(f string, seen map[string]int) bool {
	for p := range seen {
		if strings.HasPrefix(f, p+".") {
			return true
		}
	}
	return false
}
