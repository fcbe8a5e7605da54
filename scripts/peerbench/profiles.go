package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/pprof/profile"
)

// The parts of a node's CPU that the split reports, each a test on a
// sample's stack. A sample counts toward the first part that claims it,
// so verification inside the state machine is not counted as apply.
var parts = []struct {
	name  string
	match func(stack []string) bool
}{
	{"signature verification", anyFrame(isVerify)},
	{"ledger apply: state-store commit", all(inFSM, anyFrame(prefix("go.etcd.io/bbolt.(*Tx).Commit")))},
	{"ledger apply: journal append", all(inFSM, anyFrame(prefix("github.com/charta/charta/ledger.appendEntry")))},
	{"ledger apply: envelope and payload decoding", all(inFSM, anyFrame(prefix("github.com/charta/charta/ledger.DecodeEnvelope", "github.com/charta/charta/ledger.decodeEnvelope", "github.com/charta/charta/ledger.DecodePayload")))},
	{"ledger apply: admission and rules", all(inFSM, anyFrame(prefix("github.com/charta/charta/ledger.(*Ledger).admit", "github.com/charta/charta/ledger.dispatch")))},
	{"ledger apply: the rest", inFSM},
	{"Raft", anyFrame(prefix("github.com/hashicorp/raft", "github.com/hashicorp/raft-boltdb"))},
	{"HTTP and JSON of the API", anyFrame(prefix("net/http.", "github.com/charta/charta/node."))},
	{"garbage collection", anyFrame(prefix("runtime.gcBgMarkWorker", "runtime.gcAssistAlloc", "runtime.bgsweep", "runtime.bgscavenge"))},
	{"other", func([]string) bool { return true }},
}

// applyPrefix is what the ledger-apply figure sums: the state machine's
// work other than verifying signatures.
const applyPrefix = "ledger apply"

func isVerify(fn string) bool {
	return strings.HasPrefix(fn, "github.com/cloudflare/circl/") || strings.HasPrefix(fn, "crypto/ed25519.") ||
		strings.HasPrefix(fn, "crypto/internal/fips140/ed25519") || strings.HasPrefix(fn, "crypto/internal/fips140/edwards25519") ||
		strings.HasPrefix(fn, "filippo.io/mldsa")
}

func inFSM(stack []string) bool {
	return anyFrame(prefix("github.com/charta/charta/ledger.(*Ledger).Apply", "github.com/charta/charta/ledger.(*Ledger).Preverify"))(stack)
}

func prefix(ps ...string) func(string) bool {
	return func(fn string) bool {
		for _, p := range ps {
			if strings.HasPrefix(fn, p) {
				return true
			}
		}
		return false
	}
}

func anyFrame(f func(string) bool) func([]string) bool {
	return func(stack []string) bool {
		for _, fn := range stack {
			if f(fn) {
				return true
			}
		}
		return false
	}
}

func all(fs ...func([]string) bool) func([]string) bool {
	return func(stack []string) bool {
		for _, f := range fs {
			if !f(stack) {
				return false
			}
		}
		return true
	}
}

// split is the CPU of a write run's node profiles, in µs per write summed
// over the nodes, by part.
type split struct {
	run    string
	writes int64
	micros map[string]float64
	total  float64
}

func (s split) apply() float64 {
	var a float64
	for name, us := range s.micros {
		if strings.HasPrefix(name, applyPrefix) {
			a += us
		}
	}
	return a
}

// readSplit reads the CPU profiles that `charta bench --profile dir` took
// of every node during the run named run ("write <scheme>", at more than one
// client), and divides their CPU by the run's writes.
func readSplit(dir, run string, writes int64) (split, bool, error) {
	s := split{run: run, writes: writes, micros: map[string]float64{}}
	files, err := filepath.Glob(filepath.Join(dir, strings.ReplaceAll(run, " ", "-")+"-*.pprof"))
	if err != nil || len(files) == 0 || writes == 0 {
		return s, false, err
	}
	for _, f := range files {
		p, err := readProfile(f)
		if err != nil {
			return s, false, fmt.Errorf("%s: %w", f, err)
		}
		vi := -1
		for i, st := range p.SampleType {
			if st.Type == "cpu" && st.Unit == "nanoseconds" {
				vi = i
			}
		}
		if vi < 0 {
			return s, false, fmt.Errorf("%s is not a CPU profile", f)
		}
		for _, smp := range p.Sample {
			var stack []string
			for _, loc := range smp.Location {
				for _, ln := range loc.Line {
					if ln.Function != nil {
						stack = append(stack, ln.Function.Name)
					}
				}
			}
			us := float64(smp.Value[vi]) / 1e3 / float64(writes)
			s.total += us
			for _, part := range parts {
				if part.match(stack) {
					s.micros[part.name] += us
					break
				}
			}
		}
	}
	return s, true, nil
}

func readProfile(path string) (*profile.Profile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	return profile.ParseData(b)
}

// splitTable writes the composite write run's CPU split, per round, where
// the rounds have the nodes' profiles: what stands between the nodes and
// the cost targets.
func splitTable(w io.Writer, rounds []round) {
	const scheme = "ml-dsa-65+ed25519"
	var have []round
	for _, r := range rounds {
		if _, ok := r.splits[scheme]; ok {
			have = append(have, r)
		}
	}
	if len(have) == 0 {
		return
	}
	fmt.Fprintf(w, "\nWhere the nodes' CPU goes in the %s write run with the most clients, in µs per write summed over the "+
		"three nodes, from their CPU profiles (`charta bench --profile`); a sample counts toward the first line that claims it. "+
		"\"Ledger apply\" is the state machine (Preverify and Apply) less signature verification.\n\n", scheme)
	fmt.Fprint(w, "| part |")
	for _, r := range have {
		fmt.Fprintf(w, " %s |", r.name)
	}
	fmt.Fprint(w, "\n|---|")
	for range have {
		fmt.Fprint(w, "---|")
	}
	fmt.Fprintln(w)
	for _, part := range parts {
		fmt.Fprintf(w, "| %s |", part.name)
		for _, r := range have {
			fmt.Fprintf(w, " %.0f |", r.splits[scheme].micros[part.name])
		}
		fmt.Fprintln(w)
	}
	fmt.Fprint(w, "| **ledger apply** |")
	for _, r := range have {
		fmt.Fprintf(w, " **%.0f** |", r.splits[scheme].apply())
	}
	fmt.Fprint(w, "\n| total (profiled) |")
	for _, r := range have {
		fmt.Fprintf(w, " %.0f |", r.splits[scheme].total)
	}
	fmt.Fprintln(w)
}
