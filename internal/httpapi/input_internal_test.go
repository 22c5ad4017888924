package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
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

// readCounter counts the bytes read of a body.
type readCounter struct {
	r io.Reader
	n int
}

func (c *readCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// checkInput reads no body itself: the body is checked when the operation decodes it, so a
// request refused before that (no key, a missing scope) costs no byte of it.
func TestCheckInputReadsBodiesOnlyWhenDecoded(t *testing.T) {
	s := &Server{logger: slog.New(slog.DiscardHandler)}
	body := &readCounter{r: strings.NewReader(`{"name":"a\u0000"}`)}
	var status int
	s.checkInput(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status = http.StatusForbidden // refused without decoding the body
	})).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("PUT", "/x", body))
	if status != http.StatusForbidden || body.n != 0 {
		t.Errorf("status %d after reading %d bytes", status, body.n)
	}
	// Decoded, the body is refused, naming the field.
	var decodeErr error
	s.checkInput(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var v any
		decodeErr = json.NewDecoder(r.Body).Decode(&v)
	})).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("PUT", "/x", strings.NewReader(`{"name":"a\u0000"}`)))
	var e *plugboard.Error
	if !errors.As(decodeErr, &e) || len(e.Fields) != 1 || e.Fields[0].Field != "name" {
		t.Errorf("decode error %v", decodeErr)
	}
}
