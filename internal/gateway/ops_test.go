package gateway

import (
	"context"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestGateway_MetricsOnlyOnOperationsAddress: /metrics, which shows
// every member's metered quantities, is not served to callers; the
// operations handler serves it, and the health endpoints are on both.
func TestGateway_MetricsOnlyOnOperationsAddress(t *testing.T) {
	node, up := newFakeNode(t), newUpstream(t)
	g := testGateway(t, node, up.ts.URL, meteredRoute, nil)
	problemOf(t, call(t, g, "GET", "/metrics", ""), 404, "not_found")
	w := httptest.NewRecorder()
	g.OpsHandler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	if w.Code != 200 || !strings.Contains(w.Body.String(), "charta_gateway_requests_total") {
		t.Fatalf("operations /metrics: %d\n%.300s", w.Code, w.Body)
	}
	if w := call(t, g, "GET", "/healthz", ""); w.Code != 200 {
		t.Errorf("callers' /healthz: %d", w.Code)
	}
	w = httptest.NewRecorder()
	g.OpsHandler().ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
	if w.Code != 200 {
		t.Errorf("operations /readyz: %d %s", w.Code, w.Body)
	}
}

// TestGateway_MetricsListenTaken: an operations address that cannot be
// bound stops the gateway from starting, naming the flag.
func TestGateway_MetricsListenTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	node, up := newFakeNode(t), newUpstream(t)
	g := testGateway(t, node, up.ts.URL, oneRoute, func(c *Config) { c.Listen, c.MetricsListen = "127.0.0.1:0", ln.Addr().String() })
	err = g.Run(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "metrics-listen") {
		t.Fatalf("Run: %v, want a metrics-listen error", err)
	}
}

// TestGateway_ReadyzHidesJournalError: with the journal closed, /readyz
// answers 503 with a fixed message, not the error, which names the
// host's files.
func TestGateway_ReadyzHidesJournalError(t *testing.T) {
	node, up := newFakeNode(t), newUpstream(t)
	g := testGateway(t, node, up.ts.URL, oneRoute, nil)
	g.j.db.Close()
	p := problemOf(t, call(t, g, "GET", "/readyz", ""), 503, "unavailable")
	if p["detail"] != "the gateway's journal is not open" {
		t.Fatalf("detail %q", p["detail"])
	}
}
