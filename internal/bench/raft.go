package bench

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	bolt "go.etcd.io/bbolt"

	"github.com/charta/charta/consensus"
)

// RaftNode names one server of a baseline Raft cluster.
type RaftNode struct {
	ID   string             // server ID
	Addr string             // loopback host:port to listen on
	TLS  consensus.TLSFiles // the node's mTLS identity, as Charta's nodes use
}

// RaftCluster is the raw-Raft baseline: hashicorp/raft servers in this
// process with the settings Charta's consensus package uses — the same
// timeouts, BatchApplyCh, a raft-boltdb log and stable store behind a
// 512-entry log cache, a file snapshot store, a network transport over
// mutual TLS 1.3 — and a state machine that does nothing but count.
type RaftCluster struct {
	rafts  []*raft.Raft
	closes []func() error
	fsms   []*countFSM
}

// StartRaftCluster starts the servers with their stores under dir, and
// waits up to 30 s for a leader.
func StartRaftCluster(dir string, nodes []RaftNode) (*RaftCluster, error) {
	c := &RaftCluster{}
	var conf raft.Configuration
	for _, n := range nodes {
		conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(n.ID), Address: raft.ServerAddress(n.Addr)})
	}
	cc := consensus.DefaultConfig()
	logger := hclog.New(&hclog.LoggerOptions{Level: hclog.Error, Output: io.Discard})
	for _, n := range nodes {
		nd := filepath.Join(dir, n.ID)
		if err := os.MkdirAll(filepath.Join(nd, "raft"), 0o700); err != nil {
			c.Close()
			return nil, fmt.Errorf("bench: %w", err)
		}
		b, err := raftboltdb.New(raftboltdb.Options{
			Path:        filepath.Join(nd, "raft", "raft.db"),
			BoltOptions: &bolt.Options{Timeout: 2 * time.Second, NoFreelistSync: true},
		})
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("bench: raft store: %w", err)
		}
		c.closes = append(c.closes, b.Close)
		logs, err := raft.NewLogCache(512, b)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("bench: %w", err)
		}
		snaps, err := raft.NewFileSnapshotStoreWithLogger(nd, 2, logger)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("bench: %w", err)
		}
		id, err := n.TLS.Load()
		if err != nil {
			c.Close()
			return nil, err
		}
		stream, err := newTLSStream(n.Addr, id)
		if err != nil {
			c.Close()
			return nil, err
		}
		trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
			Stream: stream, MaxPool: 3, Timeout: 10 * time.Second, Logger: logger,
		})
		c.closes = append(c.closes, trans.Close)
		rc := raft.DefaultConfig()
		rc.LocalID = raft.ServerID(n.ID)
		rc.Logger = logger
		rc.HeartbeatTimeout = cc.HeartbeatTimeout
		rc.ElectionTimeout = cc.ElectionTimeout
		rc.LeaderLeaseTimeout = cc.LeaderLeaseTimeout
		rc.CommitTimeout = cc.CommitTimeout
		rc.SnapshotThreshold = cc.SnapshotThreshold
		rc.SnapshotInterval = cc.SnapshotInterval
		rc.TrailingLogs = cc.TrailingLogs
		rc.BatchApplyCh = true
		rc.NoSnapshotRestoreOnStart = true
		if err := raft.BootstrapCluster(rc, logs, b, snaps, trans, conf); err != nil {
			c.Close()
			return nil, fmt.Errorf("bench: bootstrap: %w", err)
		}
		f := &countFSM{}
		r, err := raft.NewRaft(rc, f, logs, b, snaps, trans)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("bench: start raft: %w", err)
		}
		c.rafts = append(c.rafts, r)
		c.fsms = append(c.fsms, f)
	}
	deadline := time.Now().Add(30 * time.Second)
	for c.Leader() == nil {
		if time.Now().After(deadline) {
			c.Close()
			return nil, errors.New("bench: raft baseline: no leader within 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return c, nil
}

// Leader returns the current leader, or nil.
func (c *RaftCluster) Leader() *raft.Raft {
	for _, r := range c.rafts {
		if r.State() == raft.Leader {
			return r
		}
	}
	return nil
}

// Apply commits data through the leader and waits until the leader has
// applied it. During an election it waits up to a second for a leader, as
// a node's client would, rather than failing at once: a client spinning on
// "no leader" would count millions of errors and starve the election.
func (c *RaftCluster) Apply(data []byte) error {
	r := c.Leader()
	for wait := time.Now().Add(time.Second); r == nil; r = c.Leader() {
		if time.Now().After(wait) {
			return errors.New("bench: raft baseline: no leader")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return r.Apply(data, 10*time.Second).Error()
}

// Applied returns how many entries each server's state machine applied.
func (c *RaftCluster) Applied() []int64 {
	out := make([]int64, len(c.fsms))
	for i, f := range c.fsms {
		out[i] = f.n.Load()
	}
	return out
}

// Close shuts the servers down and closes their stores.
func (c *RaftCluster) Close() error {
	var errs []error
	for _, r := range c.rafts {
		errs = append(errs, r.Shutdown().Error())
	}
	for _, f := range c.closes {
		errs = append(errs, f())
	}
	c.rafts, c.closes = nil, nil
	return errors.Join(errs...)
}

// countFSM applies entries by counting them.
type countFSM struct{ n atomic.Int64 }

func (f *countFSM) Apply(*raft.Log) any { f.n.Add(1); return nil }

func (f *countFSM) Snapshot() (raft.FSMSnapshot, error) { return nopSnapshot{}, nil }

func (f *countFSM) Restore(rc io.ReadCloser) error { return rc.Close() }

type nopSnapshot struct{}

func (nopSnapshot) Persist(s raft.SnapshotSink) error { return s.Close() }
func (nopSnapshot) Release()                          {}

// tlsStream is a raft.StreamLayer over mutual TLS 1.3 with the node's
// certificate, as Charta's transport uses (without its membership policy,
// which is a map lookup per connection).
type tlsStream struct {
	net.Listener
	cfg *tls.Config
}

func newTLSStream(addr string, id *consensus.Identity) (*tlsStream, error) {
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{id.Cert},
		RootCAs:      id.CAs,
		ClientCAs:    id.CAs,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		// Peers are identified by node ID, not host name; the chain is
		// still verified against the CA by the server side.
		InsecureSkipVerify: true,
	}
	ln, err := tls.Listen("tcp", addr, cfg)
	if err != nil {
		return nil, fmt.Errorf("bench: raft baseline: %w", err)
	}
	return &tlsStream{Listener: ln, cfg: cfg}, nil
}

func (s *tlsStream) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	return tls.DialWithDialer(d, "tcp", string(addr), s.cfg)
}
