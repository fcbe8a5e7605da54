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
	"github.com/charta/charta/node/api"
)

// apiError is an error raised by the API layer itself, with the problem
// code it becomes.
type apiError struct {
	code       ledger.Code
	detail     string
	ext        map[string]any
	retryAfter int
}

func (e *apiError) Error() string { return "node: " + string(e.code) + ": " + e.detail }

// errorf returns an *apiError with a formatted, person-actionable detail.
func errorf(code ledger.Code, format string, args ...any) *apiError {
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
func problemFor(err error, requestID string, log *slog.Logger) api.Problem {
	p := buildProblem(err)
	if p.Code == ledger.CodeInternal {
		log.Error("internal error", "request_id", requestID, "err", err)
		p.Detail = "an internal error occurred; report request ID " + requestID + " to the node's operator"
		p.Extensions = map[string]any{"request_id": requestID}
	}
	p.Type = api.ProblemTypeBase + string(p.Code)
	p.Title = api.Title(p.Code)
	if p.Status == 0 {
		p.Status, _ = api.HTTPStatus(p.Code)
	}
	return p
}

func buildProblem(err error) api.Problem {
	var (
		ae  *apiError
		rj  *rejection
		ce  *ledger.ConflictError
		it  *ledger.IDTakenError
		le  *ledger.Error
		mbe *http.MaxBytesError
	)
	switch {
	case errors.As(err, &ae):
		return api.Problem{Code: ae.code, Detail: ae.detail, Extensions: ae.ext, RetryAfter: ae.retryAfter}
	case errors.As(err, &rj):
		// A rejection is journaled: the problem carries where.
		o := rj.result.Outcome
		p := api.Problem{Code: o.Code, Detail: o.Message, Status: http.StatusUnprocessableEntity, Extensions: map[string]any{
			"index": rj.result.Index, "seq": rj.result.Seq, "entry_hash": rj.result.EntryHash,
			"outcome": o, "duplicate": rj.result.Duplicate,
		}}
		if _, ok := api.HTTPStatus(p.Code); !ok || p.Code == ledger.CodeInternal {
			p.Code = ledger.CodeRejected
		}
		if p.Code == ledger.CodeConflict {
			p.Status = http.StatusConflict
			if o.With != "" {
				p.Extensions["with"] = o.With
			}
		}
		return p
	case errors.As(err, &ce):
		return api.Problem{Code: ledger.CodeConflict, Detail: ce.Err.Message, Extensions: map[string]any{"with": ce.With}}
	case errors.As(err, &it):
		return api.Problem{Code: ledger.CodeConflict, Detail: it.Err.Message, Extensions: map[string]any{"id_taken": true}}
	case errors.As(err, &le) && le.Code != ledger.CodeInternal:
		if _, ok := api.HTTPStatus(le.Code); ok {
			return api.Problem{Code: le.Code, Detail: le.Message}
		}
	case errors.As(err, &mbe):
		return api.Problem{Code: ledger.CodeTooLarge, Detail: fmt.Sprintf("the request body is over the limit of %d bytes", mbe.Limit)}
	case errors.Is(err, ErrAmbiguous):
		return api.Problem{Code: api.CodeUnavailable, Detail: "resubmit the same proposal; it is idempotent",
			Extensions: map[string]any{"resubmit": true}, RetryAfter: 1}
	case errors.Is(err, ErrNotLeader):
		return api.Problem{Code: api.CodeUnavailable, Detail: "this node is not the leader and no leader could be reached; retry shortly", RetryAfter: 1}
	case errors.Is(err, ErrNotMember):
		return api.Problem{Code: ledger.CodeForbidden, Detail: "only a server whose member is active in the consortium may join the cluster"}
	case errors.Is(err, ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return api.Problem{Code: api.CodeUnavailable, Detail: "the cluster cannot answer now; retry shortly", RetryAfter: 1}
	}
	return api.Problem{Code: ledger.CodeInternal}
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
