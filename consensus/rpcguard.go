package consensus

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

// The RPC types of raft's NetworkTransport wire protocol (net_transport.go):
// each request is one type byte and a msgpack-encoded request; an
// InstallSnapshot request is followed by Size bytes of snapshot.
const (
	rpcAppendEntries uint8 = iota
	rpcRequestVote
	rpcInstallSnapshot
	rpcTimeoutNow
	rpcRequestPreVote
)

// rpcHeader holds what the guard needs of a request. The msgpack codec
// inlines raft's embedded RPCHeader, so its ID and Addr are top-level
// fields of every request; the other fields are skipped.
type rpcHeader struct {
	ID   []byte
	Addr []byte
	Size int64 // InstallSnapshot only
}

// guardedConn is an accepted connection whose requests reach the
// transport only after their header names the node ID of the peer's
// certificate, so that a member cannot speak Raft in another's name (in a
// vote request, say). A request that names another ID, or an address the
// Raft configuration gives to another server, closes the connection.
// Responses (writes) pass straight through.
type guardedConn struct {
	net.Conn
	pr *io.PipeReader
}

func newGuardedConn(c net.Conn, peerID string, expect func(addr string) (string, bool), log *slog.Logger) *guardedConn {
	pr, pw := io.Pipe()
	g := &guardedConn{Conn: c, pr: pr}
	go func() {
		err := guardRequests(bufio.NewReaderSize(c, 64<<10), pw, peerID, expect)
		if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.ErrClosedPipe) {
			log.Warn("raft peer connection closed", "peer", peerID, "remote", c.RemoteAddr().String(), "err", err)
		}
		pw.CloseWithError(err)
		c.Close()
	}()
	return g
}

// Read returns request bytes that passed the guard.
func (g *guardedConn) Read(p []byte) (int, error) { return g.pr.Read(p) }

// Close closes the connection and stops the guard.
func (g *guardedConn) Close() error {
	g.pr.Close()
	return g.Conn.Close()
}

// guardRequests copies requests from src to dst, each after checking it.
func guardRequests(src *bufio.Reader, dst io.Writer, peerID string, expect func(string) (string, bool)) error {
	var buf bytes.Buffer
	// Reading through a plain io.Reader makes the decoder consume exactly
	// one request, which is then in buf.
	dec := codec.NewDecoder(io.TeeReader(src, &buf), &codec.MsgpackHandle{})
	for {
		buf.Reset()
		typ, err := src.ReadByte()
		if err != nil {
			return err
		}
		if typ > rpcRequestPreVote {
			return fmt.Errorf("consensus: unknown raft rpc type %d from %s", typ, peerID)
		}
		var h rpcHeader
		if err := dec.Decode(&h); err != nil {
			return fmt.Errorf("consensus: undecodable raft rpc from %s: %w", peerID, err)
		}
		if len(h.Addr) == 0 {
			// Without an address raft falls back to the legacy Candidate
			// and Leader fields, which this guard does not check.
			return fmt.Errorf("consensus: peer %s sent a raft rpc without its address", peerID)
		}
		if string(h.ID) != peerID {
			return fmt.Errorf("consensus: peer %s sent a raft rpc in the name of %q", peerID, h.ID)
		}
		if owner, ok := expect(string(h.Addr)); ok && owner != peerID {
			return fmt.Errorf("consensus: peer %s claims address %s, which belongs to %s", peerID, h.Addr, owner)
		}
		if _, err := dst.Write([]byte{typ}); err != nil {
			return err
		}
		if _, err := dst.Write(buf.Bytes()); err != nil {
			return err
		}
		if typ == rpcInstallSnapshot {
			if h.Size < 0 {
				return fmt.Errorf("consensus: snapshot of negative size from %s", peerID)
			}
			if _, err := io.CopyN(dst, src, h.Size); err != nil {
				return err
			}
		}
	}
}
