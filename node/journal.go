package node

import (
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/gorilla/mux"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// The journal is the consortium's audit log: every member may read every
// entry, envelope included. What a proposal says is visible to all members
// through the journal even when the grant it creates is visible only to its
// parties; members who need confidentiality keep the details off-ledger
// (the grant records the hash of the prose contract).
func (s *Server) registerJournalRoutes(r *mux.Router) {
	s.handle(r, http.MethodGet, "/v1/journal", "handleJournalList", read, s.handleJournalList)
	s.handle(r, http.MethodGet, "/v1/journal/{seq}", "handleJournalGet", read, s.handleJournalGet)
	s.handle(r, http.MethodGet, "/v1/checkpoint", "handleCheckpoint", read, s.handleCheckpoint)
	s.handle(r, http.MethodPost, "/v1/checkpoint/cosign", "handleCheckpointCosign", routeOpts{access: accessSigned}, s.handleCheckpointCosign)
	s.handle(r, http.MethodGet, "/v1/proofs/inclusion", "handleProofInclusion", read, s.handleProofInclusion)
	s.handle(r, http.MethodGet, "/v1/proofs/consistency", "handleProofConsistency", read, s.handleProofConsistency)
}

// handleJournalList returns entries from seq `from` (or the cursor of a
// previous page) on, oldest first.
func (s *Server) handleJournalList(w http.ResponseWriter, r *http.Request) {
	_, limit, err := page(r)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	from, err := uintParam(r, "from", 0)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	if c := r.URL.Query().Get("cursor"); c != "" {
		if from, err = strconv.ParseUint(c, 10, 64); err != nil {
			s.writeProblem(w, r, errorf(codeInvalid, "cursor: %q is not a cursor this API returned", c))
			return
		}
	}
	var out listResponse[*ledger.Entry]
	p := principalOf(r.Context())
	s.view(w, func(v *ledger.View) error {
		es := v.Entries(from, limit)
		for i, e := range es {
			es[i] = entryFor(v, p, e)
		}
		next := ""
		if len(es) == limit {
			if last := es[len(es)-1].Seq; last+1 < v.Head().Size {
				next = strconv.FormatUint(last+1, 10)
			}
		}
		out = newList(es, next)
		return nil
	})
	s.writeJSON(w, r, http.StatusOK, out)
}

// handleJournalGet returns the entry at a journal position (seq, the
// Merkle leaf index; not the Raft index).
func (s *Server) handleJournalGet(w http.ResponseWriter, r *http.Request) {
	raw := mux.Vars(r)["seq"]
	seq, err := strconv.ParseUint(raw, 10, 64)
	if err != nil {
		s.writeProblem(w, r, errorf(codeInvalid, "seq: %q is not a journal position", raw))
		return
	}
	var e *ledger.Entry
	err = s.view(w, func(v *ledger.View) error {
		var ok bool
		if e, ok = v.Entry(seq); !ok {
			return errorf(codeNotFound, "no journal entry %d (the journal has %d)", seq, v.Head().Size)
		}
		e = entryFor(v, principalOf(r.Context()), e)
		return nil
	})
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, e)
}

// Checkpoint is the journal's checkpoint: a C2SP tlog-checkpoint note
// (origin "charta/<consortium>", tree size, base64 root hash and a
// "ledger-time" extension line) with the cosignatures of the member nodes
// that checked it against their own journals.
type Checkpoint struct {
	Origin     string    `json:"origin"`
	Size       uint64    `json:"size"`
	Root       string    `json:"root"` // hex
	LastHash   string    `json:"last_hash"`
	LedgerTime time.Time `json:"ledger_time"`
	Index      uint64    `json:"index"`     // the applied Raft index the checkpoint was read at
	Body       string    `json:"body"`      // the checkpoint note text
	Note       string    `json:"note"`      // the signed note: Body, a blank line, one line per cosignature
	Cosigners  []string  `json:"cosigners"` // the members whose cosignatures Note carries (verify them; this list is a hint)
}

// handleCheckpoint returns the newest checkpoint with this node's
// cosignature and every peer cosignature gathered (?gather=false: this
// node's only), as JSON, or as the signed note when the client accepts
// text/plain only.
func (s *Server) handleCheckpoint(w http.ResponseWriter, r *http.Request) {
	note, cp, err := s.signedCheckpoint(r.Context(), 0, r.URL.Query().Get("gather") != "false")
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	var out Checkpoint
	s.view(w, func(v *ledger.View) error { out = checkpointJSON(v, cp, note); return nil })
	if accept := r.Header.Get("Accept"); strings.Contains(accept, "text/plain") && !strings.Contains(accept, "json") {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if len(note.Sigs) == 0 {
			w.Write([]byte(out.Body)) // no signatures: the bare checkpoint, not a note
			return
		}
		w.Write([]byte(out.Note))
		return
	}
	s.writeJSON(w, r, http.StatusOK, out)
}

// InclusionProof proves that the entry at Index is a leaf of the journal
// tree of Size leaves, whose root is Root. Hashes are hex.
type InclusionProof struct {
	Index     uint64   `json:"index"`
	Size      uint64   `json:"size"`
	EntryHash string   `json:"entry_hash"`
	LeafHash  string   `json:"leaf_hash"`
	Root      string   `json:"root"`
	Hashes    []string `json:"hashes"`
}

// ConsistencyProof proves that the tree of size From is a prefix of the
// tree of size To. Hashes are hex.
type ConsistencyProof struct {
	From     uint64   `json:"from"`
	To       uint64   `json:"to"`
	FromRoot string   `json:"from_root"`
	ToRoot   string   `json:"to_root"`
	Hashes   []string `json:"hashes"`
}

var hasher = rfc6962.DefaultHasher

// proofHashes fetches the stored hashes of a proof's nodes and folds the
// ephemeral node. Every node a proof for a tree of size ≤ the journal size
// names is a complete subtree, and the ledger stores every complete subtree.
func proofHashes(v *ledger.View, n proof.Nodes) ([]string, error) {
	hs := make([][]byte, len(n.IDs))
	for i, id := range n.IDs {
		h, ok := v.TreeNode(id)
		if !ok {
			return nil, fmt.Errorf("node: journal tree node (%d, %d) is missing", id.Level, id.Index)
		}
		hs[i] = h
	}
	hs, err := n.Rehash(hs, hasher.HashChildren)
	if err != nil {
		return nil, err
	}
	return hexAll(hs), nil
}

// rootAt computes the root of the tree of the first size leaves from the
// stored subtree hashes that cover it.
func rootAt(v *ledger.View, size uint64) ([]byte, error) {
	if size == 0 {
		return hasher.EmptyRoot(), nil
	}
	ids := compact.RangeNodes(0, size, nil)
	hs := make([][]byte, len(ids))
	for i, id := range ids {
		h, ok := v.TreeNode(id)
		if !ok {
			return nil, fmt.Errorf("node: journal tree node (%d, %d) is missing", id.Level, id.Index)
		}
		hs[i] = h
	}
	rf := compact.RangeFactory{Hash: hasher.HashChildren}
	rng, err := rf.NewRange(0, size, hs)
	if err != nil {
		return nil, err
	}
	return rng.GetRootHash(nil)
}

func hexAll(hs [][]byte) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = hex.EncodeToString(h)
	}
	return out
}

// handleProofInclusion proves entry `index` into the tree of `size`
// entries (default: the whole journal).
func (s *Server) handleProofInclusion(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("index") == "" {
		s.writeProblem(w, r, errorf(codeInvalid, "index: required (the entry's journal position)"))
		return
	}
	index, err := uintParam(r, "index", 0)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	var out InclusionProof
	err = s.view(w, func(v *ledger.View) error {
		head := v.Head().Size
		size, err := uintParam(r, "size", head)
		if err != nil {
			return err
		}
		if size > head {
			return errorf(codeInvalid, "size: %d is beyond the journal's %d entries", size, head)
		}
		if index >= size {
			return errorf(codeInvalid, "index: %d is not below size %d", index, size)
		}
		e, ok := v.Entry(index)
		if !ok {
			return fmt.Errorf("node: journal entry %d missing below size %d", index, size)
		}
		n, err := proof.Inclusion(index, size)
		if err != nil {
			return err
		}
		hs, err := proofHashes(v, n)
		if err != nil {
			return err
		}
		root, err := rootAt(v, size)
		if err != nil {
			return err
		}
		out = InclusionProof{Index: index, Size: size, EntryHash: e.Hash.String(),
			LeafHash: hex.EncodeToString(ledger.LeafHash(e.Hash)), Root: hex.EncodeToString(root), Hashes: hs}
		return nil
	})
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, out)
}

// handleProofConsistency proves that the journal of `from` entries is a
// prefix of the journal of `to` entries (default: the whole journal).
func (s *Server) handleProofConsistency(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("from") == "" {
		s.writeProblem(w, r, errorf(codeInvalid, "from: required (the older tree size)"))
		return
	}
	from, err := uintParam(r, "from", 0)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	var out ConsistencyProof
	err = s.view(w, func(v *ledger.View) error {
		head := v.Head().Size
		to, err := uintParam(r, "to", head)
		if err != nil {
			return err
		}
		if to > head {
			return errorf(codeInvalid, "to: %d is beyond the journal's %d entries", to, head)
		}
		if from > to {
			return errorf(codeInvalid, "from: %d is above to (%d)", from, to)
		}
		n, err := proof.Consistency(from, to)
		if err != nil {
			return err
		}
		hs, err := proofHashes(v, n)
		if err != nil {
			return err
		}
		fr, err := rootAt(v, from)
		if err != nil {
			return err
		}
		tr, err := rootAt(v, to)
		if err != nil {
			return err
		}
		out = ConsistencyProof{From: from, To: to, FromRoot: hex.EncodeToString(fr), ToRoot: hex.EncodeToString(tr), Hashes: hs}
		return nil
	})
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, out)
}
