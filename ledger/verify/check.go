package verify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"github.com/charta/charta/ledger"
)

// CheckProofFormat names version 1 of the proof-carrying check document.
const CheckProofFormat = "charta-check-proof-v1"

// Evidence is a set of proven journal entries under one cosigned
// checkpoint, starting from genesis (entry 0).
type Evidence struct {
	Genesis    json.RawMessage `json:"genesis"`    // the genesis document, as entry 0 holds it
	Entries    []ProvenEntry   `json:"entries"`    // entry 0 first, then in journal order
	Checkpoint string          `json:"checkpoint"` // the signed checkpoint note
}

// CheckProof is an entitlement answer with the material to re-derive it:
// the question, the node's decision, and the evidence.
type CheckProof struct {
	Format   string              `json:"format"`
	Request  ledger.CheckRequest `json:"request"`
	Decision ledger.Decision     `json:"decision"`
	Evidence                     // genesis, entries, checkpoint
}

// Verified is what a successful verification established.
type Verified struct {
	Checkpoint *Checkpoint // the checkpoint the evidence is included under
	Signers    []string    // the members whose cosignatures verified
	Entries    int         // the number of proven entries replayed
}

// verify checks the evidence and rebuilds its state into a temporary
// ledger, which fn reads. The ledger is removed afterwards.
func (ev *Evidence) verify(consortium string, o Options, fn func(v *ledger.View) error) (*Verified, error) {
	t, err := o.trust(ev.Genesis, consortium)
	if err != nil {
		return nil, err
	}
	cp, signers, err := t.VerifyCheckpoint(ev.Checkpoint, o.Threshold)
	if err != nil {
		return nil, err
	}
	if len(ev.Entries) == 0 || ev.Entries[0].Entry.Seq != 0 {
		return nil, fmt.Errorf("%w: the evidence must start with entry 0 (genesis)", ErrMalformed)
	}
	entries := make([]ledger.Entry, len(ev.Entries))
	for i := range ev.Entries {
		if i > 0 && ev.Entries[i].Entry.Seq <= ev.Entries[i-1].Entry.Seq {
			return nil, fmt.Errorf("%w: entry %d follows entry %d; entries must be in journal order", ErrMalformed, ev.Entries[i].Entry.Seq, ev.Entries[i-1].Entry.Seq)
		}
		if err := ev.Entries[i].Verify(cp); err != nil {
			return nil, err
		}
		entries[i] = ev.Entries[i].Entry
	}
	g := t.Genesis
	if g == nil {
		if g, err = ledger.DecodeGenesis(ev.Genesis); err != nil {
			return nil, fmt.Errorf("%w: genesis: %v", ErrMalformed, err)
		}
	}
	dir, err := os.MkdirTemp("", "charta-verify-")
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	defer os.RemoveAll(dir)
	l, err := Rebuild(dir, g, entries)
	if err != nil {
		return nil, err
	}
	defer l.Close()
	if err := l.View(fn); err != nil {
		return nil, err
	}
	return &Verified{Checkpoint: cp, Signers: signers, Entries: len(entries)}, nil
}

// Verify checks the proof for the pinned consortium: the checkpoint's
// cosignatures, every entry's hash and inclusion, the replay of the
// entries from genesis, and that ledger.Check on the rebuilt state gives
// the decision the proof claims.
func (p *CheckProof) Verify(consortium string, o Options) (*Verified, error) {
	if p.Format != CheckProofFormat {
		return nil, fmt.Errorf("%w: format %q, want %q", ErrMalformed, truncate(p.Format), CheckProofFormat)
	}
	return p.verify(consortium, o, func(v *ledger.View) error {
		d, err := ledger.Check(v, p.Request)
		if err != nil {
			return fmt.Errorf("%w: the rebuilt ledger refuses the question: %v", ErrReplay, err)
		}
		claimed := p.Decision
		claimed.Index = 0
		if got, want := mustJSON(d), mustJSON(claimed); !bytes.Equal(got, want) {
			return fmt.Errorf("%w: the entries give allowed=%t (%s), the proof claims allowed=%t (%s)",
				ErrReplay, d.Allowed, d.Reason, p.Decision.Allowed, p.Decision.Reason)
		}
		return nil
	})
}

// Consortium returns the consortium ID the evidence's checkpoint names,
// unverified ("" if it does not parse): a hint for tools that then pin it.
func (ev *Evidence) Consortium() string {
	n, err := ParseNote(ev.Checkpoint)
	if err != nil {
		return ""
	}
	cp, err := ParseCheckpoint(n.Text)
	if err != nil {
		return ""
	}
	return cp.Consortium()
}
