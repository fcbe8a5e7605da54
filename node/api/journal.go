package api

import (
	"fmt"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// Checkpoint is the journal's checkpoint: GET /v1/checkpoint. Body is a
// C2SP tlog-checkpoint note (origin "charta/<consortium>", tree size,
// base64 root hash and a "ledger-time" extension line); Note adds the
// cosignatures of the member nodes that checked it against their own
// journals.
type Checkpoint struct {
	Origin     string      `json:"origin"`
	Size       uint64      `json:"size"`      // number of journal entries
	Root       ledger.Hash `json:"root"`      // RFC 6962 Merkle root over the entry hashes
	LastHash   ledger.Hash `json:"last_hash"` // hash of the last entry
	LedgerTime time.Time   `json:"ledger_time"`
	Index      uint64      `json:"index"`     // the applied Raft index the checkpoint was read at
	Body       string      `json:"body"`      // the checkpoint note text
	Note       string      `json:"note"`      // the signed note: Body, a blank line, one line per cosignature
	Cosigners  []string    `json:"cosigners"` // the members whose cosignatures Note carries (verify them; this list is a hint)
}

// InclusionProof proves that the journal entry at Index (its seq) is a
// leaf of the journal tree of Size leaves, whose root is Root: GET
// /v1/proofs/inclusion.
type InclusionProof struct {
	Index     uint64        `json:"index"`
	Size      uint64        `json:"size"`
	EntryHash ledger.Hash   `json:"entry_hash"`
	LeafHash  ledger.Hash   `json:"leaf_hash"` // RFC 6962 leaf hash of EntryHash
	Root      ledger.Hash   `json:"root"`
	Hashes    []ledger.Hash `json:"hashes"` // the audit path, leaf to root
}

// Verify checks the proof for the entry whose hash is entryHash against a
// root of a tree of size p.Size that the caller trusts, such as a
// cosigned checkpoint's; p's own EntryHash and Root are not trusted.
func (p *InclusionProof) Verify(entryHash, root ledger.Hash) error {
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, p.Index, p.Size, ledger.LeafHash(entryHash), hashes(p.Hashes), root[:]); err != nil {
		return fmt.Errorf("api: inclusion proof of entry %d in %d: %w", p.Index, p.Size, err)
	}
	return nil
}

// ConsistencyProof proves that the journal tree of size From is a prefix
// of the tree of size To: GET /v1/proofs/consistency.
type ConsistencyProof struct {
	From     uint64        `json:"from"`
	To       uint64        `json:"to"`
	FromRoot ledger.Hash   `json:"from_root"`
	ToRoot   ledger.Hash   `json:"to_root"`
	Hashes   []ledger.Hash `json:"hashes"`
}

// Verify checks the proof between roots of trees of sizes p.From and p.To
// that the caller trusts; p's own roots are not trusted.
func (p *ConsistencyProof) Verify(fromRoot, toRoot ledger.Hash) error {
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, p.From, p.To, hashes(p.Hashes), fromRoot[:], toRoot[:]); err != nil {
		return fmt.Errorf("api: consistency proof %d→%d: %w", p.From, p.To, err)
	}
	return nil
}

func hashes(hs []ledger.Hash) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out
}
