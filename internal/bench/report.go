package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// Machine describes where a report was measured.
type Machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
}

// ThisMachine describes the running machine, with the CPU model from
// /proc/cpuinfo.
func ThisMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

// Target is one of the performance targets, stated as a ratio against a
// baseline of the same run.
type Target struct {
	ID       string  `json:"id"`       // "T1", "T2 p50", ...
	What     string  `json:"what"`     // what is measured
	Measured float64 `json:"measured"` // the figure
	Baseline float64 `json:"baseline"` // what it is compared with (0 for an absolute target)
	Unit     string  `json:"unit"`
	Ratio    float64 `json:"ratio"` // Measured / Baseline (0 for an absolute target)
	Want     string  `json:"want"`  // the target, e.g. ">= 0.40"
	Met      bool    `json:"met"`
	Note     string  `json:"note,omitempty"`
}

// Report is one run of the benchmark.
type Report struct {
	Started  time.Time         `json:"started"`
	Command  string            `json:"command"`
	Machine  Machine           `json:"machine"`
	Settings map[string]string `json:"settings"`
	// RecordBytes is the size of a signed write's Raft log record for
	// each scheme measured: what the raw-Raft baseline's entries and the
	// etcd yardstick's values (scripts/peerbench) are sized to.
	RecordBytes map[string]int `json:"record_bytes,omitempty"`
	Results     []Result       `json:"results"`
	Targets     []Target       `json:"targets"`
}

// Add appends a result.
func (r *Report) Add(res Result) { r.Results = append(r.Results, res) }

// Find returns the result with the given name.
func (r *Report) Find(name string) (Result, bool) {
	for _, x := range r.Results {
		if x.Name == name {
			return x, true
		}
	}
	return Result{}, false
}

// WriteJSON writes the report as indented JSON to path.
func (r *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// PrintTable writes the results and targets as aligned text.
func (r *Report) PrintTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\tclients\tthroughput\tunit\tp50 ms\tp99 ms\tmax ms\terrors\tnode CPU %\trun-queue wait %\tnode RSS MiB\t")
	for _, x := range r.Results {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%.2f\t%.2f\t%.1f\t%d\t%s\t%s\t%s\t\n", x.Name, x.Clients, commas(x.Throughput), x.Unit,
			x.Latency.P50, x.Latency.P99, x.Latency.Max, x.Errors, procCPU(x.Procs), procWait(x.Procs), procRSS(x.Procs))
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "target\tmeasured\tbaseline\tratio\twant\tmet\t")
	for _, t := range r.Targets {
		fmt.Fprintf(tw, "%s %s\t%s %s\t%s\t%s\t%s\t%s\t\n", t.ID, t.What, fig(t.Measured), t.Unit, baselineText(t), ratioText(t), t.Want, metText(t))
	}
	tw.Flush()
}

// Markdown writes the results and targets as Markdown tables.
func (r *Report) Markdown(w io.Writer) {
	fmt.Fprintln(w, "| target | measured | baseline | ratio | want | met |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, t := range r.Targets {
		fmt.Fprintf(w, "| %s %s | %s %s | %s | %s | %s | %s |\n", t.ID, t.What, fig(t.Measured), t.Unit, baselineText(t), ratioText(t),
			strings.ReplaceAll(t.Want, "|", "\\|"), metText(t))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| workload | clients | throughput | p50 ms | p99 ms | max ms | errors | node CPU % | run-queue wait % | node RSS MiB |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|")
	for _, x := range r.Results {
		fmt.Fprintf(w, "| %s | %d | %s %s | %.2f | %.2f | %.1f | %d | %s | %s | %s |\n", x.Name, x.Clients, commas(x.Throughput), x.Unit,
			x.Latency.P50, x.Latency.P99, x.Latency.Max, x.Errors, procCPU(x.Procs), procWait(x.Procs), procRSS(x.Procs))
	}
}

func baselineText(t Target) string {
	if t.Baseline == 0 {
		return "—"
	}
	return fig(t.Baseline)
}

func ratioText(t Target) string {
	if t.Baseline == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", t.Ratio)
}

func metText(t Target) string {
	if t.Want == "reported" {
		return "—"
	}
	if t.Met {
		return "yes"
	}
	return "**no**"
}

// fig formats a figure: thousands separators from 100 up, two decimals
// below.
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

func procCPU(ps []ProcUsage) string {
	return perProc(ps, func(p ProcUsage) float64 { return p.CPUPercent })
}

func procWait(ps []ProcUsage) string {
	return perProc(ps, func(p ProcUsage) float64 { return p.RunWaitPercent })
}

func procRSS(ps []ProcUsage) string {
	return perProc(ps, func(p ProcUsage) float64 { return p.RSSMiB })
}

// perProc formats one figure of each process, separated by slashes.
func perProc(ps []ProcUsage, f func(ProcUsage) float64) string {
	if len(ps) == 0 {
		return "—"
	}
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = fmt.Sprintf("%.0f", f(p))
	}
	return strings.Join(parts, "/")
}
