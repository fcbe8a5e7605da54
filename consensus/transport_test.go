package consensus

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/raft"
)

func identity(t *testing.T, ca *testCA, id string) *Identity {
	t.Helper()
	i, err := ca.files(t, id).Load()
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// echoLayer is a stream layer for id that admits everyone and echoes
// every accepted connection.
func echoLayer(t *testing.T, ca *testCA, id string) *streamLayer {
	t.Helper()
	addr := freeAddr(t)
	s, err := newStreamLayer(addr, addr, identity(t, ca, id), peerPolicy{
		admit:  func(string) error { return nil },
		expect: func(string) (string, bool) { return "", false },
	}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	go func() {
		for {
			c, err := s.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	return s
}

// dialer is a stream layer used only to dial.
func dialer(t *testing.T, id *Identity, expect map[string]string) *streamLayer {
	t.Helper()
	addr := freeAddr(t)
	s, err := newStreamLayer(addr, addr, id, peerPolicy{
		admit: func(string) error { return nil },
		expect: func(a string) (string, bool) {
			id, ok := expect[a]
			return id, ok
		},
	}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// rpc encodes a TimeoutNow request in the name of id, as raft's
// transport frames it.
func rpc(id string) []byte {
	var b bytes.Buffer
	b.WriteByte(rpcTimeoutNow)
	codec.NewEncoder(&b, &codec.MsgpackHandle{}).Encode(&raft.TimeoutNowRequest{RPCHeader: raft.RPCHeader{ProtocolVersion: 3, ID: []byte(id), Addr: []byte("127.0.0.1:1")}})
	return b.Bytes()
}

// roundTrip sends a request in the name of id to an echo server and reads
// it back: a server that refused our certificate answers with an alert
// instead (TLS 1.3 clients learn it on their first read), and one whose
// guard refused the request closes the connection.
func roundTrip(c net.Conn, id string) error {
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	req := rpc(id)
	if _, err := c.Write(req); err != nil {
		return err
	}
	b := make([]byte, len(req))
	if _, err := io.ReadFull(c, b); err != nil {
		return err
	}
	if !bytes.Equal(b, req) {
		return errors.New("echo mismatch")
	}
	return nil
}

func TestTransport_RefusesWrongCert(t *testing.T) {
	ca, other := newTestCA(t), newTestCA(t)
	srv := echoLayer(t, ca, "beta")
	addr := raft.ServerAddress(srv.Addr().String())

	// Control: the right CA and the expected ID.
	c, err := dialer(t, identity(t, ca, "alpha"), map[string]string{string(addr): "beta"}).Dial(addr, 3*time.Second)
	if err != nil {
		t.Fatalf("dial with a good certificate: %v", err)
	}
	if err := roundTrip(c, "alpha"); err != nil {
		t.Fatalf("round trip with a good certificate: %v", err)
	}
	// The same client speaking in the name of another node is cut off.
	c, err = dialer(t, identity(t, ca, "alpha"), nil).Dial(addr, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(c, "gamma"); err == nil {
		t.Fatal("a request in another node's name passed the guard")
	}

	// A client certificate from another CA: the server refuses it.
	if c, err := dialer(t, identity(t, other, "alpha"), nil).Dial(addr, 3*time.Second); err == nil {
		if err := roundTrip(c, "alpha"); err == nil {
			t.Fatal("the server accepted a client certificate from another CA")
		}
	}

	// A server certificate from another CA: the client refuses it.
	rogue := echoLayer(t, other, "beta")
	if c, err := dialer(t, identity(t, ca, "alpha"), nil).Dial(raft.ServerAddress(rogue.Addr().String()), 3*time.Second); err == nil {
		c.Close()
		t.Fatal("the client accepted a server certificate from another CA")
	}

	// The right CA, but the server at this address should be gamma.
	_, err = dialer(t, identity(t, ca, "alpha"), map[string]string{string(addr): "gamma"}).Dial(addr, 3*time.Second)
	if err == nil || !strings.Contains(err.Error(), "expected node gamma") {
		t.Fatalf("a server presenting beta's certificate where gamma is expected: %v", err)
	}
}

func TestTransport_RefusesNonMember(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.leader()
	target := c.followers()[0].cfg.BindAddr
	dial := func(id string) error {
		ident := identity(t, c.ca, id)
		conn, err := tls.Dial("tcp", target, &tls.Config{
			MinVersion:   tls.VersionTLS13,
			Certificates: []tls.Certificate{ident.Cert},
			RootCAs:      ident.CAs,
			ServerName:   "127.0.0.1",
		})
		if err != nil {
			return err
		}
		defer conn.Close()
		// Raft waits for our RPC, so a read times out on an admitted
		// connection and fails at once on a refused one.
		conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		_, err = conn.Read(make([]byte, 1))
		return err
	}
	var ne net.Error
	if err := dial("gamma"); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("a member's certificate: want an open connection, got %v", err)
	}
	err := dial("mallory")
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("a non-member's certificate from the consortium CA was admitted: %v", err)
	}
	// The policy itself.
	n := c.followers()[0]
	if err := n.admitPeer("mallory"); err == nil || !isPrefixed(err) {
		t.Fatalf("admitPeer(mallory): %v", err)
	}
	if err := n.admitPeer("alpha"); err != nil {
		t.Fatalf("admitPeer(alpha): %v", err)
	}
}

func TestPKI_RoundTrip(t *testing.T) {
	caPEM, caKey, err := NewCA("ca", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := IssueNodeCert(caPEM, caKey, "alpha", []string{"10.0.0.7", "node-a.example"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	leaf := pair.Leaf
	id, err := NodeIDFromCert(leaf)
	if err != nil || id != "alpha" {
		t.Fatalf("NodeIDFromCert: %q %v", id, err)
	}
	if len(leaf.IPAddresses) != 1 || leaf.IPAddresses[0].String() != "10.0.0.7" || len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != "node-a.example" {
		t.Fatalf("SANs: %v %v", leaf.IPAddresses, leaf.DNSNames)
	}
	if leaf.URIs[0].String() != "charta://node/alpha" {
		t.Fatalf("URI SAN: %v", leaf.URIs)
	}
	noID := *leaf
	noID.URIs = nil
	if _, err := NodeIDFromCert(&noID); err == nil {
		t.Fatal("a certificate without a URI SAN names a node")
	}
	twoIDs := *leaf
	twoIDs.URIs = append(append([]*url.URL(nil), leaf.URIs...), &url.URL{Scheme: "charta", Host: "node", Path: "/beta"})
	if _, err := NodeIDFromCert(&twoIDs); err == nil {
		t.Fatal("a certificate naming two nodes names one")
	}
	ca, err := parseCertPEM(caPEM)
	if err != nil {
		t.Fatal(err)
	}
	if !ca.IsCA || leaf.IsCA {
		t.Fatal("CA flags")
	}
	if err := leaf.CheckSignatureFrom(ca); err != nil {
		t.Fatalf("the node certificate is not signed by the CA: %v", err)
	}
	if _, _, err := IssueNodeCert(caPEM, caKey, "Not An ID", nil, time.Hour); err == nil {
		t.Fatal("issued a certificate for an invalid ID")
	}
	if _, _, err := IssueNodeCert(caPEM, []byte("junk"), "alpha", nil, time.Hour); err == nil {
		t.Fatal("issued a certificate with a junk CA key")
	}

	// Load from files: a matching set loads; a certificate of another CA
	// does not.
	tca := newTestCA(t)
	f := tca.files(t, "beta")
	ident, err := f.Load()
	if err != nil || ident.ID != "beta" {
		t.Fatalf("Load: %+v %v", ident, err)
	}
	bad := f
	bad.CAFile = newTestCA(t).files(t, "beta").CAFile
	if _, err := bad.Load(); err == nil {
		t.Fatal("loaded a certificate that does not chain to the CA")
	}
	mismatch := f
	mismatch.KeyFile = tca.files(t, "beta").KeyFile
	if _, err := mismatch.Load(); err == nil {
		t.Fatal("loaded a key that does not match the certificate")
	}
}
