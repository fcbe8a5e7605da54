package ledger_test

import (
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
)

// TestPreverify_SameResultsAsApplyAlone applies one batch with Preverify
// first, as a node's state machine does, and the same batch with Apply
// alone: every result, the journal head and the state digest must agree.
// The batch mixes accepted proposals with a forged signature, an envelope
// that does not decode, an exact resubmission and a reused proposal ID,
// so that the envelopes Preverify leaves for Apply, and the ones it does
// not, are both on the path.
func TestPreverify_SameResultsAsApplyAlone(t *testing.T) {
	g := testGenesis(t)
	with, alone := openLedger(t, g), openLedger(t, g)
	now := t0.Add(time.Minute)
	signer := ledgertest.Signer("alpha", scheme)
	register := func(id, token string) *ledger.Envelope {
		return ledgertest.Propose(g.ID(), "alpha", "token.register", id, now,
			ledger.TokenRegister{Hash: ledger.HashToken(token), Scopes: []string{"read"}, ExpiresAt: t0.Add(48 * time.Hour)}, signer)
	}
	var records [][]byte
	add := func(e *ledger.Envelope) { records = append(records, ledger.EncodeRecord(now, e.Encode())) }
	for i := range 6 {
		add(register("t"+strconv.Itoa(i), "token-"+strconv.Itoa(i)))
	}
	forged := register("forged", "token-forged")
	forged.Signatures[0].Sig[0] ^= 1
	add(forged)
	records = append(records, ledger.EncodeRecord(now, []byte(`{"payloadType":`))) // an envelope that does not decode
	add(register("t1", "token-1"))                                                 // exact resubmission
	add(register("t2", "another-one"))                                             // same ID, another payload
	add(register("t9", "token-9"))

	batch := func() []ledger.LogEntry {
		entries := make([]ledger.LogEntry, len(records))
		for i, r := range records {
			entries[i] = ledger.LogEntry{Index: uint64(i + 1), Data: r}
		}
		return entries
	}
	entries := batch()
	with.Preverify(entries)
	got, want := with.Apply(entries), alone.Apply(batch())
	statuses := map[string]int{}
	for i := range want {
		if (got[i] == nil) != (want[i] == nil) {
			t.Fatalf("entry %d: result %v with Preverify, %v without", i+1, got[i], want[i])
		}
		if got[i] == nil {
			continue
		}
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("entry %d: %+v with Preverify, %+v without", i+1, *got[i], *want[i])
		}
		statuses[got[i].Outcome.Status]++
	}
	if statuses[ledger.StatusAccepted] != 8 || statuses[ledger.StatusRejected] != 3 || !got[8].Duplicate {
		t.Errorf("outcomes %v, resubmission %+v: want 8 accepted, one of them the resubmission, and 3 rejected", statuses, *got[8])
	}
	digest := func(l *ledger.Ledger) (h ledger.Hash, head ledger.Head) {
		l.View(func(v *ledger.View) error { h, head = v.Digest(), v.Head(); return nil })
		return h, head
	}
	dg, hg := digest(with)
	dw, hw := digest(alone)
	if dg != dw || hg != hw {
		t.Fatalf("state digest %x / head %+v with Preverify, %x / %+v without", dg, hg, dw, hw)
	}
}
