package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/charta/charta/consensus"
	"github.com/charta/charta/internal/bench"
	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/client"
)

// The scale workload measures T6 (heap after many applied entries), T7
// (restart time) and T8 (snapshot catch-up). Applying a million entries
// through a cluster would take most of an hour on this machine, so the state
// is built in-process: signed token.register proposals are applied to a
// ledger with the consortium's genesis (signature verification skipped, as
// every entry is signed by the bench itself), and the ledger's snapshot is
// installed with `charta restore`'s code path as a node's data directory.
// The node processes are then real: started, restarted, and joined by a
// follower with an empty data directory, which catches up by Raft snapshot.

// scalePoint is one preloaded state size.
type scalePoint struct {
	entries   int
	backup    string        // snapshot file of the ledger at that size
	preload   time.Duration // time to apply the entries in-process
	firstUp   time.Duration // start from the restored data directory to serving (see waitNodeReady)
	restart   time.Duration // restart (same data directory) to serving
	heapInUse float64       // go_memstats_heap_inuse_bytes after a forced GC, after the restart
	catchUp   time.Duration // a wiped follower's start to serving at the leader's applied index
}

// scaleRuns builds states of 10,000 (at most n/10), n and 2n entries and
// measures a node on each.
func (r *benchRun) scaleRuns() error {
	n := r.o.scaleEntries
	dir := filepath.Join(r.root, "scale")
	os.RemoveAll(dir)
	base, err := freePortBase()
	if err != nil {
		return err
	}
	d := &devCluster{dir: dir, base: base, scheme: ledger.SchemeEd25519, out: io.Discard}
	if _, err := d.prepare(); err != nil {
		return err
	}
	g, err := readGenesis(d.path("genesis.json"), false)
	if err != nil {
		return err
	}
	signer, err := loadSigner(d.path("alpha.key"))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, "preload"), 0o755); err != nil {
		return err
	}
	l, err := ledger.Open(filepath.Join(dir, "preload", "state.db"), g, ledger.Options{SkipVerify: true, NoSync: true})
	if err != nil {
		return err
	}
	defer func() {
		if l != nil {
			l.Close()
		}
	}()
	sizes := []int{min(10000, max(1, n/10)), n, 2 * n} // the small state is T7's reference
	var points []*scalePoint
	applied, elapsed := 0, time.Duration(0)
	for _, size := range sizes {
		fmt.Fprintf(r.out, "scale: applying %d token.register entries in-process (%d so far)...\n", size-applied, applied)
		start := time.Now()
		if err := r.preload(l, g, signer, applied, size); err != nil {
			return err
		}
		elapsed += time.Since(start)
		applied = size
		p := &scalePoint{entries: size, preload: elapsed, backup: filepath.Join(dir, "state-"+strconv.Itoa(size)+".snap")}
		if err := writeSnapshot(l, p.backup); err != nil {
			return err
		}
		points = append(points, p)
	}
	// The preloaded store is as large as a node's; free the disk before the
	// nodes make their copies.
	if err := l.Close(); err != nil {
		return err
	}
	l = nil
	os.RemoveAll(filepath.Join(dir, "preload"))
	for i, p := range points {
		if err := r.scaleNode(d, g, p, i == 1); err != nil {
			return err
		}
		fmt.Fprintf(r.out, "scale: %d entries: preload %s, first start %s, restart %s, heap in use %.1f MiB, catch-up %s\n",
			p.entries, p.preload.Round(time.Millisecond), p.firstUp.Round(time.Millisecond), p.restart.Round(time.Millisecond),
			p.heapInUse/(1<<20), p.catchUp.Round(time.Millisecond))
		os.Remove(p.backup)
	}
	r.scale = points
	return nil
}

// preload applies token.register proposals from..to-1 to l, signed on every
// core while the previous batch is applied.
func (r *benchRun) preload(l *ledger.Ledger, g *ledger.Genesis, s ledger.Signer, from, to int) error {
	const batch = 512
	member, _, _ := ledger.SplitKeyID(s.KeyID)
	var salt [4]byte
	rand.Read(salt[:])
	prefix := "scale-" + hex.EncodeToString(salt[:]) + "-"
	now := time.Now().UTC()
	type result struct {
		entries []ledger.LogEntry
		err     error
	}
	jobs := make(chan int)
	baseIndex := l.AppliedIndex()
	sign := func(first int) result {
		last := min(first+batch, to)
		out := make([]ledger.LogEntry, 0, last-first)
		for i := first; i < last; i++ {
			body, err := json.Marshal(ledger.TokenRegister{Hash: ledger.HashToken(prefix + strconv.Itoa(i)), Scopes: []string{"read"},
				ExpiresAt: now.Add(24 * time.Hour).Truncate(time.Second)})
			if err != nil {
				return result{err: err}
			}
			p := &ledger.Proposal{V: 1, Consortium: g.ID(), ID: prefix + strconv.Itoa(i), Type: "token.register", Signer: member, IssuedAt: now, Body: body}
			env, err := ledger.Sign(p, s)
			if err != nil {
				return result{err: err}
			}
			out = append(out, ledger.LogEntry{Index: baseIndex + uint64(i-from) + 1, Data: ledger.EncodeRecord(now, env.Encode())})
		}
		return result{entries: out}
	}
	// Batches are signed ahead by NumCPU workers, in order, through one
	// channel per batch.
	var results []chan result
	for first := from; first < to; first += batch {
		results = append(results, make(chan result, 1))
	}
	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	go func() {
		defer close(jobs)
		for k := range results {
			select {
			case jobs <- k:
			case <-ctx.Done():
				return
			}
		}
	}()
	for range runtime.NumCPU() {
		go func() {
			for k := range jobs {
				results[k] <- sign(from + k*batch)
			}
		}()
	}
	for _, ch := range results {
		var res result
		select {
		case res = <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		if res.err != nil {
			return res.err
		}
		for _, out := range l.Apply(res.entries) {
			if out.Outcome.Status != ledger.StatusAccepted {
				return fmt.Errorf("bench: preload entry %d: %v", out.Index, out.Outcome)
			}
		}
	}
	return nil
}

// writeSnapshot writes a snapshot of l to path.
func writeSnapshot(l *ledger.Ledger, path string) error {
	s, err := l.Snapshot()
	if err != nil {
		return err
	}
	defer s.Release()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if _, err := s.WriteTo(w); err != nil {
		f.Close()
		return err
	}
	return errors.Join(w.Flush(), f.Close())
}

// scaleNode restores p's snapshot as alpha's data directory, starts alpha
// (first start), stops and restarts it, reads its heap, and when catchUp is
// set starts beta with an empty data directory and times its catch-up.
func (r *benchRun) scaleNode(d *devCluster, g *ledger.Genesis, p *scalePoint, catchUp bool) error {
	for _, m := range devMembers {
		os.RemoveAll(d.path(m))
	}
	f, err := os.Open(p.backup)
	if err != nil {
		return err
	}
	cfg := consensus.DefaultConfig()
	cfg.ID, cfg.Dir, cfg.Genesis, cfg.AdvertiseAddr = "alpha", d.path("alpha"), g, d.raftAddr(0)
	_, err = consensus.RestoreBackup(cfg, f)
	f.Close()
	if err != nil {
		return err
	}
	c := &benchCluster{d: d, scheme: string(d.scheme), exited: make(chan error, 4)}
	defer c.stop()
	wait := func(i int, start time.Time) (time.Duration, error) {
		err := r.waitNodeReady(c, i, uint64(p.entries))
		return time.Since(start), err
	}
	start := time.Now()
	if err := r.startScaleNode(c, 0); err != nil {
		return err
	}
	if p.firstUp, err = wait(0, start); err != nil {
		return fmt.Errorf("scale %d: first start: %w", p.entries, err)
	}
	d.stop()
	d.procs = nil
	select { // the stopped node's exit
	case <-c.exited:
	case <-time.After(30 * time.Second):
		return fmt.Errorf("scale %d: alpha did not stop", p.entries)
	}
	start = time.Now()
	if err := r.startScaleNode(c, 0); err != nil {
		return err
	}
	if p.restart, err = wait(0, start); err != nil {
		return fmt.Errorf("scale %d: restart: %w", p.entries, err)
	}
	if p.heapInUse, err = heapInUse(r.ctx, c.pprof(0), d.apiURL(0)); err != nil {
		return fmt.Errorf("scale %d: heap: %w", p.entries, err)
	}
	if catchUp {
		start = time.Now()
		if err := r.startScaleNode(c, 1); err != nil {
			return err
		}
		if p.catchUp, err = wait(1, start); err != nil {
			return fmt.Errorf("scale %d: catch-up: %w", p.entries, err)
		}
	}
	return nil
}

// startScaleNode starts node i without --bootstrap, like a node of a
// cluster restored from a backup.
func (r *benchRun) startScaleNode(c *benchCluster, i int) error {
	return c.d.spawn(r.bin, i, c.exited,
		"--rate-limit", "1e9", "--rate-burst", "1000000000", "--log-level", "warn", "--pprof", c.pprof(i))
}

// waitNodeReady polls node i until /readyz answers 200 and its ledger has
// applied at least applied entries, for up to two minutes.
func (r *benchRun) waitNodeReady(c *benchCluster, i int, applied uint64) error {
	deadline := time.Now().Add(2 * time.Minute)
	var last error
	for time.Now().Before(deadline) {
		select {
		case err := <-c.exited:
			return fmt.Errorf("a node exited: %v", err)
		case <-r.ctx.Done():
			return r.ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		b, _ := os.ReadFile(c.d.path(devMembers[i], "operator.token")) // written by the node at start
		cl, err := client.New(c.d.apiURL(i), client.WithToken(strings.TrimSpace(string(b))))
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(r.ctx, 2*time.Second)
		st, err := cl.Status(ctx)
		if err == nil {
			if rerr := cl.Readyz(ctx); rerr != nil {
				err = fmt.Errorf("not ready: %w", rerr)
			}
		}
		cancel()
		switch {
		case err != nil:
			last = err
		case st.AppliedIndex < applied:
			last = fmt.Errorf("applied %d of %d", st.AppliedIndex, applied)
		default:
			return nil
		}
	}
	return fmt.Errorf("not serving within 2 minutes: %v", last)
}

// heapInUse forces a GC through the node's pprof listener and reads
// go_memstats_heap_inuse_bytes from its /metrics.
func heapInUse(ctx context.Context, pprofAddr, api string) (float64, error) {
	get := func(u string) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("%s: %s", u, resp.Status)
		}
		return io.ReadAll(resp.Body)
	}
	if _, err := get("http://" + pprofAddr + "/debug/pprof/heap?gc=1"); err != nil {
		return 0, err
	}
	b, err := get(api + "/metrics")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "go_memstats_heap_inuse_bytes "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, errors.New("no go_memstats_heap_inuse_bytes in /metrics")
}

// scaleTargets adds T6, T7 and T8 from points: 10,000, n and 2n entries.
func (r *benchRun) scaleTargets(points []*scalePoint) {
	if len(points) != 3 {
		return
	}
	small, one, two := points[0], points[1], points[2]
	for _, p := range points {
		r.rep.Add(bench.Result{Name: fmt.Sprintf("scale %d entries", p.entries), Clients: 1, Ops: int64(p.entries), Units: int64(p.entries),
			Seconds: p.preload.Seconds(), Throughput: float64(p.entries) / p.preload.Seconds(), Unit: "entries/s preloaded"})
	}
	const mib = 1 << 20
	sec := func(d time.Duration) float64 { return d.Seconds() }
	rep := r.rep
	rep.Targets = append(rep.Targets,
		bench.Target{ID: "T6", What: fmt.Sprintf("heap in use after %d applied entries", one.entries), Measured: one.heapInUse / mib,
			Unit: "MiB", Want: "<= 256 MiB", Met: one.heapInUse <= 256*mib, Note: "token.register entries"},
		bench.Target{ID: "T6", What: fmt.Sprintf("heap growth from %d to %d entries", one.entries, two.entries), Measured: two.heapInUse / mib,
			Baseline: one.heapInUse / mib, Unit: "MiB", Ratio: two.heapInUse / one.heapInUse, Want: "< 1.10", Met: two.heapInUse < 1.10*one.heapInUse},
		bench.Target{ID: "T7", What: fmt.Sprintf("restart to ready (/readyz, state loaded), %d entries", one.entries), Measured: sec(one.restart),
			Unit: "s", Want: "<= 5 s", Met: one.restart <= 5*time.Second},
		bench.Target{ID: "T7", What: fmt.Sprintf("restart with %d against %d entries", one.entries, small.entries), Measured: sec(one.restart),
			Baseline: sec(small.restart), Unit: "s", Ratio: sec(one.restart) / sec(small.restart), Want: "<= 2", Met: one.restart <= 2*small.restart},
		bench.Target{ID: "T8", What: fmt.Sprintf("wiped follower catches up to %d entries by snapshot", one.entries), Measured: sec(one.catchUp),
			Unit: "s", Want: "<= 60 s", Met: one.catchUp > 0 && one.catchUp <= time.Minute},
	)
}
