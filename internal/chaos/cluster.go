package chaos

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/charta/charta/consensus"
	"github.com/charta/charta/internal/faultproxy"
	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/client"
)

// memberIDs are the members of a test consortium, one node each, sorted as
// the genesis requires.
var memberIDs = []string{"alpha", "beta", "gamma", "kappa", "omega"}

// Config configures a Cluster.
type Config struct {
	Nodes  int          // 3 or 5 nodes, one per member
	Dir    string       // directory for keys, certificates, data and logs
	Bin    string       // the charta binary
	Seed   uint64       // seed of the proxies' fault decisions
	Logger *slog.Logger // harness log; nil discards
	// NodeArgs are extra flags for every node, such as a low
	// --snapshot-threshold for snapshot pressure.
	NodeArgs []string
	// PerNodeArgs are extra flags for one node, by member ID, such as a
	// --clock-offset.
	PerNodeArgs map[string][]string
}

// DefaultConfig returns a 3-node configuration; Dir and Bin must be set.
func DefaultConfig() Config { return Config{Nodes: 3, Seed: 1} }

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.Nodes < 1 || c.Nodes > len(memberIDs) {
		errs = append(errs, fmt.Errorf("chaos: Nodes %d must be 1 to %d", c.Nodes, len(memberIDs)))
	}
	if c.Dir == "" || c.Bin == "" {
		errs = append(errs, errors.New("chaos: Dir and Bin are required"))
	}
	return errors.Join(errs...)
}

// Node is one charta node process of a Cluster.
type Node struct {
	ID       string // member and Raft server ID
	API      string // http://127.0.0.1:port
	Raft     string // the node's own Raft listener
	DataDir  string // --data-dir
	LogFile  string // the process's stdout and stderr
	proxy    *faultproxy.Proxy
	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{}
	paused   bool
	restarts int
}

// Running reports whether the process is alive (it may be paused).
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// Cluster is a running test consortium.
type Cluster struct {
	cfg     Config
	log     *slog.Logger
	Nodes   []*Node
	Links   *faultproxy.Links // the faults between the nodes' Raft endpoints
	Genesis *ledger.Genesis
	// Joined are the nodes of members admitted after genesis (see
	// AdmitAndJoin); the workload and the checkers use Nodes only.
	Joined  []*Node
	signers map[string]ledger.Signer
	encKeys map[string]ledger.EncryptionKey // every possible member's encryption key, in its key file too
	tokens  map[string]string               // a read token per member
	genPath string
	caPath  string
	caPool  *x509.CertPool
	certs   map[string]tls.Certificate // every possible member's node certificate, shared with the proxies
	mounts  []string                   // data directories on a small tmpfs (FillDisk), unmounted by Close
}

// freeAddr returns a loopback address whose port was free a moment ago.
// Ports come from 10000-19999, below the kernel's ephemeral range, so that
// outgoing connections do not take them before the node binds them.
func freeAddr() (string, error) {
	for range 200 {
		addr := fmt.Sprintf("127.0.0.1:%d", 10000+mrand.IntN(10000))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		ln.Close()
		return addr, nil
	}
	return "", errors.New("chaos: no free port in 10000-19999")
}

// Start creates the consortium's keys, certificates and genesis in
// cfg.Dir, starts the proxies and the nodes, waits for a leader and
// registers a read token for every member.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Cluster{cfg: cfg, log: log, Links: faultproxy.NewLinks(), signers: map[string]ledger.Signer{},
		encKeys: map[string]ledger.EncryptionKey{}, tokens: map[string]string{}}
	certs := filepath.Join(cfg.Dir, "certs")
	if err := os.MkdirAll(certs, 0o755); err != nil {
		return nil, err
	}
	caCert, caKey, err := consensus.NewCA("Charta chaos CA", 24*time.Hour)
	if err != nil {
		return nil, err
	}
	c.caPath = filepath.Join(certs, "ca.crt")
	if err := os.WriteFile(c.caPath, caCert, 0o644); err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caCert)
	tlsCerts := map[string]tls.Certificate{}
	g := &ledger.Genesis{Format: ledger.GenesisFormat, Name: "Charta chaos consortium",
		CreatedAt: time.Now().UTC().Truncate(time.Second), Charter: ledger.DefaultCharter()}
	g.Charter.MaxVoters = 5
	// Every possible member gets a key and a node certificate now, so that
	// the proxies already know a member admitted later.
	for i, id := range memberIDs {
		k, err := ledger.GenerateKey(ledger.SchemeEd25519, nil)
		if err != nil {
			return nil, err
		}
		encSeed := make([]byte, ledger.EncryptionSeedSize)
		if _, err := rand.Read(encSeed); err != nil {
			return nil, err
		}
		if err := ledger.WriteKeyFileWithEncryption(filepath.Join(cfg.Dir, id+".key"), id, k, encSeed); err != nil {
			return nil, err
		}
		c.signers[id] = ledger.NewSigner(id, k)
		if c.encKeys[id], err = ledger.EncryptionKeyFromSeed(encSeed); err != nil {
			return nil, err
		}
		certPEM, keyPEM, err := consensus.IssueNodeCert(caCert, caKey, id, []string{"127.0.0.1", "localhost"}, 24*time.Hour)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(certs, id+".crt"), certPEM, 0o644); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(certs, id+".key"), keyPEM, 0o600); err != nil {
			return nil, err
		}
		if tlsCerts[id], err = tls.X509KeyPair(certPEM, keyPEM); err != nil {
			return nil, err
		}
		if i >= cfg.Nodes {
			continue
		}
		api, err := freeAddr()
		if err != nil {
			return nil, err
		}
		raft, err := freeAddr()
		if err != nil {
			return nil, err
		}
		c.Nodes = append(c.Nodes, &Node{ID: id, API: "http://" + api, Raft: raft,
			DataDir: filepath.Join(cfg.Dir, id), LogFile: filepath.Join(cfg.Dir, id+".log")})
	}
	for i, n := range c.Nodes {
		pcfg := faultproxy.DefaultConfig()
		pcfg.Target, pcfg.Self, pcfg.CAs, pcfg.Certs, pcfg.Links = n.Raft, n.ID, pool, tlsCerts, c.Links
		pcfg.Seed, pcfg.Logger = cfg.Seed*31+uint64(i), log
		if n.proxy, err = faultproxy.New(pcfg); err != nil {
			c.Close()
			return nil, err
		}
		g.Members = append(g.Members, ledger.GenesisMember{
			ID: n.ID, Role: ledger.RoleMember, Keys: []ledger.PublicKey{c.signers[n.ID].Key.Public()}, EncryptionKey: new(c.encKeys[n.ID]),
			Node: ledger.NodeInfo{RaftAddr: n.proxy.Addr(), APIAddr: n.API},
		})
	}
	for _, n := range c.Nodes {
		if err := g.Sign(c.signers[n.ID]); err != nil {
			c.Close()
			return nil, err
		}
	}
	c.Genesis, c.caPool, c.certs = g, pool, tlsCerts
	c.genPath = filepath.Join(cfg.Dir, "genesis.json")
	if err := os.WriteFile(c.genPath, g.Encode(), 0o644); err != nil {
		c.Close()
		return nil, err
	}
	for i := range c.Nodes {
		if err := c.StartNode(i); err != nil {
			c.Close()
			return nil, err
		}
	}
	if _, err := c.WaitLeader(ctx, 60*time.Second); err != nil {
		c.Close()
		return nil, err
	}
	for _, n := range c.Nodes {
		tok := client.NewToken()
		if err := c.RegisterToken(ctx, n.ID, tok); err != nil {
			c.Close()
			return nil, fmt.Errorf("chaos: registering a token of %s: %w", n.ID, err)
		}
		c.tokens[n.ID] = tok
	}
	return c, nil
}

// IDs returns the node IDs.
func (c *Cluster) IDs() []string {
	var out []string
	for _, n := range c.Nodes {
		out = append(out, n.ID)
	}
	return out
}

// Signer returns the signing key of a member.
func (c *Cluster) Signer(member string) ledger.Signer { return c.signers[member] }

// RegisterToken registers tok as an API token of member with every scope.
func (c *Cluster) RegisterToken(ctx context.Context, member, tok string) error {
	return c.RegisterTokenScoped(ctx, member, tok, "read", "write", "admin")
}

// RegisterTokenScoped registers tok as an API token of member with scopes.
func (c *Cluster) RegisterTokenScoped(ctx context.Context, member, tok string, scopes ...string) error {
	cl, err := c.Client(0, member, "")
	if err != nil {
		return err
	}
	body := ledger.TokenRegister{Hash: ledger.HashToken(tok), Scopes: scopes,
		ExpiresAt: time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err = cl.Propose(ctx, "token.register", "token-"+tok[len(tok)-12:], body)
	return err
}

// Client returns a client of node i that signs as member and reads with
// tok (the member's registered token if empty).
func (c *Cluster) Client(i int, member, tok string, opts ...client.Option) (*client.Client, error) {
	if tok == "" {
		tok = c.tokens[member]
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	base := []client.Option{client.WithSigner(c.signers[member]), client.WithConsortium(c.Genesis.ID()), client.WithHTTPClient(hc)}
	if tok != "" {
		base = append(base, client.WithToken(tok))
	}
	return client.New(c.Nodes[i].API, append(base, opts...)...)
}

// OperatorToken returns node i's operator token.
func (c *Cluster) OperatorToken(i int) (string, error) {
	b, err := os.ReadFile(filepath.Join(c.Nodes[i].DataDir, "operator.token"))
	return strings.TrimSpace(string(b)), err
}

// StartNode starts node i's process (again).
func (c *Cluster) StartNode(i int) error {
	return c.start(c.Nodes[i], "--bootstrap")
}

// start starts n's process with the common flags and extra.
func (c *Cluster) start(n *Node, extra ...string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	logf, err := os.OpenFile(n.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(c.cfg.Bin, "node",
		"--id", n.ID, "--data-dir", n.DataDir, "--genesis", c.genPath,
		"--http", strings.TrimPrefix(n.API, "http://"),
		"--raft", n.Raft, "--raft-advertise", n.proxy.Addr(),
		"--tls-ca", c.caPath,
		"--tls-cert", filepath.Join(c.cfg.Dir, "certs", n.ID+".crt"),
		"--tls-key", filepath.Join(c.cfg.Dir, "certs", n.ID+".key"),
		"--key", filepath.Join(c.cfg.Dir, n.ID+".key"),
	)
	cmd.Args = append(cmd.Args, extra...)
	cmd.Args = append(cmd.Args, c.cfg.NodeArgs...)
	cmd.Args = append(cmd.Args, c.cfg.PerNodeArgs[n.ID]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		logf.Close()
		close(exited)
	}()
	n.cmd, n.exited, n.paused = cmd, exited, false
	n.restarts++
	c.log.Info("node started", "node", n.ID, "pid", cmd.Process.Pid)
	return nil
}

// Kill sends SIGKILL to node i and waits for it to exit.
func (c *Cluster) Kill(i int) { c.kill(c.Nodes[i]) }

func (c *Cluster) kill(n *Node) {
	n.mu.Lock()
	cmd, exited := n.cmd, n.exited
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-exited
	c.log.Info("node killed", "node", n.ID)
}

// Restart kills node i if it runs and starts it again.
func (c *Cluster) Restart(i int) error {
	c.Kill(i)
	return c.StartNode(i)
}

// Pause sends SIGSTOP to node i.
func (c *Cluster) Pause(i int) {
	n := c.Nodes[i]
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		n.cmd.Process.Signal(syscall.SIGSTOP)
		n.paused = true
	}
	c.log.Info("node paused", "node", n.ID)
}

// Resume sends SIGCONT to node i.
func (c *Cluster) Resume(i int) {
	n := c.Nodes[i]
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		n.cmd.Process.Signal(syscall.SIGCONT)
		n.paused = false
	}
	c.log.Info("node resumed", "node", n.ID)
}

// Close kills every node and stops the proxies.
func (c *Cluster) Close() {
	for i, n := range c.Nodes {
		if n.Running() {
			c.Resume(i)
			c.Kill(i)
		}
		if n.proxy != nil {
			n.proxy.Close()
		}
	}
	for _, n := range c.Joined {
		c.kill(n)
		if n.proxy != nil {
			n.proxy.Close()
		}
	}
	c.unmount()
}

// Status returns node i's /v1/status.
func (c *Cluster) Status(ctx context.Context, i int) (*client.Status, error) {
	return c.status(ctx, c.Nodes[i])
}

func (c *Cluster) status(ctx context.Context, n *Node) (*client.Status, error) {
	b, err := os.ReadFile(filepath.Join(n.DataDir, "operator.token"))
	if err != nil {
		return nil, err
	}
	tok := strings.TrimSpace(string(b))
	cl, err := client.New(n.API, client.WithRetry(client.RetryPolicy{}), client.WithToken(tok),
		client.WithHTTPClient(&http.Client{Timeout: 2 * time.Second}))
	if err != nil {
		return nil, err
	}
	return cl.Status(ctx)
}

// Leader returns the index of the node that reports itself leader, or -1.
func (c *Cluster) Leader(ctx context.Context) int {
	for i, n := range c.Nodes {
		n.mu.Lock()
		paused := n.paused
		n.mu.Unlock()
		if paused || !n.Running() {
			continue
		}
		if s, err := c.Status(ctx, i); err == nil && s.Role == "leader" {
			return i
		}
	}
	return -1
}

// WaitLeader waits until some node is leader.
func (c *Cluster) WaitLeader(ctx context.Context, d time.Duration) (int, error) {
	deadline := time.Now().Add(d)
	for {
		if i := c.Leader(ctx); i >= 0 {
			return i, nil
		}
		running := 0
		for _, n := range c.Nodes {
			if n.Running() {
				running++
			}
		}
		if running == 0 {
			b, _ := os.ReadFile(c.Nodes[0].LogFile)
			return -1, fmt.Errorf("chaos: every node exited; %s ends: %s", c.Nodes[0].LogFile, lastLines(string(b), 3))
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return -1, fmt.Errorf("chaos: no leader within %v", d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TransferLeadership asks node i (which should be the leader) to hand
// leadership over, with its operator token.
func (c *Cluster) TransferLeadership(ctx context.Context, i int) error {
	tok, err := c.OperatorToken(i)
	if err != nil {
		return err
	}
	cl, err := client.New(c.Nodes[i].API, client.WithToken(tok), client.WithRetry(client.RetryPolicy{}),
		client.WithHTTPClient(&http.Client{Timeout: 5 * time.Second}))
	if err != nil {
		return err
	}
	return cl.TransferLeadership(ctx)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
