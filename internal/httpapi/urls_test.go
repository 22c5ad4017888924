package httpapi_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// isURLField reports whether a request field holds a URL: format uri, or a name that says so.
func isURLField(f schemaField) bool {
	return f.schema.Format == "uri" || strings.HasSuffix(f.name, "Url") || strings.HasSuffix(f.name, "URL") || f.name == "url"
}

// A URL that carries a user name or password (https://user:pass@host) would be stored, and
// returned, in the clear. Every URL field of every request body, as api/openapi.yaml lists them,
// is refused with userinfo, naming the field.
func TestURLsWithUserinfoAreRefused(t *testing.T) {
	e := newInputEnv(t)
	h := e.h
	// app.example is an allowed return origin, so only the userinfo is wrong.
	const withUserinfo = "https://user:SECRET-password@app.example/path"
	cases := 0
	for _, op := range keyedOperations(t) {
		for _, f := range stringFields(op.body) {
			if !isURLField(f) {
				continue
			}
			ex, path, ok := e.bodyWith(op, f, withUserinfo, false)
			if !ok {
				t.Errorf("%s: no example request reaches %s; add one to newInputEnv", op.id, f.path)
				continue
			}
			cases++
			t.Run(op.id+"/"+path, func(t *testing.T) {
				r := h.do(strings.ToUpper(op.method), "/"+fillPath(op.path, e.paramsFor(ex)), ex.body)
				if r.Status != 400 {
					t.Fatalf("status %d, want 400: %s", r.Status, r.Body)
				}
				if e := r.Error(t); e.Code != "invalid_argument" || !slices.Contains(e.fieldNames(), path) {
					t.Errorf("want invalid_argument naming %s: %s", path, r.Body)
				}
				if bytes.Contains(r.Body, []byte("SECRET")) {
					t.Errorf("answer repeats the input: %s", r.Body)
				}
			})
		}
	}
	if cases < 20 {
		t.Errorf("only %d URL fields found in the contract", cases)
	}
	t.Logf("%d generated cases", cases)
}
