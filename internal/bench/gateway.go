package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// gatewayConfig routes the check path to the no-op upstream as a use of
// the demo consortium's atlas-7b that beta's grant allows (training in DE
// for healthcare), unmetered: the run measures the proxy, its
// authentication and its decision cache.
const gatewayConfig = `{"routes":[{"name":"bench","prefix":"/v1/check","upstream":%q,
  "asset":"atlas-7b","action":"train","territory":"DE","purpose":"healthcare"}]}`

// gatewayRuns measures requests through charta gateway (its own process,
// in front of the no-op server, asking the cluster's first node as
// alpha, atlas-7b's owner) beside the same no-op server called directly,
// in the same run and with the same connections.
func (s *suite) gatewayRuns(c *cluster) error {
	noop, err := s.startNoop()
	if err != nil {
		return err
	}
	defer noop.stop()
	gw, err := s.startGateway(c, noop.url)
	if err != nil {
		return err
	}
	defer gw.stop()
	fmt.Fprintf(s.out, "gateway: charta gateway in its own process in front of the no-op server (%s), %d connections\n", gw.url, s.cfg.CheckConns)
	token, err := c.Token(checkMember)
	if err != nil {
		return err
	}
	const path = "/v1/check?asset=atlas-7b&action=train"
	hc := httpClient(s.cfg.CheckConns)
	run := func(name, base, tok string, procs ProcSet, rate float64) error {
		op := func(ctx context.Context, _ int) error { return postOrGet(ctx, hc, http.MethodGet, base+path, tok, nil) }
		_, err := s.measure(procs, nil, RunConfig{Name: fmt.Sprintf("%s %dc", name, s.cfg.CheckConns), Clients: s.cfg.CheckConns,
			Rate: rate, Duration: s.cfg.Duration, Warmup: s.cfg.Warmup, Unit: "requests/s", Progress: s.out}, op)
		return err
	}
	both := ProcSet{Names: []string{"gateway", "noop"}, PIDs: []int{gw.cmd.Process.Pid, noop.cmd.Process.Pid}}
	// Closed loop: throughput at saturation, where the proxy's extra HTTP
	// hop competes for the same cores as the load and the upstream.
	if err := run("gateway direct upstream", noop.url, "", noop.procs, 0); err != nil {
		return err
	}
	if err := run("gateway proxied", gw.url, token, both, 0); err != nil {
		return err
	}
	// Open loop at a fixed rate the machine sustains either way: the
	// latency the gateway adds, not the queueing of a saturated machine.
	if err := run("gateway direct upstream paced", noop.url, "", noop.procs, gatewayPacedRate); err != nil {
		return err
	}
	return run("gateway proxied paced", gw.url, token, both, gatewayPacedRate)
}

// gatewayPacedRate is the offered load of the paced gateway runs, in
// requests per second.
const gatewayPacedRate = 1000

// gatewayProc is a charta gateway the suite started.
type gatewayProc struct {
	cmd *exec.Cmd
	url string
}

func (g *gatewayProc) stop() { g.cmd.Process.Signal(syscall.SIGTERM); g.cmd.Wait() }

// startGateway starts charta gateway in front of upstream, with alpha's
// token, and waits until it is ready.
func (s *suite) startGateway(c *cluster, upstream string) (*gatewayProc, error) {
	dir := filepath.Join(s.cfg.Dir, "gateway")
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	tok, err := c.Token("alpha")
	if err != nil {
		return nil, err
	}
	tokFile, cfgFile := filepath.Join(dir, "alpha.token"), filepath.Join(dir, "gateway.json")
	if err := os.WriteFile(tokFile, []byte(tok+"\n"), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(cfgFile, fmt.Appendf(nil, gatewayConfig, upstream), 0o600); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(s.cfg.Bin, "gateway", "--listen", addr, "--metrics-listen", "", "--node", c.APIURL(0), "--token-file", tokFile,
		"--state", filepath.Join(dir, "state"), "--config", cfgFile, "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = s.out, s.out
	if env := s.cfg.procsEnv(); env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	g := &gatewayProc{cmd: cmd, url: "http://" + addr}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(g.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return g, nil
			}
		}
		if time.Now().After(deadline) {
			g.stop()
			return nil, fmt.Errorf("bench: the gateway did not become ready: %v", err)
		}
	}
}
