package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// chartaBin is the binary under test: $CHARTA_BIN (what make test sets),
// or one built into a temporary directory.
func chartaBin(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("CHARTA_BIN"); b != "" {
		return b
	}
	bin := filepath.Join(t.TempDir(), "charta")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// freeBase finds a base port whose API and Raft ports are all free.
func freeBase(t *testing.T) int {
	t.Helper()
	for try := 0; try < 50; try++ {
		base := 20000 + (os.Getpid()*7+try*211)%20000
		ok := true
		for _, p := range []int{base + 1, base + 2, base + 3, base + 9, base + 10, base + 11, base + 101, base + 102, base + 103} {
			ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				ok = false
				break
			}
			ln.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free ports")
	return 0
}

type cli struct {
	t   *testing.T
	bin string
	env []string
	// devOut is what the charta dev the consortium runs under printed.
	devOut *syncBuffer
}

// run runs the CLI and returns stdout, stderr and the exit code.
func (c *cli) run(args ...string) (string, string, int) {
	c.t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Env = append(os.Environ(), c.env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("charta %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// quiet waits until the journal has stopped growing for 3 s: the time
// entry the leader writes a second or two after the last write has come,
// so that a checkpoint taken now covers the whole journal.
func (c *cli) quiet(t *testing.T) {
	t.Helper()
	var last uint64
	stable := time.Now()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		var st struct {
			AppliedIndex uint64 `json:"applied_index"`
		}
		if err := json.Unmarshal([]byte(c.ok("status", "-o", "json")), &st); err != nil {
			t.Fatal(err)
		}
		if st.AppliedIndex != last {
			last, stable = st.AppliedIndex, time.Now()
		}
		if time.Since(stable) >= 3*time.Second {
			return
		}
	}
	t.Fatalf("the journal kept growing for 20 s while nobody wrote (applied index %d)", last)
}

func (c *cli) ok(args ...string) string {
	c.t.Helper()
	out, errs, code := c.run(args...)
	if code != 0 {
		c.t.Fatalf("charta %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func TestDev_WalkthroughAndCleanStop(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node consortium")
	}
	bin := chartaBin(t)
	dir, base, c, stop := devConsortiumStop(t, bin)
	api := fmt.Sprintf("http://127.0.0.1:%d", base+1)
	tok, err := os.ReadFile(filepath.Join(dir, "alpha.token"))
	if err != nil {
		t.Fatal(err)
	}

	// The README's walkthrough.
	if out := c.ok("status"); !strings.Contains(out, "voters") || !strings.Contains(out, "alpha, beta, gamma") {
		t.Fatalf("status: %s", out)
	}
	digest := "sha256:" + strings.Repeat("ab", 32)
	c.ok("asset", "register", "--id", "model-x", "--kind", "model", "--digest", digest)
	c.ok("grant", "offer", "--id", "g-1", "--asset", "model-x", "--to", "beta", "--rights", "use,train",
		"--territory", "DE,FR", "--purpose", "research", "--not-after", "2030-01-01T00:00:00Z")
	c.ok("grant", "accept", "--key", filepath.Join(dir, "beta.key"), "g-1")
	out, _, code := c.run("check", "--member", "beta", "--asset", "model-x", "--action", "train", "--territory", "DE", "--purpose", "research")
	if code != 0 || !strings.Contains(out, "ALLOWED") || !strings.Contains(out, "grant g-1 from alpha") {
		t.Fatalf("check DE: exit %d: %s", code, out)
	}
	out, _, code = c.run("check", "--member", "beta", "--asset", "model-x", "--action", "train", "--territory", "US", "--purpose", "research")
	if code != 1 || !strings.Contains(out, "territory US is not in DE, FR") {
		t.Fatalf("check US: exit %d: %s", code, out)
	}

	// JSON output decodes, and names the grant.
	out = c.ok("grant", "show", "g-1", "-o", "json")
	var g struct {
		ID, Status string
	}
	if err := json.Unmarshal([]byte(out), &g); err != nil || g.ID != "g-1" || g.Status != "active" {
		t.Fatalf("grant show json: %v %s", err, out)
	}

	// Bad input: a one-line message and exit 2 for usage, 1 for a refusal.
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"grant", "offer", "--bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"grant", "nope"}, 2, `unknown command "nope"`},
		{[]string{"check", "--member", "beta", "--asset", "model-x", "--action", "fly"}, 2, `"fly" is not a right`},
		{[]string{"grant", "accept", "--key", filepath.Join(dir, "missing.key"), "g-1"}, 1, "missing.key"},
		{[]string{"grant", "offer", "--id", "g-2", "--asset", "model-x", "--to", "beta", "--rights", "use", "--territory", "XX"}, 1, `"XX" is not an ISO 3166-1`},
		{[]string{"grant", "revoke", "g-1"}, 1, "forbidden"},
	} {
		out, errs, code := c.run(tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.msg) {
			t.Errorf("charta %v: exit %d (want %d), stderr %q (want %q), stdout %q", tc.args, code, tc.code, errs, tc.msg, out)
		}
	}

	// Journal export replays offline to the node's own state digest, and
	// reaches the root of the checkpoint the nodes cosigned. The leader
	// may write a time entry after the last write: the status, the
	// export and the checkpoint are taken again until none came between.
	var st struct {
		StateDigest  string `json:"state_digest"`
		AppliedIndex uint64 `json:"applied_index"`
	}
	status := func() {
		if err := json.Unmarshal([]byte(c.ok("status", "-o", "json")), &st); err != nil {
			t.Fatal(err)
		}
	}
	cpNote := filepath.Join(t.TempDir(), "checkpoint.note")
	export := filepath.Join(t.TempDir(), "journal.jsonl")
	for attempt := 0; ; attempt++ {
		status()
		before := st.AppliedIndex
		c.ok("journal", "export", "--out", export)
		req, _ := http.NewRequest(http.MethodGet, api+"/v1/checkpoint", nil)
		req.Header.Set("Accept", "text/plain")
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		note, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err := os.WriteFile(cpNote, note, 0o644); err != nil {
			t.Fatal(err)
		}
		status()
		if st.AppliedIndex == before {
			break
		}
		if attempt == 5 {
			t.Fatalf("the journal kept growing while nobody wrote: applied index %d, then %d", before, st.AppliedIndex)
		}
		time.Sleep(time.Second)
	}
	out = c.ok("audit", "--genesis", filepath.Join(dir, "genesis.json"), "--digest", st.StateDigest, "--checkpoint", cpNote, export)
	if !strings.Contains(out, "ok:") || !strings.Contains(out, "1 checkpoint root") {
		t.Fatalf("audit: %s", out)
	}

	// A receipt verifies offline.
	receipt := filepath.Join(t.TempDir(), "receipt.json")
	if err := os.WriteFile(receipt, []byte(c.ok("journal", "receipt", "4", "-o", "json")), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := c.ok("verify", "--genesis", filepath.Join(dir, "genesis.json"), receipt); !strings.Contains(out, "ok: entry 4") {
		t.Fatalf("verify: %s", out)
	}
	// A proof-carrying check verifies offline, and so does a certificate.
	proof := filepath.Join(t.TempDir(), "proof.json")
	if err := os.WriteFile(proof, []byte(c.ok("check", "--member", "beta", "--asset", "model-x", "--action", "train", "--territory", "DE", "--purpose", "research", "--proof", "-o", "json")), 0o644); err != nil {
		t.Fatal(err)
	}
	// (verified below, once the cluster has stopped)

	// A backup taken with the operator token (restored below).
	opTok, err := os.ReadFile(filepath.Join(dir, "alpha", "operator.token"))
	if err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "charta.backup")
	if err := json.Unmarshal([]byte(c.ok("status", "-o", "json")), &st); err != nil {
		t.Fatal(err)
	}
	c.ok("backup", "--token", strings.TrimSpace(string(opTok)), "--out", backup)
	// Ctrl-C stops every child.
	if err := stop(); err != nil {
		t.Fatalf("dev did not stop cleanly: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for i := 1; i <= 3; i++ {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/healthz", base+i), nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			t.Errorf("node on port %d still answers after dev stopped", base+i)
		}
	}

	// Offline means offline: the proof-carrying check and the receipt
	// verify with every node stopped.
	if out := c.ok("verify", "--genesis", filepath.Join(dir, "genesis.json"), proof); !strings.Contains(out, "ok: beta may train model-x") {
		t.Fatalf("verify proof: %s", out)
	}
	if out := c.ok("verify", "--genesis", filepath.Join(dir, "genesis.json"), receipt); !strings.Contains(out, "ok: entry 4") {
		t.Fatalf("verify receipt with the cluster stopped: %s", out)
	}

	// The backup restores into a new single-node cluster with the same
	// state (after the dev cluster stopped: the new cluster would reach
	// for the same members' addresses).
	restored := filepath.Join(t.TempDir(), "restored")
	rBase := freeBase(t)
	c.ok("restore", "--backup", backup, "--id", "alpha", "--data-dir", restored, "--genesis", filepath.Join(dir, "genesis.json"),
		"--raft-advertise", fmt.Sprintf("127.0.0.1:%d", rBase+101))
	rnode := exec.Command(bin, "node", "--id", "alpha", "--data-dir", restored, "--genesis", filepath.Join(dir, "genesis.json"),
		"--http", fmt.Sprintf("127.0.0.1:%d", rBase+1), "--raft", fmt.Sprintf("127.0.0.1:%d", rBase+101),
		"--tls-ca", filepath.Join(dir, "certs", "ca.crt"), "--tls-cert", filepath.Join(dir, "certs", "alpha.crt"),
		"--tls-key", filepath.Join(dir, "certs", "alpha.key"))
	rlog := &syncBuffer{}
	rnode.Stdout, rnode.Stderr = rlog, rlog
	if err := rnode.Start(); err != nil {
		t.Fatal(err)
	}
	rdone := make(chan error, 1)
	go func() { rdone <- rnode.Wait() }()
	rc := &cli{t: t, bin: bin, env: []string{"CHARTA_SERVER=" + fmt.Sprintf("http://127.0.0.1:%d", rBase+1),
		"CHARTA_TOKEN=" + strings.TrimSpace(string(tok))}}
	var rst struct {
		StateDigest  string `json:"state_digest"`
		AppliedIndex uint64 `json:"applied_index"`
		Role         string `json:"role"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _, code := rc.run("status", "-o", "json")
		if code == 0 && json.Unmarshal([]byte(out), &rst) == nil && rst.Role == "leader" {
			break
		}
		if time.Now().After(deadline) {
			rnode.Process.Kill()
			t.Fatalf("restored node did not become leader: %s\n%s", out, rlog.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if rst.StateDigest != st.StateDigest || rst.AppliedIndex < st.AppliedIndex {
		t.Errorf("restored node: digest %s at %d, backup had %s at %d", rst.StateDigest, rst.AppliedIndex, st.StateDigest, st.AppliedIndex)
	}
	rnode.Process.Signal(syscall.SIGTERM)
	<-rdone

}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// syncBuffer is a bytes.Buffer safe for the writer goroutine of os/exec and
// the test reading it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
