package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/plugboard/plugboard"
)

// Text Plugboard takes must be valid UTF-8 without NUL characters: PostgreSQL's text refuses
// both (SQLite would store them), and Go's JSON decoder silently turns invalid UTF-8 into U+FFFD,
// so the check runs on the raw input, once, for every operation, before anything parses it.

// badTextMessage is the field error for a value that breaks the rule. It never quotes the value.
const badTextMessage = "must be valid UTF-8 without NUL characters"

// maxInputFieldErrors bounds the field errors one answer lists.
const maxInputFieldErrors = 50

// badText reports whether s holds a NUL or is not valid UTF-8.
func badText(s string) bool {
	return strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s)
}

// checkParams returns a field error, named by the parameter, for each path or query parameter
// holding a NUL or invalid UTF-8 (after percent-decoding). Path parameters are found through the
// pattern the router matched (r.Pattern); before routing the path is checked as a whole.
func checkParams(r *http.Request) []plugboard.FieldError {
	var errs []plugboard.FieldError
	if r.Pattern == "" {
		if badText(r.URL.Path) {
			errs = append(errs, plugboard.FieldError{Field: "(path)", Message: badTextMessage})
		}
	}
	for _, name := range patternWildcards(r.Pattern) {
		if badText(r.PathValue(name)) {
			errs = append(errs, plugboard.FieldError{Field: name, Message: badTextMessage})
		}
	}
	query, _ := url.ParseQuery(r.URL.RawQuery) // malformed pairs are left to the parameter parsers
	names := make([]string, 0, len(query))
	for name := range query {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if badText(name) {
			errs = append(errs, plugboard.FieldError{Field: "(query)", Message: "has a parameter name that is not valid UTF-8 or holds a NUL"})
			continue
		}
		if slices.ContainsFunc(query[name], badText) {
			errs = append(errs, plugboard.FieldError{Field: name, Message: badTextMessage})
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

// checkJSONBody returns a field error, named by its JSON path from the body's root
// ("connection.credentials[0].credential.data.string.value"), for each string value or member
// name in raw that is not valid UTF-8 or holds a NUL (written \u0000). A body that is not JSON
// yields what was found before the syntax error; the decoder that follows reports the error.
func checkJSONBody(raw []byte) []plugboard.FieldError {
	type container struct {
		array     bool
		path      string
		next      int    // the next element's index, in an array
		key       string // the current member's name, in an object
		expectKey bool
	}
	var (
		errs  []plugboard.FieldError
		stack []*container
	)
	add := func(path, message string) {
		if path == "" {
			path = "(body)"
		}
		if len(errs) < maxInputFieldErrors {
			errs = append(errs, plugboard.FieldError{Field: path, Message: message})
		}
	}
	// valuePath returns the path of the value about to be read, and moves past it.
	valuePath := func() string {
		if len(stack) == 0 {
			return ""
		}
		top := stack[len(stack)-1]
		if top.array {
			top.next++
			return fmt.Sprintf("%s[%d]", top.path, top.next-1)
		}
		top.expectKey = true
		if top.path == "" {
			return top.key
		}
		return top.path + "." + top.key
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return errs // io.EOF, or a syntax error the strict handler's decoder reports
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				stack = append(stack, &container{array: t == '[', path: valuePath(), expectKey: t == '{'})
			default:
				stack = stack[:len(stack)-1]
			}
		case string:
			// The token's raw bytes: after the separators and spaces before it, from its quote.
			// Escapes are ASCII, so the raw text is valid UTF-8 exactly when the JSON string is.
			text := raw[start:dec.InputOffset()]
			text = text[max(0, bytes.IndexByte(text, '"')):]
			bad := !utf8.Valid(text) || strings.IndexByte(t, 0) >= 0
			if top := stackTop(stack); top != nil && !top.array && top.expectKey {
				top.expectKey = false
				top.key = t
				if bad {
					top.key = "(invalid name)"
					add(top.path, "has a member name that is not valid UTF-8 or holds a NUL")
				}
				continue
			}
			if path := valuePath(); bad {
				add(path, badTextMessage)
			}
		default:
			valuePath()
		}
	}
}

func stackTop[T any](s []*T) *T {
	if len(s) == 0 {
		return nil
	}
	return s[len(s)-1]
}

// checkInput refuses a request whose parameters or JSON body hold a NUL or invalid UTF-8, with a
// 400 naming every such field. It runs after routing, around each generated operation (not the
// proxy, whose body streams upstream unread). Parameters are checked at once; the body only when
// the operation's decoder first reads it (checkedBody), so a request refused before its body is
// decoded (no key, a missing scope) costs no byte of it, wherever that check runs.
func (s *Server) checkInput(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if errs := checkParams(r); len(errs) > 0 {
			s.writeError(w, r, badInput(errs))
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &checkedBody{orig: r.Body}
		}
		next.ServeHTTP(w, r)
	})
}

func badInput(errs []plugboard.FieldError) *plugboard.Error {
	return plugboard.Invalid("the request holds a NUL character or invalid UTF-8", errs...)
}

// checkedBody reads the whole body on its first Read (within withBodyLimit's bound), checks it
// with checkJSONBody, and then serves it; or fails every Read with the 400 naming the bad fields.
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
		} else if errs := checkJSONBody(raw); len(errs) > 0 {
			b.rd = errorReader{badInput(errs)}
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
		s.writeError(w, r, badInput(errs))
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
