package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/charta/charta/internal/devnet"
	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/client"
)

// failpointNode is one node process of the crash test.
type failpointNode struct {
	member string
	cmd    *exec.Cmd
	done   chan error
	log    *syncBuffer
}

// startNode starts member's node of the dev cluster d with extra
// environment (failpoints) and flags.
func startNode(t *testing.T, bin string, d *devnet.Cluster, i int, env []string, extra ...string) *failpointNode {
	t.Helper()
	m := devMembers[i]
	args := append(d.NodeArgs(i), append([]string{"--bootstrap", "--rate-limit", "1e6"}, extra...)...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	n := &failpointNode{member: m, cmd: cmd, done: make(chan error, 1), log: &syncBuffer{}}
	cmd.Stdout, cmd.Stderr = n.log, n.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { n.done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-n.done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("%s log:\n%s", m, lastLines(n.log.String(), 25))
		}
	})
	return n
}

// TestFailpoint_CrashAroundCommitAndSnapshot builds charta with failpoints
// and crashes one node at a time at each of them, under load: just before
// the state store commits a batch, just after it committed but before the
// applied index moved, and in the middle of persisting a snapshot. Each
// crashed node restarts from its data directory, applies nothing twice and
// skips nothing: it converges to the others' applied index and digest, and
// its journal audits from genesis.
func TestFailpoint_CrashAroundCommitAndSnapshot(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a failpoint binary and starts node processes")
	}
	bin := filepath.Join(t.TempDir(), "charta-failpoints")
	if out, err := exec.Command("go", "build", "-tags", "failpoints", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build with failpoints: %v\n%s", err, out)
	}
	d := &devnet.Cluster{Dir: filepath.Join(t.TempDir(), "fp"), Base: freeBase(t), Scheme: ledger.SchemeEd25519}
	if _, err := d.Prepare(); err != nil {
		t.Fatal(err)
	}
	snapFlags := []string{"--snapshot-threshold", "32", "--trailing-logs", "16", "--snapshot-interval", "200ms"}
	crashes := []struct {
		member int
		point  string
	}{{1, "apply-before-commit@25"}, {2, "apply-after-commit@60"}, {1, "snapshot-mid-persist@2"}}
	nodes := make([]*failpointNode, 3)
	nodes[0] = startNode(t, bin, d, 0, nil, snapFlags...)
	nodes[1] = startNode(t, bin, d, 1, []string{"CHARTA_FAILPOINTS=" + crashes[0].point + "," + crashes[2].point}, snapFlags...)
	nodes[2] = startNode(t, bin, d, 2, []string{"CHARTA_FAILPOINTS=" + crashes[1].point}, snapFlags...)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := d.WaitReady(ctx, make(chan error)); err != nil {
		t.Fatal(err)
	}
	if err := d.RegisterTokens(ctx); err != nil {
		t.Fatal(err)
	}
	g, err := readGenesis(d.Path("genesis.json"), true)
	if err != nil {
		t.Fatal(err)
	}
	alpha, err := client.New(d.APIURL(0), client.WithKeyFile(d.Path("alpha.key")), client.WithConsortium(g.ID()),
		client.WithToken(strings.TrimSpace(string(mustRead(t, d.Path("alpha.token"))))))
	if err != nil {
		t.Fatal(err)
	}
	c := &cli{t: t, bin: bin, env: []string{"CHARTA_TOKEN=" + strings.TrimSpace(string(mustRead(t, d.Path("alpha.token"))))}}

	// Write through alpha until every planned crash has happened, restarting
	// each crashed node without its failpoints.
	crashed := map[string]int{}
	restartCrashed := func() {
		for j := 1; j <= 2; j++ {
			select {
			case err := <-nodes[j].done:
				n := nodes[j]
				if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 86 || !strings.Contains(n.log.String(), "failpoint") {
					t.Fatalf("%s stopped with %v, not at a failpoint:\n%s", n.member, err, lastLines(n.log.String(), 20))
				}
				crashed[n.member]++
				env := []string(nil)
				if n.member == "beta" && crashed["beta"] == 1 {
					env = []string{"CHARTA_FAILPOINTS=" + crashes[2].point} // the snapshot crash is still to come
				}
				nodes[j] = startNode(t, bin, d, j, env, snapFlags...)
			default:
			}
		}
	}
	for i := 0; crashed["beta"] < 2 || crashed["gamma"] < 1; i++ {
		if i > 3000 {
			t.Fatalf("the failpoints were not all reached: crashes %v", crashed)
		}
		// The same proposal is resubmitted until it lands: it is idempotent,
		// so a write whose answer was lost in a crash is not applied twice.
		body := ledger.AssetRegister{ID: fmt.Sprintf("fp-%d", i), Kind: ledger.AssetDataset, Digest: "sha256:" + strings.Repeat("1f", 32),
			Owners: []ledger.Owner{{Member: "alpha", ShareBP: 10000}}}
		env, err := alpha.Sign(ctx, "asset.register", fmt.Sprintf("fp-%d", i), body)
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := alpha.SubmitEnvelope(wctx, env)
			wcancel()
			restartCrashed()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("write %d: %v", i, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	// Every node converges, and the crashed nodes' journals audit.
	waitFor(t, 30*time.Second, "every node at the same applied index and digest", func() error {
		var first nodeStatus
		for i := range 3 {
			s, err := c.status(d.APIURL(i))
			if err != nil {
				return err
			}
			if i == 0 {
				first = s
			} else if s.AppliedIndex != first.AppliedIndex || s.StateDigest != first.StateDigest {
				return fmt.Errorf("%s at %d %s, alpha at %d %s", s.ID, s.AppliedIndex, s.StateDigest, first.AppliedIndex, first.StateDigest)
			}
		}
		return nil
	})
	for _, i := range []int{1, 2} {
		export := filepath.Join(t.TempDir(), devMembers[i]+".jsonl")
		c.ok("journal", "export", "--server", d.APIURL(i), "--out", export)
		s, err := c.status(d.APIURL(i))
		if err != nil {
			t.Fatal(err)
		}
		// The node's own state digest, which covers the journal head,
		// stands in for a cosigned checkpoint here.
		c.ok("audit", "--genesis", d.Path("genesis.json"), "--digest", s.StateDigest, "--allow-unanchored", export)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
