package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/charta/charta/consensus"
	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/client"
)

// devMembers are the members of the local consortium that dev creates.
var devMembers = []string{"alpha", "beta", "gamma"}

func devCmd() *command {
	var dir string
	var basePort int
	var demo bool
	var scheme string
	return &command{
		name: "dev", args: "[stop|start|restart <member>]",
		summary: "Run a local 3-member consortium (alpha, beta, gamma) as child processes",
		example: `  charta dev --dir .charta-dev --demo
  source .charta-dev/env && charta status --all
  charta dev stop beta      # from another terminal: stop beta's node; the others carry on
  charta dev restart beta   # start it again; it catches up`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&dir, "dir", ".charta-dev", "directory for keys, certificates, tokens and node data")
			fs.IntVar(&basePort, "base-port", 8080, "HTTP APIs listen on base+1..base+3, Raft on base+101..base+103")
			fs.BoolVar(&demo, "demo", false, "seed a demo consortium story (once per directory)")
			fs.StringVar(&scheme, "scheme", string(ledger.SchemeComposite), "signature scheme for the members' keys")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if len(args) > 0 {
				return devControl(e, dir, args)
			}
			if basePort < 1 || basePort > 65000 {
				return usagef("--base-port: %d is out of range", basePort)
			}
			d := &devCluster{dir: dir, base: basePort, scheme: ledger.Scheme(scheme), out: e.stdout}
			return d.run(e.ctx, demo)
		},
	}
}

type devCluster struct {
	dir    string
	base   int
	scheme ledger.Scheme
	out    io.Writer
	env    []string // added to the nodes' environment
	bin    string   // the charta binary the nodes run
	extra  []string // flags every node gets besides nodeArgs

	mu    sync.Mutex  // guards procs and nodes
	procs []*exec.Cmd // each member's current (or last) node process, by member index
	nodes []*devNodeProc
}

// devNodeProc is one run of a member's node process.
type devNodeProc struct {
	cmd      *exec.Cmd
	done     chan struct{} // closed when the process has exited
	started  time.Time
	intended bool // stopped on request, not crashed
}

// nodeExit reports that a member's node process ended.
type nodeExit struct {
	member   string
	err      error // from Wait; nil for a clean exit
	intended bool  // charta dev stopped it on request
}

func (e *nodeExit) Error() string {
	if e.err == nil {
		return e.member + " exited"
	}
	return fmt.Sprintf("%s: %v", e.member, e.err)
}

func (d *devCluster) apiURL(i int) string   { return fmt.Sprintf("http://127.0.0.1:%d", d.base+1+i) }
func (d *devCluster) raftAddr(i int) string { return fmt.Sprintf("127.0.0.1:%d", d.base+101+i) }
func (d *devCluster) path(p ...string) string {
	return filepath.Join(append([]string{d.dir}, p...)...)
}

func (d *devCluster) run(ctx context.Context, demo bool) error {
	fresh, err := d.prepare()
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	d.bin = self
	// Every local client shares 127.0.0.1, which the API rate-limits as one
	// address for proposals; a dev machine gets more headroom.
	d.extra = []string{"--bootstrap", "--rate-limit", "2000", "--rate-burst", "4000"}
	exited := make(chan error, 16)
	ctl, err := d.listenControl()
	if err != nil {
		return err
	}
	defer ctl.Close()
	defer d.stop()
	for i := range devMembers {
		if err := d.spawn(self, i, exited, d.extra...); err != nil {
			return err
		}
	}
	go d.serveControl(ctl, exited)
	fmt.Fprintf(d.out, "starting %d nodes (logs in %s/<member>.log)...\n", len(devMembers), d.dir)
	if err := d.waitReady(ctx, exited); err != nil {
		return err
	}
	if fresh {
		if err := d.registerTokens(ctx); err != nil {
			return fmt.Errorf("registering API tokens: %w", err)
		}
	}
	if demo {
		if _, err := os.Stat(d.path("demo.done")); err != nil {
			fmt.Fprintln(d.out, "seeding the demo consortium...")
			if err := seedDemo(ctx, d, d.out); err != nil {
				return fmt.Errorf("demo: %w", err)
			}
			if err := os.WriteFile(d.path("demo.done"), []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644); err != nil {
				return err
			}
		}
	}
	d.printWelcome()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(d.out, "\nstopping the consortium...")
			return nil
		case err := <-exited:
			d.reportExit(err)
		}
	}
}

// reportExit says that a node stopped, and how to bring it back. The
// others carry on: with two of three nodes Raft keeps a quorum.
func (d *devCluster) reportExit(err error) {
	var ne *nodeExit
	if !errors.As(err, &ne) {
		fmt.Fprintf(d.out, "charta dev: %v\n", err)
		return
	}
	ts := time.Now().Format("15:04:05")
	if ne.intended {
		fmt.Fprintf(d.out, "%s %s stopped; bring it back with: charta dev --dir %s start %s\n", ts, ne.member, d.dir, ne.member)
		return
	}
	fmt.Fprintf(d.out, "%s %s stopped unexpectedly (%v); the other nodes carry on. Its log: %s\n"+
		"         bring it back with: charta dev --dir %s restart %s\n", ts, ne.member, ne.err, d.path(ne.member+".log"), d.dir, ne.member)
}

// prepare creates keys, certificates, genesis and tokens on the first run,
// and reports whether it did. A second run with the same directory reuses
// them and resumes the same consortium.
func (d *devCluster) prepare() (bool, error) {
	if _, err := os.Stat(d.path("genesis.json")); err == nil {
		return false, nil
	}
	if err := os.MkdirAll(d.path("certs"), 0o755); err != nil {
		return false, err
	}
	var founders []string
	for i, m := range devMembers {
		key := d.path(m + ".key")
		if _, err := os.Stat(key); errors.Is(err, os.ErrNotExist) {
			if _, err := createKey(key, m, d.scheme); err != nil {
				return false, err
			}
		}
		founders = append(founders, fmt.Sprintf("%s=%s,raft=%s,api=%s", m, key, d.raftAddr(i), d.apiURL(i)))
	}
	caCert, caKey, err := consensus.NewCA("Charta dev CA", 10*365*24*time.Hour)
	if err != nil {
		return false, err
	}
	if err := os.WriteFile(d.path("certs", "ca.crt"), caCert, 0o644); err != nil {
		return false, err
	}
	if err := os.WriteFile(d.path("certs", "ca.key"), caKey, 0o600); err != nil {
		return false, err
	}
	for _, m := range devMembers {
		os.Remove(d.path("certs", m+".crt"))
		os.Remove(d.path("certs", m+".key"))
		if err := issueNodeCert(d.path("certs"), m, []string{"127.0.0.1", "localhost"}); err != nil {
			return false, err
		}
	}
	g, err := buildGenesis("Charta dev consortium", founders, nil, 5, time.Now())
	if err != nil {
		return false, err
	}
	for _, m := range devMembers {
		s, err := loadSigner(d.path(m + ".key"))
		if err != nil {
			return false, err
		}
		if err := g.Sign(s); err != nil {
			return false, err
		}
	}
	for _, m := range devMembers {
		tok, err := newToken()
		if err != nil {
			return false, err
		}
		if err := os.WriteFile(d.path(m+".token"), []byte(tok+"\n"), 0o600); err != nil {
			return false, err
		}
	}
	abs, _ := filepath.Abs(d.dir)
	env := fmt.Sprintf("export CHARTA_SERVER=%s\nexport CHARTA_TOKEN=$(cat %s)\nexport CHARTA_KEY=%s\nexport PATH=\"%s:$PATH\"\n",
		d.apiURL(0), filepath.Join(abs, "alpha.token"), filepath.Join(abs, "alpha.key"), filepath.Dir(selfPath()))
	if err := os.WriteFile(d.path("env"), []byte(env), 0o644); err != nil {
		return false, err
	}
	// genesis.json last: its presence marks a complete set-up.
	return true, os.WriteFile(d.path("genesis.json"), g.Encode(), 0o644)
}

func selfPath() string {
	p, err := os.Executable()
	if err != nil {
		return "charta"
	}
	return p
}

// nodeArgs are the flags that start member i's node of this cluster.
func (d *devCluster) nodeArgs(i int) []string {
	m := devMembers[i]
	return []string{"node",
		"--id", m,
		"--data-dir", d.path(m),
		"--genesis", d.path("genesis.json"), "--key", d.path(m + ".key"),
		"--http", strings.TrimPrefix(d.apiURL(i), "http://"),
		"--raft", d.raftAddr(i),
		"--tls-ca", d.path("certs", "ca.crt"),
		"--tls-cert", d.path("certs", m+".crt"),
		"--tls-key", d.path("certs", m+".key"),
	}
}

// spawn starts member i's node from binary bin with extra flags, logging to
// DIR/<member>.log, writes its PID to DIR/<member>.pid, and reports its
// exit on exited as a *nodeExit.
func (d *devCluster) spawn(bin string, i int, exited chan<- error, extra ...string) error {
	m := devMembers[i]
	logf, err := os.OpenFile(d.path(m+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, append(d.nodeArgs(i), extra...)...)
	if d.env != nil {
		cmd.Env = append(os.Environ(), d.env...)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group: Ctrl-C reaches dev, which stops the nodes in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	if err := os.WriteFile(d.path(m+".pid"), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		cmd.Process.Kill()
		logf.Close()
		return err
	}
	p := &devNodeProc{cmd: cmd, done: make(chan struct{}), started: time.Now()}
	d.mu.Lock()
	for len(d.procs) <= i {
		d.procs = append(d.procs, nil)
		d.nodes = append(d.nodes, nil)
	}
	d.procs[i], d.nodes[i] = cmd, p
	d.mu.Unlock()
	go func() {
		err := cmd.Wait()
		logf.Close()
		d.mu.Lock()
		intended := p.intended
		d.mu.Unlock()
		close(p.done)
		exited <- &nodeExit{member: m, err: err, intended: intended}
	}()
	return nil
}

// stop sends SIGTERM to every running node, so that each transfers
// leadership and closes its stores, and SIGKILL to any still running
// after 15 s.
func (d *devCluster) stop() {
	var wg sync.WaitGroup
	d.mu.Lock()
	n := len(d.nodes)
	d.mu.Unlock()
	for i := range n {
		wg.Go(func() { d.stopNode(i) })
	}
	wg.Wait()
}

// stopNode stops member i's node as stop does, and reports whether it was
// running.
func (d *devCluster) stopNode(i int) bool {
	d.mu.Lock()
	var p *devNodeProc
	if i < len(d.nodes) {
		p = d.nodes[i]
	}
	if p != nil {
		p.intended = true
	}
	d.mu.Unlock()
	if p == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
	return true
}

// running reports whether member i's node process is running, and since
// when.
func (d *devCluster) running(i int) (bool, time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if i >= len(d.nodes) || d.nodes[i] == nil {
		return false, time.Time{}
	}
	p := d.nodes[i]
	select {
	case <-p.done:
		return false, time.Time{}
	default:
		return true, p.started
	}
}

func (d *devCluster) waitReady(ctx context.Context, exited <-chan error) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for i := range devMembers {
		for {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.apiURL(i)+"/readyz", nil)
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			select {
			case err := <-exited:
				return fmt.Errorf("node did not start: %v; see %s", err, d.path(devMembers[i]+".log"))
			case <-ctx.Done():
				return fmt.Errorf("node %s not ready: %w; see %s", devMembers[i], ctx.Err(), d.path(devMembers[i]+".log"))
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

// memberClient is a client that signs as member m and reads with its token.
func (d *devCluster) memberClient(m string) (*client.Client, error) {
	tok, _ := os.ReadFile(d.path(m + ".token"))
	g, err := readGenesis(d.path("genesis.json"), false)
	if err != nil {
		return nil, err
	}
	return client.New(d.apiURL(0), client.WithKeyFile(d.path(m+".key")), client.WithToken(strings.TrimSpace(string(tok))),
		client.WithConsortium(g.ID()))
}

func (d *devCluster) registerTokens(ctx context.Context) error {
	for _, m := range devMembers {
		c, err := d.memberClient(m)
		if err != nil {
			return err
		}
		tok, err := os.ReadFile(d.path(m + ".token"))
		if err != nil {
			return err
		}
		body := ledger.TokenRegister{Hash: ledger.HashToken(strings.TrimSpace(string(tok))), Scopes: []string{"read", "write", "admin"},
			ExpiresAt: time.Now().Add(10 * 365 * 24 * time.Hour).UTC().Truncate(time.Second)}
		if _, err := c.Propose(ctx, "token.register", "dev-token-"+m, body); err != nil {
			return err
		}
	}
	return nil
}

func (d *devCluster) printWelcome() {
	abs, _ := filepath.Abs(d.dir)
	fmt.Fprintf(d.out, `
Charta dev consortium is running: members %s.

  API + dashboard   %s  %s  %s
  OpenAPI           %s/v1/openapi.json
  metrics           %s/metrics
  keys and tokens   %s/<member>.key, %s/<member>.token

Use the CLI as alpha:

  source %s/env
  charta status --all
  charta grant list
  charta check --member beta --asset model-x --action train --territory DE --purpose research

A node that stops stays down until you bring it back; the other two keep a
quorum and carry on. From another terminal:

  charta dev --dir %s stop beta       (or kill -9 $(cat %s/beta.pid))
  charta dev --dir %s restart beta    it starts again and catches up
  charta status --all                 every node's role and applied index

Press Ctrl-C to stop every node; run the same command again to resume.
`, strings.Join(devMembers, ", "), d.apiURL(0), d.apiURL(1), d.apiURL(2), d.apiURL(0), d.apiURL(0), abs, abs, d.dir, d.dir, d.dir, d.dir)
}
