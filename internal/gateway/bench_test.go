package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// cannedUpstream answers every request at once, without a network.
type cannedUpstream struct{}

func (cannedUpstream) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}}, ContentLength: 2,
		Body: io.NopCloser(strings.NewReader("{}")), Request: r}, nil
}

// BenchmarkGateway_CachedAllow is the gateway's own work for one request
// whose caller and decision are cached: the hot path, without the
// network on either side.
func BenchmarkGateway_CachedAllow(b *testing.B) {
	node := newFakeNode(&testing.T{})
	defer node.ts.Close()
	g := testGateway(&testing.T{}, node, "http://upstream.invalid", oneRoute, nil)
	for i := range g.routes {
		g.routes[i].proxy.Transport = cannedUpstream{}
	}
	warm := httptest.NewRecorder()
	g.ServeHTTP(warm, benchRequest())
	if warm.Code != 200 {
		b.Fatalf("%d %s", warm.Code, warm.Body)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w := httptest.NewRecorder()
			g.ServeHTTP(w, benchRequest())
		}
	})
}

func benchRequest() *http.Request {
	r := httptest.NewRequest("GET", "/v1/infer/chat", nil)
	r.Header.Set("Authorization", "Bearer beta-token")
	return r
}
