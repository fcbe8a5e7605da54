package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/charta/charta/ledger"
)

// The problem codes of the API. They are stable: clients switch on them.
const (
	codeInvalid      = "invalid"
	codeUnauthorized = "unauthorized"
	codeForbidden    = "forbidden"
	codeNotFound     = "not_found"
	codeConflict     = "conflict"
	codeTooLarge     = "too_large"
	codeRejected     = "rejected"
	codeRateLimited  = "rate_limited"
	codeUnavailable  = "unavailable"
	codeInternal     = "internal"
)

// problemStatus maps each code to its HTTP status.
var problemStatus = map[string]int{
	codeInvalid:      http.StatusBadRequest,
	codeUnauthorized: http.StatusUnauthorized,
	codeForbidden:    http.StatusForbidden,
	codeNotFound:     http.StatusNotFound,
	codeConflict:     http.StatusConflict,
	codeTooLarge:     http.StatusRequestEntityTooLarge,
	codeRejected:     http.StatusUnprocessableEntity,
	codeRateLimited:  http.StatusTooManyRequests,
	codeUnavailable:  http.StatusServiceUnavailable,
	codeInternal:     http.StatusInternalServerError,
}

var problemTitle = map[string]string{
	codeInvalid:      "Invalid request",
	codeUnauthorized: "Unauthorized",
	codeForbidden:    "Forbidden",
	codeNotFound:     "Not found",
	codeConflict:     "Conflict",
	codeTooLarge:     "Too large",
	codeRejected:     "Rejected",
	codeRateLimited:  "Rate limited",
	codeUnavailable:  "Unavailable",
	codeInternal:     "Internal error",
}

// ProblemTypeBase prefixes a problem's code to form its type URI.
const ProblemTypeBase = "https://charta.dev/problems/"

// Problem is an RFC 9457 problem document. Extensions are flattened into
// the top-level object when it is encoded.
type Problem struct {
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Status     int            `json:"status"`
	Detail     string         `json:"detail"`
	Code       string         `json:"code"`
	Instance   string         `json:"instance,omitempty"`
	Extensions map[string]any `json:"-"`
	// RetryAfter, when positive, is sent as the Retry-After header in
	// seconds.
	RetryAfter int `json:"-"`
}

// MarshalJSON flattens the extensions next to the standard members.
func (p Problem) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, 6+len(p.Extensions))
	for k, v := range p.Extensions {
		m[k] = v
	}
	m["type"], m["title"], m["status"], m["detail"], m["code"] = p.Type, p.Title, p.Status, p.Detail, p.Code
	if p.Instance != "" {
		m["instance"] = p.Instance
	}
	return json.Marshal(m)
}

// apiError is an error raised by the API layer itself, with the problem
// code it becomes.
type apiError struct {
	code       string
	detail     string
	ext        map[string]any
	retryAfter int
}

func (e *apiError) Error() string { return "node: " + e.code + ": " + e.detail }

// errorf returns an *apiError with a formatted, person-actionable detail.
func errorf(code, format string, args ...any) *apiError {
	return &apiError{code: code, detail: fmt.Sprintf(format, args...)}
}

// with adds an extension member.
func (e *apiError) with(k string, v any) *apiError {
	if e.ext == nil {
		e.ext = map[string]any{}
	}
	e.ext[k] = v
	return e
}

// retry sets Retry-After.
func (e *apiError) retry(seconds int) *apiError {
	e.retryAfter = seconds
	return e
}

// rejection is a proposal that the ledger journaled as rejected.
type rejection struct {
	result *ledger.Result
}

func (r *rejection) Error() string {
	return "node: proposal rejected: " + string(r.result.Outcome.Code) + ": " + r.result.Outcome.Message
}

// problemFor is the single mapping from errors to problems. Whatever is
// not recognised is an internal error: it is logged with the request ID and
// the client sees only a generic detail and that ID.
func problemFor(err error, requestID string, log *slog.Logger) Problem {
	p := buildProblem(err)
	if p.Code == codeInternal {
		log.Error("internal error", "request_id", requestID, "err", err)
		p.Detail = "an internal error occurred; report request ID " + requestID + " to the node's operator"
		p.Extensions = map[string]any{"request_id": requestID}
	}
	p.Type = ProblemTypeBase + p.Code
	p.Title = problemTitle[p.Code]
	if p.Status == 0 {
		p.Status = problemStatus[p.Code]
	}
	return p
}

func buildProblem(err error) Problem {
	var (
		ae  *apiError
		rj  *rejection
		ce  *ledger.ConflictError
		le  *ledger.Error
		mbe *http.MaxBytesError
	)
	switch {
	case errors.As(err, &ae):
		return Problem{Code: ae.code, Detail: ae.detail, Extensions: ae.ext, RetryAfter: ae.retryAfter}
	case errors.As(err, &rj):
		// A rejection is journaled: the problem carries where.
		o := rj.result.Outcome
		p := Problem{Code: string(o.Code), Detail: o.Message, Status: http.StatusUnprocessableEntity, Extensions: map[string]any{
			"index": rj.result.Index, "seq": rj.result.Seq, "entry_hash": rj.result.EntryHash,
			"outcome": o, "duplicate": rj.result.Duplicate,
		}}
		if _, ok := problemStatus[p.Code]; !ok || p.Code == codeInternal {
			p.Code = codeRejected
		}
		if p.Code == codeConflict {
			p.Status = http.StatusConflict
			if o.With != "" {
				p.Extensions["with"] = o.With
			}
		}
		return p
	case errors.As(err, &ce):
		return Problem{Code: codeConflict, Detail: ce.Err.Message, Extensions: map[string]any{"with": ce.With}}
	case errors.As(err, &le) && le.Code != ledger.CodeInternal:
		if _, ok := problemStatus[string(le.Code)]; ok {
			return Problem{Code: string(le.Code), Detail: le.Message}
		}
	case errors.As(err, &mbe):
		return Problem{Code: codeTooLarge, Detail: fmt.Sprintf("the request body is over the limit of %d bytes", mbe.Limit)}
	case errors.Is(err, ErrAmbiguous):
		return Problem{Code: codeUnavailable, Detail: "resubmit the same proposal; it is idempotent",
			Extensions: map[string]any{"resubmit": true}, RetryAfter: 1}
	case errors.Is(err, ErrNotLeader):
		return Problem{Code: codeUnavailable, Detail: "this node is not the leader and no leader could be reached; retry shortly", RetryAfter: 1}
	case errors.Is(err, ErrNotMember):
		return Problem{Code: codeForbidden, Detail: "only a server whose member is active in the consortium may join the cluster"}
	case errors.Is(err, ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return Problem{Code: codeUnavailable, Detail: "the cluster cannot answer now; retry shortly", RetryAfter: 1}
	}
	return Problem{Code: codeInternal}
}

// writeProblem sends err as problem+json.
func (s *Server) writeProblem(w http.ResponseWriter, r *http.Request, err error) {
	p := problemFor(err, requestID(r.Context()), s.log)
	p.Instance = r.URL.Path
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	if p.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(p.RetryAfter))
	}
	w.WriteHeader(p.Status)
	b, _ := json.Marshal(p)
	w.Write(append(b, '\n'))
}
