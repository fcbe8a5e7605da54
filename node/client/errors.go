package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/api"
)

// codeError is a sentinel that matches every *Error with its code.
type codeError ledger.Code

func (c codeError) Error() string { return "client: " + string(c) }

// Sentinels for errors.Is. Each matches every *Error with its code,
// whatever the status and message:
//
//	if errors.Is(err, client.ErrNotFound) { ... }
//
// errors.Is(err, &ledger.Error{Code: ledger.CodeConflict}) works as well.
var (
	ErrInvalid      error = codeError(ledger.CodeInvalid)
	ErrUnauthorized error = codeError(ledger.CodeUnauthorized)
	ErrForbidden    error = codeError(ledger.CodeForbidden)
	ErrNotFound     error = codeError(ledger.CodeNotFound)
	ErrConflict     error = codeError(ledger.CodeConflict)
	ErrRejected     error = codeError(ledger.CodeRejected)
	ErrTooLarge     error = codeError(ledger.CodeTooLarge)
	ErrRateLimited  error = codeError(api.CodeRateLimited)
	ErrUnavailable  error = codeError(api.CodeUnavailable)
	ErrNoSpace      error = codeError(api.CodeNoSpace)
	ErrInternal     error = codeError(ledger.CodeInternal)
)

// Error is an error answer of the API: an RFC 9457 problem document
// (application/problem+json) decoded into its fields. Any other error body
// becomes an Error too, with CodeInternal (or api.CodeUnavailable for 502, 503
// and 504, which proxies in front of a restarting node answer) and a trimmed
// snippet of the body as its Detail.
type Error struct {
	Status   int         // HTTP status code
	Code     ledger.Code // stable problem code, such as ledger.CodeNotFound or api.CodeUnavailable
	Type     string      // problem type URI
	Title    string      // short summary of the problem type
	Detail   string      // what went wrong, in words a person can act on
	Instance string      // the request path the problem occurred at

	// With names the record a conflict clashes with (code conflict).
	With string
	// IDTaken is true on a conflict whose signer used the proposal's ID
	// for a different proposal before (ledger.IDTakenError).
	IDTaken bool
	// Resubmit is true when the outcome of a write is unknown: the same
	// envelope can and should be resubmitted, because proposals are
	// idempotent. Submit does that on its own.
	Resubmit bool
	// RetryAfter is the server's Retry-After, or zero if it sent none.
	RetryAfter time.Duration
	// Index, Seq and EntryHash identify the journal entry of a proposal
	// that was journaled but rejected; they are zero otherwise.
	Index     uint64
	Seq       uint64
	EntryHash ledger.Hash
	// Outcome is the rejected proposal's outcome, when the server sent one.
	Outcome *ledger.Outcome
	// AppliedIndex is the X-Charta-Index header of the error response.
	AppliedIndex uint64
	// Extensions holds every member of the problem document, including
	// those without a field above.
	Extensions map[string]json.RawMessage
}

// Error describes the problem on one line.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "client: %s (%d)", e.Code, e.Status)
	switch {
	case e.Detail != "":
		b.WriteString(": " + e.Detail)
	case e.Title != "":
		b.WriteString(": " + e.Title)
	}
	if e.With != "" {
		b.WriteString(" (conflicts with " + e.With + ")")
	}
	return b.String()
}

// Is matches the package's sentinels (ErrNotFound and the others) and
// *ledger.Error targets by code; a *ledger.Error target with a Message
// matches only the same Detail. Another *Error target matches by code.
func (e *Error) Is(target error) bool {
	switch t := target.(type) {
	case codeError:
		return e.Code == ledger.Code(t)
	case *ledger.Error:
		return t.Code == e.Code && (t.Message == "" || t.Message == e.Detail)
	case *Error:
		return t.Code == e.Code
	}
	return false
}

// As lets errors.As turn the problem back into the ledger's error types: a
// **ledger.Error target receives the code and detail, and a
// **ledger.ConflictError target, for a conflict, also the record it clashes
// with.
func (e *Error) As(target any) bool {
	switch t := target.(type) {
	case **ledger.Error:
		*t = &ledger.Error{Code: e.Code, Message: e.Detail}
		return true
	case **ledger.ConflictError:
		if e.Code != ledger.CodeConflict {
			return false
		}
		*t = &ledger.ConflictError{Err: &ledger.Error{Code: e.Code, Message: e.Detail}, With: e.With}
		return true
	}
	return false
}

// maxSnippet bounds how much of a non-problem error body goes into Detail.
const maxSnippet = 200

// decodeError turns an error response into an *Error. body is what was read
// of the response body.
func decodeError(resp *http.Response, body []byte) *Error {
	e := &Error{
		Status:       resp.StatusCode,
		RetryAfter:   parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
		AppliedIndex: headerIndex(resp.Header),
	}
	var w api.Problem
	var ext map[string]json.RawMessage
	if isJSON(resp.Header.Get("Content-Type")) &&
		json.Unmarshal(body, &w) == nil && json.Unmarshal(body, &ext) == nil &&
		(w.Code != "" || w.Type != "" || w.Title != "") {
		e.Type, e.Title, e.Detail, e.Instance = w.Type, w.Title, w.Detail, w.Instance
		e.Extensions = ext
		e.Code = w.Code
		if e.Code == "" {
			e.Code = codeFromType(w.Type)
		}
		if e.Code == "" {
			e.Code = api.CodeForStatus(resp.StatusCode)
		}
		decodeExtensions(e, ext)
		return e
	}
	e.Code = ledger.CodeInternal
	if c := api.CodeForStatus(resp.StatusCode); c == api.CodeUnavailable || c == api.CodeRateLimited {
		e.Code = c
	}
	e.Title = http.StatusText(resp.StatusCode)
	e.Detail = snippet(body)
	return e
}

// codeFromType takes the code from a type URI such as
// https://charta.dev/problems/not_found.
func codeFromType(typ string) ledger.Code {
	if rest, ok := strings.CutPrefix(typ, api.ProblemTypeBase); ok && rest != "" && !strings.Contains(rest, "/") {
		return ledger.Code(rest)
	}
	return ""
}

// decodeExtensions fills the typed extension fields, skipping any that do
// not have the expected type.
func decodeExtensions(e *Error, ext map[string]json.RawMessage) {
	get := func(name string, v any) { _ = json.Unmarshal(ext[name], v) }
	if _, ok := ext["with"]; ok {
		get("with", &e.With)
	}
	if _, ok := ext["resubmit"]; ok {
		get("resubmit", &e.Resubmit)
	}
	if _, ok := ext["id_taken"]; ok {
		get("id_taken", &e.IDTaken)
	}
	if _, ok := ext["index"]; ok {
		get("index", &e.Index)
	}
	if _, ok := ext["seq"]; ok {
		get("seq", &e.Seq)
	}
	if raw, ok := ext["entry_hash"]; ok {
		var h ledger.Hash
		if json.Unmarshal(raw, &h) == nil {
			e.EntryHash = h
		}
	}
	if raw, ok := ext["outcome"]; ok {
		var o ledger.Outcome
		if json.Unmarshal(raw, &o) == nil {
			e.Outcome = &o
		}
	}
	if e.RetryAfter == 0 {
		// Some servers repeat Retry-After as a number of seconds in the body.
		var s float64
		if raw, ok := ext["retry_after"]; ok && json.Unmarshal(raw, &s) == nil && s > 0 {
			// Clamped: converting a float beyond int64 gives a negative wait.
			e.RetryAfter = time.Duration(min(s*float64(time.Second), float64(math.MaxInt64/2)))
		}
	}
}

// snippet trims a non-problem body for an error message: valid UTF-8, one
// line, at most maxSnippet bytes.
func snippet(body []byte) string {
	s := strings.ToValidUTF8(string(bytes.TrimSpace(body)), "\uFFFD")
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxSnippet {
		cut := maxSnippet
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// parseRetryAfter parses a Retry-After header: delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// isJSON reports whether a Content-Type is JSON, problem+json included.
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// connError is a request that got no HTTP response: the connection could
// not be made or broke. For a write its outcome is unknown.
type connError struct {
	err error
}

func (e *connError) Error() string { return "client: " + e.err.Error() }
func (e *connError) Unwrap() error { return e.err }

// retryable reports whether a request that failed with err may be sent
// again unchanged: the node was unavailable or busy, or the connection
// failed. Callers only retry requests that are safe to repeat.
func retryable(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Code == api.CodeUnavailable || e.Code == api.CodeRateLimited
	}
	var ce *connError
	return errors.As(err, &ce)
}
