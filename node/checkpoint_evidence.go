package node

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/verify"
	"github.com/transparency-dev/merkle/proof"
)

// inclusion builds the inclusion proof of entry seq in the tree of size
// entries.
func inclusion(v *ledger.View, seq, size uint64) (verify.InclusionProof, error) {
	n, err := proof.Inclusion(seq, size)
	if err != nil {
		return verify.InclusionProof{}, err
	}
	hs, err := proofHashes(v, n)
	if err != nil {
		return verify.InclusionProof{}, err
	}
	return verify.InclusionProof{Index: seq, Size: size, Hashes: hs}, nil
}

// provenEntries returns the entries at seqs, each with its inclusion proof
// in the tree of size entries.
func provenEntries(v *ledger.View, seqs []uint64, size uint64) ([]verify.ProvenEntry, error) {
	out := make([]verify.ProvenEntry, 0, len(seqs))
	for _, seq := range seqs {
		e, ok := v.Entry(seq)
		if !ok {
			return nil, fmt.Errorf("node: journal entry %d is missing", seq)
		}
		p, err := inclusion(v, seq, size)
		if err != nil {
			return nil, err
		}
		out = append(out, verify.ProvenEntry{Entry: *e, Proof: p})
	}
	return out, nil
}

// governanceTypes are the proposal types that change membership, keys or
// the charter. Evidence includes every accepted one, because the replay of
// any other entry may depend on them (who is a member, which key was
// valid). They are few next to grants and usage.
var governanceTypes = map[string]bool{"key.rotate": true, "ballot.open": true, "ballot.vote": true}

// relevantSeqs scans the journal's first size entries and returns, in
// order, entry 0 and every accepted entry that is governance or that
// names one of ids (as its own ID or as an event's subject). The scan
// reads every entry: it costs O(journal size).
func relevantSeqs(v *ledger.View, size uint64, ids map[string]bool) []uint64 {
	out := []uint64{0}
	for from := uint64(1); from < size; {
		es := v.Entries(from, 1000)
		if len(es) == 0 {
			break
		}
		for _, e := range es {
			if e.Seq >= size {
				return out
			}
			from = e.Seq + 1
			if e.Outcome.Status != ledger.StatusAccepted {
				continue
			}
			keep := governanceTypes[e.Outcome.Type] || ids[e.Outcome.ID]
			for _, ev := range e.Outcome.Events {
				keep = keep || ids[ev.Subject]
			}
			if keep {
				out = append(out, e.Seq)
			}
		}
	}
	return out
}

// grantIDs adds a grant, its ancestors and its bundle to ids.
func grantIDs(v *ledger.View, id string, ids map[string]bool) {
	for id != "" && !ids[id] {
		ids[id] = true
		g, ok := v.Grant(id)
		if !ok {
			return
		}
		if g.Bundle != "" {
			ids[g.Bundle] = true
		}
		for _, a := range g.Terms.Assets {
			ids[a] = true
		}
		id = g.Terms.Parent
	}
}

// evidenceFor collects the proven entries behind a decision: genesis, the
// asset's registration and transfers, every grant the decision considered
// (and their ancestors and bundles), and all governance, in the tree of
// size entries.
func evidenceFor(v *ledger.View, size uint64, req ledger.CheckRequest, d *ledger.Decision) ([]verify.ProvenEntry, error) {
	ids := map[string]bool{req.Asset: true}
	for _, c := range d.Candidates {
		grantIDs(v, c.Grant, ids)
	}
	for _, g := range d.Chain {
		grantIDs(v, g, ids)
	}
	return provenEntries(v, relevantSeqs(v, size, ids), size)
}

// genesisRaw is the genesis document as journal entry 0 holds it.
func genesisRaw(v *ledger.View) json.RawMessage {
	e, _ := v.Entry(0)
	return json.RawMessage(e.Envelope)
}

// asOf replays the journal up to Raft index n into a temporary ledger and
// runs fn on it. It costs a replay of every entry up to n (signature
// checks included) and a temporary state file of that size.
func (s *Server) asOf(n uint64, fn func(v *ledger.View) error) error {
	var g *ledger.Genesis
	if err := s.l.View(func(v *ledger.View) error { g = v.Genesis(); return nil }); err != nil {
		return err
	}
	l, done, err := verify.Scratch(s.cfg.DataDir, g)
	if err != nil {
		return err
	}
	defer done()
	if err := verify.Replay(l, s.journalUpTo(n), verify.Hooks{}); err != nil {
		return err
	}
	return l.View(fn)
}

// journalUpTo yields this node's journal entries after genesis whose Raft
// index is at most n. It reads them a thousand at a time and yields each
// batch outside the read transaction, which the replay would otherwise
// hold open for its whole length.
func (s *Server) journalUpTo(n uint64) iter.Seq2[*ledger.Entry, error] {
	return func(yield func(*ledger.Entry, error) bool) {
		for from := uint64(1); ; {
			var batch []*ledger.Entry
			done := false
			s.l.View(func(v *ledger.View) error {
				for _, e := range v.Entries(from, 1000) {
					if e.Index > n {
						done = true
						break
					}
					batch = append(batch, e)
					from = e.Seq + 1
				}
				return nil
			})
			for _, e := range batch {
				if !yield(e, nil) {
					return
				}
			}
			if done || len(batch) == 0 {
				return
			}
		}
	}
}

// receipt builds the receipt of entry seq: the entry, its inclusion proof
// in the whole journal as it is now, and that checkpoint with every
// cosignature gathered.
func (s *Server) receipt(ctx context.Context, seq uint64) (*verify.Receipt, error) {
	var (
		r    verify.Receipt
		size uint64
	)
	err := s.l.View(func(v *ledger.View) error {
		size = v.Head().Size
		if seq >= size {
			return fmt.Errorf("node: entry %d is not in this node's journal of %d entries", seq, size)
		}
		es, err := provenEntries(v, []uint64{seq}, size)
		if err != nil {
			return err
		}
		r = verify.Receipt{Format: verify.ReceiptFormat, Genesis: genesisRaw(v), Entry: es[0]}
		return nil
	})
	if err != nil {
		return nil, err
	}
	note, _, err := s.signedCheckpoint(ctx, size, true)
	if err != nil {
		return nil, err
	}
	r.Checkpoint = note.String()
	return &r, nil
}
