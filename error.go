package bitnobi

import (
	"errors"
	"fmt"
	"time"
)

// Error codes carried by [Error]. They are stable: clients and the HTTP API's
// status table depend on them.
const (
	EINVALID      = "invalid"      // bad input; Field names the offending field
	EUNAUTHORIZED = "unauthorized" // no or bad credentials
	EFORBIDDEN    = "forbidden"    // authenticated, but not allowed
	ENOTFOUND     = "not_found"    // no such entity, or not visible to the caller
	ECONFLICT     = "conflict"     // clashes with existing state
	ETOOLARGE     = "too_large"    // body or upload over the configured limit
	EINTERNAL     = "internal"     // anything else; details are logged, not shown
	EUNSUPPORTED  = "unsupported"  // a media type or operation the server does not handle
)

// ETOOMANY means too many failed attempts (sign-ins): wait
// [Error.RetryAfter], then try again.
const ETOOMANY = "too_many_attempts"

// Error is a user-facing error: its Message is safe to show to the caller.
// Errors of any other type are logged and shown as "Internal error.".
type Error struct {
	Code    string // one of the E* constants
	Message string // human-readable, safe to show
	Field   string // for EINVALID, the offending field (JSON name), if any
	// RetryAfter is, for ETOOMANY, how long the caller must wait before
	// trying again (HTTP: 429 with a Retry-After header). Get it with
	// errors.As.
	RetryAfter time.Duration
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("bitnobi error: code=%s field=%s message=%s", e.Code, e.Field, e.Message)
	}
	return fmt.Sprintf("bitnobi error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an [*Error] with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalidf returns an [EINVALID] error about field.
func Invalidf(field, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the [*Error] in err's chain, [EINTERNAL] for
// any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message of the [*Error] in err's chain, or
// "Internal error." for any other non-nil error.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}
