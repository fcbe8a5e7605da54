package devnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/charta/charta/consensus"
	"github.com/charta/charta/internal/demo"
	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/client"
)

// Members are the members of the local consortium, in the order of their
// ports.
var Members = []string{"alpha", "beta", "gamma"}

// Cluster is a local consortium in directory Dir. Member i's API listens
// on 127.0.0.1:Base+1+i and its Raft transport on 127.0.0.1:Base+101+i.
type Cluster struct {
	Dir    string        // keys, certificates, tokens, genesis and each node's data directory and log
	Base   int           // base port
	Scheme ledger.Scheme // the members' signature scheme, for a new directory
	Env    []string      // added to the nodes' environment
	// Bin and Extra are the binary and the flags beyond NodeArgs that a
	// node started through the control socket runs with.
	Bin   string
	Extra []string

	mu    sync.Mutex
	procs []*proc    // by member index; nil until started
	ctlMu sync.Mutex // serialises the control socket's actions
}

// APIURL is member i's API address.
func (c *Cluster) APIURL(i int) string { return fmt.Sprintf("http://127.0.0.1:%d", c.Base+1+i) }

// RaftAddr is member i's Raft address.
func (c *Cluster) RaftAddr(i int) string { return fmt.Sprintf("127.0.0.1:%d", c.Base+101+i) }

// Path is a path in the cluster's directory.
func (c *Cluster) Path(p ...string) string {
	return filepath.Join(append([]string{c.Dir}, p...)...)
}

// DataDir is member's node data directory.
func (c *Cluster) DataDir(member string) string { return c.Path(member) }

// NodeArgs are the flags that start member i's node of this cluster.
func (c *Cluster) NodeArgs(i int) []string {
	m := Members[i]
	return []string{"node",
		"--id", m,
		"--data-dir", c.Path(m),
		"--genesis", c.Path("genesis.json"), "--key", c.Path(m + ".key"),
		"--http", strings.TrimPrefix(c.APIURL(i), "http://"),
		"--raft", c.RaftAddr(i),
		"--tls-ca", c.Path("certs", "ca.crt"),
		"--tls-cert", c.Path("certs", m+".crt"),
		"--tls-key", c.Path("certs", m+".key"),
	}
}

// TLSFiles are member's node certificate, key and the CA.
func (c *Cluster) TLSFiles(member string) consensus.TLSFiles {
	return consensus.TLSFiles{CAFile: c.Path("certs", "ca.crt"), CertFile: c.Path("certs", member+".crt"), KeyFile: c.Path("certs", member+".key")}
}

// Token is member's API token.
func (c *Cluster) Token(member string) (string, error) {
	b, err := os.ReadFile(c.Path(member + ".token"))
	return strings.TrimSpace(string(b)), err
}

// Genesis reads the cluster's genesis document.
func (c *Cluster) Genesis() (*ledger.Genesis, error) {
	b, err := os.ReadFile(c.Path("genesis.json"))
	if err != nil {
		return nil, err
	}
	return ledger.DecodeGenesis(b)
}

// Signer is member's signer, from its key file.
func (c *Cluster) Signer(member string) (ledger.Signer, error) {
	return ledger.ReadSigner(c.Path(member + ".key"))
}

// Prepare creates keys, certificates, genesis, tokens and an env file for
// the CLI on the first run, and reports whether it did. With a directory
// set up before, it changes nothing: the same consortium resumes.
func (c *Cluster) Prepare() (bool, error) {
	if _, err := os.Stat(c.Path("genesis.json")); err == nil {
		return false, nil
	}
	if err := os.MkdirAll(c.Path("certs"), 0o755); err != nil {
		return false, err
	}
	var members []ledger.GenesisMember
	for i, m := range Members {
		// A key left by a set-up that stopped half-way is kept.
		pub, err := ledger.ReadKeyFilePublic(c.Path(m + ".key"))
		if errors.Is(err, os.ErrNotExist) {
			pub, err = ledger.CreateKeyFiles(c.Path(m+".key"), m, c.Scheme, true)
		}
		if err != nil {
			return false, err
		}
		members = append(members, ledger.GenesisMember{ID: m, Role: ledger.RoleMember, Keys: []ledger.PublicKey{pub.Public},
			EncryptionKey: pub.EncryptionKey, Node: ledger.NodeInfo{RaftAddr: c.RaftAddr(i), APIAddr: c.APIURL(i)}})
	}
	caCert, caKey, err := consensus.NewCA("Charta dev CA", 10*365*24*time.Hour)
	if err != nil {
		return false, err
	}
	files := map[string][]byte{"ca.crt": caCert, "ca.key": caKey}
	for _, m := range Members {
		cert, key, err := consensus.IssueNodeCert(caCert, caKey, m, []string{"127.0.0.1", "localhost"}, 2*365*24*time.Hour)
		if err != nil {
			return false, err
		}
		files[m+".crt"], files[m+".key"] = cert, key
	}
	for name, b := range files {
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, ".key") {
			mode = 0o600
		}
		if err := os.WriteFile(c.Path("certs", name), b, mode); err != nil {
			return false, err
		}
	}
	g, err := ledger.NewGenesis("Charta dev consortium", time.Now(), 5, members)
	if err != nil {
		return false, err
	}
	// An example export-control policy, so that the demo can show a denial.
	g.Charter.ExportPolicy = demo.ExamplePolicy()
	for _, m := range Members {
		s, err := c.Signer(m)
		if err != nil {
			return false, err
		}
		if err := g.Sign(s); err != nil {
			return false, err
		}
	}
	for _, m := range Members {
		if err := os.WriteFile(c.Path(m+".token"), []byte(client.NewToken()+"\n"), 0o600); err != nil {
			return false, err
		}
	}
	abs, _ := filepath.Abs(c.Dir)
	self, _ := os.Executable()
	env := fmt.Sprintf("export CHARTA_SERVER=%s\nexport CHARTA_TOKEN=$(cat %s)\nexport CHARTA_KEY=%s\nexport PATH=\"%s:$PATH\"\n",
		c.APIURL(0), filepath.Join(abs, "alpha.token"), filepath.Join(abs, "alpha.key"), filepath.Dir(self))
	if err := os.WriteFile(c.Path("env"), []byte(env), 0o644); err != nil {
		return false, err
	}
	// genesis.json last: its presence marks a complete set-up.
	return true, os.WriteFile(c.Path("genesis.json"), g.Encode(), 0o644)
}

// MemberClient is a client of member i's node that signs as member m and
// reads with m's token.
func (c *Cluster) MemberClient(i int, m string) (*client.Client, error) {
	tok, err := c.Token(m)
	if err != nil {
		return nil, err
	}
	g, err := c.Genesis()
	if err != nil {
		return nil, err
	}
	return client.New(c.APIURL(i), client.WithKeyFile(c.Path(m+".key")), client.WithToken(tok), client.WithConsortium(g.ID()))
}

// RegisterTokens registers every member's token on the ledger, through
// the first node.
func (c *Cluster) RegisterTokens(ctx context.Context) error {
	for _, m := range Members {
		cl, err := c.MemberClient(0, m)
		if err != nil {
			return err
		}
		tok, err := c.Token(m)
		if err != nil {
			return err
		}
		body := ledger.TokenRegister{Hash: ledger.HashToken(tok), Scopes: []string{"read", "write", "admin"},
			ExpiresAt: time.Now().Add(10 * 365 * 24 * time.Hour).UTC().Truncate(time.Second)}
		if _, err := cl.Propose(ctx, "token.register", "dev-token-"+m, body); err != nil {
			return err
		}
	}
	return nil
}

// Seed proposes the demo consortium's story (package demo) through the
// first node, signing as its members, and writes its chapters to out.
func (c *Cluster) Seed(ctx context.Context, out io.Writer) error {
	clients := map[string]*client.Client{}
	for _, m := range Members {
		cl, err := c.MemberClient(0, m)
		if err != nil {
			return err
		}
		clients[m] = cl
	}
	propose := func(m, typ, id string, body any, cosigners ...string) error {
		var signers []ledger.Signer
		for _, s := range append([]string{m}, cosigners...) {
			sg, err := c.Signer(s)
			if err != nil {
				return err
			}
			signers = append(signers, sg)
		}
		if _, err := clients[m].ProposeMulti(ctx, typ, id, body, signers...); err != nil {
			return fmt.Errorf("%s %s: %w", m, typ, err)
		}
		return nil
	}
	return demo.Seed(propose, out)
}

// WaitReady waits until every node answers /readyz, or one exits, or a
// minute passes.
func (c *Cluster) WaitReady(ctx context.Context, exited <-chan error) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for i := range Members {
		for !c.ready(ctx, i) {
			select {
			case err := <-exited:
				return fmt.Errorf("node did not start: %v; see %s", err, c.Path(Members[i]+".log"))
			case <-ctx.Done():
				return fmt.Errorf("node %s not ready: %w; see %s", Members[i], ctx.Err(), c.Path(Members[i]+".log"))
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

// WaitNodeReady waits until member i's node answers /readyz and has
// applied what the leader had applied when it started, or its process
// exits.
func (c *Cluster) WaitNodeReady(ctx context.Context, i int) error {
	var target uint64
	for {
		if ok, _ := c.Running(i); !ok {
			return errors.New("its process exited")
		}
		if c.ready(ctx, i) {
			if target == 0 {
				target = c.leaderApplied(ctx, i)
			}
			if s, err := c.status(ctx, i); err == nil && target > 0 && s.AppliedIndex >= target {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ready reports whether member i's node answers /readyz with 200.
func (c *Cluster) ready(ctx context.Context, i int) bool {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.APIURL(i)+"/readyz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// status asks member i's node for its status, with that member's token.
func (c *Cluster) status(ctx context.Context, i int) (*client.Status, error) {
	tok, err := c.Token(Members[i])
	if err != nil {
		return nil, err
	}
	cl, err := client.New(c.APIURL(i), client.WithToken(tok))
	if err != nil {
		return nil, err
	}
	return cl.Status(ctx)
}

// leaderApplied is the leader's applied index (its commit index also
// counts election no-ops and configuration changes, which the ledger never
// applies), or 0 while no other node is leader.
func (c *Cluster) leaderApplied(ctx context.Context, except int) uint64 {
	for j := range Members {
		if j == except {
			continue
		}
		if s, err := c.status(ctx, j); err == nil && s.Role == "leader" {
			return s.AppliedIndex
		}
	}
	return 0
}
