package deploytest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/client"
)

// members are the services of docker-compose.yml, in the order of their
// published ports.
var members = []string{"alpha", "beta", "gamma"}

// TestCompose_SurvivesNodeLoss starts the compose consortium from a freshly
// built image, records a grant and checks it, stops the Raft leader's
// container, and shows that the two survivors still take a write within
// 15 s and still answer checks, including for the write made after the loss.
// Then the stopped node restarts from its volume and catches up, and the
// new leader is killed with SIGKILL: a write again succeeds within 15 s.
func TestCompose_SurvivesNodeLoss(t *testing.T) {
	compose := requireDocker(t)
	start := time.Now()
	root := repoRoot(t)
	suffix := randomHex(t, 4)

	// The image: the static binary alone in its build context, as `make docker` does.
	imageBin := buildCharta(t, root, "linux")
	image := "charta:dev-test-" + suffix
	mustRun(t, root, nil, "docker", "build", "-q", "-t", image, "-f", filepath.Join(root, "Dockerfile"), filepath.Dir(imageBin))
	t.Cleanup(func() { runQuiet(root, nil, "docker", "rmi", "-f", image) })

	hostBin := imageBin
	if runtime.GOOS != "linux" {
		hostBin = buildCharta(t, root, runtime.GOOS)
	}
	deploy := filepath.Join(t.TempDir(), "deploy")
	mustRun(t, root, []string{"CHARTA_BIN=" + hostBin}, filepath.Join(root, "scripts", "compose-init.sh"), deploy)
	genesisBefore := readFile(t, filepath.Join(deploy, "genesis.json"))
	mustRun(t, root, []string{"CHARTA_BIN=" + hostBin}, filepath.Join(root, "scripts", "compose-init.sh"), deploy)
	if !bytes.Equal(genesisBefore, readFile(t, filepath.Join(deploy, "genesis.json"))) {
		t.Fatal("compose-init.sh replaced an existing genesis.json; it must leave a set-up alone")
	}

	ports := freePorts(t, len(members))
	s := &stack{
		t:       t,
		dir:     root,
		compose: compose,
		project: "charta-test-" + suffix,
		file:    filepath.Join(root, "docker-compose.yml"),
		env: []string{
			"CHARTA_IMAGE=" + image,
			"CHARTA_DEPLOY_DIR=" + deploy,
			fmt.Sprintf("CHARTA_PORT_ALPHA=%d", ports[0]),
			fmt.Sprintf("CHARTA_PORT_BETA=%d", ports[1]),
			fmt.Sprintf("CHARTA_PORT_GAMMA=%d", ports[2]),
		},
	}
	urls := map[string]string{}
	for i, m := range members {
		urls[m] = fmt.Sprintf("http://127.0.0.1:%d", ports[i])
	}
	// Registered before up, so that a half-started stack is removed too.
	t.Cleanup(s.down)
	s.mustCompose("up", "-d")
	for _, m := range members {
		waitReady(t, m, urls[m], 60*time.Second)
	}
	t.Logf("stack ready after %s", time.Since(start).Round(time.Millisecond))

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// The operator token lives in the volume; the image has no shell to cat it.
	opTok := s.copyOut("alpha", "/data/operator.token")
	op, err := client.New(urls["alpha"], client.WithToken(opTok))
	if err != nil {
		t.Fatal(err)
	}
	st, err := op.Status(ctx)
	if err != nil {
		t.Fatalf("alpha status with its operator token: %v", err)
	}
	if st.ID != "alpha" || len(st.Voters) != 3 || st.Consortium == "" {
		t.Fatalf("alpha status: id %q, voters %v, consortium %q; want alpha, 3 voters and a consortium", st.ID, st.Voters, st.Consortium)
	}
	consortium := st.Consortium

	// A ledger token for alpha reads on every node; the operator token only on alpha's.
	token := "charta_" + randomHex(t, 32)
	signer := func(m, url string) *client.Client {
		t.Helper()
		c, err := client.New(url, client.WithKeyFile(filepath.Join(deploy, m+".key")),
			client.WithToken(token), client.WithConsortium(consortium))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	alpha, beta := signer("alpha", urls["alpha"]), signer("beta", urls["beta"])
	propose(ctx, t, alpha, "token.register", "token-alpha", ledger.TokenRegister{
		Hash: ledger.HashToken(token), Scopes: []string{"read", "write"},
		ExpiresAt: time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second),
	})
	propose(ctx, t, alpha, "asset.register", "asset-model-x", assetBody("model-x", "alpha"))
	notAfter := time.Now().Add(365 * 24 * time.Hour).UTC().Truncate(time.Second)
	propose(ctx, t, alpha, "grant.offer", "offer-g-1", ledger.GrantOffer{
		ID: "g-1", Licensors: []string{"alpha"}, Licensees: []string{"beta"},
		Terms: ledger.Terms{
			Assets: []string{"model-x"}, Rights: []ledger.Right{ledger.RightUse, ledger.RightTrain},
			Constraints: ledger.Constraints{
				NotAfter: &notAfter, Territory: ledger.Territory{Allow: []string{"DE", "FR"}}, Purposes: []string{"research"},
			},
		},
	})
	accepted := propose(ctx, t, beta, "grant.accept", "accept-g-1", ledger.GrantRef{Grant: "g-1"})

	trainDE := ledger.CheckRequest{Member: "beta", Asset: "model-x", Action: ledger.RightTrain, Territory: "DE", Purpose: "research"}
	for _, m := range members {
		// Every node answers, once it has applied the accept.
		wantCheck(ctx, t, signer("gamma", urls[m]), m, trainDE, accepted.Index, true, "grant g-1")
	}
	wantCheck(ctx, t, alpha, "alpha", ledger.CheckRequest{Member: "beta", Asset: "model-x", Action: ledger.RightTrain, Territory: "US", Purpose: "research"},
		accepted.Index, false, "territory US")

	// Lose the leader: the harder case, since the survivors must elect a new one.
	victim := leaderOf(ctx, t, alpha)
	var survivors []string
	for _, m := range members {
		if m != victim {
			survivors = append(survivors, m)
		}
	}
	t.Logf("stopping %s (the leader)", victim)
	s.mustCompose("stop", "-t", "10", victim)
	stopped := time.Now()
	hc := &http.Client{Timeout: 2 * time.Second}
	if resp, err := hc.Get(urls[victim] + "/readyz"); err == nil {
		resp.Body.Close()
		t.Fatalf("%s still answers on %s after compose stop: %s", victim, urls[victim], resp.Status)
	}

	// A write through a survivor succeeds within 15 s of the loss.
	after := writeWithin(ctx, t, signer("alpha", urls[survivors[0]]), survivors[0], "asset-model-y", assetBody("model-y", "alpha"), stopped)
	t.Logf("write after stopping %s took %s (index %d)", victim, time.Since(stopped).Round(time.Millisecond), after.Index)

	// Both survivors still answer checks: the grant from before, and the
	// ownership recorded after the loss.
	for _, m := range survivors {
		c := signer("gamma", urls[m])
		wantCheck(ctx, t, c, m, trainDE, after.Index, true, "grant g-1")
		wantCheck(ctx, t, c, m, ledger.CheckRequest{Member: "alpha", Asset: "model-y", Action: ledger.RightTrain}, after.Index, true, "alpha owns model-y")
	}
	newLeader := leaderOf(ctx, t, signer("alpha", urls[survivors[1]]))
	if newLeader == victim || !slices.Contains(survivors, newLeader) {
		t.Fatalf("leader after stopping %s is %q; want one of %v", victim, newLeader, survivors)
	}

	// The stopped node restarts from its volume (--bootstrap is ignored once
	// state exists) and catches up with the write it missed.
	s.mustCompose("start", victim)
	waitReady(t, victim, urls[victim], 30*time.Second)
	wantCheck(ctx, t, signer("gamma", urls[victim]), victim,
		ledger.CheckRequest{Member: "alpha", Asset: "model-y", Action: ledger.RightTrain}, after.Index, true, "alpha owns model-y")

	// Now an unclean loss: SIGKILL the current leader, with no chance to
	// hand over leadership. The others must notice and elect a new one.
	victim2 := leaderOf(ctx, t, signer("alpha", urls[victim]))
	var writeVia string
	for _, m := range members {
		if m != victim2 {
			writeVia = m
			break
		}
	}
	t.Logf("killing %s (the leader)", victim2)
	s.mustCompose("kill", "-s", "SIGKILL", victim2)
	killed := time.Now()
	after2 := writeWithin(ctx, t, signer("alpha", urls[writeVia]), writeVia, "asset-model-z", assetBody("model-z", "alpha"), killed)
	t.Logf("write after killing %s took %s (index %d)", victim2, time.Since(killed).Round(time.Millisecond), after2.Index)
	for _, m := range members {
		if m != victim2 {
			wantCheck(ctx, t, signer("gamma", urls[m]), m,
				ledger.CheckRequest{Member: "alpha", Asset: "model-z", Action: ledger.RightTrain}, after2.Index, true, "alpha owns model-z")
		}
	}

	// A network partition: the leader is disconnected from the private
	// network while a client keeps writing through another node, then
	// reconnected; then a follower is killed and restarted. No write that
	// was acknowledged is lost, and every node converges to the same
	// applied index and state digest.
	s.mustCompose("start", victim2)
	waitReady(t, victim2, urls[victim2], 30*time.Second)
	leader := leaderOf(ctx, t, signer("alpha", urls[victim2]))
	var via string
	for _, m := range members {
		if m != leader {
			via = m
			break
		}
	}
	network := strings.ReplaceAll(s.project, "-", "") + "_charta"
	if out, err := exec.Command("docker", "network", "ls", "-q", "-f", "name="+s.project+"_charta").Output(); err == nil && len(bytes.TrimSpace(out)) > 0 {
		network = s.project + "_charta"
	}
	leaderCtr := strings.TrimSpace(s.mustCompose("ps", "-q", leader))
	// converge waits until every node has applied at least index and all
	// report the same applied index and state digest.
	converge := func(index uint64) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			var sts []*client.Status
			var err error
			for _, m := range members {
				var st *client.Status
				if st, err = signer("gamma", urls[m]).Status(ctx); err != nil {
					break
				}
				sts = append(sts, st)
			}
			if err == nil && sts[0].AppliedIndex >= index &&
				sts[0].AppliedIndex == sts[1].AppliedIndex && sts[1].AppliedIndex == sts[2].AppliedIndex &&
				sts[0].StateDigest == sts[1].StateDigest && sts[1].StateDigest == sts[2].StateDigest {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("nodes did not converge within 30 s of healing: %v", err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	writer := signer("alpha", urls[via])
	var acked []string
	t.Logf("disconnecting %s (the leader) from %s", leader, network)
	mustRun(t, root, nil, "docker", "network", "disconnect", network, leaderCtr)
	cut := time.Now()
	// A disconnected container's connections hang rather than reset, so
	// a vote request to it can take the transport's 10 s timeout: the
	// first write gets 40 s instead of 15.
	for i := 0; time.Since(cut) < 6*time.Second || i == 0; i++ {
		id := fmt.Sprintf("part-%d", i)
		since := time.Now()
		if i == 0 {
			since = cut.Add(25 * time.Second)
		}
		writeWithin(ctx, t, writer, via, "asset-"+id, assetBody(id, "alpha"), since)
		acked = append(acked, id)
	}
	mustRun(t, root, nil, "docker", "network", "connect", "--alias", leader, network, leaderCtr)
	st0, err := writer.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	converge(st0.AppliedIndex)
	t.Logf("%s reconnected and caught up after %s", leader, time.Since(cut).Round(time.Millisecond))
	var follower string
	for _, m := range members {
		if m != leader && m != via {
			follower = m
		}
	}
	t.Logf("reconnected %s; killing follower %s", leader, follower)
	s.mustCompose("kill", "-s", "SIGKILL", follower)
	healed := time.Now()
	last := writeWithin(ctx, t, writer, via, "asset-after-kill", assetBody("after-kill", "alpha"), healed)
	acked = append(acked, "after-kill")
	s.mustCompose("start", follower)
	waitReady(t, follower, urls[follower], 30*time.Second)
	converge(last.Index)
	for _, m := range members {
		c := signer("gamma", urls[m])
		for _, id := range acked {
			if _, err := c.Asset(ctx, id, client.MinIndex(last.Index)); err != nil {
				t.Fatalf("%s lost acknowledged write %s: %v", m, id, err)
			}
		}
	}
	t.Logf("partition: %d acknowledged writes on every node; converged", len(acked))
	t.Logf("total %s", time.Since(start).Round(time.Millisecond))
}

// writeWithin registers an asset through c within 15 s of since. The
// proposal is signed once and resubmitted as is, so that an attempt whose
// answer was lost cannot make a later one fail: the ledger answers the same
// envelope with its original result.
func writeWithin(ctx context.Context, t *testing.T, c *client.Client, node, id string, body ledger.AssetRegister, since time.Time) *ledger.Result {
	t.Helper()
	env, err := c.Sign(ctx, "asset.register", id, body)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithDeadline(ctx, since.Add(15*time.Second))
	defer cancel()
	for {
		res, err := c.SubmitEnvelope(wctx, env)
		switch {
		case err == nil && res.Outcome.Status == ledger.StatusAccepted:
			return res
		case err == nil:
			t.Fatalf("asset.register %s through %s: outcome %+v", body.ID, node, res.Outcome)
		case wctx.Err() != nil:
			t.Fatalf("no write succeeded through %s within 15 s: %v", node, err)
		}
		t.Logf("write through %s: %v (retrying)", node, err)
		select {
		case <-wctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// requireDocker returns the compose command, or skips the test (fails it
// when CHARTA_REQUIRE_DOCKER=1) if Docker or compose is missing.
func requireDocker(t *testing.T) []string {
	t.Helper()
	unavailable := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if os.Getenv("CHARTA_REQUIRE_DOCKER") == "1" {
			t.Fatalf("%s (CHARTA_REQUIRE_DOCKER=1)", msg)
		}
		t.Skipf("%s; set CHARTA_REQUIRE_DOCKER=1 to fail instead of skipping", msg)
	}
	if testing.Short() {
		unavailable("the compose test starts containers; skipped in -short mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		unavailable("no usable Docker engine: docker info: %v: %s", err, strings.TrimSpace(string(out)))
	}
	// The compose plugin (v2) first, then the standalone docker-compose (v1).
	for _, cmd := range [][]string{{"docker", "compose"}, {"docker-compose"}} {
		args := append(slices.Clone(cmd[1:]), "version")
		if exec.CommandContext(ctx, cmd[0], args...).Run() == nil {
			return cmd
		}
	}
	unavailable("neither 'docker compose' nor 'docker-compose' works")
	return nil
}

// repoRoot is the module root: this package is internal/deploytest.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "Dockerfile")); err != nil {
		t.Fatalf("repository root %s: %v", root, err)
	}
	return root
}

// buildCharta builds a static charta for goos (and the host's architecture)
// alone in a new directory, and returns its path.
func buildCharta(t *testing.T, root, goos string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "charta")
	mustRun(t, root, []string{"CGO_ENABLED=0", "GOOS=" + goos, "GOARCH=" + runtime.GOARCH},
		"go", "build", "-trimpath", "-o", out, "./cmd/charta")
	return out
}

// stack is one compose project.
type stack struct {
	t       *testing.T
	dir     string   // working directory
	compose []string // docker compose or docker-compose
	project string   // -p: isolates containers, networks and volumes
	file    string   // docker-compose.yml
	env     []string // image, deploy directory and ports
}

func (s *stack) cmd(ctx context.Context, args ...string) *exec.Cmd {
	all := append(slices.Clone(s.compose[1:]), "-p", s.project, "-f", s.file)
	c := exec.CommandContext(ctx, s.compose[0], append(all, args...)...)
	c.Dir = s.dir
	c.Env = append(os.Environ(), s.env...)
	return c
}

func (s *stack) mustCompose(args ...string) string {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := s.cmd(ctx, args...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("%s %s: %v\n%s", strings.Join(s.compose, " "), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// copyOut returns the trimmed contents of a file in service svc's container.
func (s *stack) copyOut(svc, path string) string {
	s.t.Helper()
	id := strings.TrimSpace(s.mustCompose("ps", "-q", svc))
	if id == "" {
		s.t.Fatalf("no container for service %s", svc)
	}
	dst := filepath.Join(s.t.TempDir(), filepath.Base(path))
	mustRun(s.t, s.dir, nil, "docker", "cp", id+":"+path, dst)
	b := strings.TrimSpace(string(readFile(s.t, dst)))
	if b == "" {
		s.t.Fatalf("%s:%s is empty", svc, path)
	}
	return b
}

// down prints the logs if the test failed, then removes the containers,
// the network and the volumes, whatever happened.
func (s *stack) down() {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if s.t.Failed() {
		out, _ := s.cmd(ctx, "logs", "--no-color", "--tail", "200").CombinedOutput()
		s.t.Logf("compose logs of %s:\n%s", s.project, out)
	}
	if out, err := s.cmd(ctx, "down", "-v", "--remove-orphans", "-t", "5").CombinedOutput(); err != nil {
		s.t.Errorf("compose down: %v\n%s", err, out)
	}
}

func propose(ctx context.Context, t *testing.T, c *client.Client, typ, id string, body any) *ledger.Result {
	t.Helper()
	res, err := c.Propose(ctx, typ, id, body)
	if err != nil {
		t.Fatalf("%s %s: %v", typ, id, err)
	}
	if res.Outcome.Status != ledger.StatusAccepted {
		t.Fatalf("%s %s: outcome %+v", typ, id, res.Outcome)
	}
	return res
}

func assetBody(id, owner string) ledger.AssetRegister {
	return ledger.AssetRegister{
		ID: id, Kind: ledger.AssetModel, Digest: "sha256:" + strings.Repeat("ab", 32),
		Owners: []ledger.Owner{{Member: owner, ShareBP: 10000}},
	}
}

// wantCheck asks node (through c) once it has applied index minIndex, and
// asserts the decision.
func wantCheck(ctx context.Context, t *testing.T, c *client.Client, node string, req ledger.CheckRequest, minIndex uint64, allowed bool, reason string) {
	t.Helper()
	d, err := c.Check(ctx, req, client.MinIndex(minIndex))
	if err != nil {
		t.Fatalf("check %+v on %s: %v", req, node, err)
	}
	if d.Allowed != allowed || !strings.Contains(d.Reason, reason) {
		t.Fatalf("check %s %s %s on %s: allowed=%v %q; want allowed=%v containing %q",
			req.Member, req.Action, req.Asset, node, d.Allowed, d.Reason, allowed, reason)
	}
}

// leaderOf polls c's node until it names a leader.
func leaderOf(ctx context.Context, t *testing.T, c *client.Client) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st, err := c.Status(ctx)
		if err == nil && st.Leader != "" {
			return st.Leader
		}
		if time.Now().After(deadline) {
			t.Fatalf("no leader known within 15 s: status %+v, error %v", st, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func waitReady(t *testing.T, name, url string, within time.Duration) {
	t.Helper()
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(within)
	var last string
	for time.Now().Before(deadline) {
		resp, err := hc.Get(url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s (%s) not ready within %s: %s", name, url, within, last)
}

// freePorts returns n distinct ports that were free on 127.0.0.1 a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

func mustRun(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, name, args...)
	c.Dir = dir
	c.Env = append(os.Environ(), env...)
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func runQuiet(dir string, env []string, name string, args ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, name, args...)
	c.Dir = dir
	c.Env = append(os.Environ(), env...)
	_ = c.Run()
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
