package httpapi

import (
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/plugboard/plugboard"
)

func fieldsOf(errs []plugboard.FieldError) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Field)
	}
	return out
}

func TestCheckJSONBodyNamesPaths(t *testing.T) {
	cases := []struct {
		body   string
		fields []string
	}{
		{`{"name":"ok","list":["a","b"],"n":1,"t":true,"z":null}`, nil},
		{`"a\u0000"`, []string{"(body)"}},
		{`{"name":"a\u0000b"}`, []string{"name"}},
		{"{\"name\" : \"a\xffb\"}", []string{"name"}},
		{`{"connection":{"credentials":[{"x":1},{"credential":{"data":{"string":{"value":"\u0000"}}}}]}}`,
			[]string{"connection.credentials[1].credential.data.string.value"}},
		{"[[\"ok\"],[1,\"\xc3\"]]", []string{"[1][1]"}},
		{`{"a":{"b\u0000":"v"},"c":["ok","\u0000"]}`, []string{"a", "c[1]"}},
		{"{\"a\":\"\\u00e9 é ok\",\"b\":\"\\ud800\"}", nil}, // a lone surrogate decodes to U+FFFD, which is valid
		{`{"a":"\u0000"`, []string{"a"}},                    // truncated: what was found, then the decoder's error
		{`{"a": nope}`, nil},
	}
	for _, c := range cases {
		if got := fieldsOf(checkJSONBody([]byte(c.body))); !slices.Equal(got, c.fields) {
			t.Errorf("%q: fields %q, want %q", c.body, got, c.fields)
		}
	}
}

func TestCheckParamsNamesParameters(t *testing.T) {
	r := httptest.NewRequest("GET", "/o/x/users/a%00b?search=%FF&first=1&x%00=1", nil)
	r.Pattern = "GET /o/{organisation_id}/users/{user_id}"
	r.SetPathValue("organisation_id", "x")
	r.SetPathValue("user_id", "a\x00b")
	if got := fieldsOf(checkParams(r)); !slices.Equal(got, []string{"user_id", "search", "(query)"}) {
		t.Errorf("fields %q", got)
	}
	if got := patternWildcards("/o/{organisation_id}/connections/{connection_id}/proxy/{path...}"); !slices.Equal(got, []string{"organisation_id", "connection_id", "path"}) {
		t.Errorf("wildcards %q", got)
	}
}
