package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plugboard/plugboard/internal/cli"
	"github.com/plugboard/plugboard/internal/sqlstore"
)

// newSQLiteStore creates a store in a new data dir, as serve's first start does, and returns the dir.
func newSQLiteStore(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	db, err := sqlstore.Open(t.Context(), filepath.Join(dir, cli.DatabaseFileName))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	return dir
}

// run runs the command with no environment but what env gives, and returns its exit code and output.
func run(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := cli.Run(context.Background(), args, &stdout, &stderr, func(k string) string { return env[k] })
	return code, stdout.String(), stderr.String()
}

// TestAPIKeyScopesMustNameScopes: a key with no scopes may do everything, so a --scopes value that
// names none (blank, commas, empty items) must be refused, never turned into an unrestricted key.
func TestAPIKeyScopesMustNameScopes(t *testing.T) {
	dir := newSQLiteStore(t)
	code, out, errOut := run(t, nil, "orgs", "create", "--name", "acme", "--json", "--data-dir", dir)
	if code != 0 {
		t.Fatalf("orgs create: %d %s", code, errOut)
	}
	var org struct {
		OrganisationID string `json:"organisationId"`
	}
	if err := json.Unmarshal([]byte(out), &org); err != nil {
		t.Fatalf("orgs create printed %q", out)
	}
	create := func(scopes ...string) (int, string, string) {
		args := []string{"api-keys", "create", "--org", org.OrganisationID, "--data-dir", dir}
		for _, s := range scopes {
			args = append(args, "--scopes", s)
		}
		return run(t, nil, args...)
	}

	for _, bad := range []string{",", "", " ", " , ", ",,,", "connections:read,", ",admin", "connections:read,,admin", "connections:read, ,admin"} {
		code, out, errOut := create(bad)
		if code == 0 || strings.Contains(out, "pbk_") {
			t.Errorf("--scopes %q made a key (exit %d)", bad, code) // the key itself stays out of the log
		}
		if !strings.Contains(errOut, "--scopes") {
			t.Errorf("--scopes %q: the error does not name the flag: %q", bad, errOut)
		}
	}
	// Unknown scope names are refused too.
	if code, out, errOut := create("connections:read,everything"); code == 0 || strings.Contains(out, "pbk_") ||
		!strings.Contains(errOut, "--scopes") || !strings.Contains(errOut, "everything") {
		t.Errorf("unknown scope: exit %d, %q", code, errOut)
	}
	// Real scope lists work, spaces around the commas allowed.
	if code, out, errOut := create("connections:read, connections:proxy"); code != 0 || !strings.Contains(out, "pbk_") {
		t.Errorf("valid scopes: exit %d, %q", code, errOut)
	}
	// Without --scopes the key is unrestricted, as documented.
	if code, out, errOut := create(); code != 0 || !strings.Contains(out, "pbk_") {
		t.Errorf("no --scopes: exit %d, %q", code, errOut)
	}
}
