package node

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/charta/charta/consensus"
	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/api"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Config configures a whole node: Raft, the ledger and the HTTP API.
type Config struct {
	ID            string             // member ID, which is the Raft server ID
	DataDir       string             // Raft stores, snapshots, the ledger's state.db and operator.token
	HTTPAddr      string             // API listen address host:port
	RaftAddr      string             // Raft listen address host:port
	AdvertiseRaft string             // Raft address peers dial; default RaftAddr
	GenesisFile   string             // the consortium's signed genesis document
	KeyFile       string             // this member's key file; the node cosigns journal checkpoints with it ("" for none), and opens its member's confidential grants with the encryption key it holds
	EncKeyFiles   []string           // more key files of this member whose encryption keys it retired, to open confidential grants sealed to them
	KeyPoll       time.Duration      // how often the node looks for a changed KeyFile, to follow a key rotation; 0 = 3 s
	TLS           consensus.TLSFiles // CA, certificate and key (PEM); mTLS between peers is mandatory
	APITLS        bool               // also serve the API over HTTPS with the node certificate (peers are then called with https://)
	Bootstrap     bool               // a founder's first start: bootstrap Raft from the genesis document
	Join          string             // API address (host:port or URL) of any node to ask to join through; "" for none
	JoinToken     string             // bearer token of this node's member, sent with the join request
	MaxVoters     int                // most Raft voters; 0 = the charter's
	NoSync        bool               // skip fsync of the stores; tests only
	Raft          consensus.Config   // Raft tunables (timeouts, snapshots); identity, addresses, genesis and TLS come from the fields above
	API           ServerConfig       // API tunables; DataDir and APIAddr come from the fields above
	ShutdownGrace time.Duration      // longest Run waits for requests in flight when it stops
}

// DefaultConfig returns a Config with the API and Raft defaults. The caller
// fills in identity, directories, addresses and TLS files.
func DefaultConfig() Config {
	return Config{
		HTTPAddr:      "127.0.0.1:8080",
		RaftAddr:      "127.0.0.1:7000",
		Raft:          consensus.DefaultConfig(),
		API:           DefaultServerConfig(),
		ShutdownGrace: 10 * time.Second,
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if !ledger.ValidMemberID(c.ID) {
		errs = append(errs, fmt.Errorf("node: id %q is not a member ID", c.ID))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("node: data dir is required"))
	}
	if c.GenesisFile == "" {
		errs = append(errs, errors.New("node: genesis file is required"))
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		errs = append(errs, fmt.Errorf("node: http address %q: %w", c.HTTPAddr, err))
	}
	if c.Join != "" && c.JoinToken == "" {
		errs = append(errs, errors.New("node: joining needs the member's API token (JoinToken)"))
	}
	if c.ShutdownGrace <= 0 {
		errs = append(errs, fmt.Errorf("node: shutdown grace %v must be positive", c.ShutdownGrace))
	}
	api := c.api()
	if err := api.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (c *Config) api() ServerConfig {
	api := c.API
	api.DataDir, api.APIAddr, api.TLS = c.DataDir, c.HTTPAddr, c.APITLS
	return api
}

// Node is a running Charta node: consensus, ledger and API.
type Node struct {
	cfg  Config
	log  *slog.Logger
	cons *consensus.Node
	srv  *Server
	http *http.Server
	ln   net.Listener
	tls  *tls.Config
}

// New assembles a node: it opens the stores, starts Raft, builds the API
// server and binds the API's listener. Serve it with Run.
func New(cfg Config, deps Deps) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Registerer == nil {
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		deps.Registerer, deps.Gatherer = reg, reg
	}
	raw, err := os.ReadFile(cfg.GenesisFile)
	if err != nil {
		return nil, fmt.Errorf("node: genesis: %w", err)
	}
	g, err := ledger.DecodeGenesis(raw)
	if err != nil {
		return nil, fmt.Errorf("node: genesis %s: %w", cfg.GenesisFile, err)
	}
	id, err := cfg.TLS.Load()
	if err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, log: deps.Logger}
	if cfg.APITLS {
		n.tls = &tls.Config{Certificates: []tls.Certificate{id.Cert}, MinVersion: tls.VersionTLS12}
	}
	if deps.HTTPClient == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: id.CAs, MinVersion: tls.VersionTLS12}
		deps.HTTPClient = &http.Client{Transport: tr, Timeout: cfg.API.ForwardTimeout}
	}
	rc := cfg.Raft
	rc.ID, rc.Dir, rc.BindAddr, rc.AdvertiseAddr = cfg.ID, cfg.DataDir, cfg.RaftAddr, cfg.AdvertiseRaft
	rc.Genesis, rc.Bootstrap, rc.TLS, rc.MaxVoters, rc.NoSync = g, cfg.Bootstrap, cfg.TLS, cfg.MaxVoters, cfg.NoSync
	rc.Logger, rc.Registerer, rc.OnStoreFailure = deps.Logger, deps.Registerer, deps.Fatal
	if deps.Clock != nil {
		rc.Clock = deps.Clock
	}
	// Raft may offer a snapshot before the API server exists; it is
	// refused then, and offered again.
	var vouching atomic.Pointer[Server]
	rc.VouchSnapshot = func(ctx context.Context, v *ledger.View) error {
		s := vouching.Load()
		if s == nil {
			return errors.New("node: snapshot not vouched: this node's API server is not up yet")
		}
		return s.vouchSnapshot(ctx, v)
	}
	if n.cons, err = consensus.New(rc); err != nil {
		return nil, err
	}
	api := cfg.api()
	if cfg.KeyFile != "" {
		member, k, err := ledger.ReadKeyFile(cfg.KeyFile)
		if err != nil || member != cfg.ID {
			n.cons.Shutdown()
			return nil, errors.Join(fmt.Errorf("node: key file %s must hold a key of member %s (it holds %q)", cfg.KeyFile, cfg.ID, member), err)
		}
		s := ledger.NewSigner(member, k)
		api.SigningKey = &s
	} else {
		var attested bool
		n.cons.Ledger().View(func(v *ledger.View) error { attested = v.Charter().AttestedTime; return nil })
		if attested {
			deps.Logger.Warn("no --key: this node signs no clock readings, so its clock does not count toward ledger time, and it cosigns no checkpoints")
		}
	}
	if api.Member, api.EncryptionKeys, err = cfg.encryptionKeys(); err != nil {
		n.cons.Shutdown()
		return nil, err
	}
	if n.srv, err = NewServer(api, Adapt(n.cons), deps); err != nil {
		n.cons.Shutdown()
		return nil, err
	}
	vouching.Store(n.srv)
	if n.ln, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		n.cons.Shutdown()
		return nil, fmt.Errorf("node: listen %s: %w", cfg.HTTPAddr, err)
	}
	n.http = n.srv.HTTPServer()
	n.http.TLSConfig = n.tls
	return n, nil
}

// APIAddr is the address the API listens on (useful with port 0).
func (n *Node) APIAddr() string { return n.ln.Addr().String() }

// Server returns the API server.
func (n *Node) Server() *Server { return n.srv }

// Consensus returns the Raft node.
func (n *Node) Consensus() *consensus.Node { return n.cons }

// Run serves the API until ctx ends or serving fails, joining the cluster
// first if configured. Then it shuts down gracefully: the API stops
// taking requests and finishes those in flight, and the consensus node
// hands over leadership and closes its stores.
func (n *Node) Run(ctx context.Context) error {
	serveErr := make(chan error, 1)
	go func() {
		var err error
		if n.tls != nil {
			err = n.http.ServeTLS(n.ln, "", "")
		} else {
			err = n.http.Serve(n.ln)
		}
		serveErr <- err
	}()
	joinCtx, stopJoin := context.WithCancel(ctx)
	defer stopJoin()
	if n.cfg.Join != "" {
		go n.joinLoop(joinCtx)
	}
	go n.srv.watchPeers(joinCtx)
	go n.srv.watchDisk(joinCtx)
	go n.srv.keepTime(joinCtx)
	go n.watchKey(joinCtx)
	go n.srv.watchPrivate(joinCtx)
	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
	}
	stopJoin()
	sctx, cancel := context.WithTimeout(context.Background(), n.cfg.ShutdownGrace)
	defer cancel()
	if herr := n.http.Shutdown(sctx); herr != nil {
		n.log.Warn("API shutdown", "err", herr)
		n.http.Close()
	}
	return errors.Join(err, n.cons.Shutdown())
}

// joinLoop asks the configured node to add this one to Raft until it
// succeeds, backing off between attempts.
func (n *Node) joinLoop(ctx context.Context) {
	url := api.BaseURL(n.cfg.Join, n.cfg.APITLS) + "/v1/cluster/join"
	adv := n.cfg.AdvertiseRaft
	if adv == "" {
		adv = n.cfg.RaftAddr
	}
	body, _ := json.Marshal(api.JoinRequest{ID: n.cfg.ID, RaftAddr: adv})
	backoff := 500 * time.Millisecond
	for {
		err := n.joinOnce(ctx, url, body)
		if err == nil {
			n.log.Info("joined the cluster", "via", n.cfg.Join)
			return
		}
		var refused *joinRefused
		if errors.As(err, &refused) {
			// Asking again will not change the answer; the leader still
			// adds the node on its own if the ledger records its address.
			n.log.Error("join refused; not asking again", "via", n.cfg.Join, "err", err)
			return
		}
		n.log.Warn("join failed; retrying", "via", n.cfg.Join, "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

func (n *Node) joinOnce(ctx context.Context, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+n.cfg.JoinToken)
	resp, err := n.srv.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	switch {
	case resp.StatusCode == http.StatusOK:
		return nil
	case resp.StatusCode == http.StatusBadRequest:
		return &joinRefused{fmt.Errorf("node: join: %s: %s", resp.Status, bytes.TrimSpace(msg))}
	}
	return fmt.Errorf("node: join: %s: %s", resp.Status, bytes.TrimSpace(msg))
}

// joinRefused is a join request that the cluster refused as malformed,
// which asking again cannot change. (A 401 or 403 may be: the member's
// admission or token may not have reached the node asked yet.)
type joinRefused struct{ err error }

func (e *joinRefused) Error() string { return e.err.Error() }
func (e *joinRefused) Unwrap() error { return e.err }

// Adapt presents a consensus.Node as the Consensus the API needs: it
// converts the status and server types and wraps consensus errors with
// this package's sentinels (ErrNotLeader, ErrAmbiguous, ErrNotMember,
// ErrUnavailable), keeping the original error in the chain.
func Adapt(n *consensus.Node) Consensus { return adapter{n} }

type adapter struct{ n *consensus.Node }

func (a adapter) ID() string             { return a.n.ID() }
func (a adapter) Ledger() *ledger.Ledger { return a.n.Ledger() }
func (a adapter) IsLeader() bool         { return a.n.IsLeader() }
func (a adapter) Leader() (string, string) {
	return a.n.Leader()
}

func (a adapter) Propose(ctx context.Context, env []byte, decoded *ledger.Decoded) (*ledger.Result, error) {
	r, err := a.n.ProposeDecoded(ctx, env, decoded)
	return r, mapConsensusErr(err)
}

func (a adapter) ReadIndex(ctx context.Context) (uint64, error) {
	i, err := a.n.ReadIndex(ctx)
	return i, mapConsensusErr(err)
}

func (a adapter) WaitApplied(ctx context.Context, index uint64) error {
	return mapConsensusErr(a.n.WaitApplied(ctx, index))
}

func (a adapter) Status() consensus.Status { return a.n.Status() }

func (a adapter) ObserveApply(fn consensus.ApplyObserver) { a.n.ObserveApply(fn) }

func (a adapter) Servers() ([]api.ClusterServer, error) {
	ss, err := a.n.Servers()
	if err != nil {
		return nil, mapConsensusErr(err)
	}
	out := make([]api.ClusterServer, len(ss))
	for i, s := range ss {
		out[i] = api.ClusterServer{ID: s.ID, Address: s.Address, Suffrage: s.Suffrage, Leader: s.Leader}
	}
	return out, nil
}

func (a adapter) Join(ctx context.Context, id, addr string) error {
	return mapConsensusErr(a.n.Join(ctx, id, addr))
}

func (a adapter) TransferLeadership(avoid ...string) error {
	return mapConsensusErr(a.n.TransferLeadership(avoid...))
}

func (a adapter) ProposeTime(ctx context.Context, body []byte) (*ledger.Result, error) {
	r, err := a.n.ProposeTime(ctx, body)
	return r, mapConsensusErr(err)
}

func (a adapter) Backup(w io.Writer) (int64, error) {
	n, err := a.n.Backup(w)
	return n, mapConsensusErr(err)
}

// mapConsensusErr wraps a consensus error with the matching sentinel of
// this package. Ambiguity is tested first: an entry lost to a shutdown is
// still ambiguous.
func mapConsensusErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, consensus.ErrAmbiguous):
		return fmt.Errorf("%w: %w", ErrAmbiguous, err)
	case errors.Is(err, consensus.ErrNotLeader):
		return fmt.Errorf("%w: %w", ErrNotLeader, err)
	case errors.Is(err, consensus.ErrNotMember):
		return fmt.Errorf("%w: %w", ErrNotMember, err)
	case errors.Is(err, consensus.ErrShutdown), errors.Is(err, consensus.ErrTimeout), errors.Is(err, consensus.ErrNoTransferTarget):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}
