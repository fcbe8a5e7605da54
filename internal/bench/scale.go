package bench

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
func (s *suite) scaleRuns() error {
	n := s.cfg.ScaleEntries
	dir := filepath.Join(s.cfg.Dir, "scale")
	os.RemoveAll(dir)
	base, err := freePortBase()
	if err != nil {
		return err
	}
	nodes, err := s.deps.NewCluster(dir, base, ledger.SchemeEd25519, nil)
	if err != nil {
		return err
	}
	g, err := nodes.Genesis()
	if err != nil {
		return err
	}
	signer, err := nodes.Signer(s.cfg.Members[0])
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
		fmt.Fprintf(s.out, "scale: applying %d token.register entries in-process (%d so far)...\n", size-applied, applied)
		start := time.Now()
		if err := s.preload(l, g, signer, applied, size); err != nil {
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
		if err := s.scaleNode(nodes, base, g, p, i == 1); err != nil {
			return err
		}
		fmt.Fprintf(s.out, "scale: %d entries: preload %s, first start %s, restart %s, heap in use %.1f MiB, catch-up %s\n",
			p.entries, p.preload.Round(time.Millisecond), p.firstUp.Round(time.Millisecond), p.restart.Round(time.Millisecond),
			p.heapInUse/(1<<20), p.catchUp.Round(time.Millisecond))
		os.Remove(p.backup)
	}
	s.scale = points
	return nil
}

// preload applies token.register proposals from..to-1 to l, signed on every
// core while the previous batch is applied.
func (s *suite) preload(l *ledger.Ledger, g *ledger.Genesis, signer ledger.Signer, from, to int) error {
	const batch = 512
	member, _, _ := ledger.SplitKeyID(signer.KeyID)
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
			env, err := ledger.Sign(p, signer)
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
	ctx, cancel := context.WithCancel(s.ctx)
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

// scaleNode restores p's snapshot as the first member's (alpha's) data
// directory in nodes, whose ports start at base, starts its node (first
// start), stops and restarts it, reads its heap, and when catchUp is set
// starts the second member's (beta's) node with an empty data directory
// and times its catch-up.
func (s *suite) scaleNode(nodes Cluster, base int, g *ledger.Genesis, p *scalePoint, catchUp bool) error {
	first := s.cfg.Members[0]
	for _, m := range s.cfg.Members {
		os.RemoveAll(nodes.DataDir(m))
	}
	f, err := os.Open(p.backup)
	if err != nil {
		return err
	}
	cfg := consensus.DefaultConfig()
	cfg.ID, cfg.Dir, cfg.Genesis, cfg.AdvertiseAddr = first, nodes.DataDir(first), g, nodes.RaftAddr(0)
	_, err = consensus.RestoreBackup(cfg, f)
	f.Close()
	if err != nil {
		return err
	}
	// As after any restore, the joining node trusts the backup's journal
	// head: no other node holds the journal to vouch for its snapshot.
	head, err := journalHead(filepath.Join(nodes.DataDir(first), "state.db"), g)
	if err != nil {
		return err
	}
	// A channel of this point's own: the nodes stopped at the end of the
	// last point report their exits on theirs.
	c := &cluster{Cluster: nodes, members: s.cfg.Members, base: base, scheme: ledger.SchemeEd25519, exited: make(chan error, 4)}
	defer c.Stop()
	wait := func(i int, start time.Time) (time.Duration, error) {
		err := s.waitNodeReady(c, i, uint64(p.entries), 2*time.Minute)
		return time.Since(start), err
	}
	start := time.Now()
	if err := s.startScaleNode(c, 0); err != nil {
		return err
	}
	if p.firstUp, err = wait(0, start); err != nil {
		return fmt.Errorf("scale %d: first start: %w", p.entries, err)
	}
	c.Stop()
	select { // the stopped node's exit
	case <-c.exited:
	case <-time.After(30 * time.Second):
		return fmt.Errorf("scale %d: %s did not stop", p.entries, first)
	}
	start = time.Now()
	if err := s.startScaleNode(c, 0); err != nil {
		return err
	}
	if p.restart, err = wait(0, start); err != nil {
		return fmt.Errorf("scale %d: restart: %w", p.entries, err)
	}
	if p.heapInUse, err = heapInUse(s.ctx, c.pprof(0), c.APIURL(0)); err != nil {
		return fmt.Errorf("scale %d: heap: %w", p.entries, err)
	}
	if catchUp {
		start = time.Now()
		if err := s.startScaleNode(c, 1, "--trust-journal-head", fmt.Sprintf("%d:%s", head.Size, head.Root)); err != nil {
			return err
		}
		// A catch-up replays the snapshot's whole journal before it
		// installs it: it is given long enough to be measured, and a
		// catch-up past T8's bound is reported as missing it rather than
		// ending the run.
		err := s.waitNodeReady(c, 1, uint64(p.entries), catchUpWithin)
		if p.catchUp = time.Since(start); err != nil {
			return fmt.Errorf("scale %d: catch-up: %w", p.entries, err)
		}
	}
	return nil
}

// startScaleNode starts node i without --bootstrap, like a node of a
// cluster restored from a backup.
func (s *suite) startScaleNode(c *cluster, i int, extra ...string) error {
	return c.Start(s.cfg.Bin, i, c.exited, append([]string{
		"--rate-limit", "1e9", "--rate-burst", "1000000000", "--log-level", "warn", "--pprof", c.pprof(i)}, extra...)...)
}

// journalHead reads the journal head of a ledger state file.
func journalHead(path string, g *ledger.Genesis) (ledger.Head, error) {
	l, err := ledger.Open(path, g, ledger.Options{NoSync: true})
	if err != nil {
		return ledger.Head{}, err
	}
	defer l.Close()
	var h ledger.Head
	err = l.View(func(v *ledger.View) error { h = v.Head(); return nil })
	return h, err
}

// catchUpWithin is how long a wiped follower's catch-up is waited for.
const catchUpWithin = 15 * time.Minute

// waitNodeReady polls node i until /readyz answers 200 and its ledger has
// applied at least applied entries, for up to within.
func (s *suite) waitNodeReady(c *cluster, i int, applied uint64, within time.Duration) error {
	deadline := time.Now().Add(within)
	var last error
	for time.Now().Before(deadline) {
		select {
		case err := <-c.exited:
			return fmt.Errorf("a node exited: %v", err)
		case <-s.ctx.Done():
			return s.ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		cl, err := client.New(c.APIURL(i), client.WithToken(c.operatorToken(c.members[i])))
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(s.ctx, 2*time.Second)
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
	return fmt.Errorf("not serving within %s: %v", within, last)
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
