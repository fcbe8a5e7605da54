// Command peerbench measures a three-member etcd cluster as a same-run
// yardstick for Charta's signed writes (make bench, issue 22).
//
//	peerbench etcd --size 5412 --clients 1,256 --duration 10s --json etcd.json
//	peerbench report round-1 round-2 round-3 > yardstick.md
//
// `etcd` starts three etcd server processes on 127.0.0.1 with client and
// peer mutual TLS, using certificates that `charta cert` makes, and fsync
// on (etcd's default). It runs closed-loop puts of values of the given size
// (a signed write's Raft log record) against the leader, for each client
// count in turn, and reports puts/s, p50, p99 and the CPU the three etcd
// processes spent per put (from /proc/<pid>/stat), as JSON. It removes its
// processes and its directory when it ends.
//
// `report` reads round directories, each holding a `charta bench` JSON
// report (charta.json) and the `etcd` reports of the same round
// (etcd-*.json), and writes a Markdown table of Charta against etcd with
// the ratios, their medians over the rounds, and the targets.
//
// It is a module of its own so that the etcd client and its gRPC stack
// stay out of charta's go.mod and binary.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "peerbench: "+err.Error())
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// errUsage marks errors in the command line.
var errUsage = errors.New("usage")

func usagef(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

const usage = `usage: peerbench etcd [flags]      measure puts on a local three-member etcd cluster
       peerbench report DIR...       compare Charta with etcd, round by round
run "peerbench etcd -h" or "peerbench report -h" for the flags`

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usagef("name a command: etcd or report (peerbench -h)")
	}
	switch args[0] {
	case "etcd":
		return runEtcd(ctx, args[1:], stdout)
	case "report":
		return runReport(args[1:], stdout)
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return usagef("unknown command %q: etcd or report (peerbench -h)", args[0])
}

// parseFlags parses args into fs. A bad command line becomes one line of
// errUsage; -h prints the flags to stdout and returns flag.ErrHelp.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return err
		}
		return usagef("%v", err)
	}
	return nil
}
