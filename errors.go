package plugboard

import (
	"errors"
	"fmt"
)

// Error codes. They are part of the API: clients match on them, so they never change meaning.
// docs/api.md lists them with their HTTP statuses; internal/httpapi maps them.
const (
	// EInvalid means the request is malformed or names something that cannot be used (400).
	EInvalid = "invalid_argument"
	// EUnauthenticated means the API key is missing or unknown (401).
	EUnauthenticated = "unauthenticated"
	// EForbidden means the API key is valid but lacks the scope the operation needs (403).
	EForbidden = "permission_denied"
	// ENotFound means the resource does not exist or belongs to another organisation (404).
	ENotFound = "not_found"
	// EMethodNotAllowed means the path exists but not with this method (405).
	EMethodNotAllowed = "method_not_allowed"
	// EConflict means the request clashes with the current state: a duplicate name, a resource still in use (409).
	EConflict = "conflict"
	// ETooLarge means the request body is larger than the server accepts (413).
	ETooLarge = "request_too_large"
	// EInternal means the server failed; details are in its log under the request id, never in the response (500).
	EInternal = "internal"
	// ENotImplemented means the request is valid but needs a capability this build does not have yet (501).
	ENotImplemented = "not_implemented"
	// EUnavailable means a dependency (the store) does not answer (503).
	EUnavailable = "unavailable"
	// ERateLimited means the API key or the connection is over its rate limit; the Retry-After
	// header says in how many seconds to try again (429).
	ERateLimited = "rate_limited"

	// ECredentialExpired means the connection cannot be used because a credential it carries
	// passed its expiresAt (or was deleted for it and not replaced yet); adding or renewing the
	// credential with UpdateConnection makes it usable again (409).
	ECredentialExpired = "credential_expired"

	// EUpstreamRejected means a provider or upstream refused the request (invalid_grant and its
	// kind); the message names the provider's error code (400).
	EUpstreamRejected = "upstream_rejected"
	// EUpstreamRefused means Plugboard refused to call the address (loopback, private, metadata);
	// the message names the setting that allows it (400).
	EUpstreamRefused = "upstream_refused"
	// EUpstreamUnavailable means the provider or upstream could not be reached or failed with a 5xx (502).
	EUpstreamUnavailable = "upstream_unavailable"
	// EUpstreamTimeout means the provider or upstream did not answer in time (504).
	EUpstreamTimeout = "upstream_timeout"
	// EUpstreamTooLarge means the provider's or upstream's answer was larger than allowed (502).
	EUpstreamTooLarge = "upstream_too_large"
)

// FieldError names one bad input field by its JSON path, for example
// "connection.credentials[0].credential.data.string.value".
type FieldError struct {
	Field   string
	Message string
}

// Error is the one error type that crosses package boundaries. Code is one of the E* constants;
// Message and Details are shown to the client and must never contain a secret; Err is the cause,
// logged but never shown.
type Error struct {
	Code    string
	Message string
	Details string
	Fields  []FieldError
	Err     error
}

// Error implements error. It includes the cause so that logs carry it.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an EInvalid error listing the bad fields.
func Invalid(message string, fields ...FieldError) *Error {
	return &Error{Code: EInvalid, Message: message, Fields: fields}
}

// Internal wraps err as an EInternal error; the cause is logged, never shown.
func Internal(err error) *Error {
	return &Error{Code: EInternal, Message: "internal error", Err: err}
}

// ErrorCode returns the code of the first *Error in err's chain, EInternal for any other
// non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// IsCode reports whether err carries the given code.
func IsCode(err error, code string) bool { return ErrorCode(err) == code }
