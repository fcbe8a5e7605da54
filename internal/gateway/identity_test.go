package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/charta/charta/consensus"
	"github.com/charta/charta/node/api"
)

// TestGateway_ClientCertificate names the caller from an mTLS client
// certificate of the consortium CA (charta://node/<member>), without a
// token; a certificate from another CA is not accepted, and the caller
// falls back to needing a token.
func TestGateway_ClientCertificate(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caCert, caKey, err := consensus.NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srvCert, srvKey, err := consensus.IssueNodeCert(caCert, caKey, "alpha", []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	betaCert, betaKey, err := consensus.IssueNodeCert(caCert, caKey, "beta", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	otherCA, otherKey, _ := consensus.NewCA("other CA", time.Hour)
	rogueCert, rogueKey, _ := consensus.IssueNodeCert(otherCA, otherKey, "beta", nil, time.Hour)

	node, up := newFakeNode(t), newUpstream(t)
	g := testGateway(t, node, up.ts.URL, oneRoute, func(c *Config) {
		c.TLSCert, c.TLSKey, c.ClientCA = write("gw.crt", srvCert), write("gw.key", srvKey), write("ca.crt", caCert)
	})
	tc, err := g.tlsConfig()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(g)
	srv.TLS = tc
	srv.StartTLS()
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caCert)
	get := func(certPEM, keyPEM []byte) (int, string) {
		t.Helper()
		cfg := &tls.Config{RootCAs: roots}
		if certPEM != nil {
			c, err := tls.X509KeyPair(certPEM, keyPEM)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Certificates = []tls.Certificate{c}
		}
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
		resp, err := hc.Get(srv.URL + "/v1/infer")
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(betaCert, betaKey); code != 200 {
		t.Fatalf("beta's certificate: %d %s", code, body)
	}
	if m := up.lastRequest().Header.Get(HeaderMember); m != "beta" {
		t.Fatalf("Charta-Member %q, want beta", m)
	}
	if code, _ := get(nil, nil); code != 401 {
		t.Fatalf("no certificate, no token: %d, want 401", code)
	}
	if code, _ := get(rogueCert, rogueKey); code == 200 {
		t.Fatal("a certificate from another CA was accepted")
	}
}

// TestIdentities_CappedAtDecisionTTLWhileStreamDown: while the event
// stream is down, nothing can retire a cached identity when its token is
// revoked, so it is used for at most the decision TTL, not the identity
// TTL; while the stream is up the identity TTL applies.
func TestIdentities_CappedAtDecisionTTLWhileStreamDown(t *testing.T) {
	node := newFakeNode(t)
	g := testGateway(t, node, "http://upstream.invalid", oneRoute, func(c *Config) {
		c.IdentityTTL, c.DecisionTTL = time.Hour, 50*time.Millisecond
	})
	var asked int
	g.ids.whoami = func(ctx context.Context, k int, token string) (*api.Whoami, error) {
		asked++
		return &api.Whoami{Member: "beta"}, nil
	}
	resolve := func() {
		t.Helper()
		if m, p := g.ids.member(context.Background(), "beta-token"); p != nil || m != "beta" {
			t.Fatalf("member %q, %v", m, p)
		}
	}
	resolve()
	resolve()
	if asked != 1 {
		t.Fatalf("asked %d times, want 1 (cached)", asked)
	}
	time.Sleep(60 * time.Millisecond) // past the decision TTL, well within the identity TTL
	resolve()
	if asked != 2 {
		t.Fatalf("asked %d times with the stream down, want 2: a cached identity outlived the decision TTL", asked)
	}
	g.ids.streaming.Store(true)
	time.Sleep(60 * time.Millisecond)
	resolve()
	if asked != 2 {
		t.Fatalf("asked %d times with the stream up, want 2 (the identity TTL applies)", asked)
	}
}

// TestIdentities_WhoamiAtTheReadFloor: a token is resolved by a node that
// has applied every entry the gateway has seen (min_index, the read
// floor), so that a revocation the event stream delivered is honoured.
func TestIdentities_WhoamiAtTheReadFloor(t *testing.T) {
	node := newFakeNode(t)
	g := testGateway(t, node, "http://upstream.invalid", oneRoute, nil)
	g.nodes.raiseFloor(42)
	if m, p := g.ids.member(context.Background(), "beta-token"); p != nil || m != "beta" {
		t.Fatalf("member %q, %v", m, p)
	}
	if q, _ := node.whoamiQuery.Load().(string); q != "consistency=stale&min_index=42" {
		t.Fatalf("whoami query %q", q)
	}
}
