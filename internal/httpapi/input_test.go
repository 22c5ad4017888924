package httpapi_test

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
)

// Bad bytes in any input: a NUL (JSON "\u0000", %00) or invalid UTF-8 (raw bytes in a JSON body,
// %FF in a path or query) is a 400 naming the field or parameter, on SQLite and on PostgreSQL
// alike (PostgreSQL's text refuses both, which used to surface as a 500). The cases are generated
// from api/openapi.yaml: every path and query parameter and every string field of the request
// body of every operation that takes an API key.
func TestBadBytesAreRefusedEverywhere(t *testing.T) {
	if testing.Short() {
		t.Skip("a catalogue of every operation: runs once in CI, not again under -race -short")
	}
	e := newInputEnv(t)
	h := e.h
	const placeholder = "INVALID-UTF8-PLACEHOLDER"
	// Each bad value ends in a marker that must never come back in an answer.
	inParams := map[string]string{"nul": "nul%00SECRETp", "utf8": "bad%FFSECRETp"}
	inBody := map[string]string{"nul": "nul\x00SECRETb", "utf8": placeholder}
	check := func(t *testing.T, r response, field string) {
		t.Helper()
		if r.Status != 400 {
			t.Fatalf("status %d, want 400: %s", r.Status, r.Body)
		}
		e := r.Error(t)
		if e.Code != "invalid_argument" || !slices.Contains(e.fieldNames(), field) {
			t.Errorf("want invalid_argument naming %s: %s", field, r.Body)
		}
		if bytes.Contains(r.Body, []byte("SECRET")) {
			t.Errorf("answer repeats the input: %s", r.Body)
		}
	}
	encode := func(body any, kind string) []byte {
		if body == nil {
			return nil
		}
		data, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		if kind == "utf8" {
			data = bytes.ReplaceAll(data, []byte(placeholder), []byte("bad\xffSECRETb"))
		}
		return data
	}
	cases, created := 0, 0
	for _, op := range keyedOperations(t) {
		var base example
		if exs := e.examples[op.id]; len(exs) > 0 {
			base = exs[0]
		}
		for _, p := range op.params {
			for _, kind := range []string{"nul", "utf8"} {
				cases++
				t.Run(op.id+"/"+p.In+"/"+p.Name+"/"+kind, func(t *testing.T) {
					values := e.paramsFor(base)
					query := ""
					if p.In == "path" {
						values[p.Name] = inParams[kind]
					} else {
						query = "?" + p.Name + "=" + inParams[kind]
					}
					var body any
					if b := encode(base.body, kind); b != nil {
						body = b
					}
					check(t, h.do(strings.ToUpper(op.method), "/"+fillPath(op.path, values)+query, body), p.Name)
				})
			}
		}
		for _, f := range stringFields(op.body) {
			for _, kind := range []string{"nul", "utf8"} {
				ex, path, ok := e.bodyWith(op, f, inBody[kind], false)
				if !ok {
					// No example reaches the field's parent: make it, so the check runs at least.
					ex, path, ok = e.bodyWith(op, f, inBody[kind], true)
					created++
				}
				if !ok {
					t.Errorf("%s: cannot place %s in a request", op.id, f.path)
					continue
				}
				cases++
				t.Run(op.id+"/body/"+path+"/"+kind, func(t *testing.T) {
					values := maps.Clone(e.paramsFor(ex))
					check(t, h.do(strings.ToUpper(op.method), "/"+fillPath(op.path, values), encode(ex.body, kind)), path)
				})
			}
		}
	}
	t.Logf("%d generated cases (%d with objects made for fields no example reaches)", cases, created)
}

// The proxy forwards what it is given: its body, path and query are the upstream's business, so
// they are neither read nor checked. The OAuth callbacks, which take no API key, refuse bad
// bytes like every other operation.
func TestBadBytesPassThroughTheProxyOnly(t *testing.T) {
	h := newHarness(t)
	up := newUpstream(t)
	id := h.apiKeyConnection(up.srv.URL, "SECRET-key")
	h.must(200, h.do("POST", "/connections/"+id+"/proxy/v1/a%FFb?q=%00", []byte("{\"a\":\"bad\xff\\u0000\"}")))
	r, body := up.last(t)
	if body != "{\"a\":\"bad\xff\\u0000\"}" || r.URL.RawQuery != "q=%00" || r.URL.Path != "/v1/a\xffb" {
		t.Errorf("upstream got path %q, query %q, body %q", r.URL.Path, r.URL.RawQuery, body)
	}
	for _, path := range []string{"//oauth2/callback?state=a%00b&code=c", "//oauth1/callback?state=a%FFb&oauth_token=t&oauth_verifier=v"} {
		r := h.do("GET", path, nil)
		if e := r.Error(t); r.Status != 400 || !slices.Contains(e.fieldNames(), "state") {
			t.Errorf("%s: %d %s", path, r.Status, r.Body)
		}
	}
}
