package consensus

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/raft"
)

// snapshotRPC frames an InstallSnapshot request in the name of alpha with
// a configuration and body, as raft's transport does.
func snapshotRPC(conf, body []byte) []byte {
	var b bytes.Buffer
	b.WriteByte(rpcInstallSnapshot)
	codec.NewEncoder(&b, &codec.MsgpackHandle{}).Encode(&raft.InstallSnapshotRequest{
		RPCHeader:       raft.RPCHeader{ProtocolVersion: 3, ID: []byte("alpha"), Addr: []byte("127.0.0.1:1")},
		SnapshotVersion: raft.SnapshotVersionMax, Term: 1, LastLogIndex: 9, Configuration: conf, Size: int64(len(body)),
	})
	b.Write(body)
	return b.Bytes()
}

func TestGuard_SnapshotReachesRaftOnlyOnceChecked(t *testing.T) {
	body := []byte("a snapshot the check accepts")
	conf := raft.EncodeConfiguration(raft.Configuration{Servers: []raft.Server{{ID: "alpha", Address: "127.0.0.1:1"}}})
	req := snapshotRPC(conf, body)
	pass := func(r io.Reader) (io.ReadCloser, error) {
		b, err := io.ReadAll(r)
		return io.NopCloser(bytes.NewReader(b)), err
	}
	refuse := func(r io.Reader) (io.ReadCloser, error) {
		io.Copy(io.Discard, r)
		return nil, errors.New("ledger: restore: not a Charta snapshot")
	}
	// A check that passes without reading the whole body has not checked it.
	skim := func(r io.Reader) (io.ReadCloser, error) {
		b := make([]byte, 4)
		io.ReadFull(r, b)
		return io.NopCloser(bytes.NewReader(b)), nil
	}
	for _, tc := range []struct {
		name  string
		req   []byte
		check func(io.Reader) (io.ReadCloser, error)
		pass  bool
	}{
		{"checked", req, pass, true},
		{"refused", req, refuse, false},
		{"no check", req, nil, false},
		{"partly read", req, skim, false},
		// raft would panic on it.
		{"undecodable configuration", snapshotRPC([]byte{0xc1}, body), pass, false},
		{"no configuration", snapshotRPC(nil, body), pass, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var dst bytes.Buffer
			err := guardRequests(bufio.NewReader(bytes.NewReader(tc.req)), &dst, "alpha", peerPolicy{
				expect:   func(string) (string, bool) { return "", false },
				snapshot: tc.check,
			})
			if tc.pass {
				if !errors.Is(err, io.EOF) || !bytes.Equal(dst.Bytes(), tc.req) {
					t.Fatalf("err %v; forwarded %q, want the request unchanged", err, dst.Bytes())
				}
				return
			}
			if err == nil || errors.Is(err, io.EOF) || !strings.Contains(err.Error(), "snapshot") || !isPrefixed(err) {
				t.Fatalf("err %v, want the snapshot refused", err)
			}
			if dst.Len() != 0 {
				t.Fatalf("%d bytes of a refused request reached raft", dst.Len())
			}
		})
	}
}

// A member that offers a follower a malformed snapshot must leave no trace
// in its snapshot store: Raft keeps a received snapshot before the ledger
// restores it, so before the guard checked snapshots, the follower kept the
// garbage (ahead of its ledger) and could not start again. A snapshot with
// an undecodable configuration made raft panic.
func TestGuard_MalformedSnapshotLeavesNoTrace(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.converged(c.propose("tok-1").Index)
	var fi int
	for i, n := range c.nodes {
		if !n.IsLeader() && n.ID() != "alpha" {
			fi = i
		}
	}
	f := c.nodes[fi]
	before := stateOf(t, f)
	var good bytes.Buffer
	if _, err := f.Backup(&good); err != nil {
		t.Fatal(err)
	}
	servers := raft.Configuration{}
	for i, id := range c.ids {
		servers.Servers = append(servers.Servers, raft.Server{ID: raft.ServerID(id), Address: raft.ServerAddress(c.cfgs[i].BindAddr)})
	}
	conf := raft.EncodeConfiguration(servers)

	trans := raft.NewNetworkTransport(dialer(t, identity(t, c.ca, "alpha"), nil), 1, 5*time.Second, io.Discard)
	defer trans.Close()
	for _, tc := range []struct {
		name       string
		conf, body []byte
	}{
		{"garbage", conf, []byte("not a snapshot at all")},
		{"undecodable configuration", []byte{0xc1}, good.Bytes()},
	} {
		st := f.Status()
		var resp raft.InstallSnapshotResponse
		err := trans.InstallSnapshot(raft.ServerID(f.ID()), raft.ServerAddress(c.cfgs[fi].BindAddr), &raft.InstallSnapshotRequest{
			RPCHeader:       raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("alpha"), Addr: []byte(c.cfgs[0].BindAddr)},
			SnapshotVersion: raft.SnapshotVersionMax, Term: st.Term, LastLogIndex: st.LastIndex + 100, LastLogTerm: st.Term,
			Configuration: tc.conf, ConfigurationIndex: 1, Size: int64(len(tc.body)),
		}, &resp, bytes.NewReader(tc.body))
		if err == nil && resp.Success {
			t.Fatalf("%s: the follower installed it", tc.name)
		}
		if snaps, err := f.st.snaps.List(); err != nil || len(snaps) != 0 {
			t.Fatalf("%s: the follower's snapshot store holds %d snapshots (err %v)", tc.name, len(snaps), err)
		}
		if got := stateOf(t, f); got != before {
			t.Fatalf("%s: the follower's state moved: %+v -> %+v", tc.name, before, got)
		}
	}
	c.stop(fi)
	c.start(fi)
	r := c.propose("tok-2")
	c.converged(r.Index)
}
