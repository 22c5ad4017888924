package textcheck

import (
	"slices"
	"strings"
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

func TestJSONNamesPaths(t *testing.T) {
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
		if got := fieldsOf(JSON([]byte(c.body))); !slices.Equal(got, c.fields) {
			t.Errorf("%q: fields %q, want %q", c.body, got, c.fields)
		}
	}
}

func TestJSONBoundsItsErrors(t *testing.T) {
	body := "["
	for i := range MaxFieldErrors + 5 {
		if i > 0 {
			body += ","
		}
		body += `"\u0000"`
	}
	if got := JSON([]byte(body + "]")); len(got) != MaxFieldErrors || got[0].Message != Message {
		t.Errorf("%d errors (%+v), want %d", len(got), got[0], MaxFieldErrors)
	}
}

func TestBad(t *testing.T) {
	for s, want := range map[string]bool{"": false, "ok é": false, "a\x00": true, "a\xff": true, "\xc3": true} {
		if Bad(s) != want {
			t.Errorf("Bad(%q) = %v", s, !want)
		}
	}
	e := Refusal([]plugboard.FieldError{{Field: "x", Message: Message}})
	if e.Code != plugboard.EInvalid || len(e.Fields) != 1 {
		t.Errorf("refusal %+v", e)
	}
}

func TestName(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string // the message, or "" when the name is accepted
	}{
		{"", "is required"},
		{" \t\n", "is required"},
		{"a", ""},
		{strings.Repeat("é", MaxName/2), ""}, // 254 bytes
		{strings.Repeat("a", MaxName), ""},
		{strings.Repeat("a", MaxName+1), "must be at most 255 bytes"},
	} {
		errs := Name("connection.name", c.in, nil)
		switch {
		case c.want == "" && len(errs) != 0:
			t.Errorf("Name(%d bytes) = %v, want accepted", len(c.in), errs)
		case c.want != "" && (len(errs) != 1 || errs[0].Field != "connection.name" || errs[0].Message != c.want):
			t.Errorf("Name(%d bytes) = %v, want connection.name %q", len(c.in), errs, c.want)
		}
	}
}
