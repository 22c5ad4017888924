package vault_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestOnlyTheVaultImportsSeal keeps sealing in one place: no Go file of the module outside
// internal/seal and internal/vault (tests, benchmarks and commands included) imports internal/seal.
// Whoever needs to seal or open a stored value asks the vault, which owns the keys and the
// associated data of every kind of sealed record.
func TestOnlyTheVaultImportsSeal(t *testing.T) {
	const sealPkg = "github.com/plugboard/plugboard/internal/seal"
	root := filepath.Join("..", "..")
	allowed := map[string]bool{filepath.Join(root, "internal", "seal"): true, filepath.Join(root, "internal", "vault"): true}
	fset := token.NewFileSet()
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || allowed[filepath.Dir(path)] {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		checked++
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == sealPkg {
				t.Errorf("%s imports %s; seal and open through internal/vault instead", path, sealPkg)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("checked only %d files; is the module root %s?", checked, root)
	}
}
