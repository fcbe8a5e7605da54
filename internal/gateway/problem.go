package gateway

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/api"
)

// problem is an error answer of the gateway: an RFC 9457 problem document
// of the same shape, codes and type URIs as the node's (node/api).
type problem struct {
	code   ledger.Code
	status int // 0: the code's status
	title  string
	detail string
	ext    map[string]any
	retry  int // Retry-After seconds, when positive
}

// newProblem returns a problem with code and detail.
func newProblem(code ledger.Code, detail string) *problem {
	return &problem{code: code, detail: detail}
}

// with adds an extension member.
func (p *problem) with(k string, v any) *problem {
	if p.ext == nil {
		p.ext = map[string]any{}
	}
	p.ext[k] = v
	return p
}

// write sends the problem. It is the one place the gateway's errors become
// HTTP answers.
func (p *problem) write(w http.ResponseWriter, r *http.Request) {
	status := p.status
	if status == 0 {
		status, _ = api.HTTPStatus(p.code)
	}
	title := p.title
	if title == "" {
		title = api.Title(p.code)
	}
	doc := api.Problem{
		Type: api.ProblemTypeBase + string(p.code), Title: title, Status: status, Detail: p.detail,
		Code: p.code, Instance: r.URL.Path, Extensions: p.ext,
	}
	b, err := json.Marshal(doc)
	if err != nil {
		b = []byte(`{"type":"` + api.ProblemTypeBase + `internal","title":"Internal error","status":500,"detail":"the problem could not be encoded","code":"internal"}`)
		status = http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("Cache-Control", "no-store")
	if p.retry > 0 {
		h.Set("Retry-After", strconv.Itoa(p.retry))
	}
	if p.code == ledger.CodeUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="charta-gateway"`)
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
