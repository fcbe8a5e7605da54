package gateway

import (
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
)

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testReporter is a reporter over a journal in dir that signs as alpha,
// with no nodes (build and sign only).
func testReporter(t *testing.T, j *journal, now func() time.Time) *reporter {
	t.Helper()
	return &reporter{j: j, signer: ledgertest.Signer("alpha", ledger.SchemeEd25519), member: "alpha", pend: &pending{},
		m: newMetrics(func() float64 { return 0 }), log: slog.New(slog.DiscardHandler), committed: func(uint64) {}, now: now,
		consortium: "0000000000000000000000000000000000000000000000000000000000000001"}
}

// TestJournal_CountsSurviveReopen adds counts concurrently (sharing
// fsyncs), closes the file as a crash would leave it, and finds every
// count on reopening, with its first and last time.
func TestJournal_CountsSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	j, err := openJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	id := j.id
	t0 := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	u, p := usageKey("g-1", "2026-01", "requests"), poolKey("gpu", "beta")
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := j.add([]count{{u, 1}, {p, 3}}, t0.Add(time.Duration(i)*time.Second)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	j.Close()
	j, err = openJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if j.id != id {
		t.Fatalf("journal ID changed on reopening: %s, then %s", id, j.id)
	}
	tallies, batches, err := j.state()
	if err != nil {
		t.Fatal(err)
	}
	if len(batches) != 0 || tallies[u].Q != 50 || tallies[p].Q != 150 {
		t.Fatalf("tallies %+v, batches %d", tallies, len(batches))
	}
	if !tallies[u].First.Equal(t0) || !tallies[u].Last.Equal(t0.Add(49*time.Second)) {
		t.Fatalf("times: %+v", tallies[u])
	}
}

// TestJournal_CutSignsBatches moves every tally into batches in one
// transaction: one usage report per grant and period carrying every
// metric, one pool consumption per pool and member, with IDs that follow
// the journal; the member field is sent only for another member's quota.
func TestJournal_CutSignsBatches(t *testing.T) {
	j, err := openJournal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	t0 := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	r := testReporter(t, j, func() time.Time { return t0.Add(time.Hour) })
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(j.add([]count{{usageKey("g-1", "2026-01", "requests"), 1}, {usageKey("g-1", "2026-01", "tokens"), 40}}, t0))
	must(j.add([]count{{usageKey("g-1", "2026-01", "requests"), 1}, {usageKey("g-1", "2026-01", "tokens"), 2}}, t0.Add(time.Minute)))
	must(j.add([]count{{poolKey("gpu", "alpha"), 5}, {poolKey("gpu", "beta"), 7}}, t0))
	batches, err := j.cut(r.builder(inClear("g-1")))
	must(err)
	if len(batches) != 3 {
		t.Fatalf("%d batches, want 3", len(batches))
	}
	// Sorted by key: pool alpha, pool beta, usage g-1.
	var pa, pb ledger.PoolConsume
	must(json.Unmarshal(batches[0].Body, &pa))
	must(json.Unmarshal(batches[1].Body, &pb))
	if batches[0].Type != typePool || pa != (ledger.PoolConsume{Pool: "gpu", Amount: 5, Ref: "gw-" + j.id + "-1"}) {
		t.Errorf("alpha's pool batch: %s %s", batches[0].Type, batches[0].Body)
	}
	if pb != (ledger.PoolConsume{Pool: "gpu", Amount: 7, Ref: "gw-" + j.id + "-2", Member: "beta"}) {
		t.Errorf("beta's pool batch: %s", batches[1].Body)
	}
	var u ledger.UsageReportBody
	must(ledger.DecodeStrict(batches[2].Body, &u))
	want := ledger.UsageReportBody{Grant: "g-1", ReportID: "gw-" + j.id + "-3", Period: "2026-01",
		Window:  ledger.Window{Start: t0, End: t0.Add(time.Minute + time.Nanosecond)},
		Metrics: []ledger.MetricQuantity{{Metric: "requests", Quantity: 2}, {Metric: "tokens", Quantity: 42}}}
	if string(mustJSON(t, u)) != string(mustJSON(t, want)) {
		t.Errorf("usage batch:\n%s\nwant\n%s", mustJSON(t, u), mustJSON(t, want))
	}
	// Each envelope is signed by alpha and carries the batch's proposal.
	for _, b := range batches {
		env, err := ledger.DecodeEnvelope(b.Envelope)
		must(err)
		p, err := ledger.DecodePayload(env.Payload)
		must(err)
		if p.ID != b.ID || p.Type != b.Type || p.Signer != "alpha" || string(p.Body) != string(b.Body) {
			t.Errorf("batch %d envelope: %+v", b.Seq, p)
		}
	}
	tallies, stored, err := j.state()
	must(err)
	if len(tallies) != 0 || len(stored) != 3 {
		t.Fatalf("after the cut: %d tallies, %d batches", len(tallies), len(stored))
	}
	// Numbers go on from the last batch, across a reopening.
	must(j.add([]count{{poolKey("gpu", "alpha"), 1}}, t0))
	more, err := j.cut(r.builder(inClear("g-1")))
	must(err)
	if len(more) != 1 || more[0].ID != "gw-"+j.id+"-4" {
		t.Fatalf("next batch: %+v", more)
	}
	must(j.done(more[0].Seq))
	must(j.reject(&batches[0], "rejected: over quota"))
	_, stored, err = j.state()
	must(err)
	if len(stored) != 2 || stored[0].Seq != 2 || stored[1].Seq != 3 {
		t.Fatalf("batches left: %+v", stored)
	}
}

// TestGateway_RecoverRebuildsPending counts what a restarted gateway
// finds in its journal as pending, whether still a tally or a batch.
func TestGateway_RecoverRebuildsPending(t *testing.T) {
	dir := t.TempDir()
	j, err := openJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	r := testReporter(t, j, time.Now)
	u := usageKey("g-1", "2026-01", "requests")
	if err := j.add([]count{{u, 4}}, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := j.cut(r.builder(inClear("g-1"))); err != nil {
		t.Fatal(err)
	}
	if err := j.add([]count{{u, 2}}, t0); err != nil {
		t.Fatal(err)
	}
	j.Close()
	g := &Gateway{pend: &pending{}, log: slog.New(slog.DiscardHandler)}
	if g.j, err = openJournal(dir); err != nil {
		t.Fatal(err)
	}
	defer g.j.Close()
	g.rep = r
	if err := g.recover(); err != nil {
		t.Fatal(err)
	}
	if p := g.pend.get(u); p != 6 {
		t.Fatalf("pending %d after recovery, want 6", p)
	}
	g.rep = nil
	if err := g.recover(); err == nil {
		t.Fatal("recovered unreported counts without a key to report them")
	}
}
