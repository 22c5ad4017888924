package main_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oklog/ulid/v2"
)

// TestOrganisationDeletion drives the built binary: an organisation created while the server runs
// is used, exported, deleted (its key refused by the running server once the command returns,
// though the server had just verified and cached it) and purged, on SQLite or PostgreSQL.
func TestOrganisationDeletion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	ctx := context.Background()
	bin := buildBinary(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	env := storeEnv(t, bin)
	srv := startServer(t, bin, dataDir, env...)
	env = append(env, "PLUGBOARD_DATA_DIR="+dataDir)

	var created struct {
		OrganisationID string `json:"organisationId"`
		APIKey         string `json:"apiKey"`
	}
	if err := json.Unmarshal(run(t, bin, env, "orgs", "create", "--name", "doomed", "--json"), &created); err != nil {
		t.Fatal(err)
	}
	org := ulid.MustParse(created.OrganisationID)
	c := client(t, srv.url, created.APIKey)
	if res, err := c.ListSystemsWithResponse(ctx, org, nil); err != nil || res.StatusCode() != 200 {
		t.Fatalf("the new organisation's key: %v", err)
	}
	if out := run(t, bin, env, "orgs", "export", "--org", created.OrganisationID); !strings.Contains(string(out), `"name": "doomed"`) {
		t.Errorf("export: %s", out)
	}
	run(t, bin, env, "orgs", "delete", "--org", created.OrganisationID)
	if res, err := c.ListSystemsWithResponse(ctx, org, nil); err != nil || res.StatusCode() != 401 {
		t.Errorf("the deleted organisation's key after orgs delete returned: %v %d", err, res.StatusCode())
	}
	// The first organisation is untouched.
	if res, err := client(t, srv.url, srv.key).ListSystemsWithResponse(ctx, ulid.MustParse(srv.org), nil); err != nil || res.StatusCode() != 200 {
		t.Errorf("the default organisation: %v", err)
	}
	if out := run(t, bin, env, "orgs", "purge", "--org", created.OrganisationID); !strings.Contains(string(out), "purged") {
		t.Errorf("purge: %s", out)
	}
	if out := run(t, bin, env, "orgs", "list"); strings.Contains(string(out), created.OrganisationID) {
		t.Errorf("listed after the purge: %s", out)
	}
	srv.stop(t)
}

// TestAdminCommandFromElsewhereCreatesNothing: `plugboard orgs create` run from a directory with
// no store fails, names the file it looked for, and creates neither a store nor a master key.
func TestAdminCommandFromElsewhereCreatesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	cmd := exec.Command(bin, "orgs", "create", "--name", "lost", "--json")
	cmd.Dir = dir
	cmd.Env = withoutStoreEnv(os.Environ())
	out, err := cmd.CombinedOutput()
	if err == nil || strings.Contains(string(out), "pbk_") {
		t.Fatalf("orgs create without a store succeeded: %s", out)
	}
	if !strings.Contains(string(out), filepath.Join(dir, "data", "plugboard.db")) || !strings.Contains(string(out), "--data-dir") {
		t.Errorf("the refusal does not say where it looked and how to point elsewhere: %s", out)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left %v behind", entries)
	}
}

// withoutStoreEnv drops the variables that would point a command at a store.
func withoutStoreEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "PLUGBOARD_DATA_DIR=") && !strings.HasPrefix(kv, "PLUGBOARD_DATABASE_URL=") {
			out = append(out, kv)
		}
	}
	return out
}
