package cli_test

import (
	"strings"
	"testing"

	"github.com/plugboard/plugboard/internal/vault"
)

// TestRetireHelpAfterTheKeyIDPrintsHelp: `plugboard master-keys retire --data-dir D KEY --help`
// must print the help and retire nothing, and an unknown flag after the id must be refused, as it
// is before the id. Today the flags after the id are parsed with their error ignored, so --help
// there runs the (irreversible) retirement and --bogus is silently dropped.
func TestRetireHelpAfterTheKeyIDPrintsHelp(t *testing.T) {
	dir := newSQLiteStore(t)
	unused := vault.NewKey()
	unusedID, _ := vault.KeyIDOfText(unused)
	env := map[string]string{"PLUGBOARD_ENCRYPTION_KEY": vault.NewKey()}

	code, out, errOut := run(t, env, "master-keys", "retire", "--data-dir", dir, unusedID, "--help")
	if code != 0 || !strings.Contains(out, "Usage: plugboard master-keys retire") || strings.Contains(out, "retired key") {
		t.Errorf("retire --data-dir D KEY --help: exit %d, stdout %q, stderr %q; want the help, exit 0, nothing retired", code, out, errOut)
	}
	_, status, _ := run(t, env, "master-keys", "status", "--data-dir", dir)
	if strings.Contains(status, "retired: "+unusedID) {
		t.Errorf("asking for help retired key %s", unusedID)
	}

	code, out, errOut = run(t, env, "master-keys", "retire", "--data-dir", dir, unusedID, "--bogus")
	if code != 2 || strings.Contains(out, "retired key") {
		t.Errorf("retire --data-dir D KEY --bogus: exit %d, stdout %q, stderr %q; want exit 2 (unknown flag), as `retire KEY --bogus` gives", code, out, errOut)
	}
	if code, _, _ := run(t, env, "master-keys", "retire", unusedID, "--bogus", "--data-dir", dir); code != 2 {
		t.Errorf("retire KEY --bogus: exit %d, want 2", code)
	}
}
