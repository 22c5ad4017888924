package httpapi_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/plugboard/plugboard/internal/httpapi"
)

// TestErrorTableMatchesCodes: docs/api.md's table of error codes lists every code errors.go
// defines, once, with the status the server answers it with.
func TestErrorTableMatchesCodes(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, filepath.Join("..", "..", "errors.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, name := range vs.Names {
			if strings.HasPrefix(name.Name, "E") && i < len(vs.Values) {
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					v, _ := strconv.Unquote(lit.Value)
					codes[v] = true
				}
			}
		}
		return true
	})
	if !codes["credential_expired"] || len(codes) < 10 {
		t.Fatalf("read %d codes from errors.go: %v", len(codes), codes)
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "api.md"))
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([a-z_]+)` \\| (\\d{3}) \\|")
	seen := map[string]bool{}
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		code, status := m[1], m[2]
		if !codes[code] {
			t.Errorf("docs/api.md lists %s, which errors.go does not define", code)
			continue
		}
		if seen[code] {
			t.Errorf("docs/api.md lists %s twice", code)
		}
		seen[code] = true
		if want := strconv.Itoa(httpapi.StatusOf(code)); status != want {
			t.Errorf("docs/api.md says %s is %s; the server answers %s", code, status, want)
		}
	}
	for code := range codes {
		if !seen[code] {
			t.Errorf("docs/api.md's error table lacks %s", code)
		}
	}
}
