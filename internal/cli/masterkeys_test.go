package cli_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/sqlstore"
	"github.com/plugboard/plugboard/internal/vault"
)

// TestMasterKeysCommands walks a rotation with the commands on an SQLite data dir: status counts
// per key id, serve refuses keys that miss an id in use (naming it), retire refuses a key in use
// (naming counts) and the first key, rewrap moves everything under the first key, and a retired key
// may not seal again.
func TestMasterKeysCommands(t *testing.T) {
	dir := t.TempDir()
	oldKey, newKey := vault.NewKey(), vault.NewKey()
	old, _ := vault.Parse(oldKey)
	oldID, _ := vault.KeyIDOfText(oldKey)
	newID, _ := vault.KeyIDOfText(newKey)

	st, err := sqlstore.Open(t.Context(), filepath.Join(dir, "plugboard.db"))
	if err != nil {
		t.Fatal(err)
	}
	org := ulid.Make()
	if err := st.CreateOrganisation(t.Context(), &plugboard.Organisation{ID: org, Name: "o"}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		id := ulid.Make()
		sealed, _ := old.SealCredential(org, id, []byte("secret-value"))
		if err := st.CreateCredential(t.Context(), &plugboard.Credential{ID: id, OrganisationID: org, Type: "string", Name: "c",
			Public: json.RawMessage(`{}`), Sealed: sealed}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	env := func(keys string) map[string]string { return map[string]string{"PLUGBOARD_ENCRYPTION_KEY": keys} }
	status := func(keys string) map[string]int {
		t.Helper()
		code, out, errOut := run(t, env(keys), "master-keys", "status", "--json", "--data-dir", dir)
		if code != 0 {
			t.Fatalf("status: %d %s", code, errOut)
		}
		var s struct {
			Sealed []struct {
				Table, KeyID string
				Count        int
			}
		}
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			t.Fatalf("status printed %q", out)
		}
		got := map[string]int{}
		for _, c := range s.Sealed {
			got[c.Table+"/"+c.KeyID] = c.Count
		}
		return got
	}
	if got := status(oldKey); len(got) != 1 || got["credentials/"+oldID] != 3 {
		t.Fatalf("status: %v", got)
	}
	if code, out, _ := run(t, env(newKey+","+oldKey), "master-keys", "status", "--data-dir", dir); code != 0 ||
		!strings.Contains(out, oldID) || !strings.Contains(out, "to rewrap") {
		t.Errorf("status as text: %d %s", code, out)
	}

	// serve with only the new key: refused, naming the key id in use and how much it seals.
	code, _, errOut := run(t, env(newKey), "serve", "--addr", "127.0.0.1:0", "--data-dir", dir)
	if code == 0 || !strings.Contains(errOut, oldID) || !strings.Contains(errOut, "3 credentials") {
		t.Errorf("serve without the key in use: %d %s", code, errOut)
	}

	// Retire refuses the key in use, naming the counts, and the first key.
	code, _, errOut = run(t, env(newKey+","+oldKey), "master-keys", "retire", oldID, "--data-dir", dir)
	if code == 0 || !strings.Contains(errOut, "3 credentials") || !strings.Contains(errOut, "rewrap") {
		t.Errorf("retire a key in use: %d %s", code, errOut)
	}
	if code, _, errOut := run(t, env(newKey+","+oldKey), "master-keys", "retire", "--data-dir", dir, newID); code == 0 || !strings.Contains(errOut, "first key") {
		t.Errorf("retire the first key: %d %s", code, errOut)
	}

	// Rewrap, then retire.
	code, out, errOut := run(t, env(newKey+","+oldKey), "master-keys", "rewrap", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "re-sealed 3 values under key "+newID) {
		t.Fatalf("rewrap: %d %s %s", code, out, errOut)
	}
	if got := status(newKey); len(got) != 1 || got["credentials/"+newID] != 3 {
		t.Fatalf("status after rewrap: %v", got)
	}
	if code, out, errOut := run(t, env(newKey+","+oldKey), "master-keys", "retire", oldID, "--data-dir", dir); code != 0 || !strings.Contains(out, "retired key "+oldID) {
		t.Fatalf("retire: %d %s %s", code, out, errOut)
	}
	// A retired key may not seal again, neither in serve nor in a rewrap.
	if code, _, errOut := run(t, env(oldKey+","+newKey), "serve", "--addr", "127.0.0.1:0", "--data-dir", dir); code == 0 || !strings.Contains(errOut, "retired") {
		t.Errorf("serve with a retired first key: %d %s", code, errOut)
	}
	if code, _, errOut := run(t, env(oldKey+","+newKey), "master-keys", "rewrap", "--data-dir", dir); code == 0 || !strings.Contains(errOut, "retired") {
		t.Errorf("rewrap under a retired key: %d %s", code, errOut)
	}
	// The background request is recorded for serve to pick up.
	if code, out, errOut := run(t, env(newKey), "master-keys", "rewrap", "--background", "--data-dir", dir); code != 0 || !strings.Contains(out, newID) {
		t.Errorf("rewrap --background: %d %s %s", code, out, errOut)
	}
	if code, out, _ := run(t, env(newKey), "master-keys", "status", "--data-dir", dir); code != 0 || !strings.Contains(out, "background rewrap requested: under key "+newID) ||
		!strings.Contains(out, "retired: "+oldID) {
		t.Errorf("status: %s", out)
	}
	// No command prints a key.
	for _, keys := range []string{newKey, newKey + "," + oldKey} {
		_, out, errOut := run(t, env(keys), "master-keys", "status", "--data-dir", dir)
		if strings.Contains(out+errOut, newKey) || strings.Contains(out+errOut, oldKey) {
			t.Errorf("a key was printed")
		}
	}
	// Bad key ids are refused before anything is opened.
	if code, _, errOut := run(t, nil, "master-keys", "retire", "not-a-key-id", "--data-dir", dir); code == 0 || !strings.Contains(errOut, "16 hex digits") {
		t.Errorf("bad key id: %d %s", code, errOut)
	}
}
