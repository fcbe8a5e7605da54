package verify

import (
	"fmt"

	"github.com/charta/charta/ledger"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// InclusionProof proves that the entry at Index is a leaf of the journal
// tree of Size entries. Hashes are hex in JSON. It reads the node's
// GET /v1/proofs/inclusion answer as it is.
type InclusionProof struct {
	Index  uint64        `json:"index"`
	Size   uint64        `json:"size"`
	Hashes []ledger.Hash `json:"hashes"`
}

// Verify checks the proof for an entry hash against a root.
func (p *InclusionProof) Verify(entryHash, root ledger.Hash) error {
	hs := make([][]byte, len(p.Hashes))
	for i := range p.Hashes {
		hs[i] = p.Hashes[i][:]
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, p.Index, p.Size, ledger.LeafHash(entryHash), hs, root[:]); err != nil {
		return fmt.Errorf("%w: entry %d in a journal of %d: %v", ErrInclusion, p.Index, p.Size, err)
	}
	return nil
}

// ConsistencyProof proves that the journal tree of From entries is a
// prefix of the tree of To entries.
type ConsistencyProof struct {
	From   uint64        `json:"from"`
	To     uint64        `json:"to"`
	Hashes []ledger.Hash `json:"hashes"`
}

// Verify checks the proof between two roots.
func (p *ConsistencyProof) Verify(fromRoot, toRoot ledger.Hash) error {
	hs := make([][]byte, len(p.Hashes))
	for i := range p.Hashes {
		hs[i] = p.Hashes[i][:]
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, p.From, p.To, hs, fromRoot[:], toRoot[:]); err != nil {
		return fmt.Errorf("%w: %d → %d: %v", ErrConsistency, p.From, p.To, err)
	}
	return nil
}

// ProvenEntry is a journal entry with its inclusion proof.
type ProvenEntry struct {
	Entry ledger.Entry   `json:"entry"`
	Proof InclusionProof `json:"proof"`
}

// Verify checks the entry's hash and that its proof leads to the
// checkpoint's root at the checkpoint's size.
func (p *ProvenEntry) Verify(cp *Checkpoint) error {
	if err := p.Entry.VerifyHash(); err != nil {
		return fmt.Errorf("%w: %v", ErrEntry, err)
	}
	if p.Proof.Index != p.Entry.Seq {
		return fmt.Errorf("%w: the proof is for entry %d, the entry is %d", ErrInclusion, p.Proof.Index, p.Entry.Seq)
	}
	if p.Proof.Size != cp.Size {
		return fmt.Errorf("%w: the proof of entry %d is for a journal of %d entries, the checkpoint has %d", ErrInclusion, p.Entry.Seq, p.Proof.Size, cp.Size)
	}
	return p.Proof.Verify(p.Entry.Hash, cp.Root)
}
