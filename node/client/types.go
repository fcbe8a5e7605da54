package client

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// Status is a node's view of itself and the cluster: GET /v1/status.
type Status struct {
	ID           string      `json:"id"`            // the node's Raft server ID (its member ID)
	Role         string      `json:"role"`          // leader, follower or candidate
	Leader       string      `json:"leader"`        // the leader's ID, if known
	Term         uint64      `json:"term"`          // current Raft term
	AppliedIndex uint64      `json:"applied_index"` // last index applied to the ledger
	CommitIndex  uint64      `json:"commit_index"`  // last index known committed
	JournalHead  ledger.Head `json:"journal_head"`  // journal size, last entry hash and Merkle root
	StateDigest  ledger.Hash `json:"state_digest"`  // digest of the whole state at AppliedIndex
	LedgerTime   time.Time   `json:"ledger_time"`   // ledger time of the last applied entry
	Voters       []string    `json:"voters"`        // IDs of the voting servers
	Nonvoters    []string    `json:"nonvoters"`     // IDs of the non-voting servers
	Version      string      `json:"version"`       // the node's software version
	Consortium   string      `json:"consortium"`    // the consortium ID that proposals must carry
}

// UnmarshalJSON decodes a status leniently where the contract leaves the
// shape open: the leader and the servers may be IDs or objects with an
// "id", and the journal head an object or just the last entry's hash.
func (s *Status) UnmarshalJSON(b []byte) error {
	var w struct {
		ID           string          `json:"id"`
		Role         string          `json:"role"`
		Leader       json.RawMessage `json:"leader"`
		Term         uint64          `json:"term"`
		AppliedIndex uint64          `json:"applied_index"`
		CommitIndex  uint64          `json:"commit_index"`
		JournalHead  json.RawMessage `json:"journal_head"`
		StateDigest  string          `json:"state_digest"`
		LedgerTime   time.Time       `json:"ledger_time"`
		Voters       json.RawMessage `json:"voters"`
		Nonvoters    json.RawMessage `json:"nonvoters"`
		Version      string          `json:"version"`
		Consortium   string          `json:"consortium"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*s = Status{
		ID: w.ID, Role: w.Role, Leader: lenientID(w.Leader), Term: w.Term,
		AppliedIndex: w.AppliedIndex, CommitIndex: w.CommitIndex, LedgerTime: w.LedgerTime,
		Voters: lenientIDs(w.Voters), Nonvoters: lenientIDs(w.Nonvoters),
		Version: w.Version, Consortium: w.Consortium,
	}
	if w.StateDigest != "" {
		if err := s.StateDigest.UnmarshalText([]byte(w.StateDigest)); err != nil {
			return fmt.Errorf("state_digest: %w", err)
		}
	}
	if len(w.JournalHead) > 0 && string(w.JournalHead) != "null" {
		if err := json.Unmarshal(w.JournalHead, &s.JournalHead); err != nil {
			var h ledger.Hash
			if json.Unmarshal(w.JournalHead, &h) != nil {
				return fmt.Errorf("journal_head: %w", err)
			}
			s.JournalHead = ledger.Head{LastHash: h}
		}
	}
	return nil
}

// lenientID decodes "id" or {"id":"id",...}.
func lenientID(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var o struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(raw, &o)
	return o.ID
}

// lenientIDs decodes ["a","b"] or [{"id":"a"},...]; anything else is nil.
func lenientIDs(raw json.RawMessage) []string {
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return nil
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		if id := lenientID(it); id != "" {
			out = append(out, id)
		}
	}
	return out
}

// Cluster is the Raft configuration as a node sees it: GET /v1/cluster.
type Cluster struct {
	Leader  string          `json:"leader,omitempty"` // the leader's ID, if known
	Servers []ClusterServer `json:"servers"`
}

// UnmarshalJSON accepts {"servers":[...]} or a bare array of servers.
func (c *Cluster) UnmarshalJSON(b []byte) error {
	var servers []ClusterServer
	if err := json.Unmarshal(b, &servers); err == nil {
		*c = Cluster{Servers: servers}
	} else {
		var w struct {
			Leader  json.RawMessage `json:"leader"`
			Servers []ClusterServer `json:"servers"`
		}
		if err := json.Unmarshal(b, &w); err != nil {
			return err
		}
		*c = Cluster{Leader: lenientID(w.Leader), Servers: w.Servers}
	}
	if c.Leader == "" {
		for _, s := range c.Servers {
			if s.Leader {
				c.Leader = s.ID
			}
		}
	}
	return nil
}

// ClusterServer is one server of the Raft configuration.
type ClusterServer struct {
	ID       string `json:"id"`       // Raft server ID, equal to the member ID
	Address  string `json:"address"`  // Raft address
	Suffrage string `json:"suffrage"` // voter or nonvoter
	Leader   bool   `json:"leader"`   // whether it is the leader
}

// UnmarshalJSON accepts the Raft address as "address" or "raft_addr", and
// the suffrage as a string or as a boolean "voter".
func (s *ClusterServer) UnmarshalJSON(b []byte) error {
	var w struct {
		ID       string `json:"id"`
		Address  string `json:"address"`
		RaftAddr string `json:"raft_addr"`
		Suffrage string `json:"suffrage"`
		Voter    *bool  `json:"voter"`
		Leader   bool   `json:"leader"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*s = ClusterServer{ID: w.ID, Address: w.Address, Suffrage: strings.ToLower(w.Suffrage), Leader: w.Leader}
	if s.Address == "" {
		s.Address = w.RaftAddr
	}
	if s.Suffrage == "" && w.Voter != nil {
		s.Suffrage = "nonvoter"
		if *w.Voter {
			s.Suffrage = "voter"
		}
	}
	return nil
}

// Checkpoint is a summary of the journal at one size: GET /v1/checkpoint.
// The server may answer JSON, or the C2SP tlog-checkpoint note itself (text:
// origin, size, base64 root hash, then signatures); either decodes into
// Checkpoint, and Note keeps the note text when there is one.
type Checkpoint struct {
	Origin     string      `json:"origin,omitempty"`     // the log's name, the note's first line
	Size       uint64      `json:"size"`                 // number of journal entries
	Root       ledger.Hash `json:"root"`                 // RFC 6962 Merkle root over the entry hashes
	LastHash   ledger.Hash `json:"last_hash,omitzero"`   // hash of the last entry, if sent
	LedgerTime time.Time   `json:"ledger_time,omitzero"` // ledger time of the last entry, if sent
	Note       string      `json:"note,omitempty"`       // the signed note, if sent
}

// parseNote parses a C2SP tlog-checkpoint note: origin, decimal size and
// base64 root hash on the first three lines.
func parseNote(text string) (*Checkpoint, error) {
	lines := strings.Split(text, "\n")
	if len(lines) < 3 {
		return nil, fmt.Errorf("client: checkpoint note: want at least 3 lines, got %d", len(lines))
	}
	cp := &Checkpoint{Origin: lines[0], Note: text}
	if _, err := fmt.Sscan(lines[1], &cp.Size); err != nil {
		return nil, fmt.Errorf("client: checkpoint note: size %q: %w", lines[1], err)
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != len(cp.Root) {
		return nil, fmt.Errorf("client: checkpoint note: root %q is not a base64 SHA-256 hash", lines[2])
	}
	copy(cp.Root[:], root)
	return cp, nil
}

// ProofHashes is the list of hashes of a Merkle proof. It decodes from an
// array of hex or standard base64 strings.
type ProofHashes [][]byte

// UnmarshalJSON decodes hex (64 digits) or base64 strings.
func (p *ProofHashes) UnmarshalJSON(b []byte) error {
	var ss []string
	if err := json.Unmarshal(b, &ss); err != nil {
		return err
	}
	out := make([][]byte, len(ss))
	for i, s := range ss {
		h, err := decodeHash(s)
		if err != nil {
			return fmt.Errorf("hashes[%d]: %w", i, err)
		}
		out[i] = h
	}
	*p = out
	return nil
}

// MarshalJSON encodes the hashes as hex strings.
func (p ProofHashes) MarshalJSON() ([]byte, error) {
	ss := make([]string, len(p))
	for i, h := range p {
		ss[i] = hex.EncodeToString(h)
	}
	return json.Marshal(ss)
}

// decodeHash decodes a 32-byte hash written in hex or base64.
func decodeHash(s string) ([]byte, error) {
	if len(s) == 64 {
		if h, err := hex.DecodeString(s); err == nil {
			return h, nil
		}
	}
	h, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(h) != 32 {
		return nil, fmt.Errorf("%q is not a SHA-256 hash in hex or base64", s)
	}
	return h, nil
}

// InclusionProof proves that the journal entry at Index is in the journal
// tree of Size entries: GET /v1/proofs/inclusion.
type InclusionProof struct {
	Index  uint64      `json:"index"`  // the entry's seq, its leaf index
	Size   uint64      `json:"size"`   // the tree size the proof is for
	Hashes ProofHashes `json:"hashes"` // the audit path, leaf to root
}

// UnmarshalJSON accepts the path as "hashes" or "proof".
func (p *InclusionProof) UnmarshalJSON(b []byte) error {
	var w struct {
		Index  uint64      `json:"index"`
		Size   uint64      `json:"size"`
		Hashes ProofHashes `json:"hashes"`
		Proof  ProofHashes `json:"proof"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*p = InclusionProof{Index: w.Index, Size: w.Size, Hashes: w.Hashes}
	if p.Hashes == nil {
		p.Hashes = w.Proof
	}
	return nil
}

// Verify checks the proof for the entry whose hash is entryHash against the
// root of a checkpoint of size p.Size.
func (p *InclusionProof) Verify(entryHash, root ledger.Hash) error {
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, p.Index, p.Size, ledger.LeafHash(entryHash), p.Hashes, root[:]); err != nil {
		return fmt.Errorf("client: inclusion proof of entry %d in %d: %w", p.Index, p.Size, err)
	}
	return nil
}

// ConsistencyProof proves that the journal tree of size From is a prefix of
// the tree of size To: GET /v1/proofs/consistency.
type ConsistencyProof struct {
	From   uint64      `json:"from"`   // the smaller tree size
	To     uint64      `json:"to"`     // the larger tree size
	Hashes ProofHashes `json:"hashes"` // the proof
}

// UnmarshalJSON accepts the sizes as from/to or size1/size2 and the proof
// as "hashes" or "proof".
func (p *ConsistencyProof) UnmarshalJSON(b []byte) error {
	var w struct {
		From   uint64      `json:"from"`
		To     uint64      `json:"to"`
		Size1  uint64      `json:"size1"`
		Size2  uint64      `json:"size2"`
		Hashes ProofHashes `json:"hashes"`
		Proof  ProofHashes `json:"proof"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*p = ConsistencyProof{From: max(w.From, w.Size1), To: max(w.To, w.Size2), Hashes: w.Hashes}
	if p.Hashes == nil {
		p.Hashes = w.Proof
	}
	return nil
}

// Verify checks the proof between the roots of checkpoints of sizes p.From
// and p.To.
func (p *ConsistencyProof) Verify(fromRoot, toRoot ledger.Hash) error {
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, p.From, p.To, p.Hashes, fromRoot[:], toRoot[:]); err != nil {
		return fmt.Errorf("client: consistency proof %d→%d: %w", p.From, p.To, err)
	}
	return nil
}

// Lineage is an asset's place in the derivation graph: GET
// /v1/assets/{id}/lineage. Servers may list related assets in full or by
// ID; by ID, only the ID of each ledger.Asset is set.
type Lineage struct {
	Asset       string         `json:"asset,omitempty"` // the asset asked about
	Ancestors   []ledger.Asset `json:"ancestors"`       // the assets it derives from, transitively
	Descendants []ledger.Asset `json:"descendants"`     // the assets derived from it, transitively
}

// UnmarshalJSON accepts assets as objects or as IDs.
func (l *Lineage) UnmarshalJSON(b []byte) error {
	var w struct {
		Asset       json.RawMessage   `json:"asset"`
		ID          string            `json:"id"`
		Ancestors   []json.RawMessage `json:"ancestors"`
		Descendants []json.RawMessage `json:"descendants"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	l.Asset = lenientID(w.Asset)
	if l.Asset == "" {
		l.Asset = w.ID
	}
	var err error
	if l.Ancestors, err = assetsOrIDs(w.Ancestors); err != nil {
		return fmt.Errorf("ancestors: %w", err)
	}
	if l.Descendants, err = assetsOrIDs(w.Descendants); err != nil {
		return fmt.Errorf("descendants: %w", err)
	}
	return nil
}

func assetsOrIDs(items []json.RawMessage) ([]ledger.Asset, error) {
	out := make([]ledger.Asset, 0, len(items))
	for _, it := range items {
		var id string
		if json.Unmarshal(it, &id) == nil {
			out = append(out, ledger.Asset{ID: id})
			continue
		}
		var a ledger.Asset
		if err := json.Unmarshal(it, &a); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// GrantFilter narrows GET /v1/grants; empty fields do not filter.
type GrantFilter struct {
	Licensee string        // grants with this licensee
	Licensor string        // grants with this licensor
	Asset    string        // grants over this asset
	Status   ledger.Status // grants in this status
}

// Event is one server-sent event of GET /v1/events: a committed journal
// entry.
type Event struct {
	ID    string        // the SSE id: the entry's seq
	Seq   uint64        // the seq parsed from ID
	Type  string        // the SSE event name; empty for the default
	Data  []byte        // the event's data
	Entry *ledger.Entry // Data decoded as a journal entry, or nil if it is not one
}
