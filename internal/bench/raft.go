package bench

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
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
	ID   string             `json:"id"`   // server ID
	Addr string             `json:"addr"` // loopback host:port to listen on
	TLS  consensus.TLSFiles `json:"tls"`  // the node's mTLS identity, as Charta's nodes use
}

// RaftServer is one server of the raw-Raft baseline, run in its own
// process as a node is, with the settings Charta's consensus package uses
// — the same timeouts, BatchApplyCh, a raft-boltdb log and stable store
// behind a 512-entry log cache, a file snapshot store, a network transport
// over mutual TLS 1.3 — and a state machine that does nothing but count.
type RaftServer struct {
	r      *raft.Raft
	fsm    *countFSM
	closes []func() error
}

// StartRaftServer starts the server self of the cluster all, with its
// stores under dir/<id>; the first start bootstraps the configuration.
func StartRaftServer(dir string, self RaftNode, all []RaftNode) (*RaftServer, error) {
	s := &RaftServer{}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()
	var conf raft.Configuration
	for _, n := range all {
		conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(n.ID), Address: raft.ServerAddress(n.Addr)})
	}
	cc := consensus.DefaultConfig()
	logger := hclog.New(&hclog.LoggerOptions{Level: hclog.Error, Output: io.Discard})
	nd := filepath.Join(dir, self.ID)
	if err := os.MkdirAll(filepath.Join(nd, "raft"), 0o700); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	b, err := raftboltdb.New(raftboltdb.Options{
		Path:        filepath.Join(nd, "raft", "raft.db"),
		BoltOptions: &bolt.Options{Timeout: 2 * time.Second, NoFreelistSync: true},
	})
	if err != nil {
		return nil, fmt.Errorf("bench: raft store: %w", err)
	}
	s.closes = append(s.closes, b.Close)
	logs, err := raft.NewLogCache(512, b)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(nd, 2, logger)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	id, err := self.TLS.Load()
	if err != nil {
		return nil, err
	}
	stream, err := newTLSStream(self.Addr, id)
	if err != nil {
		return nil, err
	}
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: stream, MaxPool: 3, MaxRPCsInFlight: consensus.RPCsInFlight, Timeout: 10 * time.Second, Logger: logger,
	})
	s.closes = append(s.closes, trans.Close)
	cc.ID = self.ID
	rc := cc.RaftConfig(logger)
	existing, err := raft.HasExistingState(logs, b, snaps)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if !existing {
		if err := raft.BootstrapCluster(rc, logs, b, snaps, trans, conf); err != nil {
			return nil, fmt.Errorf("bench: bootstrap: %w", err)
		}
	}
	s.fsm = &countFSM{}
	if s.r, err = raft.NewRaft(rc, s.fsm, logs, b, snaps, trans); err != nil {
		return nil, fmt.Errorf("bench: start raft: %w", err)
	}
	ok = true
	return s, nil
}

// IsLeader reports whether the server leads.
func (s *RaftServer) IsLeader() bool { return s.r.State() == raft.Leader }

// Apply commits data and waits until this server, the leader, applied it.
// A server that lost its leadership refuses at once; Apply then pauses for
// 10 ms, so that the clients of a run do not spin while an election runs.
func (s *RaftServer) Apply(data []byte) error {
	err := s.r.Apply(data, 10*time.Second).Error()
	if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
		time.Sleep(10 * time.Millisecond)
	}
	return err
}

// Close shuts the server down and closes its stores.
func (s *RaftServer) Close() error {
	var errs []error
	if s.r != nil {
		errs = append(errs, s.r.Shutdown().Error())
	}
	for _, f := range s.closes {
		errs = append(errs, f())
	}
	s.closes = nil
	return errors.Join(errs...)
}

// RaftSpec is what a baseline server process is started with (as a JSON
// file): the cluster, which server it is, and where its control API
// listens.
type RaftSpec struct {
	Dir     string     `json:"dir"`
	Self    string     `json:"self"`
	Nodes   []RaftNode `json:"nodes"`
	Control string     `json:"control"` // loopback host:port of the control API
}

// RaftRunRequest asks the leader's process to apply entries of Size
// random bytes from Clients goroutines for a run (POST /run).
type RaftRunRequest struct {
	Name     string        `json:"name"`
	Clients  int           `json:"clients"`
	Size     int           `json:"size"`
	Duration time.Duration `json:"duration"`
	Warmup   time.Duration `json:"warmup"`
}

// ServeRaftBaseline runs the server spec names until ctx ends, with a
// control API on spec.Control for the process that runs the benchmark:
// GET /leader answers 200 on the leader and 409 elsewhere; POST /run
// (a RaftRunRequest) runs the load on this server, which must lead, and
// answers with the Result. The load is generated in the leader's process,
// as an application embedding Raft would, so that no HTTP is measured.
// Progress lines go to progress.
func ServeRaftBaseline(ctx context.Context, spec RaftSpec, progress io.Writer) error {
	var self RaftNode
	for _, n := range spec.Nodes {
		if n.ID == spec.Self {
			self = n
		}
	}
	if self.ID == "" {
		return fmt.Errorf("bench: raft baseline: %q is not one of the nodes", spec.Self)
	}
	ln, err := net.Listen("tcp", spec.Control)
	if err != nil {
		return fmt.Errorf("bench: raft baseline: %w", err)
	}
	s, err := StartRaftServer(spec.Dir, self, spec.Nodes)
	if err != nil {
		ln.Close()
		return err
	}
	defer s.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /leader", func(w http.ResponseWriter, _ *http.Request) {
		if !s.IsLeader() {
			w.WriteHeader(http.StatusConflict)
		}
	})
	mux.HandleFunc("POST /run", func(w http.ResponseWriter, r *http.Request) {
		var req RaftRunRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, "bad run request: "+err.Error(), http.StatusBadRequest)
			return
		}
		cfg := RunConfig{Name: req.Name, Clients: req.Clients, Duration: req.Duration, Warmup: req.Warmup, Unit: "writes/s", Progress: progress}
		if err := cfg.Validate(); err != nil || req.Size < 1 {
			http.Error(w, fmt.Sprintf("bad run request: size %d, %v", req.Size, err), http.StatusBadRequest)
			return
		}
		if !s.IsLeader() {
			http.Error(w, "not the leader", http.StatusConflict)
			return
		}
		data := make([]byte, req.Size)
		rand.Read(data)
		// The run ends with the request or with the server.
		runCtx, cancel := context.WithCancel(r.Context())
		defer cancel()
		defer context.AfterFunc(ctx, cancel)()
		res, err := Run(runCtx, cfg, func(context.Context, int) error { return s.Apply(data) })
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(res)
	})
	return serveUntil(ctx, &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, ln)
}

// ServeRaftBaselineFile runs the server that the RaftSpec in the JSON file
// at path names, as ServeRaftBaseline does: the suite writes one such file
// per server and starts `charta bench --serve-raft <file>` with it.
func ServeRaftBaselineFile(ctx context.Context, path string, progress io.Writer) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var spec RaftSpec
	if err := json.Unmarshal(b, &spec); err != nil {
		return fmt.Errorf("bench: %s: %w", path, err)
	}
	return ServeRaftBaseline(ctx, spec, progress)
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
