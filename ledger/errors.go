package ledger

import (
	"errors"
	"fmt"
	"strconv"
)

// Code classifies a ledger error. The codes are stable: the HTTP API maps
// them one to one onto problem+json codes and status codes.
type Code string

// The error codes. They are part of the wire format and never change meaning.
const (
	CodeInvalid      Code = "invalid"      // malformed input: shape, type, range
	CodeUnauthorized Code = "unauthorized" // missing or bad signature or token
	CodeForbidden    Code = "forbidden"    // well-signed, but the signer may not do this
	CodeNotFound     Code = "not_found"    // a referenced record does not exist
	CodeConflict     Code = "conflict"     // clashes with existing state (exclusivity, duplicate ID)
	CodeRejected     Code = "rejected"     // a domain rule refused it (quota, lifecycle, deadline)
	CodeTooLarge     Code = "too_large"    // over a charter limit
	CodeInternal     Code = "internal"     // a bug; never caused by input
)

// Error is the one error type of package ledger. Every rejection that a
// proposal can meet is an *Error, and its Message names the field and the
// problem in words a person can act on.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func (e *Error) Error() string { return "ledger: " + string(e.Code) + ": " + e.Message }

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, &ledger.Error{Code: ledger.CodeNotFound}) works.
func (e *Error) Is(target error) bool {
	var t *Error
	if !errors.As(target, &t) {
		return false
	}
	return t.Code == e.Code && (t.Message == "" || t.Message == e.Message)
}

// ConflictError is a CodeConflict error that names the record it clashes with.
type ConflictError struct {
	Err  *Error
	With string // the ID of the clashing record, for example a grant ID
}

func (e *ConflictError) Error() string { return e.Err.Error() + " (conflicts with " + e.With + ")" }

// Unwrap returns the underlying *Error, so that errors.As finds the code.
func (e *ConflictError) Unwrap() error { return e.Err }

// IDTakenError is the CodeConflict error of a proposal whose signer used
// its ID for a different proposal before: the one that holds the ID keeps
// its record. A client that re-signed a proposal whose first submission
// committed unseen learns from it that the ID is its own, committed.
type IDTakenError struct {
	Err *Error
}

func (e *IDTakenError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying *Error, so that errors.As finds the code.
func (e *IDTakenError) Unwrap() error { return e.Err }

// CodeOf returns the code of err: the code of the *Error it wraps, or
// CodeInternal for any other error.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// prefixed puts field in front of the message of an *Error, so that a
// rejection found in a nested value names its whole path.
func prefixed(field string, err error) error {
	if e, ok := err.(*Error); ok {
		return Errorf(e.Code, "%s: %s", field, e.Message)
	}
	return err
}

// itoa formats an index in a field path, such as body.grants[2], or a count
// in a message.
func itoa(i int) string { return strconv.Itoa(i) }
