package ledger_test

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
	"github.com/charta/charta/ledger/verify"
)

// newAttestedFixture is the fixture under the default charter, where only
// time entries move ledger time. Its four founders (alpha, audit, beta,
// gamma) all run nodes, so a time entry needs three attestations.
func newAttestedFixture(t testing.TB) *fixture {
	t.Helper()
	g := testGenesisCharter(t, ledger.DefaultCharter())
	if !g.Charter.AttestedTime {
		t.Fatal("the default charter must use attested time")
	}
	return newFixtureGenesis(t, g)
}

// attest returns member's signed reading at.
func (f *fixture) attest(member string, at time.Time) []byte {
	f.t.Helper()
	b, err := ledger.AttestTime(f.g.ID(), ledgertest.Signer(member, scheme), at)
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

// timeEntry applies a time record with the given attestations as the next log
// entry.
func (f *fixture) timeEntry(attestations ...[]byte) *ledger.Result {
	f.t.Helper()
	f.index++
	rs := f.l.Apply([]ledger.LogEntry{{Index: f.index, Data: ledger.EncodeTimeRecord(ledger.EncodeTimeBody(attestations))}})
	return rs[0]
}

func (f *fixture) ledgerTime() time.Time {
	var lt time.Time
	f.view(func(v *ledger.View) { lt = v.LedgerTime() })
	return lt
}

func (f *fixture) journalSize() uint64 {
	var n uint64
	f.view(func(v *ledger.View) { n = v.Head().Size })
	return n
}

// A leader's stamp does not move attested ledger time, however far ahead
// its clock is: only a time entry does.
func TestAttestedTime_LeaderStampDoesNotMoveTime(t *testing.T) {
	f := newAttestedFixture(t)
	f.now = t0.Add(48 * time.Hour) // the leader's clock, 48 h ahead
	f.raw(ledgertest.Propose(f.g.ID(), "alpha", "asset.register", "a-1", t0, map[string]any{
		"id": "m-1", "kind": "model", "digest": digestA, "owners": []map[string]any{{"member": "alpha", "share_bp": 10000}},
	}, ledgertest.Signer("alpha", scheme)).Encode())
	if lt := f.ledgerTime(); !lt.Equal(t0) {
		t.Fatalf("ledger time is %s after a stamp 48 h ahead; want it to stay at %s", lt, t0)
	}
}

// A time entry sets ledger time to the lower median over every
// timekeeper, a missing reading counting as ledger time: one node 48 h
// ahead or behind cannot move it, nor can a leader that picks a subset of
// readings in which the dishonest ones are the majority.
func TestAttestedTime_MedianOfQuorum(t *testing.T) {
	f := newAttestedFixture(t)
	t1 := t0.Add(time.Hour)
	// Three of four readings, one 48 h ahead: the second latest.
	r := f.timeEntry(f.attest("alpha", t1.Add(48*time.Hour)), f.attest("beta", t1), f.attest("gamma", t1.Add(2*time.Second)))
	if r.Outcome.Status != ledger.StatusAccepted || r.Outcome.Type != ledger.TimeEntryType {
		t.Fatalf("time entry: %+v", r.Outcome)
	}
	if lt := f.ledgerTime(); !lt.Equal(t1.Add(2 * time.Second)) {
		t.Fatalf("ledger time %s, want %s", lt, t1.Add(2*time.Second))
	}
	if len(r.Outcome.Events) != 1 || r.Outcome.Events[0].Kind != ledger.TimeEntryType {
		t.Fatalf("events %+v", r.Outcome.Events)
	}
	// All four, one 48 h behind: an honest reading.
	t2 := t1.Add(time.Minute)
	f.timeEntry(f.attest("alpha", t2.Add(-48*time.Hour)), f.attest("beta", t2), f.attest("gamma", t2), f.attest("audit", t2.Add(time.Second)))
	if lt := f.ledgerTime(); !lt.Equal(t2) {
		t.Fatalf("ledger time %s, want %s", lt, t2)
	}
	// Three of four, one 48 h behind: the honest two outvote it.
	t3 := t2.Add(time.Minute)
	f.timeEntry(f.attest("alpha", t3.Add(-48*time.Hour)), f.attest("beta", t3), f.attest("gamma", t3.Add(time.Second)))
	if lt := f.ledgerTime(); !lt.Equal(t3) {
		t.Fatalf("ledger time %s, want %s", lt, t3)
	}
	// Three of four, one a year ahead: the leader's choice of readings
	// cannot put it in the lead.
	t4 := t3.Add(time.Minute)
	f.timeEntry(f.attest("alpha", t4.AddDate(1, 0, 0)), f.attest("beta", t4), f.attest("gamma", t4))
	if lt := f.ledgerTime(); !lt.Equal(t4) {
		t.Fatalf("ledger time %s after a reading a year ahead, want %s", lt, t4)
	}
}

// Entries that a rogue or broken leader could write are refused by every
// node alike and leave ledger time where it was.
func TestAttestedTime_RefusesForgedOrShortEntries(t *testing.T) {
	f := newAttestedFixture(t)
	t1 := t0.Add(time.Hour)
	forged := func() []byte {
		// beta's reading, signed with alpha's key under beta's name.
		s := ledgertest.Signer("alpha", scheme)
		s.KeyID = ledger.KeyID("beta", ledgertest.Key("beta", scheme).Public())
		b, err := ledger.AttestTime(f.g.ID(), ledger.Signer{KeyID: s.KeyID, Key: ledgertest.Key("alpha", scheme)}, t1)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}()
	other, err := ledger.AttestTime("c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00", ledgertest.Signer("gamma", scheme), t1)
	if err != nil {
		t.Fatal(err)
	}
	outsider := ledgertest.Signer("delta", scheme)
	stranger, err := ledger.AttestTime(f.g.ID(), outsider, t1)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		atts [][]byte
		code ledger.Code
	}{
		{"two of four", [][]byte{f.attest("alpha", t1), f.attest("beta", t1)}, ledger.CodeRejected},
		{"one member twice", [][]byte{f.attest("alpha", t1), f.attest("beta", t1), f.attest("beta", t1.Add(time.Second))}, ledger.CodeInvalid},
		{"forged signature", [][]byte{f.attest("alpha", t1), forged, f.attest("gamma", t1)}, ledger.CodeUnauthorized},
		{"another consortium", [][]byte{f.attest("alpha", t1), f.attest("beta", t1), other}, ledger.CodeInvalid},
		{"not a member", [][]byte{f.attest("alpha", t1), f.attest("beta", t1), stranger}, ledger.CodeForbidden},
		{"garbage", [][]byte{[]byte(`{"payloadType":"x"}`), f.attest("beta", t1), f.attest("gamma", t1)}, ledger.CodeInvalid},
		{"beyond what the ledger can store", [][]byte{f.attest("alpha", time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)), f.attest("beta", t1), f.attest("gamma", t1)}, ledger.CodeInvalid},
		{"too many", slices.Repeat([][]byte{f.attest("alpha", t1)}, ledger.MaxReadings+1), ledger.CodeInvalid},
	} {
		r := f.timeEntry(c.atts...)
		if r.Outcome.Status != ledger.StatusRejected || r.Outcome.Code != c.code {
			t.Errorf("%s: got %s %s (%s), want rejected %s", c.name, r.Outcome.Status, r.Outcome.Code, r.Outcome.Message, c.code)
		}
		if lt := f.ledgerTime(); !lt.Equal(t0) {
			t.Fatalf("%s moved ledger time to %s", c.name, lt)
		}
	}
}

// A valid time entry that does not move time forward leaves no entry.
func TestAttestedTime_StaleEntryLeavesNoTrace(t *testing.T) {
	f := newAttestedFixture(t)
	t1 := t0.Add(time.Hour)
	f.timeEntry(f.attest("alpha", t1), f.attest("beta", t1), f.attest("gamma", t1))
	size, digest := f.journalSize(), f.digest()
	r := f.timeEntry(f.attest("alpha", t1.Add(-time.Minute)), f.attest("beta", t1), f.attest("gamma", t1))
	if r.Seq != 0 || r.Outcome.Status != ledger.StatusRejected {
		t.Fatalf("stale time entry: %+v", r)
	}
	if f.journalSize() != size || f.digest() != digest {
		t.Fatal("a stale time entry changed the journal or the state")
	}
}

// Time entries replay: the journal alone rebuilds the same state, as
// charta audit does it.
func TestAttestedTime_JournalReplays(t *testing.T) {
	f := newAttestedFixture(t)
	f.register("alpha", "m-1")
	t1 := t0.Add(time.Hour)
	f.timeEntry(f.attest("alpha", t1), f.attest("beta", t1), f.attest("gamma", t1))
	f.now = t1
	f.register("beta", "m-2")
	f.timeEntry(f.attest("alpha", t1), f.attest("beta", t1.Add(time.Second)), f.attest("audit", t1.Add(time.Second)))
	var entries []ledger.Entry
	f.view(func(v *ledger.View) {
		for _, e := range v.Entries(0, 100) {
			entries = append(entries, *e)
		}
	})
	l, done, err := verify.Scratch(t.TempDir(), f.g)
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	if err := verify.Replay(l, verify.Entries(entries), verify.Hooks{After: func(x *ledger.Entry, r *ledger.Result) error {
		if r.EntryHash != x.Hash {
			t.Errorf("entry %d replays as %+v", x.Seq, r.Outcome)
		}
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	var d ledger.Hash
	l.View(func(v *ledger.View) error { d = v.Digest(); return nil })
	if d != f.digest() {
		t.Fatal("replayed state digest differs")
	}
}

// With fewer than half of the timekeepers dishonest, and readings from at
// least a majority, a time entry neither runs ahead of the honest clocks
// nor moves time back, whichever readings the leader picks.
func TestAttestedTime_MajorityBoundsIt(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	truth := t0.Add(100 * time.Hour)
	for range 5000 {
		n := 1 + rng.IntN(9)
		now := truth.Add(-time.Duration(rng.Int64N(int64(time.Hour))))
		dishonest := rng.IntN((n-1)/2 + 1)
		k := ledger.TimeQuorum(n) + rng.IntN(n-ledger.TimeQuorum(n)+1)
		var times []time.Time
		for i := range k {
			if i < dishonest {
				times = append(times, truth.Add(time.Duration(rng.Int64N(int64(96*time.Hour)))-48*time.Hour))
			} else {
				times = append(times, truth.Add(time.Duration(rng.Int64N(int64(2*time.Second)))-time.Second))
			}
		}
		rng.Shuffle(len(times), func(i, j int) { times[i], times[j] = times[j], times[i] })
		at := ledger.AttestedTime(times, n, now)
		if at.Before(now) || at.After(truth.Add(time.Second)) {
			t.Fatalf("n=%d k=%d dishonest=%d: %s is %s from the truth (ledger time %s before it)", n, k, dishonest, at, at.Sub(truth), truth.Sub(now))
		}
	}
}

// A time record is journaled as rejected under a charter that moves time
// by stamps, and a malformed one replays as it applied.
func TestAttestedTime_OddRecordsReplay(t *testing.T) {
	stamped := newFixture(t)
	t1 := t0.Add(time.Hour)
	if r := stamped.timeEntry(stamped.attest("alpha", t1), stamped.attest("beta", t1), stamped.attest("gamma", t1)); r.Outcome.Status != ledger.StatusRejected || r.Seq == 0 {
		t.Fatalf("a time record under a stamped charter: %+v", r)
	}
	f := newAttestedFixture(t)
	f.index++
	r := f.l.Apply([]ledger.LogEntry{{Index: f.index, Data: ledger.EncodeTimeRecord([]byte(` {"attestations":[]}`))}})[0]
	if r.Outcome.Status != ledger.StatusRejected || r.Seq == 0 {
		t.Fatalf("a malformed time record: %+v", r)
	}
	f.index++
	if r := f.l.Apply([]ledger.LogEntry{{Index: f.index, Data: []byte{2}}})[0]; r.Outcome.Status != ledger.StatusRejected {
		t.Fatalf("an empty time record: %+v", r)
	}
	for _, fx := range []*fixture{stamped, f} {
		var entries []ledger.Entry
		fx.view(func(v *ledger.View) {
			for _, e := range v.Entries(0, 100) {
				entries = append(entries, *e)
			}
		})
		l, done, err := verify.Scratch(t.TempDir(), fx.g)
		if err != nil {
			t.Fatal(err)
		}
		err = verify.Replay(l, verify.Entries(entries), verify.Hooks{After: func(x *ledger.Entry, r *ledger.Result) error {
			if x.Seq > 0 && !bytes.Equal(r.EntryHash[:], x.Hash[:]) {
				t.Errorf("entry %d replays as %+v, was %+v", x.Seq, r.Outcome, x.Outcome)
			}
			return nil
		}})
		done()
		if err != nil {
			t.Fatal(err)
		}
	}
}

// NextDeadline finds the earliest instant at which a status changes with
// time alone, so that an idle node writes a time entry only then.
func TestNextDeadline(t *testing.T) {
	f := newFixture(t)
	f.register("alpha", "model-a")
	f.register("beta", "data-b")
	f.accept("alpha", "bundle.offer", ledger.BundleOffer{
		ID: "x-1", Deadline: f.now.Add(24 * time.Hour),
		Grants: []ledger.GrantOffer{
			offer("xa", "alpha", "beta", "model-a", []ledger.Right{"use"}, nil),
			offer("xb", "beta", "alpha", "data-b", []ledger.Right{"train"}, nil),
		},
	})
	var next time.Time
	var ok bool
	f.view(func(v *ledger.View) { next, ok = v.NextDeadline(v.LedgerTime()) })
	if !ok || !next.Equal(f.now.Add(24*time.Hour)) {
		t.Fatalf("next deadline %s %t, want the bundle's %s", next, ok, f.now.Add(24*time.Hour))
	}
	f.view(func(v *ledger.View) { next, ok = v.NextDeadline(f.now.Add(25 * time.Hour)) })
	if ok {
		t.Fatalf("next deadline after the bundle's: %s, want none", next)
	}
}
