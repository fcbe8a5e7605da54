package client

import (
	"net/http"
	"strconv"
	"testing"
	"unicode/utf8"
)

// FuzzDecodeError feeds arbitrary error responses (status, Content-Type,
// Retry-After and body) to the problem+json decoder: it never panics, every
// answer has a code and a one-line message, the status is kept, a wait is
// never negative, and a non-problem body is cut to a short, valid snippet.
func FuzzDecodeError(f *testing.F) {
	f.Add(404, "application/problem+json", "", `{"type":"https://charta.dev/problems/not_found","title":"Not Found","status":404,"detail":"no grant g-1","code":"not_found"}`)
	f.Add(409, "application/problem+json; charset=utf-8", "", `{"code":"conflict","detail":"taken","with":"g-2"}`)
	f.Add(422, "application/problem+json", "", `{"code":"rejected","index":7,"seq":3,"entry_hash":"00","outcome":{"status":"rejected","code":"quota_exceeded"}}`)
	f.Add(429, "application/problem+json", "3", `{"code":"rate_limited","retry_after":1.5}`)
	f.Add(503, "application/json", "Wed, 21 Oct 2015 07:28:00 GMT", `{"title":"x","retry_after":1e300}`)
	f.Add(500, "text/html", "", "<html>\n<body>oops</body></html>")
	f.Add(502, "", "", "\xff\xfe bad gateway")
	f.Add(400, "application/problem+json", "", `{"code":"","type":"https://charta.dev/problems/a/b","resubmit":"yes"}`)
	f.Fuzz(func(t *testing.T, status int, contentType, retryAfter, body string) {
		h := http.Header{}
		h.Set("Content-Type", contentType)
		h.Set("Retry-After", retryAfter)
		h.Set("X-Charta-Index", strconv.Itoa(status))
		e := decodeError(&http.Response{StatusCode: status, Header: h}, []byte(body))
		if e.Status != status {
			t.Fatalf("status %d became %d", status, e.Status)
		}
		if e.Code == "" {
			t.Fatal("an error without a code")
		}
		if e.RetryAfter < 0 {
			t.Fatalf("negative Retry-After %v", e.RetryAfter)
		}
		msg := e.Error()
		if msg == "" {
			t.Fatal("an empty message")
		}
		if e.Extensions == nil {
			// Not a problem document: the detail is a trimmed snippet.
			if !utf8.ValidString(e.Detail) || len(e.Detail) > maxSnippet+len("…") {
				t.Fatalf("snippet %q is not short valid UTF-8", e.Detail)
			}
			for _, r := range e.Detail {
				if r == '\n' || r == '\r' {
					t.Fatalf("snippet %q spans lines", e.Detail)
				}
			}
		}
	})
}
