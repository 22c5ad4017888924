// Package textcheck holds the one rule on the text Plugboard takes: valid UTF-8 without NUL
// characters. PostgreSQL's text refuses both (SQLite would store them), and Go's JSON decoder
// silently turns invalid UTF-8 into U+FFFD, so the rule is checked on the raw input, before
// anything parses it: by internal/httpapi for every operation, and by internal/connectpage for
// the connect page's API. It also holds the one rule on a required name (Name), shared by the
// HTTP layer and the use cases.
package textcheck

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/plugboard/plugboard"
)

// Message is the field error for a value that breaks the rule. It never quotes the value.
const Message = "must be valid UTF-8 without NUL characters"

// MaxFieldErrors bounds the field errors one answer lists.
const MaxFieldErrors = 50

// Bad reports whether s holds a NUL or is not valid UTF-8.
func Bad(s string) bool {
	return strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s)
}

// Refusal is the 400 for input that breaks the rule, naming each field in errs.
func Refusal(errs []plugboard.FieldError) *plugboard.Error {
	return plugboard.Invalid("the request holds a NUL character or invalid UTF-8", errs...)
}

// JSON returns a field error, named by its JSON path from the body's root
// ("connection.credentials[0].credential.data.string.value"), for each string value or member
// name in raw that is not valid UTF-8 or holds a NUL (written \u0000); at most MaxFieldErrors. A
// body that is not JSON yields what was found before the syntax error; the decoder that follows
// reports the error.
func JSON(raw []byte) []plugboard.FieldError {
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
		if len(errs) < MaxFieldErrors {
			errs = append(errs, plugboard.FieldError{Field: path, Message: message})
		}
	}
	top := func() *container {
		if len(stack) == 0 {
			return nil
		}
		return stack[len(stack)-1]
	}
	// valuePath returns the path of the value about to be read, and moves past it.
	valuePath := func() string {
		t := top()
		if t == nil {
			return ""
		}
		if t.array {
			t.next++
			return fmt.Sprintf("%s[%d]", t.path, t.next-1)
		}
		t.expectKey = true
		if t.path == "" {
			return t.key
		}
		return t.path + "." + t.key
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return errs // io.EOF, or a syntax error the caller's decoder reports
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				stack = append(stack, &container{array: v == '[', path: valuePath(), expectKey: v == '{'})
			default:
				stack = stack[:len(stack)-1]
			}
		case string:
			// The token's raw bytes: after the separators and spaces before it, from its quote.
			// Escapes are ASCII, so the raw text is valid UTF-8 exactly when the JSON string is.
			text := raw[start:dec.InputOffset()]
			text = text[max(0, bytes.IndexByte(text, '"')):]
			bad := !utf8.Valid(text) || strings.IndexByte(v, 0) >= 0
			if t := top(); t != nil && !t.array && t.expectKey {
				t.expectKey = false
				t.key = v
				if bad {
					t.key = "(invalid name)"
					add(t.path, "has a member name that is not valid UTF-8 or holds a NUL")
				}
				continue
			}
			if path := valuePath(); bad {
				add(path, Message)
			}
		default:
			valuePath()
		}
	}
}

// MaxName is the longest name, in bytes, that Name accepts.
const MaxName = 255

// Name appends to errs what is wrong with a required, bounded name (or external id) v in field:
// empty or only white space, or longer than MaxName bytes.
func Name(field, v string, errs []plugboard.FieldError) []plugboard.FieldError {
	switch {
	case strings.TrimSpace(v) == "":
		return append(errs, plugboard.FieldError{Field: field, Message: "is required"})
	case len(v) > MaxName:
		return append(errs, plugboard.FieldError{Field: field, Message: fmt.Sprintf("must be at most %d bytes", MaxName)})
	}
	return errs
}
