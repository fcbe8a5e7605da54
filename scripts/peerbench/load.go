package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Latency holds latency figures in milliseconds, as `charta bench` reports
// them.
type Latency struct {
	P50  float64 `json:"p50_ms"`
	P99  float64 `json:"p99_ms"`
	Max  float64 `json:"max_ms"`
	Mean float64 `json:"mean_ms"`
}

// Result is one measured run of puts.
type Result struct {
	Name       string  `json:"name"`
	Clients    int     `json:"clients"`
	Conns      int     `json:"conns"`
	ValueBytes int     `json:"value_bytes"`
	Ops        int64   `json:"ops"`
	Errors     int64   `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`
	Seconds    float64 `json:"seconds"`
	Throughput float64 `json:"throughput"` // puts per second
	Unit       string  `json:"unit"`
	Latency    Latency `json:"latency"`
	// CPUSeconds is what the three etcd processes used in the measured
	// time, user and system, from /proc/<pid>/stat.
	CPUSeconds float64 `json:"cpu_seconds"`
	// CPUMicrosPerOp is CPUSeconds per successful put, in µs.
	CPUMicrosPerOp float64 `json:"cpu_us_per_op"`
}

// putOp puts one value; worker w is the client issuing it.
type putOp func(ctx context.Context, w int) error

// putter returns an operation that puts value under a new key each time,
// through the clients in turn: worker w uses clients[w % len(clients)].
// Every put is a new key, as every signed write is a new journal entry.
func putter(clients []*clientv3.Client, run string, value []byte) putOp {
	var seq atomic.Int64
	val := string(value)
	return func(ctx context.Context, w int) error {
		key := run + "/" + strconv.FormatInt(seq.Add(1), 36)
		_, err := clients[w%len(clients)].Put(ctx, key, val)
		return err
	}
}

// loadResult is what closedLoop measured.
type loadResult struct {
	ops, errs int64
	firstErr  error
	elapsed   time.Duration
	latencies []time.Duration
}

// closedLoop runs op from n workers, each sending its next request when
// the last is answered, for d, and records every successful operation's
// latency. An operation cut off by the end of the run counts neither as a
// success nor as an error.
func closedLoop(ctx context.Context, n int, d time.Duration, op putOp) loadResult {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	lat := make([][]time.Duration, n) // one per worker: no lock on the hot path
	var errs atomic.Int64
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	start := time.Now()
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				t := time.Now()
				err := op(ctx, w)
				took := time.Since(t)
				switch {
				case err == nil:
					lat[w] = append(lat[w], took)
				case ctx.Err() != nil:
					return
				default:
					errs.Add(1)
					firstErr.CompareAndSwap(nil, &err)
				}
			}
		}()
	}
	wg.Wait()
	r := loadResult{elapsed: time.Since(start), errs: errs.Load()}
	if e := firstErr.Load(); e != nil {
		r.firstErr = *e
	}
	for _, l := range lat {
		r.latencies = append(r.latencies, l...)
	}
	r.ops = int64(len(r.latencies))
	return r
}

// latencyOf summarises latencies (in any order; it sorts them) with the
// nearest-rank percentiles.
func latencyOf(latencies []time.Duration) Latency {
	if len(latencies) == 0 {
		return Latency{}
	}
	slices.Sort(latencies)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	rank := func(p float64) time.Duration {
		i := int(p/100*float64(len(latencies))+0.999999999) - 1
		return latencies[min(max(i, 0), len(latencies)-1)]
	}
	var sum time.Duration
	for _, l := range latencies {
		sum += l
	}
	return Latency{P50: ms(rank(50)), P99: ms(rank(99)), Max: ms(latencies[len(latencies)-1]), Mean: ms(sum) / float64(len(latencies))}
}

// clockTicks is USER_HZ, the unit of CPU times in /proc/<pid>/stat; it is
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// cpuTime reads the user and system time pid has used so far.
func cpuTime(pid int) (time.Duration, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(stat)
}

// parseStatCPU returns utime + stime (fields 14 and 15) of a
// /proc/<pid>/stat line.
func parseStatCPU(stat []byte) (time.Duration, error) {
	// The command name (field 2) may hold spaces and parentheses; the
	// fields after it follow the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("/proc stat: no command name")
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc stat: %d fields after the command name, want at least 13", len(f))
	}
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc stat: %w", err)
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// cpuTotal is the CPU time the processes have used so far.
func cpuTotal(pids []int) (time.Duration, error) {
	var total time.Duration
	for _, pid := range pids {
		t, err := cpuTime(pid)
		if err != nil {
			return 0, err
		}
		total += t
	}
	return total, nil
}
