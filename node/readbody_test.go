package node

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestReadBody reads bodies with and without a declared length, longer
// than declared, and over the limit; a declared length sizes the buffer
// once, up to maxPrealloc.
func TestReadBody(t *testing.T) {
	for _, tc := range []struct {
		body     string
		declared int64 // -1: none
		limit    int64
		wantErr  bool
		wantCap  int // 0: not checked
	}{
		{"", 0, 10, false, 0},
		{"hello", 5, 10, false, 6},
		{"hello", -1, 10, false, 0},
		{"hello", 2, 10, false, 0}, // longer than declared: the buffer grows
		{"hello", 2, 4, true, 0},   // and the limit still holds
		{"0123456789", 10, 10, false, 11},
		{"0123456789a", 11, 10, true, 0},
		{"0123456789a", -1, 10, true, 0},
		{strings.Repeat("x", 70000), 70000, 1 << 20, false, 0},
	} {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tc.body))
		r.ContentLength = tc.declared
		b, err := readBody(httptest.NewRecorder(), r, tc.limit)
		if (err != nil) != tc.wantErr || (!tc.wantErr && string(b) != tc.body) {
			t.Errorf("%d bytes (declared %d, limit %d): %d bytes, err %v", len(tc.body), tc.declared, tc.limit, len(b), err)
		}
		if tc.wantCap != 0 && cap(b) != tc.wantCap {
			t.Errorf("%d bytes declared: buffer of %d bytes, want %d", tc.declared, cap(b), tc.wantCap)
		}
	}
	// A large declared length is not allocated before the bytes arrive.
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("x"))
	r.ContentLength = 1 << 20
	b, _ := readBody(httptest.NewRecorder(), r, 1<<20)
	if cap(b) > maxPrealloc+1 {
		t.Errorf("declared 1 MiB, sent 1 byte: buffer of %d bytes", cap(b))
	}
}
