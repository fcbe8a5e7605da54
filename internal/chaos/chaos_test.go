package chaos

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var buildOnce struct {
	sync.Once
	bin string
	err error
}

// chartaBin is the binary under test: $CHARTA_BIN, or one built once into
// a temporary directory.
func chartaBin(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("CHARTA_BIN"); b != "" {
		return b
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "charta-chaos-bin-")
		if err != nil {
			buildOnce.err = err
			return
		}
		buildOnce.bin = filepath.Join(dir, "charta")
		out, err := exec.Command("go", "build", "-o", buildOnce.bin, "github.com/charta/charta/cmd/charta").CombinedOutput()
		if err != nil {
			buildOnce.err = err
			buildOnce.bin = string(out)
		}
	})
	if buildOnce.err != nil {
		t.Fatalf("build: %v\n%s", buildOnce.err, buildOnce.bin)
	}
	return buildOnce.bin
}

// runScenario runs one scenario and fails the test on any violation,
// printing the directory it kept.
func runScenario(t *testing.T, name string, nodes int, seed uint64, ops int, fault Fault) {
	t.Helper()
	runScenarioWith(t, name, nodes, seed, ops, fault)
}

func runScenarioWith(t *testing.T, name string, nodes int, seed uint64, ops int, fault Fault, nodeArgs ...string) {
	t.Helper()
	runScenarioS(t, Scenario{Name: name, Nodes: nodes, Seed: seed, Fault: fault, NodeArgs: nodeArgs}, ops)
}

// runScenarioS runs s with the default workload bounded to ops operations,
// the binary under test, and the test's log.
func runScenarioS(t *testing.T, s Scenario, ops int) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a consortium of node processes")
	}
	name, seed, nodes := s.Name, s.Seed, s.Nodes
	mix := s.Workload
	s.Workload = DefaultWorkloadConfig()
	s.Workload.Ballots, s.Workload.Rotators, s.Workload.Adversaries = mix.Ballots, mix.Rotators, mix.Adversaries
	// W5 runs in every scenario (DefaultWorkloadConfig).
	s.Workload.MaxOps = ops
	s.Bin, s.Dir, s.Logger = chartaBin(t), os.Getenv("CHARTA_CHAOS_DIR"), slog.New(slog.NewTextHandler(testWriter{t}, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	rep, err := s.Run(ctx)
	if rep != nil {
		t.Logf("%s (seed %d, %d nodes): %d operations %v in %v", name, seed, nodes, rep.Ops, rep.Outcomes, rep.Duration.Round(time.Millisecond))
	}
	if err != nil {
		if rep != nil {
			t.Errorf("kept the history (history.json, grants.html, pools.html, ballots.html, keys.html), the node logs and data in %s", rep.Dir)
			logTails(t, rep.Dir, 40)
		}
		t.Fatal(err)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}

const (
	shortOps = 3000
	gap      = 1500 * time.Millisecond
)

func TestChaos_KillFollower(t *testing.T) {
	runScenario(t, "kill-follower", 3, 101, shortOps, Sequence(gap, KillFollower(3*time.Second)))
}

func TestChaos_KillLeader(t *testing.T) {
	runScenario(t, "kill-leader", 3, 102, shortOps, Sequence(gap, KillLeader(3*time.Second)))
}

func TestChaos_KillAllAndRestart(t *testing.T) {
	runScenario(t, "kill-all", 3, 103, shortOps, Sequence(gap, KillAll(time.Second)))
}

func TestChaos_PauseLeader(t *testing.T) {
	runScenario(t, "pause-leader", 3, 104, shortOps, Sequence(gap, PauseLeader(3*time.Second)))
}

func TestChaos_IsolateLeader(t *testing.T) {
	runScenario(t, "isolate-leader", 3, 105, shortOps, Sequence(gap, IsolateLeader(4*time.Second)))
}

func TestChaos_OneWayLeader(t *testing.T) {
	runScenario(t, "one-way-leader", 3, 106, shortOps, Sequence(gap, OneWayLeader(4*time.Second)))
}

func TestChaos_DelayAndDrop(t *testing.T) {
	runScenario(t, "delay-drop", 3, 107, shortOps, Sequence(gap, DelayDrop(5*time.Second, 20*time.Millisecond, 0.02)))
}

// TestChaos_SnapshotPressure runs nodes that snapshot every 64 entries and
// keep only 32 behind it, and cuts a follower off long enough that the
// entries it missed are compacted away: it comes back by InstallSnapshot.
func TestChaos_SnapshotPressure(t *testing.T) {
	runScenarioWith(t, "snapshot-pressure", 3, 109, shortOps, Sequence(gap, IsolateFollower(8*time.Second)),
		"--snapshot-threshold", "64", "--trailing-logs", "32", "--snapshot-interval", "500ms")
}

// TestChaos_MembershipChange admits a fourth member by ballot while the
// workload runs, joins its node, then removes it by ballot.
func TestChaos_MembershipChange(t *testing.T) {
	runScenario(t, "membership", 3, 110, shortOps, Sequence(gap, MembershipChange(5*time.Second)))
}

func TestChaos_TransferStorm(t *testing.T) {
	runScenario(t, "transfer-storm", 3, 108, shortOps, Sequence(gap, TransferStorm(5*time.Second, 500*time.Millisecond)))
}

// TestChaos_SlowReaderFlood opens 300 never-reading event streams from
// genesis on the leader while the workload runs: the leader keeps its
// leadership, and every invariant holds.
func TestChaos_SlowReaderFlood(t *testing.T) {
	runScenario(t, "slow-readers", 3, 111, shortOps, Sequence(gap, SlowReaders(300, 6*time.Second)))
}

// TestChaos_ReadTokenClusterRoutes calls every cluster-changing route on
// every node with each member's read-only token while the workload runs:
// every call is refused and the cluster stays as it was.
func TestChaos_ReadTokenClusterRoutes(t *testing.T) {
	runScenario(t, "read-token-cluster-routes", 3, 112, shortOps, Sequence(gap, ReadTokenClusterRoutes()))
}

// TestChaos_DiskFull moves a follower onto a 96 MiB file system of its
// own, fills it while the workload runs and frees it 6 s later: the node
// refuses writes with 507 and raises the nospace alarm (or stops with
// status 74 if a commit fails first, and is restarted), and every
// invariant holds: nothing acknowledged is lost and the nodes converge.
func TestChaos_DiskFull(t *testing.T) {
	if err := CanMountTmpfs(); err != nil {
		if os.Getenv("CHARTA_REQUIRE_MOUNT") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	runScenario(t, "disk-full", 3, 113, shortOps, Sequence(gap, FillDisk(6*time.Second)))
}

// TestChaos_ClockOffsets runs one node whose clock is 48 h ahead and one
// 48 h behind beside an honest one, hands leadership to each skewed node
// in turn, and checks that each gives it up again with the clock alarm
// raised; that no proposal is rejected for its issued_at; and that every
// write's ledger time follows the true time (attested time: the median of
// the nodes' signed readings), so nothing expires early.
func TestChaos_ClockOffsets(t *testing.T) {
	runScenarioS(t, Scenario{Name: "clock-offsets", Nodes: 3, Seed: 110,
		PerNodeArgs: ClockOffsets(3, 48*time.Hour, 0, -48*time.Hour),
		Fault:       Sequence(gap, SkewedLeaders([]string{memberIDs[0], memberIDs[2]}, 1, 15*time.Second)),
		After:       ClockHonestCheck(ledgerTimeLag)}, shortOps)
}

// TestChaos_W3KillLeader runs W3 (ballots and key rotation) beside W1 and
// W2 and kills the leader while ballots are open and keys rotate.
func TestChaos_W3KillLeader(t *testing.T) {
	runScenarioS(t, Scenario{Name: "w3-kill-leader", Nodes: 3, Seed: 111,
		Workload: WorkloadConfig{}.WithW3(), Fault: Sequence(gap, KillLeader(3*time.Second))}, shortOps)
}

// TestChaos_W4IsolateLeader runs W4's adversarial client beside W1, W2
// and W3, and cuts the leader off.
func TestChaos_W4IsolateLeader(t *testing.T) {
	runScenarioS(t, Scenario{Name: "w4-isolate-leader", Nodes: 3, Seed: 112,
		Workload: WorkloadConfig{}.WithW3().WithW4(), Fault: Sequence(gap, IsolateLeader(4*time.Second))}, shortOps)
}

// campaignMix returns the workloads mix adds to W1 and W2: a
// comma-separated list of w3 and w4.
func campaignMix(t *testing.T, mix string) WorkloadConfig {
	var w WorkloadConfig
	for _, x := range strings.Split(mix, ",") {
		switch strings.TrimSpace(x) {
		case "":
		case "w3":
			w = w.WithW3()
		case "w4":
			w = w.WithW4()
		default:
			t.Fatalf("CHARTA_CHAOS_MIX: unknown workload %q (want w3, w4)", x)
		}
	}
	return w
}

// TestChaos_Campaign runs randomised fault sequences when
// CHARTA_CHAOS_SEEDS is set (make chaos): that many seeds, on
// CHARTA_CHAOS_NODES nodes (default 3), with the workloads of
// CHARTA_CHAOS_MIX added to W1 and W2.
func TestChaos_Campaign(t *testing.T) {
	seeds, _ := strconv.Atoi(os.Getenv("CHARTA_CHAOS_SEEDS"))
	if seeds <= 0 {
		t.Skip("set CHARTA_CHAOS_SEEDS (make chaos) to run randomised campaigns")
	}
	nodes, _ := strconv.Atoi(os.Getenv("CHARTA_CHAOS_NODES"))
	if nodes == 0 {
		nodes = 3
	}
	first, _ := strconv.Atoi(os.Getenv("CHARTA_CHAOS_FIRST_SEED"))
	mix := os.Getenv("CHARTA_CHAOS_MIX")
	for seed := uint64(first + 1); seed <= uint64(first+seeds); seed++ {
		t.Run(fmt.Sprintf("seed-%d", seed), func(t *testing.T) { runCampaignSeed(t, seed, nodes, mix) })
	}
}

// runCampaignSeed runs one seed of a campaign: four faults drawn from it
// over a 4,000-operation workload.
func runCampaignSeed(t *testing.T, seed uint64, nodes int, mix string) {
	t.Helper()
	fault, names := RandomFaults(rand.New(rand.NewPCG(seed, 7)), 4)
	t.Logf("seed %d: %d nodes, faults %v, mix %q", seed, nodes, names, mix)
	runScenarioS(t, Scenario{Name: fmt.Sprintf("campaign-%d", seed), Nodes: nodes, Seed: seed, Fault: fault,
		Workload: campaignMix(t, mix)}, 4000)
}

// regressions are campaign seeds that failed once, with the bug each
// found; make chaos runs them besides its random seeds.
var regressions = []struct {
	seed  uint64
	nodes int
	mix   string
	bug   string
}{
	{5, 5, "w3,w4", "a trailing duplicate proposal changed the state digest (ledger TestDuplicate_LeavesNoTrace)"},
	{24, 5, "w3,w4", "the same, after a transfer storm, a killed follower, an isolated and a paused leader"},
}

// TestChaos_Regressions replays the pinned seeds when CHARTA_CHAOS_SEEDS
// is set (make chaos).
func TestChaos_Regressions(t *testing.T) {
	if os.Getenv("CHARTA_CHAOS_SEEDS") == "" {
		t.Skip("set CHARTA_CHAOS_SEEDS (make chaos) to run the pinned campaign seeds")
	}
	for _, r := range regressions {
		t.Run(fmt.Sprintf("seed-%d-%d-nodes", r.seed, r.nodes), func(t *testing.T) {
			t.Log(r.bug)
			runCampaignSeed(t, r.seed, r.nodes, r.mix)
		})
	}
}

// logTails logs the last n lines of each node's log in dir, so that a
// failure on a machine whose files are gone (CI) still shows what the nodes
// said.
func logTails(t *testing.T, dir string, n int) {
	t.Helper()
	logs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, f := range logs {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		lines = lines[max(0, len(lines)-n):]
		t.Logf("the last %d lines of %s:\n%s", len(lines), filepath.Base(f), strings.Join(lines, "\n"))
	}
}
