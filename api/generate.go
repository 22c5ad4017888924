// Package api holds Plugboard's OpenAPI contract (openapi.yaml) and the Go code generated from it:
// request and response types, a strict net/http server interface and a client.
//
// The generated code is committed; `go generate ./...` regenerates it and CI fails when it is stale.
package api

//go:generate go tool oapi-codegen --config=oapi-codegen.yaml openapi.yaml
