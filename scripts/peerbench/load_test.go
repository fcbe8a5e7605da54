package main

import (
	"os"
	"testing"
	"time"
)

func TestLatencyOf_NearestRank(t *testing.T) {
	var ls []time.Duration
	for i := 100; i >= 1; i-- { // 1..100 ms, in reverse
		ls = append(ls, time.Duration(i)*time.Millisecond)
	}
	got := latencyOf(ls)
	if got.P50 != 50 || got.P99 != 99 || got.Max != 100 || got.Mean != 50.5 {
		t.Errorf("latency of 1..100 ms: %+v, want p50 50, p99 99, max 100, mean 50.5", got)
	}
	if got := latencyOf([]time.Duration{3 * time.Millisecond}); got.P50 != 3 || got.P99 != 3 {
		t.Errorf("one value: %+v", got)
	}
	if got := latencyOf(nil); got != (Latency{}) {
		t.Errorf("no values: %+v", got)
	}
}

func TestParseStatCPU(t *testing.T) {
	// A command name with a space and a parenthesis; utime 250 and stime
	// 50 ticks.
	stat := []byte("4242 (etcd (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 12 0 100 0 0")
	got, err := parseStatCPU(stat)
	if err != nil || got != 3*time.Second {
		t.Errorf("parseStatCPU = %v, %v; want 3s", got, err)
	}
	for _, bad := range []string{"4242 etcd S 1", "4242 (etcd) S 1 2 3", "4242 (etcd) S 1 2 3 4 5 6 7 8 9 10 x 50"} {
		if _, err := parseStatCPU([]byte(bad)); err == nil {
			t.Errorf("parseStatCPU(%q) accepted", bad)
		}
	}
	// This process's own CPU time grows while it spins.
	for deadline := time.Now().Add(5 * time.Second); ; {
		self, err := cpuTime(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if self > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("cpuTime(self) stayed 0 while spinning for 5 s")
		}
	}
}
