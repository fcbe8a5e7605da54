// Command charta is the Charta node daemon and its command-line client.
//
// It parses flags, environment and files into settings, calls into node,
// node/client and ledger, and turns errors into exit codes: 0 success,
// 1 failure (or "denied" for check), 2 bad usage (or an error for check).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// command is one subcommand, or a group of them.
type command struct {
	name    string
	args    string // positional arguments, for the usage line
	summary string
	example string
	flags   func(fs *flag.FlagSet) // registers the command's own flags
	run     func(e *env, fs *flag.FlagSet, args []string) error
	subs    []*command
	// client marks commands that talk to a server, so that they get the
	// global --server, --token and -o flags.
	client bool
	// signs marks commands that sign a proposal, so that they get --key.
	signs bool
}

// env is what a running command needs from the outside world.
type env struct {
	ctx    context.Context
	stdout io.Writer
	stderr io.Writer
	path   string // "charta grant offer"
	g      globals
}

// globals are the settings shared by client commands.
type globals struct {
	server string
	token  string
	key    string
	output string
	caFile string
}

// usageError is a mistake in the command line: exit status 2 with usage.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// exitError carries a specific exit status, such as check's "denied".
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func commands() []*command {
	return []*command{
		keygenCmd(), genesisCmd(), certCmd(), nodeCmd(), devCmd(),
		statusCmd(), memberCmd(), keyCmd(), tokenCmd(), assetCmd(), grantCmd(), bundleCmd(), ballotCmd(),
		poolCmd(), usageCmd(), slaCmd(), dutyCmd(), statementCmd(), infractionCmd(),
		checkCmd(), journalCmd(), checkpointCmd(), verifyCmd(), auditCmd(), backupCmd(), restoreCmd(),
		gatewayCmd(), benchCmd(), versionCmd(),
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := &command{name: "charta", summary: "Charta: a replicated ledger for consortium cross-licensing", subs: commands()}
	if len(args) > 0 && args[0] == "help" {
		args = append(args[1:], "--help")
	}
	e := &env{ctx: ctx, stdout: stdout, stderr: stderr}
	err := dispatch(e, root, "charta", args)
	if err == nil {
		return 0
	}
	var ue *usageError
	var xe *exitError
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "%s: %s\n", e.path, ue.msg)
		fmt.Fprintf(stderr, "run '%s --help' for usage\n", e.path)
		return 2
	case errors.As(err, &xe):
		if xe.msg != "" {
			fmt.Fprintln(stderr, xe.msg)
		}
		return xe.code
	case errors.Is(err, context.Canceled):
		fmt.Fprintf(stderr, "%s: interrupted\n", e.path)
		return 1
	}
	fmt.Fprintf(stderr, "%s: %s\n", e.path, oneLine(err.Error()))
	return 1
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func dispatch(e *env, c *command, path string, args []string) error {
	e.path = path
	if len(c.subs) > 0 {
		if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
			printGroupUsage(e.stdout, c, path)
			if len(args) == 0 {
				return usagef("a subcommand is required")
			}
			return flag.ErrHelp
		}
		for _, s := range c.subs {
			if s.name == args[0] {
				return dispatch(e, s, path+" "+s.name, args[1:])
			}
		}
		return usagef("unknown command %q (one of %s)", args[0], subNames(c))
	}
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if c.client {
		fs.StringVar(&e.g.server, "server", envOr("CHARTA_SERVER", "http://127.0.0.1:8081"), "node API address (env CHARTA_SERVER)")
		// No default shown: --help must not print the token.
		fs.StringVar(&e.g.token, "token", "", "API bearer token (default: env CHARTA_TOKEN)")
		fs.StringVar(&e.g.output, "o", "table", "output format: table or json")
		fs.StringVar(&e.g.caFile, "ca", os.Getenv("CHARTA_CA"), "CA certificate for an https server (env CHARTA_CA)")
	}
	if c.signs {
		fs.StringVar(&e.g.key, "key", os.Getenv("CHARTA_KEY"), "signing key file (env CHARTA_KEY)")
	}
	if c.flags != nil {
		c.flags(fs)
	}
	pos, err := parseInterleaved(fs, args)
	if c.client && e.g.token == "" {
		e.g.token = os.Getenv("CHARTA_TOKEN")
	}
	if errors.Is(err, flag.ErrHelp) {
		printUsage(e.stdout, c, path, fs)
		return flag.ErrHelp
	}
	if err != nil {
		return usagef("%s", err)
	}
	if c.client && e.g.output != "table" && e.g.output != "json" {
		return usagef("-o must be table or json, not %q", e.g.output)
	}
	return c.run(e, fs, pos)
}

// parseInterleaved parses flags wherever they appear among the positional
// arguments, so that "grant accept g-1 --key k" works as well as
// "grant accept --key k g-1". Everything after "--" is positional.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var tail []string
	if i := slices.Index(args, "--"); i >= 0 {
		args, tail = args[:i], args[i+1:]
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return append(pos, tail...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func subNames(c *command) string {
	n := make([]string, len(c.subs))
	for i, s := range c.subs {
		n[i] = s.name
	}
	return strings.Join(n, ", ")
}

func printGroupUsage(w io.Writer, c *command, path string) {
	fmt.Fprintf(w, "%s\n\nUsage: %s <command> [flags]\n\nCommands:\n", c.summary, path)
	for _, s := range c.subs {
		fmt.Fprintf(w, "  %-12s %s\n", s.name, s.summary)
	}
	fmt.Fprintf(w, "\nRun '%s <command> --help' for details.\n", path)
}

func printUsage(w io.Writer, c *command, path string, fs *flag.FlagSet) {
	fmt.Fprintf(w, "%s\n\nUsage: %s [flags] %s\n\nFlags:\n", c.summary, path, c.args)
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	sort.Strings(names)
	for _, n := range names {
		f := fs.Lookup(n)
		if f.Usage == "" {
			continue // a hidden flag, for the test harnesses
		}
		def := ""
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && !strings.Contains(f.Usage, "(default") {
			def = " (default " + f.DefValue + ")"
		}
		dash := "--"
		if len(n) == 1 {
			dash = "-"
		}
		fmt.Fprintf(w, "  %s%-20s %s%s\n", dash, n, f.Usage, def)
	}
	if c.example != "" {
		fmt.Fprintf(w, "\nExamples:\n%s\n", c.example)
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// needArgs checks the number of positional arguments.
func needArgs(args []string, n int, what string) error {
	if len(args) != n {
		return usagef("want %s, got %d argument(s)", what, len(args))
	}
	return nil
}

// split turns "a,b, c" into [a b c]; an empty string gives nil.
func split(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
