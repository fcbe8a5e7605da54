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

// evidence builds the evidence behind an answer made of the journal's
// first size entries: the entries the answer depends on
// (verify.Dependencies: every entry that wrote a record question reads,
// and transitively what those entries read), each with its inclusion
// proof, and the checkpoint of size entries with every cosignature
// gathered. It replays those size entries into a scratch ledger in the
// data directory, without signature checks: it costs about a third of a
// node's own apply of them (see docs/api.md).
func (s *Server) evidence(ctx context.Context, size uint64, question func(v *ledger.View) error) (verify.Evidence, error) {
	var g *ledger.Genesis
	s.l.View(func(v *ledger.View) error { g = v.Genesis(); return nil })
	seqs, err := verify.Dependencies(s.cfg.DataDir, g, s.journalWhile(func(e *ledger.Entry) bool { return e.Seq < size }), question)
	if err != nil {
		return verify.Evidence{}, err
	}
	var ev verify.Evidence
	err = s.l.View(func(v *ledger.View) error {
		var err error
		ev.Genesis = genesisRaw(v)
		ev.Entries, err = provenEntries(v, seqs, size)
		return err
	})
	if err != nil {
		return verify.Evidence{}, err
	}
	note, _, err := s.signedCheckpoint(ctx, size, true)
	if err != nil {
		return verify.Evidence{}, err
	}
	ev.Checkpoint = note.String()
	return ev, nil
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
	if err := verify.Replay(l, s.journalWhile(func(e *ledger.Entry) bool { return e.Index <= n }), verify.Hooks{}); err != nil {
		return err
	}
	return l.View(fn)
}

// journalWhile yields this node's journal entries after genesis, in
// order, as long as keep accepts them. It reads them a thousand at a time and yields each
// batch outside the read transaction, which the replay would otherwise
// hold open for its whole length.
func (s *Server) journalWhile(keep func(e *ledger.Entry) bool) iter.Seq2[*ledger.Entry, error] {
	return func(yield func(*ledger.Entry, error) bool) {
		for from := uint64(1); ; {
			var batch []*ledger.Entry
			done := false
			s.l.View(func(v *ledger.View) error {
				for _, e := range v.Entries(from, 1000) {
					if !keep(e) {
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
