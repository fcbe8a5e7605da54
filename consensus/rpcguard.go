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
	"github.com/hashicorp/raft"
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
	// InstallSnapshot only.
	Size            int64
	SnapshotVersion int
	Configuration   []byte
}

// guardedConn is an accepted connection whose requests reach the
// transport only after their header names the node ID of the peer's
// certificate, so that a member cannot speak Raft in another's name (in a
// vote request, say). A request that names another ID, or an address the
// Raft configuration gives to another server, closes the connection.
//
// An InstallSnapshot request reaches the transport only once its
// configuration decodes (raft panics on one that does not) and the ledger
// has checked its body. Raft keeps a received snapshot in its store before
// the FSM restores it, and keeps it when the restore fails: the store would
// then hold a snapshot ahead of the ledger, which the node would try to
// restore on its next start (catchUpFromSnapshot) and would send to peers
// as leader. A refused snapshot also closes the connection.
//
// Responses (writes) pass straight through.
type guardedConn struct {
	net.Conn
	pr *io.PipeReader
}

func newGuardedConn(c net.Conn, peerID string, policy peerPolicy, log *slog.Logger) *guardedConn {
	pr, pw := io.Pipe()
	g := &guardedConn{Conn: c, pr: pr}
	go func() {
		err := guardRequests(bufio.NewReaderSize(c, 64<<10), pw, peerID, policy)
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
func guardRequests(src *bufio.Reader, dst io.Writer, peerID string, policy peerPolicy) error {
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
		if owner, ok := policy.expect(string(h.Addr)); ok && owner != peerID {
			return fmt.Errorf("consensus: peer %s claims address %s, which belongs to %s", peerID, h.Addr, owner)
		}
		var body io.ReadCloser
		if typ == rpcInstallSnapshot {
			if err := checkConfiguration(h); err != nil {
				return fmt.Errorf("consensus: peer %s offered a snapshot with %w", peerID, err)
			}
			if body, err = vetSnapshot(src, h.Size, peerID, policy.snapshot); err != nil {
				return err
			}
		}
		if err := forward(dst, typ, buf.Bytes(), body); err != nil {
			return err
		}
	}
}

// checkConfiguration decodes the configuration of an InstallSnapshot
// request as raft will, because raft panics on one it cannot decode.
func checkConfiguration(h rpcHeader) error {
	if h.SnapshotVersion < 1 { // raft reads the legacy Peers field instead, and returns its errors
		return nil
	}
	var conf raft.Configuration
	if err := codec.NewDecoder(bytes.NewReader(h.Configuration), &codec.MsgpackHandle{}).Decode(&conf); err != nil {
		return fmt.Errorf("an undecodable configuration: %v", err) // not %w: the guard does not log io.EOF
	}
	return nil
}

// vetSnapshot reads the size bytes of a snapshot from src and returns them
// once policy's check passes.
func vetSnapshot(src io.Reader, size int64, peerID string, check func(io.Reader) (io.ReadCloser, error)) (io.ReadCloser, error) {
	if size < 0 {
		return nil, fmt.Errorf("consensus: snapshot of negative size from %s", peerID)
	}
	if check == nil {
		return nil, fmt.Errorf("consensus: peer %s offered a snapshot, and no snapshot check is set", peerID)
	}
	lr := &io.LimitedReader{R: src, N: size}
	body, err := check(lr)
	if err == nil && lr.N != 0 {
		body.Close()
		err = fmt.Errorf("%d of %d bytes were checked", size-lr.N, size)
	}
	if err != nil {
		return nil, fmt.Errorf("consensus: peer %s offered a snapshot that is refused: %w", peerID, err)
	}
	return body, nil
}

// forward writes a request that passed the guard, and closes its body.
func forward(dst io.Writer, typ uint8, req []byte, body io.ReadCloser) error {
	if body != nil {
		defer body.Close()
	}
	if _, err := dst.Write([]byte{typ}); err != nil {
		return err
	}
	if _, err := dst.Write(req); err != nil {
		return err
	}
	if body != nil {
		if _, err := io.Copy(dst, body); err != nil {
			return err
		}
	}
	return nil
}
