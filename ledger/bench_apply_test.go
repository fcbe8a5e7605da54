package ledger_test

import (
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
)

// BenchmarkApply measures signed proposals applied per second on one
// ledger, for each scheme, next to the same records applied with
// verification disabled: the ratio is what verification costs Apply.
// Batches of 64 entries, as Raft hands them over under load. The
// preverify runs do what a node's state machine does with a batch:
// Preverify (signatures on every core) and then Apply. The single runs
// apply one entry per call, as with one client: the state-store commit
// is then paid by every entry.
func BenchmarkApply(b *testing.B) {
	for _, s := range []ledger.Scheme{ledger.SchemeEd25519, ledger.SchemeMLDSA44, ledger.SchemeMLDSA65, ledger.SchemeComposite} {
		b.Run(string(s)+"/verify", func(b *testing.B) { benchApply(b, s, applyVerify, 64) })
		b.Run(string(s)+"/preverify", func(b *testing.B) { benchApply(b, s, applyPreverify, 64) })
		b.Run(string(s)+"/noverify", func(b *testing.B) { benchApply(b, s, applySkipVerify, 64) })
		b.Run(string(s)+"/single-verify", func(b *testing.B) { benchApply(b, s, applyVerify, 1) })
		b.Run(string(s)+"/single-noverify", func(b *testing.B) { benchApply(b, s, applySkipVerify, 1) })
	}
}

type applyMode int

const (
	applyVerify     applyMode = iota // Apply verifies one entry after another
	applyPreverify                   // Preverify, then Apply
	applySkipVerify                  // no verification
)

func benchApply(b *testing.B, s ledger.Scheme, mode applyMode, batch int) {
	skip := mode == applySkipVerify
	g := &ledger.Genesis{Format: ledger.GenesisFormat, Name: "bench", CreatedAt: t0, Charter: ledgertest.StampedCharter()}
	g.Members = []ledger.GenesisMember{{ID: "alpha", Role: ledger.RoleMember, Keys: []ledger.PublicKey{ledgertest.Key("alpha", s).Public()}}}
	g.Sign(ledgertest.Signer("alpha", s))
	// DeferSync, as a node runs: batches are committed without fsync.
	l, err := ledger.Open(filepath.Join(b.TempDir(), "state.db"), g, ledger.Options{SkipVerify: skip, DeferSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	signer := ledgertest.Signer("alpha", s)
	now := t0.Add(time.Minute)
	records := make([][]byte, b.N)
	for i := range records {
		e := ledgertest.Propose(g.ID(), "alpha", "token.register", "t"+strconv.Itoa(i), now,
			ledger.TokenRegister{Hash: ledger.HashToken(strconv.Itoa(i)), Scopes: []string{"read"}, ExpiresAt: t0.Add(48 * time.Hour)}, signer)
		records[i] = ledger.EncodeRecord(now, e.Encode())
	}
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		n := min(batch, b.N-i)
		entries := make([]ledger.LogEntry, n)
		for j := range entries {
			entries[j] = ledger.LogEntry{Index: uint64(i + j + 1), Data: records[i+j]}
		}
		if mode == applyPreverify {
			l.Preverify(entries)
		}
		for _, r := range l.Apply(entries) {
			if r.Outcome.Status != ledger.StatusAccepted {
				b.Fatal(r.Outcome)
			}
		}
	}
	b.StopTimer() // the deferred Close syncs the store, which is not Apply's cost
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "proposals/s")
}
