package client

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/plugboard/plugboard/api"
)

// Error is an error Plugboard's proxy answered itself, rather than the upstream API: the
// response carried "X-Plugboard-Error: true" and the API's Error body. [Transport.RoundTrip]
// returns it, so [http.Client.Do] returns it wrapped in a [*url.Error]; use [errors.As] to get it.
//
// Codes callers typically branch on (docs/api.md lists them all):
//
//   - not_found (404): the connection does not exist, or belongs to another organisation;
//   - permission_denied (403): the API key lacks the connections:proxy scope;
//   - invalid_argument (400): no base URL, a bad X-Plugboard-Base-Url, an OAuth 2.0 token that
//     cannot be refreshed;
//   - upstream_refused (400): Plugboard refused to call a loopback, private or metadata address;
//   - upstream_unavailable (502): the upstream could not be reached;
//   - upstream_timeout (504): the upstream did not answer in time;
//   - upstream_rejected (400): the provider refused a token refresh.
type Error struct {
	// StatusCode is the HTTP status of Plugboard's response.
	StatusCode int
	// Code is the machine-readable error code, such as "not_found" or "upstream_unavailable".
	// It is empty when the body could not be decoded.
	Code string
	// Message is the human-readable message.
	Message string
	// Details adds context, such as the request id of an internal error.
	Details string
	// Fields names the inputs that were wrong, when there are any.
	Fields []api.ErrorField
	// RequestID is the response's X-Request-Id, which finds the request in Plugboard's log.
	RequestID string
}

// Error implements error.
func (e *Error) Error() string {
	code := e.Code
	if code == "" {
		code = "unknown"
	}
	s := fmt.Sprintf("plugboard: %s (HTTP %d)", code, e.StatusCode)
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Details != "" {
		s += " (" + e.Details + ")"
	}
	return s
}

// maxErrorBody bounds how much of an error body is read.
const maxErrorBody = 1 << 20

// errorFrom decodes Plugboard's Error from a response and closes its body.
func errorFrom(res *http.Response) *Error {
	defer res.Body.Close()
	e := &Error{StatusCode: res.StatusCode, RequestID: res.Header.Get("X-Request-Id")}
	var body api.Error
	b, err := io.ReadAll(io.LimitReader(res.Body, maxErrorBody))
	if err != nil || json.Unmarshal(b, &body) != nil {
		e.Message = "the error body could not be decoded"
		return e
	}
	e.Code, e.Message, e.Details, e.Fields = body.Code, body.Message, body.Details, body.Fields
	return e
}
