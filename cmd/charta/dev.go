package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/charta/charta/internal/devnet"
	"github.com/charta/charta/ledger"
)

// devMembers are the members of the local consortium that dev creates.
var devMembers = devnet.Members

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
			if !ledger.Scheme(scheme).Valid() {
				return usagef("--scheme: %q is not ed25519, ml-dsa-44, ml-dsa-65 or ml-dsa-65+ed25519", scheme)
			}
			self, err := os.Executable()
			if err != nil {
				return err
			}
			// A dev machine's scripts sign as a few members in bursts;
			// they get more headroom than the production rate limit.
			c := &devnet.Cluster{Dir: dir, Base: basePort, Scheme: ledger.Scheme(scheme), Bin: self,
				Extra: []string{"--bootstrap", "--rate-limit", "2000", "--rate-burst", "4000"}}
			return runDev(e.ctx, c, demo, e.stdout)
		},
	}
}

// runDev starts the consortium, and supervises it until ctx ends: a node
// that stops is reported and stays down, and the others carry on.
func runDev(ctx context.Context, c *devnet.Cluster, demo bool, out io.Writer) error {
	fresh, err := c.Prepare()
	if err != nil {
		return err
	}
	exited := make(chan error, 16)
	ctl, err := c.ListenControl()
	if err != nil {
		return err
	}
	// Deferred calls run last first: the control socket closes before the
	// nodes stop, so that no node is started during the shutdown.
	defer c.Stop()
	defer ctl.Close()
	for i := range devMembers {
		if err := c.Start(c.Bin, i, exited, c.Extra...); err != nil {
			return err
		}
	}
	go c.ServeControl(ctl, exited, out)
	fmt.Fprintf(out, "starting %d nodes (logs in %s/<member>.log)...\n", len(devMembers), c.Dir)
	if err := c.WaitReady(ctx, exited); err != nil {
		return err
	}
	if fresh {
		if err := c.RegisterTokens(ctx); err != nil {
			return fmt.Errorf("registering API tokens: %w", err)
		}
	}
	var gw *demoGateway
	if demo {
		if err := seedDemo(ctx, c, out); err != nil {
			return err
		}
		if gw, err = startDemoGateway(ctx, c, c.Bin); err != nil {
			return err
		}
		defer gw.stop() // before the nodes, so that it can report its counts
	}
	printWelcome(c, out, gw != nil)
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(out, "\nstopping the consortium...")
			return nil
		case err := <-exited:
			reportExit(c, err, out)
		}
	}
}

// reportExit says that a node stopped, and how to bring it back. The
// others carry on: with two of three nodes Raft keeps a quorum.
func reportExit(c *devnet.Cluster, err error, out io.Writer) {
	var x *devnet.Exit
	if !errors.As(err, &x) {
		fmt.Fprintf(out, "charta dev: %v\n", err)
		return
	}
	ts := time.Now().Format("15:04:05")
	if x.Restarting {
		fmt.Fprintf(out, "%s %s stopped for a restart\n", ts, x.Member)
		return
	}
	if x.Intended {
		fmt.Fprintf(out, "%s %s stopped; bring it back with: charta dev --dir %s start %s\n", ts, x.Member, c.Dir, x.Member)
		return
	}
	fmt.Fprintf(out, "%s %s stopped unexpectedly (%v); the other nodes carry on. Its log: %s\n"+
		"         bring it back with: charta dev --dir %s restart %s\n", ts, x.Member, x.Err, c.Path(x.Member+".log"), c.Dir, x.Member)
}

// devControl is `charta dev [--dir DIR] stop|start|restart <member>`: it
// asks the charta dev running in DIR to act on one node.
func devControl(e *env, dir string, args []string) error {
	if len(args) != 2 || !slices.Contains([]string{"stop", "start", "restart"}, args[0]) {
		return usagef("want stop, start or restart and a member (%s), or no arguments to run the consortium", strings.Join(devMembers, ", "))
	}
	if !slices.Contains(devMembers, args[1]) {
		return usagef("no member %q in the dev consortium (members: %s)", args[1], strings.Join(devMembers, ", "))
	}
	msg, err := devnet.Control(e.ctx, dir, args[0], args[1])
	if errors.Is(err, devnet.ErrNotRunning) {
		return fmt.Errorf("no charta dev is running in %s (start one with make demo or charta dev --dir %s)", dir, dir)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, msg)
	return nil
}

// printWelcome says where everything is; its last line, "Press Ctrl-C",
// says that the consortium is ready.
func printWelcome(c *devnet.Cluster, out io.Writer, gateway bool) {
	abs, _ := filepath.Abs(c.Dir)
	d := c.Dir
	fmt.Fprintf(out, `
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
`, strings.Join(devMembers, ", "), c.APIURL(0), c.APIURL(1), c.APIURL(2), c.APIURL(0), c.APIURL(0), abs, abs, d, d, d, d)
	if gateway {
		printGatewayWelcome(c, out)
	}
	fmt.Fprintln(out, "\nPress Ctrl-C to stop every node; run the same command again to resume.")
}
