package bench

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node"
	"github.com/charta/charta/node/client"
)

// cluster is a Cluster started for benchmarking.
type cluster struct {
	Cluster
	members []string
	base    int // the cluster's ports start here
	scheme  ledger.Scheme
	exited  chan error
	leader  int // index of the leader's node at the start
}

func (c *cluster) procs() ProcSet {
	var p ProcSet
	for i, pid := range c.PIDs() {
		p.Names = append(p.Names, c.members[i])
		p.PIDs = append(p.PIDs, pid)
	}
	return p
}

func (c *cluster) pprof(i int) string { return fmt.Sprintf("127.0.0.1:%d", c.base+201+i) }

// operatorToken is the token member's node wrote into its data directory
// at its start, or "" before.
func (c *cluster) operatorToken(member string) string {
	tok, _ := os.ReadFile(filepath.Join(c.DataDir(member), node.OperatorTokenFile))
	return strings.TrimSpace(string(tok))
}

// startCluster prepares and starts a cluster whose members sign with
// scheme, registers their API tokens and finds the leader.
func (s *suite) startCluster(scheme ledger.Scheme) (*cluster, error) {
	base, err := freePortBase()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(s.cfg.Dir, "cluster-"+strings.ReplaceAll(string(scheme), "+", "-"))
	os.RemoveAll(dir)
	fmt.Fprintf(s.out, "starting a %d-node cluster (%s keys) on ports %d..., data in %s\n", len(s.cfg.Members), scheme, base+1, dir)
	nodes, err := s.deps.NewCluster(dir, base, scheme, s.cfg.procsEnv())
	if err != nil {
		return nil, err
	}
	c := &cluster{Cluster: nodes, members: s.cfg.Members, base: base, scheme: scheme, exited: make(chan error, len(s.cfg.Members))}
	for i := range c.members {
		if err := s.startNode(c, i); err != nil {
			c.Stop()
			return nil, err
		}
	}
	if err := c.WaitReady(s.ctx, c.exited); err != nil {
		c.Stop()
		return nil, err
	}
	if err := c.RegisterTokens(s.ctx); err != nil {
		c.Stop()
		return nil, fmt.Errorf("registering API tokens: %w", err)
	}
	if c.leader, err = s.findLeader(c); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// startNode starts node i as `charta dev` does, with the API's rate limit
// lifted (the load comes from one address and one token), quiet logs, and
// a pprof listener.
func (s *suite) startNode(c *cluster, i int) error {
	return c.Start(s.cfg.Bin, i, c.exited, "--bootstrap",
		"--rate-limit", "1e9", "--rate-burst", "1000000000", "--log-level", "warn", "--pprof", c.pprof(i))
}

func (s *suite) findLeader(c *cluster) (int, error) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for i, m := range c.members {
			cl, err := client.New(c.APIURL(i), client.WithToken(c.operatorToken(m)))
			if err != nil {
				return 0, err
			}
			st, err := cl.Status(s.ctx)
			if err == nil && st.Role == "leader" {
				return i, nil
			}
		}
		select {
		case <-s.ctx.Done():
			return 0, s.ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return 0, errors.New("bench: no leader within 30 s")
}

// freePortBase finds a base port whose API, Raft and pprof ports (base+1..3,
// +101..103, +201..203) are free.
func freePortBase() (int, error) {
	for try := 0; try < 100; try++ {
		var b [2]byte
		rand.Read(b[:])
		base := 20000 + int(b[0])<<8%20000 + int(b[1])
		// API, Raft, the raw-Raft baseline's control API, pprof.
		if portsFree(base, 1, 2, 3, 101, 102, 103, 151, 152, 153, 201, 202, 203) {
			return base, nil
		}
	}
	return 0, errors.New("bench: no free ports")
}

func portsFree(base int, offs ...int) bool {
	for _, o := range offs {
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(base+o))
		if err != nil {
			return false
		}
		ln.Close()
	}
	return true
}
