package verify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"

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
	// Confidential is set for a certificate of a confidential grant: its
	// commitment, its parties and, with Options.Key, the opened terms.
	Confidential *SealedTerms
	// Opened are the confidential grants whose sealed terms and usage
	// Options.Key opened to re-derive a check proof's decision, in the
	// order Check met them; none when the decision rests on no sealed
	// terms.
	Opened []string
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
//
// A party's node decides about a confidential grant with its sealed terms
// and the sealed usage reports its hard caps rest on. When the decision
// the entries give without them differs from the claim and rests on
// confidential grants (Decision.Sealed), the proof needs o.Key, a
// party's encryption keys: without one it is ErrSealed, and with one the
// decision is derived again with what the key opens, as the party's node
// derives it.
func (p *CheckProof) Verify(consortium string, o Options) (*Verified, error) {
	if p.Format != CheckProofFormat {
		return nil, fmt.Errorf("%w: format %q, want %q", ErrMalformed, truncate(p.Format), CheckProofFormat)
	}
	var opened []string
	ver, err := p.verify(consortium, o, func(v *ledger.View) error {
		d, err := ledger.Check(v, p.Request)
		if err != nil {
			return fmt.Errorf("%w: the rebuilt ledger refuses the question: %v", ErrReplay, err)
		}
		claimed := p.Decision
		claimed.Index = 0
		if bytes.Equal(mustJSON(d), mustJSON(claimed)) {
			return nil
		}
		if len(d.Sealed) > 0 {
			opened, err = o.Key.checkSealed(v, p.Request, d, claimed)
			return err
		}
		return fmt.Errorf("%w: the entries give allowed=%t (%s), the proof claims allowed=%t (%s)%s",
			ErrReplay, d.Allowed, d.Reason, p.Decision.Allowed, p.Decision.Reason, differ(d, claimed))
	})
	if err != nil {
		return nil, err
	}
	ver.Opened = opened
	return ver, nil
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

// differ names the fields in which two decisions differ, as "; they
// differ in caps, reason": what a reader looks at when the verdicts and
// reasons read the same.
func differ(a, b ledger.Decision) string {
	var x, y map[string]json.RawMessage
	if json.Unmarshal(mustJSON(a), &x) != nil || json.Unmarshal(mustJSON(b), &y) != nil {
		return ""
	}
	var fields []string
	for k := range x {
		if !bytes.Equal(x[k], y[k]) {
			fields = append(fields, k)
		}
	}
	for k := range y {
		if _, ok := x[k]; !ok {
			fields = append(fields, k)
		}
	}
	if len(fields) == 0 {
		return ""
	}
	slices.Sort(fields)
	return "; they differ in " + strings.Join(fields, ", ")
}
