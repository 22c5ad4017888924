package importer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/plugboard/plugboard/internal/importer"
)

// bigDocument returns an OpenAPI 3.0 document of at least size bytes, in JSON and in YAML: real
// documents are mostly paths and schemas, which the import scans but does not map.
func bigDocument(b *testing.B, size int) (jsonDoc, yamlDoc []byte) {
	b.Helper()
	paths := map[string]any{}
	doc := map[string]any{"openapi": "3.0.3", "info": map[string]any{"title": "Big", "version": "1"},
		"servers": []any{map[string]any{"url": "https://{region}.api.example.com/v1", "variables": map[string]any{"region": map[string]any{"default": "eu"}}}},
		"paths":   paths,
		"components": map[string]any{"securitySchemes": map[string]any{
			"key":   map[string]any{"type": "apiKey", "in": "header", "name": "X-Api-Key"},
			"oauth": map[string]any{"type": "oauth2", "flows": map[string]any{"authorizationCode": map[string]any{"authorizationUrl": "/authorize", "tokenUrl": "/token", "scopes": map[string]any{"read": "Read"}}}},
		}}}
	for i := 0; ; i++ {
		op := map[string]any{"operationId": fmt.Sprintf("op%d", i), "summary": "An operation with a schema of a few properties",
			"parameters": []any{map[string]any{"name": "id", "in": "path", "required": true, "schema": map[string]any{"type": "string"}}},
			"responses": map[string]any{"200": map[string]any{"description": "OK", "content": map[string]any{"application/json": map[string]any{
				"schema": map[string]any{"type": "object", "properties": map[string]any{"id": map[string]any{"type": "string"},
					"name": map[string]any{"type": "string"}, "createdAt": map[string]any{"type": "string", "format": "date-time"}}}}}}}}
		paths[fmt.Sprintf("/resources%d/{id}", i)] = map[string]any{"get": op, "delete": op}
		if i%200 == 0 {
			j, err := json.Marshal(doc)
			if err != nil {
				b.Fatal(err)
			}
			if len(j) >= size {
				y, err := yaml.Marshal(doc)
				if err != nil {
					b.Fatal(err)
				}
				return j, y
			}
		}
	}
}

// BenchmarkImport5MB imports a 5 MB document (docs/benchmarks.md), each format beside its
// baseline in the same run: only checking the JSON (json.Valid), only parsing the YAML into nodes.
//
//	go test ./internal/importer/ -run '^$' -bench Import5MB -benchmem -count 5
func BenchmarkImport5MB(b *testing.B) {
	jsonDoc, yamlDoc := bigDocument(b, 5<<20)
	b.Run("json/baseline", func(b *testing.B) {
		b.SetBytes(int64(len(jsonDoc)))
		for b.Loop() {
			if !json.Valid(jsonDoc) {
				b.Fatal("invalid")
			}
		}
	})
	b.Run("yaml/baseline", func(b *testing.B) {
		b.SetBytes(int64(len(yamlDoc)))
		for b.Loop() {
			var n yaml.Node
			if err := yaml.Unmarshal(yamlDoc, &n); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, c := range []struct {
		name string
		doc  []byte
	}{{"json", jsonDoc}, {"yaml", yamlDoc}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.doc)))
			b.ReportAllocs()
			for b.Loop() {
				r, err := importer.Import(context.Background(), c.doc, importer.Options{})
				if err != nil || len(r.System.AuthSchemeConfigs) != 2 {
					b.Fatalf("import: %v %+v", err, r)
				}
			}
		})
	}
}
