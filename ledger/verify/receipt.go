package verify

import (
	"encoding/json"
	"fmt"
)

// ReceiptFormat names version 1 of the receipt document.
const ReceiptFormat = "charta-receipt-v1"

// Receipt proves offline that an entry is in the journal: the entry, its
// inclusion proof, the cosigned checkpoint the proof leads to, and the
// genesis the checkpoint's signers are taken from.
type Receipt struct {
	Format     string          `json:"format"`
	Genesis    json.RawMessage `json:"genesis"` // the genesis document, as journal entry 0 holds it
	Entry      ProvenEntry     `json:"entry"`
	Checkpoint string          `json:"checkpoint"` // the signed checkpoint note
}

// Options adjust a verification.
type Options struct {
	// Threshold is the number of distinct members whose cosignatures the
	// checkpoint needs; 0 means the charter's voting threshold over the
	// founders.
	Threshold int
	// Trust, if set, is used instead of trust derived from the document's
	// genesis (for keys learned out of band).
	Trust *Trust
	// Key, if set, is the verifier's encryption keys, for documents
	// about confidential grants it is party to: a check proof's decision
	// is re-derived with the terms and sealed usage they open, and a
	// certificate's terms are opened and returned.
	Key *RecipientKey
}

func (o Options) trust(genesis json.RawMessage, consortium string) (*Trust, error) {
	if o.Trust != nil {
		if o.Trust.Consortium != consortium {
			return nil, fmt.Errorf("%w: trust is for %s, not %s", ErrConsortium, short(o.Trust.Consortium), short(consortium))
		}
		return o.Trust, nil
	}
	return TrustRawGenesis(genesis, consortium)
}

// Verify checks the receipt for the pinned consortium: the genesis, the
// checkpoint's cosignatures against the threshold, the entry's hash, and
// its inclusion under the checkpoint. It returns the checkpoint and its
// signers.
func (r *Receipt) Verify(consortium string, o Options) (*Checkpoint, []string, error) {
	if r.Format != ReceiptFormat {
		return nil, nil, fmt.Errorf("%w: format %q, want %q", ErrMalformed, truncate(r.Format), ReceiptFormat)
	}
	t, err := o.trust(r.Genesis, consortium)
	if err != nil {
		return nil, nil, err
	}
	cp, signers, err := t.VerifyCheckpoint(r.Checkpoint, o.Threshold)
	if err != nil {
		return nil, signers, err
	}
	if err := r.Entry.Verify(cp); err != nil {
		return nil, signers, err
	}
	return cp, signers, nil
}
