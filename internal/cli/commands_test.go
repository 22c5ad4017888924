package cli_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/plugboard/plugboard/internal/cli"
)

// TestEveryCommandHasHelp: `plugboard CMD --help` (and `plugboard help CMD`) exits 0, writes to
// stdout only, starts with the usage line from the command table, and names every flag the
// command registers; the usage line names them too (serve's many settings as [SETTINGS]).
func TestEveryCommandHasHelp(t *testing.T) {
	cmds := cli.Commands()
	if len(cmds) < 8 {
		t.Fatalf("the table lists %d commands", len(cmds))
	}
	for _, c := range cmds {
		for _, args := range [][]string{append(strings.Fields(c.Name), "--help"), append(strings.Fields(c.Name), "-h"),
			append([]string{"help"}, strings.Fields(c.Name)...)} {
			code, out, errOut := run(t, nil, args...)
			if code != 0 || errOut != "" {
				t.Errorf("plugboard %s: exit %d, stderr %q", strings.Join(args, " "), code, errOut)
			}
			if !strings.HasPrefix(out, "Usage: plugboard "+c.Synopsis+"\n") {
				t.Errorf("plugboard %s does not start with the usage line:\n%s", strings.Join(args, " "), out)
			}
			for _, f := range append(c.Flags, c.Settings...) {
				if !strings.Contains(out, "  --"+f+" ") && !strings.Contains(out, "  --"+f+"\n") {
					t.Errorf("plugboard %s does not describe --%s:\n%s", strings.Join(args, " "), f, out)
				}
			}
		}
		for _, f := range append(c.Flags, c.Settings...) {
			if slices.Contains(c.Settings, f) && strings.Contains(c.Synopsis, "[SETTINGS]") {
				continue
			}
			if !regexp.MustCompile(`--` + regexp.QuoteMeta(f) + `\b`).MatchString(c.Synopsis) {
				t.Errorf("the usage line of %s does not name --%s: %s", c.Name, f, c.Synopsis)
			}
		}
	}
}

// TestUsageComesFromTheTable: `plugboard` alone (stderr, exit 2), `plugboard help` and
// `plugboard --help` (stdout, exit 0) print the same usage, with every command's usage line.
func TestUsageComesFromTheTable(t *testing.T) {
	usage := cli.Usage()
	for _, c := range cli.Commands() {
		if !strings.Contains(usage, "\n  plugboard "+c.Synopsis+"\n") {
			t.Errorf("usage lacks %s", c.Synopsis)
		}
	}
	if code, out, errOut := run(t, nil); code != 2 || out != "" || errOut != usage {
		t.Errorf("no arguments: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	for _, arg := range []string{"help", "--help", "-h"} {
		if code, out, errOut := run(t, nil, arg); code != 0 || errOut != "" || out != usage {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", arg, code, out, errOut)
		}
	}
	if code, out, errOut := run(t, nil, "orgs", "--help"); code != 0 || errOut != "" || !strings.Contains(out, "plugboard orgs delete") {
		t.Errorf("orgs --help: exit %d %q %q", code, out, errOut)
	}
	if code, _, errOut := run(t, nil, "orgs"); code != 2 || !strings.Contains(errOut, "plugboard orgs create") {
		t.Errorf("orgs: exit %d %q", code, errOut)
	}
	if code, _, errOut := run(t, nil, "orgs", "frobnicate"); code != 2 || !strings.Contains(errOut, "unknown command") {
		t.Errorf("orgs frobnicate: exit %d %q", code, errOut)
	}
	if code, _, errOut := run(t, nil, "orgs", "list", "--bogus"); code != 2 || !strings.Contains(errOut, "Usage: plugboard orgs list") {
		t.Errorf("a bad flag: exit %d %q", code, errOut)
	}
	if code, _, errOut := run(t, nil, "orgs", "list", "extra"); code != 2 || !strings.Contains(errOut, `unexpected argument "extra"`) {
		t.Errorf("an extra argument: exit %d %q", code, errOut)
	}
}

// TestREADMEListsEveryCommand: the README's command list is the table's usage lines, in order,
// and every flag its Configuration table names is a flag of some command.
func TestREADMEListsEveryCommand(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- commands:start -->\n```sh\n(.*?)```\n<!-- commands:end -->").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README has no commands block")
	}
	var want []string
	flags := map[string]bool{}
	for _, c := range cli.Commands() {
		want = append(want, "plugboard "+c.Synopsis)
		for _, f := range append(c.Flags, c.Settings...) {
			flags[f] = true
		}
	}
	want = append(want, "plugboard help [COMMAND]")
	got := strings.Split(strings.TrimSuffix(string(m[1]), "\n"), "\n")
	if !slices.Equal(got, want) {
		t.Errorf("README's commands block:\n%s\nthe command table:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, f := range regexp.MustCompile("(?m)^\\| `--([a-z-]+)`").FindAllSubmatch(readme, -1) {
		if !flags[string(f[1])] {
			t.Errorf("README's Configuration table names --%s, which no command takes", f[1])
		}
	}
	for f := range flags {
		if !strings.Contains(string(readme), "`--"+f+"`") {
			t.Errorf("README does not document --%s", f)
		}
	}
}
