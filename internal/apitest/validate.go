// Package apitest holds test helpers shared by Plugboard's HTTP tests. Validator checks every
// response the API writes against api/openapi.yaml with kin-openapi, so a handler cannot drift
// from the contract without a test failing. OpenStore, NewOrganisation and Logger set up what a
// served API needs alike in every suite: a real store (SQLite, or PostgreSQL with EnvStore), an
// organisation with a key, and a log that tests search for secrets. It is imported only from
// _test files.
package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// SpecPath returns the path of api/openapi.yaml in this repository.
func SpecPath() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "api", "openapi.yaml")
}

var (
	loadOnce sync.Once
	spec     *openapi3.T
	router   routers.Router
	loadErr  error
)

// ulidPattern is the canonical ULID text form: 26 Crockford base32 characters, first at most 7.
const ulidPattern = `^[0-7][0-9A-HJKMNP-TV-Z]{25}$`

func load() {
	openapi3.DefineStringFormatValidator("ulid", openapi3.NewRegexpFormatValidator(ulidPattern))
	// The OAuth callbacks answer with a page; its schema is a string.
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
	loader := openapi3.NewLoader()
	spec, loadErr = loader.LoadFromFile(SpecPath())
	if loadErr != nil {
		return
	}
	if loadErr = spec.Validate(context.Background()); loadErr != nil {
		loadErr = fmt.Errorf("api/openapi.yaml is not a valid OpenAPI document: %w", loadErr)
		return
	}
	// The servers list names the default address; routes are matched on paths only.
	spec.Servers = nil
	router, loadErr = legacy.NewRouter(spec)
}

// Spec returns the loaded and validated contract.
func Spec(t testing.TB) *openapi3.T {
	t.Helper()
	loadOnce.Do(load)
	if loadErr != nil {
		t.Fatalf("load spec: %v", loadErr)
	}
	return spec
}

// Validator wraps a handler so that every response is checked against the contract. A response
// to a path the contract does not have must still be the spec's Error. Failures are reported with
// t.Errorf, so a test sees them wherever the request came from.
func Validator(t testing.TB, next http.Handler) http.Handler {
	Spec(t)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var reqBody []byte
		if r.Body != nil && r.Body != http.NoBody {
			reqBody, _ = io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(reqBody))
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)

		check := r.Clone(context.Background())
		check.Body = io.NopCloser(bytes.NewReader(reqBody))
		if err := ValidateResponse(check, rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
			t.Errorf("response to %s %s does not match api/openapi.yaml: %v\nbody: %s", r.Method, r.URL.Path, err, truncate(rec.Body.Bytes()))
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

// ValidateResponse checks one response against the contract.
func ValidateResponse(r *http.Request, status int, header http.Header, body []byte) error {
	loadOnce.Do(load)
	if loadErr != nil {
		return loadErr
	}
	if strings.Contains(r.URL.Path, "/proxy/") && header.Get("X-Plugboard-Error") == "" {
		return nil // the upstream's own response, through the proxy: not Plugboard's to match the contract
	}
	if strings.HasPrefix(r.URL.Path, "/connect/") && status < 400 {
		return nil // the hosted connect page and its API (docs/connect.md), not operations of the contract
	}
	route, params, err := router.FindRoute(r)
	if err != nil {
		// Not an operation of ours: the body must still be an Error.
		if status < 400 {
			return fmt.Errorf("status %d for a path the contract does not have", status)
		}
		return validateError(body)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}},
		Status:  status,
		Header:  header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return err
	}
	if status >= 400 {
		return validateError(body)
	}
	return nil
}

// validateError checks a body against the Error schema, including that code and message are
// non-empty strings (clients recognise an error only then).
func validateError(body []byte) error {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("error body is not JSON: %w", err)
	}
	if err := spec.Components.Schemas["Error"].Value.VisitJSON(v); err != nil {
		return fmt.Errorf("error body is not an Error: %w", err)
	}
	m, _ := v.(map[string]any)
	if c, _ := m["code"].(string); c == "" {
		return fmt.Errorf("error body has an empty code")
	}
	if msg, _ := m["message"].(string); msg == "" {
		return fmt.Errorf("error body has an empty message")
	}
	return nil
}

func truncate(b []byte) string {
	if len(b) > 2000 {
		return string(b[:2000]) + "..."
	}
	return string(b)
}
