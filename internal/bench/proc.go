package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of CPU times in /proc/<pid>/stat; it is
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// ProcSample is one reading of a process's counters.
type ProcSample struct {
	PID     int
	At      time.Time
	CPU     time.Duration // user + system time so far
	RunWait time.Duration // time its threads were runnable but waited for a core, so far
	RSS     int64         // resident set size, bytes
	PeakRSS int64         // VmHWM, bytes
}

// ProcUsage is what a process used over a measurement.
type ProcUsage struct {
	Name       string  `json:"name"`
	PID        int     `json:"pid"`
	CPUPercent float64 `json:"cpu_percent"` // of one core; 200 = both cores of a 2-core machine
	// RunWaitPercent is the time its threads spent runnable but waiting
	// for a core, summed over the threads, as a share of the wall time
	// (from /proc/<pid>/task/*/schedstat): what CPU contention cost it.
	RunWaitPercent float64 `json:"run_wait_percent"`
	RSSMiB         float64 `json:"rss_mib"` // at the end
	PeakRSSMiB     float64 `json:"peak_rss_mib"`
}

// ReadProc reads pid's CPU time and memory from /proc.
func ReadProc(pid int) (ProcSample, error) {
	s := ProcSample{PID: pid, At: time.Now()}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, fmt.Errorf("bench: %w", err)
	}
	// The command name (field 2) may hold spaces; fields after it follow
	// the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s, fmt.Errorf("bench: /proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return s, fmt.Errorf("bench: /proc/%d/stat: too few fields", pid)
	}
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	s.CPU = time.Duration(ut+st) * time.Second / clockTicks
	s.RunWait = runWait(pid)
	status, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, fmt.Errorf("bench: %w", err)
	}
	defer status.Close()
	sc := bufio.NewScanner(status)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		kb := func() int64 {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n * 1024
		}
		switch k {
		case "VmRSS":
			s.RSS = kb()
		case "VmHWM":
			s.PeakRSS = kb()
		}
	}
	return s, sc.Err()
}

// runWait sums the run-queue wait of pid's threads (the second field of
// each thread's schedstat, in nanoseconds); 0 where the kernel does not
// keep scheduler statistics.
func runWait(pid int) time.Duration {
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	var sum time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) >= 2 {
			ns, _ := strconv.ParseInt(f[1], 10, 64)
			sum += time.Duration(ns)
		}
	}
	return sum
}

// Usage is what the process used between two samples.
func Usage(name string, before, after ProcSample) ProcUsage {
	u := ProcUsage{Name: name, PID: after.PID, RSSMiB: mib(after.RSS), PeakRSSMiB: mib(after.PeakRSS)}
	if wall := after.At.Sub(before.At); wall > 0 {
		u.CPUPercent = 100 * float64(after.CPU-before.CPU) / float64(wall)
		// A thread that exited between the samples takes its wait with it.
		u.RunWaitPercent = max(0, 100*float64(after.RunWait-before.RunWait)/float64(wall))
	}
	return u
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// ProcSet samples a fixed set of named processes together.
type ProcSet struct {
	Names []string
	PIDs  []int
}

// Sample reads every process; a process that cannot be read gets a zero
// sample.
func (p ProcSet) Sample() []ProcSample {
	out := make([]ProcSample, len(p.PIDs))
	for i, pid := range p.PIDs {
		out[i], _ = ReadProc(pid)
		out[i].PID = pid
	}
	return out
}

// Usage is what each process used between two Sample calls.
func (p ProcSet) Usage(before, after []ProcSample) []ProcUsage {
	out := make([]ProcUsage, len(p.PIDs))
	for i := range p.PIDs {
		out[i] = Usage(p.Names[i], before[i], after[i])
	}
	return out
}
