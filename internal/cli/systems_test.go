package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSystemsImport: the command imports a file into the store, prints the system and its
// warnings, and creates nothing for a dry run or a bad document.
func TestSystemsImport(t *testing.T) {
	dir := newSQLiteStore(t)
	code, out, errOut := run(t, nil, "orgs", "create", "--name", "acme", "--json", "--data-dir", dir)
	if code != 0 {
		t.Fatalf("orgs create: %d %s", code, errOut)
	}
	var org struct {
		OrganisationID string `json:"organisationId"`
	}
	if err := json.Unmarshal([]byte(out), &org); err != nil {
		t.Fatal(err)
	}
	doc := filepath.Join(t.TempDir(), "openapi.yaml")
	if err := os.WriteFile(doc, []byte(`swagger: 2.0
info: {title: Pets, version: '1'}
host: pets.example.com
basePath: /v1
paths: {}
securityDefinitions:
  key: {type: apiKey, in: header, name: X-Api-Key}
  implicit: {type: oauth2, flow: implicit, authorizationUrl: 'https://pets.example.com/auth'}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	var res struct {
		System struct {
			ID                string           `json:"id"`
			Name              string           `json:"name"`
			TemplateBaseUrl   string           `json:"templateBaseUrl"`
			AuthSchemeConfigs []map[string]any `json:"authSchemeConfigs"`
		} `json:"system"`
		Warnings []struct{ Code string } `json:"warnings"`
	}
	code, out, errOut = run(t, nil, "systems", "import", doc, "--org", org.OrganisationID, "--dry-run", "--data-dir", dir)
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.System.ID != "00000000000000000000000000" {
		t.Fatalf("dry run: %d %s %s", code, out, errOut)
	}
	code, out, errOut = run(t, nil, "systems", "import", doc, "--org", org.OrganisationID, "--name", "Pet store", "--data-dir", dir)
	if code != 0 {
		t.Fatalf("systems import: %d %s", code, errOut)
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if res.System.Name != "Pet store" || res.System.TemplateBaseUrl != "https://pets.example.com/v1" || len(res.System.AuthSchemeConfigs) != 1 ||
		len(res.Warnings) != 1 || res.Warnings[0].Code != "implicit_flow" || !strings.Contains(errOut, "warning: implicit_flow") {
		t.Fatalf("systems import printed %s, %s", out, errOut)
	}
	code, out, errOut = run(t, nil, "orgs", "export", "--org", org.OrganisationID, "--data-dir", dir)
	if code != 0 || strings.Count(out, `"templateBaseUrl": "https://pets.example.com/v1"`) != 1 {
		t.Fatalf("export after the import: %d %s %s", code, out, errOut)
	}

	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"openapi":"4.0.0"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := run(t, nil, "systems", "import", bad, "--org", org.OrganisationID, "--data-dir", dir); code != 1 || !strings.Contains(errOut, "not supported") {
		t.Fatalf("bad document: %d %s", code, errOut)
	}
}
