package gateway

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// TestGateway_RefusesUnresolvedPaths refuses, before matching a route, a
// path with a dot-segment or an empty segment, percent-encoded ones
// included: the upstream would resolve it to a resource outside the
// route. Paths that only look alike go through.
func TestGateway_RefusesUnresolvedPaths(t *testing.T) {
	node, up := newFakeNode(t), newUpstream(t)
	g := testGateway(t, node, up.ts.URL, oneRoute, nil)
	for _, path := range []string{
		"/v1/infer/../admin",
		"/v1/infer/..",
		"/v1/infer/./chat",
		"/v1/infer//chat",
		"//v1/infer",
		"/v1/infer/%2e%2e/admin",
		"/v1/infer/%2E%2e",
		"/v1/infer/..%2fadmin",
		"/v1/infer/..%5cadmin",
		"/v1/infer/%252e%252e/admin",
		"/v1/infer/chat%2f%2fx",
	} {
		problemOf(t, call(t, g, "GET", path, "beta-token"), 400, "invalid")
	}
	if n := up.hits.Load(); n != 0 {
		t.Fatalf("upstream hits %d, want 0", n)
	}
	for _, path := range []string{"/v1/infer", "/v1/infer/", "/v1/infer/a.b", "/v1/infer/..x/y.", "/v1/infer/chat?next=../x"} {
		if w := call(t, g, "GET", path, "beta-token"); w.Code != 200 {
			t.Errorf("%s: %d %s", path, w.Code, w.Body)
		}
	}
}

// TestGateway_StripsMemberLookalikes: a caller's header that a CGI or
// WSGI upstream would read as Charta-Member (Charta_Member, any case)
// never reaches the upstream; only the gateway's own does.
func TestGateway_StripsMemberLookalikes(t *testing.T) {
	node, up := newFakeNode(t), newUpstream(t)
	g := testGateway(t, node, up.ts.URL, oneRoute, nil)
	r := httptest.NewRequest("GET", "/v1/infer", nil)
	r.Header.Set("Authorization", "Bearer beta-token")
	for _, name := range []string{"Charta_Member", "CHARTA_MEMBER", "charta-member", "Charta_member"} {
		r.Header[name] = []string{"alpha"} // as sent, not canonicalised
	}
	w := httptest.NewRecorder()
	g.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	got := up.lastRequest().Header
	for name, v := range got {
		if strings.ReplaceAll(strings.ToLower(name), "_", "-") == "charta-member" && (name != HeaderMember || len(v) != 1 || v[0] != "beta") {
			t.Errorf("upstream got %s: %q", name, v)
		}
	}
	if got.Get(HeaderMember) != "beta" {
		t.Errorf("Charta-Member %q, want beta", got.Get(HeaderMember))
	}
}
