package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// chartaReport is the part of a `charta bench` JSON report that the
// comparison reads.
type chartaReport struct {
	RecordBytes map[string]int `json:"record_bytes"`
	Results     []chartaResult `json:"results"`
}

// chartaResult is one run of a `charta bench` report.
type chartaResult struct {
	Name       string  `json:"name"`
	Clients    int     `json:"clients"`
	Ops        int64   `json:"ops"`
	Errors     int64   `json:"errors"`
	Seconds    float64 `json:"seconds"`
	Throughput float64 `json:"throughput"`
	Latency    Latency `json:"latency"`
	Procs      []struct {
		CPUPercent float64 `json:"cpu_percent"`
	} `json:"procs"`
}

// cpuMicrosPerOp is the CPU the nodes used per successful operation, in µs.
func (r chartaResult) cpuMicrosPerOp() float64 {
	if r.Ops == 0 {
		return 0
	}
	var pct float64
	for _, p := range r.Procs {
		pct += p.CPUPercent
	}
	return pct / 100 * r.Seconds * 1e6 / float64(r.Ops)
}

// round is one round of the yardstick: Charta's signed writes and etcd's
// puts, measured one after the other.
type round struct {
	name   string
	charta chartaReport
	etcd   []EtcdReport
	// splits are the nodes' CPU by part for each scheme's write run at
	// the most clients, when the round has the nodes' profiles.
	splits map[string]split
}

// readRound reads dir/charta.json and dir/etcd-*.json.
func readRound(dir string) (round, error) {
	r := round{name: filepath.Base(dir)}
	if err := readJSON(filepath.Join(dir, "charta.json"), &r.charta); err != nil {
		return r, err
	}
	files, err := filepath.Glob(filepath.Join(dir, "etcd-*.json"))
	if err != nil {
		return r, err
	}
	if len(files) == 0 {
		return r, fmt.Errorf("%s holds no etcd-*.json", dir)
	}
	for _, f := range files {
		var e EtcdReport
		if err := readJSON(f, &e); err != nil {
			return r, err
		}
		r.etcd = append(r.etcd, e)
	}
	slices.SortStableFunc(r.etcd, func(a, b EtcdReport) int { return compareSchemes(a.Scheme, b.Scheme) })
	r.splits = map[string]split{}
	for _, e := range r.etcd {
		res, ok := r.mostClients(e.Scheme)
		if !ok || res.Clients < 2 {
			continue
		}
		s, ok, err := readSplit(filepath.Join(dir, "profiles"), "write "+e.Scheme, res.Ops)
		if err != nil {
			return r, err
		}
		if ok {
			r.splits[e.Scheme] = s
		}
	}
	return r, nil
}

// mostClients is the charta write run of scheme with the most clients.
func (r round) mostClients(scheme string) (chartaResult, bool) {
	var best chartaResult
	found := false
	for _, c := range r.charta.Results {
		if strings.HasPrefix(c.Name, "write "+scheme+" ") && (!found || c.Clients > best.Clients) {
			best, found = c, true
		}
	}
	return best, found
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// pair is Charta's signed writes of one scheme and etcd's puts of the same
// size, at the same number of clients, in one round.
type pair struct {
	scheme     string
	clients    int
	valueBytes int
	charta     chartaResult
	etcd       Result
}

// pairs matches each etcd run of r with the `charta bench` run of its
// scheme and client count ("write <scheme> <n>c").
func (r round) pairs() []pair {
	var out []pair
	for _, e := range r.etcd {
		for _, res := range e.Results {
			name := fmt.Sprintf("write %s %dc", e.Scheme, res.Clients)
			for _, c := range r.charta.Results {
				if c.Name == name {
					out = append(out, pair{scheme: e.Scheme, clients: res.Clients, valueBytes: res.ValueBytes, charta: c, etcd: res})
				}
			}
		}
	}
	return out
}

// A target of issue 22 against etcd, for one scheme.
type target struct {
	scheme string
	// throughput: writes/s at the most clients measured against etcd's
	// puts/s, at least want; otherwise the 1-client p50 at most etcd's
	// plus want milliseconds.
	throughput bool
	want       float64
	text       string
}

var targets = []target{
	{scheme: "ml-dsa-65+ed25519", throughput: true, want: 0.6, text: ">= 0.6 of etcd"},
	{scheme: "ed25519", throughput: true, want: 0.8, text: ">= 0.8 of etcd"},
	{scheme: "ml-dsa-65+ed25519", want: 0.7, text: "<= etcd p50 + 0.7 ms"},
}

// compareSchemes orders schemes as the targets name them, and others
// after them by name.
func compareSchemes(a, b string) int {
	order := func(s string) int {
		for i, t := range targets {
			if t.scheme == s {
				return i
			}
		}
		return len(targets)
	}
	if d := order(a) - order(b); d != 0 {
		return d
	}
	return strings.Compare(a, b)
}

// findTarget is the target for a throughput (clients > 1) or a 1-client
// latency row of scheme, if there is one.
func findTarget(scheme string, throughput bool) (target, bool) {
	for _, t := range targets {
		if t.scheme == scheme && t.throughput == throughput {
			return t, true
		}
	}
	return target{}, false
}

// row is one line of the comparison: medians over the rounds.
type row struct {
	what           string
	charta, etcd   float64 // medians
	unitC, unitE   string
	ratio          float64 // median of the rounds' ratios
	diff           float64 // latency rows: median of the rounds' differences (ms)
	latency        bool
	rounds         []float64 // each round's ratio, or difference for latency rows
	want           string
	met, hasTarget bool
	// absolute rows have no etcd figure: rounds holds Charta's own.
	absolute bool
}

// compare computes the rows from the rounds: for each scheme and client
// count measured on both sides, the throughput (more than one client) or
// the p50 (one client). A throughput target applies to the most clients
// measured for its scheme.
func compare(rounds []round) []row {
	type key struct {
		scheme  string
		clients int
	}
	var keys []key
	byKey := map[key][]pair{}
	most := map[string]int{} // the most clients measured per scheme
	for _, r := range rounds {
		for _, p := range r.pairs() {
			k := key{p.scheme, p.clients}
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], p)
			most[p.scheme] = max(most[p.scheme], p.clients)
		}
	}
	// Throughput rows first, then latency; schemes in the order of the
	// targets, others after them by name.
	slices.SortFunc(keys, func(a, b key) int {
		if (a.clients == 1) != (b.clients == 1) {
			if a.clients == 1 {
				return 1
			}
			return -1
		}
		if c := compareSchemes(a.scheme, b.scheme); c != 0 {
			return c
		}
		return a.clients - b.clients
	})
	var rows []row
	for _, k := range keys {
		ps := byKey[k]
		var cs, es, rs []float64
		rw := row{latency: k.clients == 1}
		size := ps[0].valueBytes
		for _, p := range ps {
			if rw.latency {
				cs, es = append(cs, p.charta.Latency.P50), append(es, p.etcd.Latency.P50)
				rs = append(rs, p.charta.Latency.P50-p.etcd.Latency.P50)
			} else {
				cs, es = append(cs, p.charta.Throughput), append(es, p.etcd.Throughput)
				rs = append(rs, p.charta.Throughput/p.etcd.Throughput)
			}
			size = p.valueBytes
		}
		rw.charta, rw.etcd, rw.rounds = median(cs), median(es), rs
		if rw.latency {
			rw.what = fmt.Sprintf("%s 1-client write p50 against %s-byte puts", k.scheme, commas(float64(size)))
			rw.unitC, rw.unitE = "ms", "ms"
			rw.diff = median(rs)
			var ratios []float64
			for i := range cs {
				ratios = append(ratios, cs[i]/es[i])
			}
			rw.ratio = median(ratios)
		} else {
			rw.what = fmt.Sprintf("%s-signed writes, %d clients, against %s-byte puts", k.scheme, k.clients, commas(float64(size)))
			rw.unitC, rw.unitE = "writes/s", "puts/s"
			rw.ratio = median(rs)
		}
		rw.want = "reported"
		if t, ok := findTarget(k.scheme, !rw.latency); ok && (rw.latency || k.clients == most[k.scheme]) {
			rw.want, rw.hasTarget = t.text, true
			if rw.latency {
				rw.met = rw.diff <= t.want
			} else {
				rw.met = rw.ratio >= t.want
			}
		}
		rows = append(rows, rw)
	}
	return append(rows, costRows(rounds)...)
}

// The targets on the nodes' cost per composite-signed write, summed over
// the three nodes (issue 22).
const (
	cpuTargetMicros   = 450
	applyTargetMicros = 100
)

// costRows are the nodes' CPU per write (from /proc, beside etcd's) and the
// ledger's apply per write (from the nodes' profiles) in the composite
// write run with the most clients, when the rounds measured them.
func costRows(rounds []round) []row {
	const scheme = "ml-dsa-65+ed25519"
	var cpu, etcdCPU, cpuRatio, apply []float64
	clients, size := 0, 0
	for _, r := range rounds {
		res, ok := r.mostClients(scheme)
		if !ok || res.Clients < 2 {
			continue
		}
		clients = res.Clients
		if c := res.cpuMicrosPerOp(); c > 0 {
			for _, p := range r.pairs() {
				if p.scheme == scheme && p.clients == res.Clients && p.etcd.CPUMicrosPerOp > 0 {
					cpu, etcdCPU = append(cpu, c), append(etcdCPU, p.etcd.CPUMicrosPerOp)
					cpuRatio = append(cpuRatio, c/p.etcd.CPUMicrosPerOp)
					size = p.valueBytes
				}
			}
		}
		if s, ok := r.splits[scheme]; ok {
			apply = append(apply, s.apply())
		}
	}
	var rows []row
	if len(cpu) > 0 {
		c := median(cpu)
		rows = append(rows, row{
			what:   fmt.Sprintf("%s-signed writes, %d clients: CPU per write, three nodes, against %s-byte puts", scheme, clients, commas(float64(size))),
			charta: c, etcd: median(etcdCPU), unitC: "µs", unitE: "µs", ratio: median(cpuRatio), rounds: cpuRatio,
			want: fmt.Sprintf("<= %d µs", cpuTargetMicros), hasTarget: true, met: c <= cpuTargetMicros,
		})
	}
	if len(apply) > 0 {
		a := median(apply)
		rows = append(rows, row{
			what:   fmt.Sprintf("%s-signed writes, %d clients: ledger apply per write, three nodes (profiles)", scheme, clients),
			charta: a, unitC: "µs", absolute: true, rounds: apply,
			want: fmt.Sprintf("<= %d µs", applyTargetMicros), hasTarget: true, met: a <= applyTargetMicros,
		})
	}
	return rows
}

// median of xs (the mean of the middle two for an even count); 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// markdown writes the comparison and every run of every round.
func markdown(w io.Writer, rounds []round, rows []row) {
	plural := "s"
	if len(rounds) == 1 {
		plural = ""
	}
	fmt.Fprintf(w, "Charta's signed writes against etcd's puts of the same size (a signed write's Raft log record), "+
		"in %d alternating round%s (each: `charta bench --workload write`, then etcd). Each figure is the median over the rounds, "+
		"and so is Charta ÷ etcd: the median of the rounds' own ratios (or differences); the last column has each round's.\n\n", len(rounds), plural)
	fmt.Fprintln(w, "| target | Charta | etcd | Charta ÷ etcd | want | met | rounds |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, r := range rows {
		var ratio string
		var each []string
		etcd := fig(r.etcd) + " " + r.unitE
		if r.absolute {
			ratio, etcd = "—", "—"
			for _, x := range r.rounds {
				each = append(each, fig(x))
			}
		} else if r.latency {
			ratio = fmt.Sprintf("%+.2f ms (%.2f×)", r.diff, r.ratio)
			for _, x := range r.rounds {
				each = append(each, fmt.Sprintf("%+.2f ms", x))
			}
		} else {
			ratio = fmt.Sprintf("%.2f", r.ratio)
			for _, x := range r.rounds {
				each = append(each, fmt.Sprintf("%.2f", x))
			}
		}
		met := "—"
		if r.hasTarget {
			met = "yes"
			if !r.met {
				met = "**no**"
			}
		}
		fmt.Fprintf(w, "| %s | %s %s | %s | %s | %s | %s | %s |\n", r.what, fig(r.charta), r.unitC, etcd, ratio,
			r.want, met, strings.Join(each, ", "))
	}
	splitTable(w, rounds)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| round | run | clients | value bytes | throughput | p50 ms | p99 ms | CPU µs per op (3 servers) | errors |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	for _, rd := range rounds {
		for _, p := range rd.pairs() {
			fmt.Fprintf(w, "| %s | charta %s | %d | %s | %s writes/s | %.2f | %.2f | %s | %d |\n", rd.name, p.charta.Name, p.clients,
				commas(float64(p.valueBytes)), commas(p.charta.Throughput), p.charta.Latency.P50, p.charta.Latency.P99, commas(p.charta.cpuMicrosPerOp()), p.charta.Errors)
			fmt.Fprintf(w, "| %s | %s | %d | %s | %s puts/s | %.2f | %.2f | %s | %d |\n", rd.name, p.etcd.Name, p.clients,
				commas(float64(p.valueBytes)), commas(p.etcd.Throughput), p.etcd.Latency.P50, p.etcd.Latency.P99, commas(p.etcd.CPUMicrosPerOp), p.etcd.Errors)
		}
	}
	var versions []string
	for _, rd := range rounds {
		for _, e := range rd.etcd {
			if !slices.Contains(versions, e.EtcdVersion) {
				versions = append(versions, e.EtcdVersion)
			}
		}
	}
	fmt.Fprintf(w, "\netcd %s, three members on 127.0.0.1 with client and peer mutual TLS (certificates from `charta cert`), "+
		"fsync on (its default); closed-loop puts to the leader, one new key per put. CPU per operation is what the three "+
		"server processes used, from /proc, without the load generator.\n", strings.Join(versions, ", "))
}

func runReport(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("peerbench report", flag.ContinueOnError)
	out := fs.String("markdown", "", "write the Markdown to this file instead of stdout")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("report needs round directories, each with charta.json and etcd-*.json")
	}
	var rounds []round
	for _, dir := range fs.Args() {
		r, err := readRound(dir)
		if err != nil {
			return err
		}
		rounds = append(rounds, r)
	}
	rows := compare(rounds)
	if len(rows) == 0 {
		return fmt.Errorf("no etcd run has a charta run of the same scheme and clients in %s", strings.Join(fs.Args(), ", "))
	}
	var b strings.Builder
	markdown(&b, rounds, rows)
	if *out == "" {
		_, err := io.WriteString(stdout, b.String())
		return err
	}
	return os.WriteFile(*out, []byte(b.String()), 0o644)
}

// fig formats a figure: thousands separators from 100 up, two decimals
// below (as `charta bench` does).
func fig(v float64) string {
	if v >= 100 {
		return commas(v)
	}
	return fmt.Sprintf("%.2f", v)
}

// commas formats v rounded to an integer with thousands separators.
func commas(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
