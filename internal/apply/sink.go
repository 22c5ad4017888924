package apply

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"

	"github.com/plugboard/plugboard"
	"github.com/plugboard/plugboard/api"
)

// location is where a value is sent: the api-key and hmac configs' `in`.
type location string

const (
	inHeader location = "header"
	inQuery  location = "query"
	inCookie location = "cookie"
)

// sink receives the values credentials put on a request: the request itself (Apply) or a
// Material (Material). One set of rules feeds both, so they cannot drift apart.
type sink interface {
	// put sends value under name at in, replacing a value of the same name there. id names the
	// credential in errors.
	put(id string, in location, name, value string) error
}

// checkValue refuses values that cannot travel in a header or cookie. net/http would refuse a
// header value with CR or LF only when sending, and drop bad cookie bytes with a log line that
// quotes them; checking here gives an error that names the credential and never the value.
func checkValue(id string, in location, name, value string) error {
	if name == "" {
		return plugboard.Errorf(plugboard.EInvalid, "credential %s: its config names no %s to send the credential in", id, in)
	}
	switch in {
	case inHeader:
		if strings.ContainsAny(value, "\r\n\x00") {
			return plugboard.Errorf(plugboard.EInvalid, "credential %s: its value cannot be sent in header %s: it holds a line break or NUL", id, name)
		}
	case inCookie:
		if !validCookieName(name) {
			return plugboard.Errorf(plugboard.EInvalid, "credential %s: %q is not a valid cookie name", id, name)
		}
		for i := 0; i < len(value); i++ {
			if !validCookieValueByte(value[i]) {
				return plugboard.Errorf(plugboard.EInvalid, "credential %s: its value cannot be sent in cookie %s: it holds a character cookies cannot carry", id, name)
			}
		}
	case inQuery:
	default:
		return plugboard.Errorf(plugboard.EInvalid, "credential %s: unknown location %q for %s", id, in, name)
	}
	return nil
}

// requestSink writes to a request.
type requestSink struct{ req *http.Request }

func (s requestSink) put(id string, in location, name, value string) error {
	if err := checkValue(id, in, name, value); err != nil {
		return err
	}
	switch in {
	case inHeader:
		s.req.Header.Set(name, value)
	case inQuery:
		s.req.URL.RawQuery = setQuery(s.req.URL.RawQuery, name, value)
	case inCookie:
		setCookie(s.req.Header, name, value)
	}
	return nil
}

// materialSink writes to a Material.
type materialSink struct{ m *Material }

func (s *materialSink) put(id string, in location, name, value string) error {
	if err := checkValue(id, in, name, value); err != nil {
		return err
	}
	switch in {
	case inHeader:
		s.m.Headers.Set(name, value)
	case inQuery:
		s.m.Query.Set(name, value)
	case inCookie:
		kept := s.m.Cookies[:0]
		for _, c := range s.m.Cookies {
			if c.Name != name {
				kept = append(kept, c)
			}
		}
		s.m.Cookies = append(kept, &http.Cookie{Name: name, Value: value})
	}
	return nil
}

// setQuery returns rawQuery with name=value at the end and any earlier parameter of that name
// removed. The other parameters keep their order and their encoding byte for byte: re-encoding
// them through url.Values would reorder them and could change what a signature (or a picky
// server) sees.
func setQuery(rawQuery, name, value string) string {
	var parts []string
	if rawQuery != "" {
		for _, p := range strings.Split(rawQuery, "&") {
			k, _, _ := strings.Cut(p, "=")
			if dk, err := url.QueryUnescape(k); err == nil && dk == name {
				continue
			}
			parts = append(parts, p)
		}
	}
	parts = append(parts, url.QueryEscape(name)+"="+url.QueryEscape(value))
	return strings.Join(parts, "&")
}

// setCookie adds name=value to the Cookie header, removing a cookie of the same name and keeping
// the others as they were (http.Request.AddCookie would only append, leaving a caller's cookie of
// the same name first in line).
func setCookie(h http.Header, name, value string) {
	var kept []string
	for _, line := range h.Values("Cookie") {
		for _, p := range strings.Split(line, ";") {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			if k, _, _ := strings.Cut(p, "="); strings.TrimSpace(k) == name {
				continue
			}
			kept = append(kept, p)
		}
	}
	if strings.ContainsAny(value, " ,") {
		value = `"` + value + `"` // as net/http quotes such values
	}
	kept = append(kept, name+"="+value)
	h.Set("Cookie", strings.Join(kept, "; "))
}

// validCookieValueByte is net/http's rule for cookie-value bytes (RFC 6265, relaxed for spaces
// and commas, which are sent quoted).
func validCookieValueByte(b byte) bool {
	return 0x20 <= b && b < 0x7f && b != '"' && b != ';' && b != '\\'
}

// validCookieName reports whether name is an RFC 7230 token.
func validCookieName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return true
}

// basicAuth is the Authorization value of RFC 7617.
func basicAuth(d *api.CredentialDataBasicAuth) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(d.Username+":"+d.Password))
}

// bearer is the Authorization value for an OAuth 2.0 access token (RFC 6750). A token type
// providers send in lower case ("bearer") is written "Bearer", as golang.org/x/oauth2 does,
// since some APIs compare the scheme case-sensitively.
func bearer(c Credential) (string, error) {
	if c.AccessToken == "" {
		return "", plugboard.Errorf(plugboard.EInvalid, "credential %s: no access token to send for the oauth2 auth scheme", c.ID)
	}
	typ := c.TokenType
	switch {
	case typ == "", strings.EqualFold(typ, "bearer"):
		typ = "Bearer"
	case strings.EqualFold(typ, "mac"):
		typ = "MAC"
	}
	return typ + " " + c.AccessToken, nil
}
