package consensus

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// handshakeTimeout bounds a TLS handshake, so that a peer that connects and
// stays silent cannot hold a goroutine for ever.
const handshakeTimeout = 10 * time.Second

// peerPolicy decides which peers the transport talks to. It is called with
// the node ID of a peer's certificate after the certificate chained to the
// consortium CA.
type peerPolicy struct {
	// admit returns an error if the node with this ID may not talk Raft
	// with us (not a member, or removed).
	admit func(id string) error
	// expect returns the ID of the server at a Raft address, if known.
	expect func(addr string) (id string, ok bool)
	// snapshot checks the body of an InstallSnapshot request before Raft
	// reads it, and returns the body to be read again; nil refuses every
	// snapshot.
	snapshot func(body io.Reader) (io.ReadCloser, error)
}

// streamLayer is a raft.StreamLayer over mutual TLS 1.3. Both sides present
// a certificate issued by the consortium CA and bound to a node ID; the
// listener admits only peers the policy admits, and the dialer also
// refuses a server whose ID is not the one expected at that address.
type streamLayer struct {
	tcp       net.Listener
	advertise net.Addr
	id        *Identity
	policy    peerPolicy
	log       *slog.Logger

	conns     chan net.Conn
	closed    chan struct{}
	closeOnce sync.Once
}

var _ raft.StreamLayer = (*streamLayer)(nil)

func newStreamLayer(bind, advertise string, id *Identity, policy peerPolicy, log *slog.Logger) (*streamLayer, error) {
	adv, err := net.ResolveTCPAddr("tcp", advertise)
	if err != nil {
		return nil, fmt.Errorf("consensus: advertise address: %w", err)
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, fmt.Errorf("consensus: listen: %w", err)
	}
	s := &streamLayer{
		tcp: ln, advertise: adv, id: id, policy: policy, log: log,
		conns: make(chan net.Conn), closed: make(chan struct{}),
	}
	go s.acceptLoop()
	return s, nil
}

func (s *streamLayer) baseTLS() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{s.id.Cert},
		RootCAs:      s.id.CAs,
		ClientCAs:    s.id.CAs,
	}
}

func (s *streamLayer) serverTLS() *tls.Config {
	c := s.baseTLS()
	c.ClientAuth = tls.RequireAndVerifyClientCert
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		id, err := NodeIDFromCert(cs.PeerCertificates[0])
		if err != nil {
			return err
		}
		return s.policy.admit(id)
	}
	return c
}

func (s *streamLayer) clientTLS(addr string) *tls.Config {
	c := s.baseTLS()
	// The server is identified by the node ID in its certificate, not by
	// the host name: verification is done below, against the CA.
	c.InsecureSkipVerify = true
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("consensus: peer presented no certificate")
		}
		leaf := cs.PeerCertificates[0]
		var inter [][]byte
		for _, c := range cs.PeerCertificates[1:] {
			inter = append(inter, c.Raw)
		}
		if err := verifyChain(leaf, inter, s.id.CAs, x509.ExtKeyUsageServerAuth); err != nil {
			return fmt.Errorf("consensus: peer %s: %w", addr, err)
		}
		id, err := NodeIDFromCert(leaf)
		if err != nil {
			return fmt.Errorf("consensus: peer %s: %w", addr, err)
		}
		if want, ok := s.policy.expect(addr); ok && want != id {
			return fmt.Errorf("consensus: peer %s presented the certificate of node %s, expected node %s", addr, id, want)
		}
		return s.policy.admit(id)
	}
	return c
}

func (s *streamLayer) acceptLoop() {
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			select {
			case <-s.closed:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			s.log.Warn("raft listener stopped", "err", err)
			s.Close()
			return
		}
		go s.handshake(c)
	}
}

// handshake runs the server side of the TLS handshake off the accept loop,
// so that a slow or hostile peer cannot hold up the others.
func (s *streamLayer) handshake(c net.Conn) {
	tc := tls.Server(c, s.serverTLS())
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		s.log.Warn("raft peer refused", "remote", c.RemoteAddr().String(), "err", err)
		tc.Close()
		return
	}
	id, err := NodeIDFromCert(tc.ConnectionState().PeerCertificates[0])
	if err != nil { // already checked in the handshake
		tc.Close()
		return
	}
	g := newGuardedConn(tc, id, s.policy, s.log)
	select {
	case s.conns <- g:
	case <-s.closed:
		g.Close()
	}
}

// Accept returns the next authenticated connection.
func (s *streamLayer) Accept() (net.Conn, error) {
	select {
	case c := <-s.conns:
		return c, nil
	case <-s.closed:
		return nil, net.ErrClosed
	}
}

// Close stops the listener. Established connections belong to the
// transport, which closes them.
func (s *streamLayer) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closed)
		err = s.tcp.Close()
	})
	return err
}

// Addr is the address peers dial.
func (s *streamLayer) Addr() net.Addr { return s.advertise }

// Dial opens an authenticated connection to the server at address.
func (s *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: s.clientTLS(string(address))}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return d.DialContext(ctx, "tcp", string(address))
}
