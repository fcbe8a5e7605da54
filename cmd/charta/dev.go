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
		name: "dev", summary: "Run a local 3-member consortium (alpha, beta, gamma) as child processes",
		example: `  charta dev --dir .charta-dev --demo
  source .charta-dev/env && charta status`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&dir, "dir", ".charta-dev", "directory for keys, certificates, tokens and node data")
			fs.IntVar(&basePort, "base-port", 8080, "HTTP APIs listen on base+1..base+3, Raft on base+101..base+103")
			fs.BoolVar(&demo, "demo", false, "seed a demo consortium story (once per directory)")
			fs.StringVar(&scheme, "scheme", string(ledger.SchemeComposite), "signature scheme for the members' keys")
		},
		run: func(e *env, _ *flag.FlagSet, args []string) error {
			if err := needArgs(args, 0, "no arguments"); err != nil {
				return err
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
	procs  []*exec.Cmd
	env    []string // added to the nodes' environment
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
	exited := make(chan error, len(devMembers))
	defer d.stop()
	for i, m := range devMembers {
		if err := d.start(self, i, m, exited); err != nil {
			return err
		}
	}
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
	select {
	case <-ctx.Done():
		fmt.Fprintln(d.out, "\nstopping the consortium...")
		return nil
	case err := <-exited:
		return fmt.Errorf("a node stopped unexpectedly (%v); see its log in %s", err, d.dir)
	}
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

func (d *devCluster) start(self string, i int, m string, exited chan<- error) error {
	// Every local client shares 127.0.0.1, which the API rate-limits as one
	// address for proposals; a dev machine gets more headroom.
	return d.spawn(self, i, exited, "--bootstrap", "--rate-limit", "2000", "--rate-burst", "4000")
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
// DIR/<member>.log, and reports its exit on exited.
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
	d.procs = append(d.procs, cmd)
	go func() {
		err := cmd.Wait()
		logf.Close()
		if err == nil {
			err = errors.New(m + " exited")
		} else {
			err = fmt.Errorf("%s: %w", m, err)
		}
		exited <- err
	}()
	return nil
}

// stop sends SIGTERM to every node, so that each transfers leadership and
// closes its stores, and SIGKILL to any still running after 15 s.
func (d *devCluster) stop() {
	var wg sync.WaitGroup
	for _, p := range d.procs {
		if p.Process == nil {
			continue
		}
		wg.Add(1)
		go func(p *exec.Cmd) {
			defer wg.Done()
			p.Process.Signal(syscall.SIGTERM)
			deadline := time.Now().Add(15 * time.Second)
			for time.Now().Before(deadline) {
				if p.Process.Signal(syscall.Signal(0)) != nil {
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
			p.Process.Kill()
		}(p)
	}
	wg.Wait()
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
  charta status
  charta grant list
  charta check --member beta --asset model-x --action train --territory DE --purpose research

Press Ctrl-C to stop; run the same command again to resume.
`, strings.Join(devMembers, ", "), d.apiURL(0), d.apiURL(1), d.apiURL(2), d.apiURL(0), d.apiURL(0), abs, abs, d.dir)
}

var _ = strconv.Itoa
