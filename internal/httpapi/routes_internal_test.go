package httpapi

import (
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// TestOperationsOfSecurity: the operation table reads each operation's security: `[]` is public,
// `bearerToken: []` any valid key (no scope), `bearerToken: [scope]` that scope; anything else, or
// no security at all, refuses the spec.
func TestOperationsOfSecurity(t *testing.T) {
	spec := func(security string) string {
		return specAt("/x", security)
	}
	load := func(t *testing.T, doc string) (*operations, error) {
		t.Helper()
		d, err := openapi3.NewLoader().LoadFromData([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		return operationsOf(d)
	}
	for _, tc := range []struct {
		name, security string
		public         bool
		scope          string
		err            string
	}{
		{"public", "      security: []\n", true, "", ""},
		{"any valid key", "      security:\n      - bearerToken: []\n", false, "", ""},
		{"one scope", "      security:\n      - bearerToken: [admin]\n", false, ScopeAdmin, ""},
		{"no security", "", false, "", "states no security"},
		{"two scopes", "      security:\n      - bearerToken: [admin, events:read]\n", false, "", "exactly one scope"},
		{"another scheme", "      security:\n      - other: []\n", false, "", "exactly one scope"},
		{"unknown scope", "      security:\n      - bearerToken: [everything]\n", false, "", "unknown scope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ops, err := load(t, spec(tc.security))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			op := ops.byID["X"]
			if op == nil || op.Public != tc.public || op.Scope != tc.scope {
				t.Errorf("operation = %+v, want public %v scope %q", op, tc.public, tc.scope)
			}
		})
	}
}

func specAt(path, security string) string {
	return "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  " + path + ":\n    get:\n      operationId: X\n" +
		"      parameters: []\n" + security + "      responses: {'200': {description: ok}}\n"
}

// TestAnyKeyOnlyOutsideOrganisations: `bearerToken: []` (any valid key, no scope) is refused on a
// path under an organisation, and the contract's scope-less operations are exactly the catalogue's
// two: a mistaken `bearerToken: []` elsewhere fails here, not only in review.
func TestAnyKeyOnlyOutsideOrganisations(t *testing.T) {
	d, err := openapi3.NewLoader().LoadFromData([]byte(specAt("/o/{organisation_id}/things",
		"      security:\n      - bearerToken: []\n")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := operationsOf(d); err == nil || !strings.Contains(err.Error(), "must name one scope") {
		t.Fatalf("err = %v, want the refusal of bearerToken: [] under an organisation", err)
	}
	var anyKey []string
	for id, op := range mustOperations().byID {
		if !op.Public && op.Scope == "" {
			anyKey = append(anyKey, id)
		}
	}
	slices.Sort(anyKey)
	if want := []string{"GetCatalogueEntry", "ListCatalogue"}; !slices.Equal(anyKey, want) {
		t.Errorf("operations any valid key may call: %v, want %v", anyKey, want)
	}
}
