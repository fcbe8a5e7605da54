package node

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/api"
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
			s.writeProblem(w, r, errorf(ledger.CodeInvalid, "cursor: %q is not a cursor this API returned", c))
			return
		}
	}
	var out api.List[*ledger.Entry]
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
		s.writeProblem(w, r, errorf(ledger.CodeInvalid, "seq: %q is not a journal position", raw))
		return
	}
	var e *ledger.Entry
	err = s.view(w, func(v *ledger.View) error {
		var ok bool
		if e, ok = v.Entry(seq); !ok {
			return errorf(ledger.CodeNotFound, "no journal entry %d (the journal has %d)", seq, v.Head().Size)
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
	var out api.Checkpoint
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

var hasher = rfc6962.DefaultHasher

// proofHashes fetches the stored hashes of a proof's nodes and folds the
// ephemeral node. Every node a proof for a tree of size ≤ the journal size
// names is a complete subtree, and the ledger stores every complete subtree.
func proofHashes(v *ledger.View, n proof.Nodes) ([]ledger.Hash, error) {
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
	out := make([]ledger.Hash, len(hs))
	for i, h := range hs {
		copy(out[i][:], h)
	}
	return out, nil
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

// handleProofInclusion proves entry `index` into the tree of `size`
// entries (default: the whole journal).
func (s *Server) handleProofInclusion(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("index") == "" {
		s.writeProblem(w, r, errorf(ledger.CodeInvalid, "index: required (the entry's journal position)"))
		return
	}
	index, err := uintParam(r, "index", 0)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	var out api.InclusionProof
	err = s.view(w, func(v *ledger.View) error {
		head := v.Head().Size
		size, err := uintParam(r, "size", head)
		if err != nil {
			return err
		}
		if size > head {
			return errorf(ledger.CodeInvalid, "size: %d is beyond the journal's %d entries", size, head)
		}
		if index >= size {
			return errorf(ledger.CodeInvalid, "index: %d is not below size %d", index, size)
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
		out = api.InclusionProof{Index: index, Size: size, EntryHash: e.Hash, Hashes: hs}
		copy(out.LeafHash[:], ledger.LeafHash(e.Hash))
		copy(out.Root[:], root)
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
		s.writeProblem(w, r, errorf(ledger.CodeInvalid, "from: required (the older tree size)"))
		return
	}
	from, err := uintParam(r, "from", 0)
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	var out api.ConsistencyProof
	err = s.view(w, func(v *ledger.View) error {
		head := v.Head().Size
		to, err := uintParam(r, "to", head)
		if err != nil {
			return err
		}
		if to > head {
			return errorf(ledger.CodeInvalid, "to: %d is beyond the journal's %d entries", to, head)
		}
		if from > to {
			return errorf(ledger.CodeInvalid, "from: %d is above to (%d)", from, to)
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
		out = api.ConsistencyProof{From: from, To: to, Hashes: hs}
		copy(out.FromRoot[:], fr)
		copy(out.ToRoot[:], tr)
		return nil
	})
	if err != nil {
		s.writeProblem(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, out)
}
