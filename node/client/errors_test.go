package client

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/api"
)

func TestError_EveryProblemCode(t *testing.T) {
	for _, tc := range []struct {
		status   int
		code     ledger.Code
		sentinel error
	}{
		{400, ledger.CodeInvalid, ErrInvalid},
		{401, ledger.CodeUnauthorized, ErrUnauthorized},
		{403, ledger.CodeForbidden, ErrForbidden},
		{404, ledger.CodeNotFound, ErrNotFound},
		{409, ledger.CodeConflict, ErrConflict},
		{413, ledger.CodeTooLarge, ErrTooLarge},
		{422, ledger.CodeRejected, ErrRejected},
		{429, api.CodeRateLimited, ErrRateLimited},
		{503, api.CodeUnavailable, ErrUnavailable},
		{500, ledger.CodeInternal, ErrInternal},
	} {
		t.Run(string(tc.code), func(t *testing.T) {
			f := newFake(t)
			f.handle("GET /v1/members/{id}", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set(IndexHeader, "33")
				w.Header().Set("Retry-After", "3")
				writeProblem(w, tc.status, string(tc.code), "member x: something "+string(tc.code), map[string]any{"instance": r.URL.Path})
			})
			c := f.client(WithRetry(RetryPolicy{})) // no retries: see the first answer
			_, err := c.Member(ctxT(t), "x")
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %T %v, want *Error", err, err)
			}
			if e.Status != tc.status || e.Code != tc.code || e.Detail != "member x: something "+string(tc.code) ||
				e.Instance != "/v1/members/x" || e.Title != http.StatusText(tc.status) ||
				e.Type != "https://charta.dev/problems/"+string(tc.code) || e.AppliedIndex != 33 || e.RetryAfter != 3*time.Second {
				t.Errorf("decoded %+v", e)
			}
			if !errors.Is(err, tc.sentinel) {
				t.Errorf("errors.Is(err, %v) = false", tc.sentinel)
			}
			if !errors.Is(err, &ledger.Error{Code: tc.code}) || !errors.Is(err, ledger.Errorf(tc.code, "")) {
				t.Errorf("errors.Is(err, ledger.Error{%s}) = false", tc.code)
			}
			if errors.Is(err, ledger.Errorf(tc.code, "another message")) {
				t.Error("a ledger.Error with another message matches")
			}
			for _, other := range []error{ErrNotFound, ErrInternal} {
				if other != tc.sentinel && errors.Is(err, other) {
					t.Errorf("errors.Is(err, %v) = true for code %s", other, tc.code)
				}
			}
			var le *ledger.Error
			if !errors.As(err, &le) || le.Code != tc.code || le.Message != e.Detail {
				t.Errorf("errors.As ledger.Error = %v", le)
			}
			if !strings.Contains(err.Error(), string(tc.code)) || !strings.HasPrefix(err.Error(), "client: ") {
				t.Errorf("message %q", err)
			}
		})
	}
}

func TestError_ConflictWith(t *testing.T) {
	f := newFake(t)
	f.handle("POST /v1/proposals", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, 409, "conflict", "grant g2 overlaps an exclusive grant", map[string]any{
			"with": "g1", "index": 17, "seq": 12, "entry_hash": strings.Repeat("ab", 32),
		})
	})
	c := f.client()
	res, err := c.Submit(ctxT(t), []byte(`{"payloadType":"x"}`))
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("err = %v, want ErrConflict", err)
	}
	var ce *ledger.ConflictError
	if !errors.As(err, &ce) || ce.With != "g1" || ce.Err.Code != ledger.CodeConflict {
		t.Fatalf("errors.As ConflictError = %+v", ce)
	}
	var e *Error
	errors.As(err, &e)
	if e.With != "g1" || e.Index != 17 || e.Seq != 12 || e.EntryHash.String() != strings.Repeat("ab", 32) {
		t.Errorf("extensions: %+v", e)
	}
	if !strings.Contains(err.Error(), "conflicts with g1") {
		t.Errorf("message %q does not name the clashing grant", err)
	}
	// A rejection is journaled: Submit also returns its entry.
	if res == nil || res.Index != 17 || res.Seq != 12 || res.Outcome.Status != ledger.StatusRejected || res.Outcome.Code != ledger.CodeConflict {
		t.Errorf("result = %+v", res)
	}
	if n := len(f.requests("/v1/proposals")); n != 1 {
		t.Errorf("a conflict was sent %d times, want 1 (not retried)", n)
	}
	// Other codes never match ConflictError.
	var ce2 *ledger.ConflictError
	if errors.As(&Error{Code: ledger.CodeNotFound}, &ce2) {
		t.Error("not_found matched ConflictError")
	}
}

func TestError_ResubmitAndRetryAfterDate(t *testing.T) {
	f := newFake(t)
	when := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	f.handle("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", when)
		writeProblem(w, 503, "unavailable", "resubmit the same proposal; it is idempotent", map[string]any{"resubmit": true})
	})
	c := f.client(WithRetry(RetryPolicy{}))
	_, err := c.Status(ctxT(t))
	var e *Error
	if !errors.As(err, &e) || !e.Resubmit || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %+v", err)
	}
	if e.RetryAfter < 80*time.Second || e.RetryAfter > 91*time.Second {
		t.Errorf("RetryAfter = %v, want about 90s", e.RetryAfter)
	}
}

func TestError_NonProblemBodies(t *testing.T) {
	for _, tc := range []struct {
		status      int
		contentType string
		body        string
		code        ledger.Code
		detail      string
	}{
		{500, "text/html", "<html>\n  <body>oops</body>\n</html>", ledger.CodeInternal, "<html> <body>oops</body> </html>"},
		{404, "text/plain", "404 page not found\n", ledger.CodeInternal, "404 page not found"},
		{502, "text/plain", "bad gateway", api.CodeUnavailable, "bad gateway"},
		{503, "application/json", `{"message":"no"}`, api.CodeUnavailable, `{"message":"no"}`},
		{500, "text/plain", strings.Repeat("x", 1000), ledger.CodeInternal, strings.Repeat("x", maxSnippet) + "…"},
	} {
		f := newFake(t)
		f.handle("GET /v1/cluster", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", tc.contentType)
			w.WriteHeader(tc.status)
			_, _ = w.Write([]byte(tc.body))
		})
		_, err := f.client(WithRetry(RetryPolicy{})).Cluster(ctxT(t))
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("%d: err = %v", tc.status, err)
		}
		if e.Code != tc.code || e.Status != tc.status || e.Detail != tc.detail {
			t.Errorf("%d %s: got code %s detail %q", tc.status, tc.contentType, e.Code, e.Detail)
		}
	}
}

func TestError_CodeFromTypeOrStatus(t *testing.T) {
	f := newFake(t)
	f.handle("GET /v1/bundles/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		switch r.PathValue("id") {
		case "typed":
			w.WriteHeader(403)
			_, _ = w.Write([]byte(`{"type":"https://charta.dev/problems/forbidden","title":"Forbidden","status":403}`))
		default:
			w.WriteHeader(413)
			_, _ = w.Write([]byte(`{"title":"Too big","status":413,"with":5,"index":"x"}`))
		}
	})
	c := f.client()
	if _, err := c.Bundle(ctxT(t), "typed"); !errors.Is(err, ErrForbidden) {
		t.Errorf("type-only problem: %v, want ErrForbidden", err)
	}
	_, err := c.Bundle(ctxT(t), "status")
	var e *Error
	if !errors.As(err, &e) || e.Code != ledger.CodeTooLarge || e.Title != "Too big" {
		t.Errorf("status-only problem with odd extensions: %+v", err)
	}
	if string(e.Extensions["with"]) != "5" {
		t.Errorf("extensions = %s", e.Extensions)
	}
}

// TestDecodeError_IDTaken: the id_taken extension becomes a field.
func TestDecodeError_IDTaken(t *testing.T) {
	h := http.Header{"Content-Type": {"application/problem+json"}}
	e := decodeError(&http.Response{StatusCode: 409, Header: h},
		[]byte(`{"type":"https://charta.dev/problems/conflict","title":"Conflict","status":409,"code":"conflict","detail":"id: taken","id_taken":true}`))
	if e.Code != ledger.CodeConflict || !e.IDTaken {
		t.Fatalf("%+v", e)
	}
	e = decodeError(&http.Response{StatusCode: 409, Header: h},
		[]byte(`{"type":"https://charta.dev/problems/conflict","title":"Conflict","status":409,"code":"conflict","detail":"id: taken"}`))
	if e.IDTaken {
		t.Fatalf("IDTaken without the extension: %+v", e)
	}
}
