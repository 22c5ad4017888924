package plugboard_test

import (
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestMain prints, after the tests, which suites this run left off and the variable that turns
// each on. go test shows nothing of a passing package in `go test ./...` (its output is dropped),
// so the summary goes to the terminal itself when there is one; with -v every skip shows anyway.
// A result replayed from go test's cache prints nothing (the tests did not run; -count=1 reruns).
func TestMain(m *testing.M) {
	code := m.Run()
	if testing.Verbose() {
		os.Exit(code)
	}
	switches, err := readSwitches()
	if err != nil {
		os.Exit(code) // TestTestSwitches has said why
	}
	var off strings.Builder
	for _, sw := range switches {
		if os.Getenv(sw.name) == "" {
			fmt.Fprintf(&off, "  %s=%s for %s\n", sw.name, sw.value, strings.Join(sw.packages, ", "))
		}
	}
	if testing.Short() {
		off.WriteString("  without -short: the suites that build and run the binary (cmd/plugboard, client)\n")
	}
	if off.Len() == 0 {
		os.Exit(code)
	}
	summary := "go test: suites left off in this run; set a variable to run them (README.md#test-it; go test -v names each skip):\n" + off.String()
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		_, _ = tty.WriteString(summary)
		tty.Close()
	} else {
		fmt.Print(summary) // shown when go test shows this package's output (-json, a failure)
	}
	os.Exit(code)
}

// testSwitchRow is one row of README's table of test switches.
type testSwitchRow struct {
	name, value string
	packages    []string
}

// readSwitches reads README's table of test switches.
func readSwitches() ([]testSwitchRow, error) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		return nil, err
	}
	m := regexp.MustCompile(`(?s)<!-- test-switches:start -->\n(.*?)<!-- test-switches:end -->`).FindSubmatch(readme)
	if m == nil {
		return nil, errors.New("README.md has no test-switches table")
	}
	var rows []testSwitchRow
	for _, line := range strings.Split(strings.TrimSpace(string(m[1])), "\n")[2:] {
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 4 {
			return nil, fmt.Errorf("README test-switches row %q does not have 4 cells", line)
		}
		row := testSwitchRow{name: strings.Trim(strings.TrimSpace(cells[0]), "`"),
			value: strings.Trim(strings.TrimSpace(strings.Fields(cells[1])[0]), "`")}
		for _, p := range strings.Split(cells[3], ",") {
			row.packages = append(row.packages, strings.TrimSpace(p))
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// testSwitch is a variable that turns test suites on.
var testSwitch = regexp.MustCompile(`PLUGBOARD_TEST_[A-Z0-9_]+`)

// TestTestSwitches keeps the README's table of test switches true: it is where a newcomer learns
// which variable runs which suite, and what TestMain's summary of the switches left off says. Every
// PLUGBOARD_TEST_ variable the Go code reads has a row, every row a variable the code reads, and
// every package a row names reads the variable itself or through a test helper it imports.
func TestTestSwitches(t *testing.T) {
	rows := map[string][]string{} // variable -> packages
	switches, err := readSwitches()
	if err != nil {
		t.Fatal(err)
	}
	for _, sw := range switches {
		if _, dup := rows[sw.name]; dup {
			t.Errorf("README lists %s twice", sw.name)
		}
		rows[sw.name] = sw.packages
	}

	pkgs := readPackages(t)
	inCode := map[string]bool{}
	for _, p := range pkgs {
		for v := range p.names {
			inCode[v] = true
		}
	}
	for v := range inCode {
		if _, ok := rows[v]; !ok {
			t.Errorf("the tests read %s, but README's test-switches table has no row for it", v)
		}
	}
	for v, dirs := range rows {
		if !inCode[v] {
			t.Errorf("README's test-switches table lists %s, which no Go code reads", v)
		}
		for _, dir := range dirs {
			p, ok := pkgs[dir]
			switch {
			case !ok || !p.hasTests:
				t.Errorf("README's row for %s names %s, which is not a package with tests", v, dir)
			case !p.reads(v, pkgs):
				t.Errorf("README's row for %s names %s, whose tests neither read it nor import a helper that does", v, dir)
			}
		}
	}
}

// goPackage is what the test needs of a package directory.
type goPackage struct {
	// names are the PLUGBOARD_TEST_ names in any of its Go files; helperNames those in its non-test
	// files (what it reads on behalf of packages that import it).
	names, helperNames map[string]bool
	// testImports are the module's directories its test files import.
	testImports []string
	hasTests    bool
}

func (p *goPackage) reads(v string, pkgs map[string]*goPackage) bool {
	if p.names[v] {
		return true
	}
	for _, dir := range p.testImports {
		if q := pkgs[dir]; q != nil && q.helperNames[v] {
			return true
		}
	}
	return false
}

// readPackages reads the module's package directories, by their paths relative to the root: those
// with tests, and test helpers that read a switch on behalf of the packages importing them.
func readPackages(t *testing.T) map[string]*goPackage {
	t.Helper()
	const module = "github.com/plugboard/plugboard/"
	all := map[string]*goPackage{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, ".gen.go") {
			return nil
		}
		dir := filepath.ToSlash(filepath.Dir(path))
		p := all[dir]
		if p == nil {
			p = &goPackage{names: map[string]bool{}, helperNames: map[string]bool{}}
			all[dir] = p
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		isTest := strings.HasSuffix(path, "_test.go")
		for _, v := range testSwitch.FindAllString(string(src), -1) {
			p.names[v] = true
			if !isTest {
				p.helperNames[v] = true
			}
		}
		if !isTest {
			return nil
		}
		p.hasTests = true
		f, err := parser.ParseFile(token.NewFileSet(), path, src, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			ip, _ := strconv.Unquote(imp.Path.Value)
			if rel, ok := strings.CutPrefix(ip, module); ok && !slices.Contains(p.testImports, rel) {
				p.testImports = append(p.testImports, rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A helper without tests of its own still reads on behalf of others; it is no suite.
	for dir, p := range all {
		if !p.hasTests && len(p.helperNames) == 0 {
			delete(all, dir)
		}
	}
	return all
}
