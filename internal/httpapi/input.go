package httpapi

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/internal/textcheck"
)

// Text Plugboard takes must be valid UTF-8 without NUL characters (internal/textcheck has the
// rule): it is checked on the raw input, once, for every operation, before anything parses it.

// checkParams returns a field error, named by the parameter, for each path or query parameter
// holding a NUL or invalid UTF-8 (after percent-decoding). Path parameters are found through the
// pattern the router matched (r.Pattern); before routing the path is checked as a whole.
func checkParams(r *http.Request) []plugboard.FieldError {
	var errs []plugboard.FieldError
	if r.Pattern == "" {
		if textcheck.Bad(r.URL.Path) {
			errs = append(errs, plugboard.FieldError{Field: "(path)", Message: textcheck.Message})
		}
	}
	for _, name := range patternWildcards(r.Pattern) {
		if textcheck.Bad(r.PathValue(name)) {
			errs = append(errs, plugboard.FieldError{Field: name, Message: textcheck.Message})
		}
	}
	query, _ := url.ParseQuery(r.URL.RawQuery) // malformed pairs are left to the parameter parsers
	names := make([]string, 0, len(query))
	for name := range query {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if textcheck.Bad(name) {
			errs = append(errs, plugboard.FieldError{Field: "(query)", Message: "has a parameter name that is not valid UTF-8 or holds a NUL"})
			continue
		}
		if slices.ContainsFunc(query[name], textcheck.Bad) {
			errs = append(errs, plugboard.FieldError{Field: name, Message: textcheck.Message})
		}
	}
	return errs
}

// patternWildcards returns the wildcard names of a ServeMux pattern such as
// "GET /o/{organisation_id}/users/{user_id}".
func patternWildcards(pattern string) []string {
	var names []string
	for {
		open := strings.IndexByte(pattern, '{')
		if open < 0 {
			return names
		}
		end := strings.IndexByte(pattern[open:], '}')
		if end < 0 {
			return names
		}
		name := strings.TrimSuffix(pattern[open+1:open+end], "...")
		if name != "$" && name != "" {
			names = append(names, name)
		}
		pattern = pattern[open+end+1:]
	}
}

// checkInput refuses a request whose parameters or JSON body hold a NUL or invalid UTF-8, with a
// 400 naming every such field. It runs after routing, around each generated operation (not the
// proxy, whose body streams upstream unread). Parameters are checked at once; the body only when
// the operation's decoder first reads it (checkedBody), so a request refused before its body is
// decoded (no key, a missing scope) costs no byte of it, wherever that check runs.
func (s *Server) checkInput(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if errs := checkParams(r); len(errs) > 0 {
			s.writeError(w, r, textcheck.Refusal(errs))
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &checkedBody{orig: r.Body}
		}
		next.ServeHTTP(w, r)
	})
}

// checkedBody reads the whole body on its first Read (within withBodyLimit's bound), checks it
// with textcheck.JSON, and then serves it; or fails every Read with the 400 naming the bad fields.
// A read error (a body over the limit) is served after the bytes read, as the body would have.
type checkedBody struct {
	orig io.ReadCloser
	rd   io.Reader
}

func (b *checkedBody) Read(p []byte) (int, error) {
	if b.rd == nil {
		raw, err := io.ReadAll(b.orig)
		b.rd = bytes.NewReader(raw)
		if err != nil {
			b.rd = io.MultiReader(b.rd, errorReader{err})
		} else if errs := textcheck.JSON(raw); len(errs) > 0 {
			b.rd = errorReader{textcheck.Refusal(errs)}
		}
	}
	return b.rd.Read(p)
}

func (b *checkedBody) Close() error { return b.orig.Close() }

// paramErrorInput answers parameters the generated wrappers could not parse, which they do before
// any middleware runs: a NUL or invalid UTF-8 in any parameter is a 400 naming it (not a 404 for
// a malformed id); anything else is paramError's.
func (s *Server) paramErrorInput(w http.ResponseWriter, r *http.Request, err error) {
	if errs := checkParams(r); len(errs) > 0 {
		s.writeError(w, r, textcheck.Refusal(errs))
		return
	}
	s.paramError(w, r, err)
}

// requestErrorInput answers bodies that could not be decoded: checkedBody's refusal is written as
// it is; anything else is requestError's.
func (s *Server) requestErrorInput(w http.ResponseWriter, r *http.Request, err error) {
	var e *plugboard.Error
	if errors.As(err, &e) {
		s.writeError(w, r, e)
		return
	}
	s.requestError(w, r, err)
}

// errorReader returns err (io.EOF when nil) on every read.
type errorReader struct{ err error }

func (e errorReader) Read([]byte) (int, error) {
	if e.err == nil {
		return 0, io.EOF
	}
	return 0, e.err
}
