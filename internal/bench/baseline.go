package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// writeBaselines runs the raw-Raft baseline with 1 and with Clients
// writers, and the bbolt transaction baseline, on the same disk.
func (s *suite) writeBaselines(c *cluster) error {
	size := s.recordSize[s.cfg.Scheme]
	if size == 0 {
		size = 4096
	}
	fmt.Fprintf(s.out, "baseline: single-record bbolt transactions (%d-byte records, fsync)\n", size)
	bolt, err := BoltTxRate(s.ctx, filepath.Join(s.cfg.Dir, "bolt-baseline.db"), size, s.cfg.Duration)
	if err != nil {
		return err
	}
	os.Remove(filepath.Join(s.cfg.Dir, "bolt-baseline.db"))
	s.rep.Add(bolt)

	rc, err := s.startRaftBaseline(c)
	if err != nil {
		return err
	}
	defer rc.stop()
	fmt.Fprintf(s.out, "baseline: raw raft, %d server processes, mTLS, raft-boltdb, %d-byte unsigned entries, no-op FSM, load generated in the leader's process\n", len(rc.cmds), size)
	for _, n := range []int{1, s.cfg.Clients} {
		before := rc.procs.Sample()
		res, err := rc.run(s.ctx, RaftRunRequest{Name: fmt.Sprintf("raft baseline %dc", n), Clients: n, Size: size,
			Duration: s.cfg.Duration, Warmup: s.cfg.Warmup})
		res.Procs = rc.procs.Usage(before, rc.procs.Sample())
		if err != nil {
			return err
		}
		s.rep.Add(res)
	}
	return nil
}

// raftBaseline is the raw-Raft baseline: one hashicorp/raft server per
// process (charta bench --serve-raft), like the nodes.
type raftBaseline struct {
	cmds     []*exec.Cmd
	exited   []chan struct{} // closed when the process has exited
	controls []string        // control API base URLs
	procs    ProcSet
	dir      string
}

// control asks a baseline server's control API, within 10 s.
var control = &http.Client{Timeout: 10 * time.Second}

// startRaftBaseline starts the baseline's servers with the main cluster's
// certificates and waits up to 30 s for a leader.
func (s *suite) startRaftBaseline(c *cluster) (*raftBaseline, error) {
	base, err := freePortBase()
	if err != nil {
		return nil, err
	}
	rb := &raftBaseline{dir: filepath.Join(s.cfg.Dir, "raft-baseline")}
	os.RemoveAll(rb.dir)
	if err := os.MkdirAll(rb.dir, 0o700); err != nil {
		return nil, err
	}
	var nodes []RaftNode
	for i, m := range c.members {
		nodes = append(nodes, RaftNode{ID: m, Addr: fmt.Sprintf("127.0.0.1:%d", base+101+i), TLS: c.TLSFiles(m)})
	}
	for i, n := range nodes {
		spec := RaftSpec{Dir: rb.dir, Self: n.ID, Nodes: nodes, Control: fmt.Sprintf("127.0.0.1:%d", base+151+i)}
		b, _ := json.Marshal(spec)
		file := filepath.Join(rb.dir, n.ID+".json")
		if err := os.WriteFile(file, b, 0o600); err != nil {
			rb.stop()
			return nil, err
		}
		cmd := s.serverCommand("--serve-raft", file)
		cmd.Stdout, cmd.Stderr = s.out, s.out // its progress lines
		if err := cmd.Start(); err != nil {
			rb.stop()
			return nil, err
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		rb.cmds, rb.exited = append(rb.cmds, cmd), append(rb.exited, exited)
		rb.controls = append(rb.controls, "http://"+spec.Control)
		rb.procs.Names = append(rb.procs.Names, n.ID)
		rb.procs.PIDs = append(rb.procs.PIDs, cmd.Process.Pid)
	}
	for deadline := time.Now().Add(30 * time.Second); rb.leader() == ""; time.Sleep(20 * time.Millisecond) {
		for i, x := range rb.exited {
			select {
			case <-x:
				rb.stop()
				return nil, fmt.Errorf("bench: raft baseline: server %s exited (%v)", nodes[i].ID, rb.cmds[i].ProcessState)
			default:
			}
		}
		if time.Now().After(deadline) {
			rb.stop()
			return nil, errors.New("bench: raft baseline: no leader within 30 s")
		}
	}
	return rb, nil
}

// leader returns the leader's control URL, or "".
func (rb *raftBaseline) leader() string {
	for _, u := range rb.controls {
		resp, err := control.Get(u + "/leader")
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return u
		}
	}
	return ""
}

// run has the leader's process run req and returns its result. A leader
// that lost its leadership before the run started (409) is looked up again,
// once.
func (rb *raftBaseline) run(ctx context.Context, req RaftRunRequest) (Result, error) {
	var res Result
	body, _ := json.Marshal(req)
	for try := 0; ; try++ {
		u := rb.leader()
		if u == "" {
			return res, errors.New("bench: raft baseline: no leader")
		}
		hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, u+"/run", bytes.NewReader(body))
		if err != nil {
			return res, err
		}
		resp, err := http.DefaultClient.Do(hreq) // as long as the run: no timeout but ctx
		if err != nil {
			return res, fmt.Errorf("bench: raft baseline: %w", err)
		}
		if resp.StatusCode == http.StatusConflict && try == 0 {
			resp.Body.Close()
			continue
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			return res, fmt.Errorf("bench: raft baseline: %s: %s", resp.Status, bytes.TrimSpace(msg))
		}
		if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
			return res, fmt.Errorf("bench: raft baseline: %w", err)
		}
		return res, nil
	}
}

// stop ends the servers, killing any still running after 15 s, and
// removes their stores.
func (rb *raftBaseline) stop() {
	for _, cmd := range rb.cmds {
		cmd.Process.Signal(syscall.SIGTERM)
	}
	deadline := time.NewTimer(15 * time.Second)
	defer deadline.Stop()
	late := false
	for i, x := range rb.exited {
		if !late {
			select {
			case <-x:
				continue
			case <-deadline.C:
				late = true
			}
		}
		rb.cmds[i].Process.Kill()
		<-x
	}
	os.RemoveAll(rb.dir)
}

// noopServer is the no-op gorilla/mux server in its own process.
type noopServer struct {
	cmd   *exec.Cmd
	url   string
	procs ProcSet
}

// startNoop starts the no-op server and waits until it answers.
func (s *suite) startNoop() (*noopServer, error) {
	base, err := freePortBase()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", base+1)
	cmd := s.serverCommand("--serve-noop", addr)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	n := &noopServer{cmd: cmd, url: "http://" + addr, procs: ProcSet{Names: []string{"noop"}, PIDs: []int{cmd.Process.Pid}}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(n.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			return n, nil
		}
		if time.Now().After(deadline) {
			n.stop()
			return nil, fmt.Errorf("bench: the no-op server did not start: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (n *noopServer) stop() { n.cmd.Process.Signal(syscall.SIGTERM); n.cmd.Wait() }

// noopRun measures GET /v1/check against the no-op server like the check run,
// closed-loop or at rate per second.
func (s *suite) noopRun(n *noopServer, name string, rate float64) (Result, error) {
	op, unit := s.checkOp(n.url, "unused", 1)
	return s.measure(n.procs, nil, RunConfig{Name: name, Clients: s.cfg.CheckConns, Rate: rate,
		Duration: s.cfg.Duration, Warmup: s.cfg.Warmup, Unit: unit, Progress: s.out}, op)
}

// noopBaseline measures the no-op server closed-loop, as the check run.
func (s *suite) noopBaseline() error {
	n, err := s.startNoop()
	if err != nil {
		return err
	}
	defer n.stop()
	fmt.Fprintln(s.out, "baseline: no-op gorilla/mux handler in its own process, the API's server settings")
	_, err = s.noopRun(n, fmt.Sprintf("noop http baseline %dc", s.cfg.CheckConns), 0)
	return err
}

// serverCommand is `charta bench` with args (--serve-raft or
// --serve-noop), for one of the baseline servers: in its own process
// group, with procsEnv.
func (s *suite) serverCommand(args ...string) *exec.Cmd {
	cmd := exec.Command(s.cfg.Bin, append([]string{"bench"}, args...)...)
	if env := s.cfg.procsEnv(); env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// procsEnv is what the bench adds to its server processes' environment:
// GOMAXPROCS if NodeProcs is set. The three nodes share the machine's
// cores; with one core each, the writes wait less for a core and the reads
// more (docs/benchmarks.md, "One core per node").
func (c *SuiteConfig) procsEnv() []string {
	if c.NodeProcs == 0 {
		return nil
	}
	return []string{"GOMAXPROCS=" + strconv.Itoa(c.NodeProcs)}
}
