package api

import (
	"encoding/json"
	"net/http"
	"slices"

	"github.com/charta/charta/ledger"
)

// ProblemTypeBase prefixes a problem's code to form its type URI.
const ProblemTypeBase = "https://charta.dev/problems/"

// The problem codes of the API that are not ledger error codes: they come
// from the node (its limits and its consensus), never from a proposal's
// outcome. Every other code is a ledger.Code.
const (
	CodeRateLimited ledger.Code = "rate_limited" // a rate limit or the in-flight bound; see Retry-After
	CodeUnavailable ledger.Code = "unavailable"  // no leader, a lagging node, or an ambiguous write
	CodeNoSpace     ledger.Code = "no_space"     // a node's disk is short of space: it takes no proposals until space is freed
	// CodeMethodNotAllowed: the path exists, not with this method; the
	// answer's Allow header lists the methods it has.
	CodeMethodNotAllowed ledger.Code = "method_not_allowed"
)

// problemCodes maps every problem code to its HTTP status and title.
var problemCodes = map[ledger.Code]struct {
	status int
	title  string
}{
	ledger.CodeInvalid:      {http.StatusBadRequest, "Invalid request"},
	ledger.CodeUnauthorized: {http.StatusUnauthorized, "Unauthorized"},
	ledger.CodeForbidden:    {http.StatusForbidden, "Forbidden"},
	ledger.CodeNotFound:     {http.StatusNotFound, "Not found"},
	ledger.CodeConflict:     {http.StatusConflict, "Conflict"},
	ledger.CodeTooLarge:     {http.StatusRequestEntityTooLarge, "Too large"},
	ledger.CodeRejected:     {http.StatusUnprocessableEntity, "Rejected"},
	CodeRateLimited:         {http.StatusTooManyRequests, "Rate limited"},
	CodeUnavailable:         {http.StatusServiceUnavailable, "Unavailable"},
	CodeNoSpace:             {http.StatusInsufficientStorage, "Insufficient storage"},
	CodeMethodNotAllowed:    {http.StatusMethodNotAllowed, "Method not allowed"},
	ledger.CodeInternal:     {http.StatusInternalServerError, "Internal error"},
}

// HTTPStatus returns the HTTP status of problems with code c, and whether
// c is a problem code at all.
func HTTPStatus(c ledger.Code) (int, bool) {
	p, ok := problemCodes[c]
	return p.status, ok
}

// Codes lists every problem code, sorted.
func Codes() []ledger.Code {
	out := make([]ledger.Code, 0, len(problemCodes))
	for c := range problemCodes {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// Title returns the title of problems with code c, or "" for an unknown code.
func Title(c ledger.Code) string { return problemCodes[c].title }

// CodeForStatus returns the problem code that an error response with HTTP
// status s and no problem document most likely means: the code whose
// status s is, unavailable for the gateway errors a proxy in front of a
// restarting node answers with, and internal for anything else.
func CodeForStatus(s int) ledger.Code {
	switch s {
	case http.StatusBadGateway, http.StatusGatewayTimeout:
		return CodeUnavailable
	}
	for _, c := range Codes() { // each status has one code; sorted for determinism all the same
		if problemCodes[c].status == s {
			return c
		}
	}
	return ledger.CodeInternal
}

// Problem is an RFC 9457 problem document (application/problem+json).
// Extensions are flattened into the top-level object when it is encoded;
// the extensions a node sends are:
//
//   - on a journaled rejection: index, seq, entry_hash, outcome and
//     duplicate, and with on a conflict (the clashing record's ID);
//   - resubmit (true) when a write's outcome is unknown;
//   - request_id on an internal error.
type Problem struct {
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Status     int            `json:"status"`
	Detail     string         `json:"detail"`
	Code       ledger.Code    `json:"code"`
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
