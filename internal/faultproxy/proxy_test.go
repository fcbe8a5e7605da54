package faultproxy

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"testing"
	"time"

	"github.com/charta/charta/consensus"
)

type pki struct {
	pool  *x509.CertPool
	certs map[string]tls.Certificate
}

func newPKI(t *testing.T, ids ...string) *pki {
	t.Helper()
	caCert, caKey, err := consensus.NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p := &pki{pool: x509.NewCertPool(), certs: map[string]tls.Certificate{}}
	p.pool.AppendCertsFromPEM(caCert)
	for _, id := range ids {
		c, k, err := consensus.IssueNodeCert(caCert, caKey, id, []string{"127.0.0.1"}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if p.certs[id], err = tls.X509KeyPair(c, k); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// echoServer is a TLS server as node id that echoes each connection and
// records the client certificate's node ID.
func echoServer(t *testing.T, p *pki, id string, peers chan<- string) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{p.certs[id]},
		ClientCAs: p.pool, ClientAuth: tls.RequireAndVerifyClientCert})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tc := c.(*tls.Conn)
				if err := tc.Handshake(); err != nil {
					return
				}
				src, _ := consensus.NodeIDFromCert(tc.ConnectionState().PeerCertificates[0])
				peers <- src
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func dial(t *testing.T, p *pki, from, addr string) (*tls.Conn, error) {
	t.Helper()
	return tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, &tls.Config{MinVersion: tls.VersionTLS13,
		Certificates: []tls.Certificate{p.certs[from]}, RootCAs: p.pool, InsecureSkipVerify: true})
}

func roundTrip(c net.Conn, msg string) (string, error) {
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		return "", err
	}
	b := make([]byte, len(msg))
	_, err := io.ReadFull(c, b)
	return string(b), err
}

func TestProxy_ForwardsAsSourceAndCuts(t *testing.T) {
	p := newPKI(t, "alpha", "beta", "gamma")
	peers := make(chan string, 10)
	target := echoServer(t, p, "beta", peers)
	links := NewLinks()
	cfg := DefaultConfig()
	cfg.Target, cfg.Self, cfg.CAs, cfg.Certs, cfg.Links = target, "beta", p.pool, p.certs, links
	px, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()

	c, err := dial(t, p, "alpha", px.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := roundTrip(c, "hello"); err != nil || got != "hello" {
		t.Fatalf("round trip: %q %v", got, err)
	}
	if src := <-peers; src != "alpha" {
		t.Fatalf("the node saw %q, want alpha", src)
	}
	if id, _ := consensus.NodeIDFromCert(c.ConnectionState().PeerCertificates[0]); id != "beta" {
		t.Fatalf("the dialer saw %q, want beta", id)
	}

	// Cutting beta -> alpha (the answers) resets the connection.
	links.Set("beta", "alpha", Rule{Cut: true})
	if _, err := roundTrip(c, "again"); err == nil {
		t.Fatal("a cut link still delivered")
	}
	// gamma is unaffected.
	g, err := dial(t, p, "gamma", px.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := roundTrip(g, "gamma"); err != nil || got != "gamma" {
		t.Fatalf("gamma: %q %v", got, err)
	}
	// alpha -> beta cut: new connections from alpha are refused.
	links.Set("alpha", "beta", Rule{Cut: true})
	if c2, err := dial(t, p, "alpha", px.Addr()); err == nil {
		if _, err := roundTrip(c2, "x"); err == nil {
			t.Fatal("a connection over a cut link delivered")
		}
	}
	links.Heal()
	c3, err := dial(t, p, "alpha", px.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := roundTrip(c3, "healed"); err != nil || got != "healed" {
		t.Fatalf("after heal: %q %v", got, err)
	}
}

func TestProxy_Delay(t *testing.T) {
	p := newPKI(t, "alpha", "beta")
	target := echoServer(t, p, "beta", make(chan string, 10))
	links := NewLinks()
	cfg := DefaultConfig()
	cfg.Target, cfg.Self, cfg.CAs, cfg.Certs, cfg.Links = target, "beta", p.pool, p.certs, links
	px, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	links.Set("alpha", "beta", Rule{Delay: 200 * time.Millisecond})
	c, err := dial(t, p, "alpha", px.Addr())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if got, err := roundTrip(c, "slow"); err != nil || got != "slow" {
		t.Fatalf("round trip: %q %v", got, err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("round trip took %v, want at least 200ms", d)
	}
}
