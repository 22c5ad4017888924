package credentials

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDocsCompatibilityTable keeps the table in docs/api.md equal to CompatibilityTable.
func TestDocsCompatibilityTable(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "api.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)<!-- compatibility:start -->\n(.*?)<!-- compatibility:end -->`).FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/api.md has no compatibility table")
	}
	var want strings.Builder
	want.WriteString("| auth scheme | condition | credential types |\n|---|---|---|\n")
	for _, row := range CompatibilityTable() {
		want.WriteString("| " + row.Scheme + " | " + row.Condition + " | " + strings.Join(row.CredentialTypes, ", ") + " |\n")
	}
	if got := string(m[1]); got != want.String() {
		t.Errorf("docs/api.md's compatibility table is out of date; it should read:\n%s", want.String())
	}
}
