// Package api holds Plugboard's OpenAPI contract (openapi.yaml) and the Go code generated from it:
// request and response types, a strict net/http server interface and a client.
//
// The generated code is committed; `go generate ./...` regenerates it and CI fails when it is stale.
package api

//go:generate go tool oapi-codegen --config=oapi-codegen.yaml openapi.yaml

import (
	_ "embed"

	"github.com/getkin/kin-openapi/openapi3"
)

// specYAML is openapi.yaml as written, proxy operations included (the generated embedded spec
// leaves out the operations that are served by hand).
//
//go:embed openapi.yaml
var specYAML []byte

// Spec parses openapi.yaml, the contract as written. The server reads who may call each
// operation, and how large its body may be, from it.
func Spec() (*openapi3.T, error) {
	return openapi3.NewLoader().LoadFromData(specYAML)
}
