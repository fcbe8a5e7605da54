package monitoringtest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/charta/charta/internal/devnet"
	"github.com/charta/charta/ledger"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// monitoringDir holds the shipped dashboard and alert rules.
const monitoringDir = "../../docs/monitoring"

// promtool finds promtool, or skips the test without it.
func promtool(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CHARTA_PROMTOOL"), "promtool"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CHARTA_REQUIRE_PROMTOOL") == "1" {
		t.Fatal("promtool is not installed and CHARTA_REQUIRE_PROMTOOL=1: install Debian's prometheus package")
	}
	t.Skip("promtool is not installed (apt-get install prometheus, or set CHARTA_PROMTOOL); skipping")
	return ""
}

// runPromtool runs promtool with args (and stdin, if not nil) and fails
// the test unless it succeeds without a complaint.
func runPromtool(t *testing.T, bin string, stdin []byte, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// chartaBin is $CHARTA_BIN (what make test sets), or a binary built into a
// temporary directory.
func chartaBin(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("CHARTA_BIN"); b != "" {
		return b
	}
	bin := filepath.Join(t.TempDir(), "charta")
	out, err := exec.Command("go", "build", "-o", bin, "../../cmd/charta").CombinedOutput()
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// freeBase finds a base port whose API and Raft ports are all free.
func freeBase(t *testing.T) int {
	t.Helper()
	for try := 0; try < 50; try++ {
		base := 20000 + (os.Getpid()*17+try*401+4321)%20000
		ok := true
		for i := range devnet.Members {
			for _, p := range []int{base + 1 + i, base + 101 + i} {
				ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
				if err != nil {
					ok = false
					break
				}
				ln.Close()
			}
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free ports")
	return 0
}

// startConsortium runs the three dev nodes as processes, registers the
// members' tokens and seeds the demo story; they stop when the test ends.
func startConsortium(t *testing.T) *devnet.Cluster {
	t.Helper()
	c := &devnet.Cluster{Dir: filepath.Join(t.TempDir(), "dev"), Base: freeBase(t), Scheme: ledger.SchemeEd25519}
	if _, err := c.Prepare(); err != nil {
		t.Fatal(err)
	}
	bin := chartaBin(t)
	exited := make(chan error, len(devnet.Members))
	t.Cleanup(func() {
		c.Stop()
		if t.Failed() {
			for _, m := range devnet.Members {
				b, _ := os.ReadFile(c.Path(m + ".log"))
				lines := strings.Split(strings.TrimSpace(string(b)), "\n")
				t.Logf("%s.log (end):\n%s", m, strings.Join(lines[max(0, len(lines)-15):], "\n"))
			}
		}
	})
	for i := range devnet.Members {
		if err := c.Start(bin, i, exited, "--bootstrap"); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.WaitReady(ctx, exited); err != nil {
		t.Fatal(err)
	}
	if err := c.RegisterTokens(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Seed(ctx, io.Discard); err != nil {
		t.Fatal(err)
	}
	return c
}

// scrape reads node i's /metrics.
func scrape(t *testing.T, c *devnet.Cluster, i int) []byte {
	t.Helper()
	resp, err := http.Get(c.APIURL(i) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s /metrics: %d %v", devnet.Members[i], resp.StatusCode, err)
	}
	return b
}

// role is node i's Raft role from /healthz.
func role(t *testing.T, c *devnet.Cluster, i int) string {
	t.Helper()
	resp, err := http.Get(c.APIURL(i) + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h struct {
		Role string `json:"role"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return h.Role
}

func parse(t *testing.T, b []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// series counts the series of family name whose labels include labels.
func series(fams map[string]*dto.MetricFamily, name string, labels map[string]string) int {
	n := 0
	mf := fams[name]
	if mf == nil {
		return 0
	}
next:
	for _, m := range mf.Metric {
		for k, v := range labels {
			if !slices.ContainsFunc(m.Label, func(l *dto.LabelPair) bool { return l.GetName() == k && (v == "" || l.GetValue() == v) }) {
				continue next
			}
		}
		n++
	}
	return n
}

// counterOf is the value of the counter series with label k=v.
func counterOf(mf *dto.MetricFamily, k, v string) float64 {
	for _, m := range mf.Metric {
		if slices.ContainsFunc(m.Label, func(l *dto.LabelPair) bool { return l.GetName() == k && l.GetValue() == v }) {
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// TestMetrics_PromtoolCleanOnEveryNode: after traffic, every node's
// /metrics passes promtool check metrics, peers are labels and not parts
// of names, nothing is NaN, and the ledger's metrics are there.
func TestMetrics_PromtoolCleanOnEveryNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node consortium")
	}
	bin := promtool(t)
	c := startConsortium(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := c.MemberClient(0, "beta")
	if err != nil {
		t.Fatal(err)
	}
	// A rejected proposal, and a checkpoint gathered with every cosignature.
	if r, err := cl.Propose(ctx, "grant.accept", "accept-nothing", ledger.GrantRef{Grant: "g-none"}); err == nil && r.Outcome.Status != ledger.StatusRejected {
		t.Fatalf("accepting a grant that does not exist: %+v", r.Outcome)
	}
	if cp, err := cl.Checkpoint(ctx); err != nil || len(cp.Cosigners) != len(devnet.Members) {
		t.Fatalf("checkpoint: %v %+v", err, cp)
	}

	roles := map[string]bool{}
	all := map[string]*dto.MetricFamily{}
	for i, m := range devnet.Members {
		text := scrape(t, c, i)
		r := role(t, c, i)
		roles[r] = true
		if out := runPromtool(t, bin, text, "", "check", "metrics"); strings.TrimSpace(out) != "" {
			t.Errorf("promtool check metrics on %s (%s):\n%s", m, r, out)
		}
		fams := parse(t, text)
		for name, mf := range fams {
			all[name] = mf
			for _, peer := range devnet.Members {
				if strings.Contains(name, peer) {
					t.Errorf("%s: metric %s has a member's name in it", m, name)
				}
			}
			if mf.GetType() == dto.MetricType_SUMMARY && !strings.HasPrefix(name, "go_gc_") {
				t.Errorf("%s: %s is a summary", m, name)
			}
			for _, s := range mf.Metric {
				if v := s.GetGauge().GetValue() + s.GetCounter().GetValue(); math.IsNaN(v) {
					t.Errorf("%s: %s is NaN", m, name)
				}
			}
		}
		for _, want := range []struct {
			name   string
			labels map[string]string
		}{
			{"charta_proposals_total", map[string]string{"type": "grant.accept", "outcome": "accepted"}},
			{"charta_proposals_total", map[string]string{"type": "grant.accept", "outcome": "rejected"}},
			{"charta_apply_duration_seconds", nil},
			{"charta_infractions_total", map[string]string{"kind": ledger.InfractionHardCap}},
			{"charta_journal_entries", nil},
			{"charta_state_store_bytes", nil},
			{"charta_ledger_time_lag_seconds", nil},
			{"charta_checkpoint_age_seconds", nil},
			{"charta_apply_lag_entries", nil},
			{"charta_raft_state", map[string]string{"state": r}},
		} {
			if series(fams, want.name, want.labels) == 0 {
				t.Errorf("%s (%s): no %s%v", m, r, want.name, want.labels)
			}
		}
		// The demo story records a soft-cap infraction; every node counts it.
		if got := fams["charta_infractions_total"]; got == nil || counterOf(got, "kind", ledger.InfractionSoftCap) < 1 {
			t.Errorf("%s: the demo's soft-cap infraction is not counted", m)
		}
		if r == "leader" && series(fams, "charta_raft_replication_duration_seconds", map[string]string{"rpc": "append_entries", "peer": ""}) != len(devnet.Members)-1 {
			t.Errorf("leader %s: want append_entries latency for each of %d peers, have %d", m, len(devnet.Members)-1,
				series(fams, "charta_raft_replication_duration_seconds", map[string]string{"rpc": "append_entries", "peer": ""}))
		}
	}
	if !roles["leader"] || !roles["follower"] {
		t.Errorf("roles scraped: %v, want a leader and followers", roles)
	}
	t.Run("dashboard and alerts use exported metrics", func(t *testing.T) { checkReferences(t, all) })
	t.Run("operations.md lists every metric", func(t *testing.T) {
		doc, err := os.ReadFile("../../docs/operations.md")
		if err != nil {
			t.Fatal(err)
		}
		for name := range all {
			if strings.HasPrefix(name, "charta_") && !strings.Contains(string(doc), "`"+name+"`") {
				t.Errorf("docs/operations.md does not list %s", name)
			}
		}
	})
}

// TestAlerts_Promtool checks the alert rules and runs their unit tests.
func TestAlerts_Promtool(t *testing.T) {
	bin := promtool(t)
	if out := runPromtool(t, bin, nil, monitoringDir, "check", "rules", "alerts.yml"); !strings.Contains(out, "SUCCESS: 7 rules found") {
		t.Errorf("promtool check rules:\n%s", out)
	}
	runPromtool(t, bin, nil, monitoringDir, "test", "rules", "alerts_test.yml")
}

// metricName matches the metric names in a PromQL expression.
var metricName = regexp.MustCompile(`\b(?:charta|go|process)_[a-z0-9_]+\b`)

// checkReferences fails for every metric that the dashboard or the alert
// rules use and that no node exported.
func checkReferences(t *testing.T, fams map[string]*dto.MetricFamily) {
	raw, err := os.ReadFile(filepath.Join(monitoringDir, "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	exprs := map[string]string{} // expression → where
	for _, p := range dash.Panels {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("dashboard panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			exprs[tg.Expr] = "dashboard panel " + strconv.Quote(p.Title)
		}
	}
	rules, err := os.ReadFile(filepath.Join(monitoringDir, "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(rules), "\n") {
		if e, ok := strings.CutPrefix(strings.TrimSpace(line), "expr:"); ok {
			exprs[e] = "alerts.yml"
		}
	}
	if len(exprs) < 20 {
		t.Fatalf("only %d expressions found", len(exprs))
	}
	used := 0
	for e, where := range exprs {
		for _, name := range metricName.FindAllString(e, -1) {
			used++
			if !exported(fams, name) {
				t.Errorf("%s uses %s, which no node exports: %s", where, name, e)
			}
		}
	}
	if used == 0 {
		t.Fatal("no metric names found in the expressions")
	}
}

// exported reports whether name is a family, or a histogram's series.
func exported(fams map[string]*dto.MetricFamily, name string) bool {
	if _, ok := fams[name]; ok {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if mf := fams[base]; mf != nil && mf.GetType() == dto.MetricType_HISTOGRAM {
				return true
			}
		}
	}
	return false
}
