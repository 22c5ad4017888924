package cli_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestAPIKeysListAndDelete: keys are listed without their secrets, and deleted by id.
func TestAPIKeysListAndDelete(t *testing.T) {
	dir := newSQLiteStore(t)
	code, out, errOut := run(t, nil, "orgs", "create", "--name", "acme", "--json", "--data-dir", dir)
	if code != 0 {
		t.Fatalf("orgs create: %d %s", code, errOut)
	}
	var org struct {
		OrganisationID string `json:"organisationId"`
		APIKey         string `json:"apiKey"`
	}
	if err := json.Unmarshal([]byte(out), &org); err != nil {
		t.Fatalf("orgs create printed %q", out)
	}
	code, out, errOut = run(t, nil, "api-keys", "create", "--org", org.OrganisationID, "--scopes", "connections:read", "--json", "--data-dir", dir)
	if code != 0 {
		t.Fatalf("api-keys create: %d %s", code, errOut)
	}
	var created struct {
		APIKey string `json:"apiKey"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatal(err)
	}
	secrets := []string{org.APIKey[len(org.APIKey)-43:], created.APIKey[len(created.APIKey)-43:]}

	list := func() []map[string]any {
		t.Helper()
		code, out, errOut := run(t, nil, "api-keys", "list", "--org", org.OrganisationID, "--json", "--data-dir", dir)
		if code != 0 {
			t.Fatalf("api-keys list: %d %s", code, errOut)
		}
		var keys []map[string]any
		if err := json.Unmarshal([]byte(out), &keys); err != nil {
			t.Fatalf("api-keys list printed %q", out)
		}
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Error("api-keys list prints a key's secret")
			}
		}
		return keys
	}
	keys := list()
	if len(keys) != 2 || keys[0]["unrestricted"] != true || keys[1]["unrestricted"] != false ||
		keys[1]["prefix"] != created.APIKey[:12] || len(keys[1]["scopes"].([]any)) != 1 {
		t.Fatalf("listed %v", keys)
	}
	code, out, _ = run(t, nil, "api-keys", "list", "--org", org.OrganisationID, "--data-dir", dir)
	if code != 0 || !strings.Contains(out, keys[1]["id"].(string)) || !strings.Contains(out, "connections:read") ||
		!strings.Contains(out, "(all)") || strings.Contains(out, secrets[0]) || strings.Contains(out, secrets[1]) {
		t.Errorf("table: %d %q", code, out)
	}

	id := keys[1]["id"].(string)
	if code, out, errOut := run(t, nil, "api-keys", "delete", "--org", org.OrganisationID, "--id", id, "--data-dir", dir); code != 0 || !strings.Contains(out, id) {
		t.Fatalf("api-keys delete: %d %q %q", code, out, errOut)
	}
	if keys := list(); len(keys) != 1 || keys[0]["id"] == id {
		t.Errorf("after delete: %v", keys)
	}
	if code, _, errOut := run(t, nil, "api-keys", "delete", "--org", org.OrganisationID, "--id", id, "--data-dir", dir); code == 0 || !strings.Contains(errOut, "not found") {
		t.Errorf("deleting twice: %d %q", code, errOut)
	}
	for _, args := range [][]string{
		{"api-keys", "delete", "--org", org.OrganisationID, "--id", "nope", "--data-dir", dir},
		{"api-keys", "delete", "--org", "nope", "--id", id, "--data-dir", dir},
		{"api-keys", "list", "--org", "nope", "--data-dir", dir},
		{"api-keys", "list", "--org", "01ARZ3NDEKTSV4RRFFQ69G5FAV", "--data-dir", dir},
	} {
		if code, _, _ := run(t, nil, args...); code == 0 {
			t.Errorf("%v succeeded", args)
		}
	}
}
