package node

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestReadBody reads bodies with and without a declared length, and over
// the limit.
func TestReadBody(t *testing.T) {
	for _, tc := range []struct {
		body     string
		declared bool
		limit    int64
		wantErr  bool
	}{
		{"", true, 10, false},
		{"hello", true, 10, false},
		{"hello", false, 10, false},
		{"0123456789", true, 10, false},
		{"0123456789a", true, 10, true},
		{"0123456789a", false, 10, true},
		{strings.Repeat("x", 70000), true, 1 << 20, false},
	} {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tc.body))
		if !tc.declared {
			r.ContentLength = -1
		}
		b, err := readBody(httptest.NewRecorder(), r, tc.limit)
		if (err != nil) != tc.wantErr || (!tc.wantErr && string(b) != tc.body) {
			t.Errorf("%d bytes (declared %v, limit %d): %d bytes, err %v", len(tc.body), tc.declared, tc.limit, len(b), err)
		}
	}
}
