package api

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/verify"
)

// List is one page of a list: GET /v1/members, /v1/grants and the other
// collections. Next is the cursor of the following page, "" on the last.
type List[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next"`
}

// Status is a node's report on itself and the cluster: GET /v1/status.
type Status struct {
	ID           string      `json:"id"`               // the node's Raft server ID (its member ID)
	Role         string      `json:"role"`             // leader, follower, candidate or shutdown
	Leader       string      `json:"leader"`           // the leader's ID, if known
	Term         uint64      `json:"term"`             // current Raft term
	AppliedIndex uint64      `json:"applied_index"`    // last index applied to the ledger
	CommitIndex  uint64      `json:"commit_index"`     // last index known committed
	Consortium   string      `json:"consortium"`       // the consortium ID that proposals must carry
	JournalHead  ledger.Head `json:"journal_head"`     // journal size, last entry hash and Merkle root
	StateDigest  ledger.Hash `json:"state_digest"`     // digest of the whole state at AppliedIndex
	LedgerTime   time.Time   `json:"ledger_time"`      // ledger time of the last applied entry
	Voters       []string    `json:"voters"`           // IDs of the voting servers
	Nonvoters    []string    `json:"nonvoters"`        // IDs of the non-voting servers
	Version      string      `json:"version"`          // the node's software version
	Alarms       []string    `json:"alarms,omitempty"` // raised alarms: "nospace" while the node's disk is short of space, "clock" while its clock disagrees with the consortium's
	Time         Time        `json:"time"`             // the consortium's clock as this node sees it
	// SealAuditors are the auditors the charter names, to whom every
	// sealed part is also sealed (docs/confidentiality.md).
	SealAuditors []string `json:"seal_auditors,omitempty"`
}

// Time is a node's view of the consortium's clock: GET /v1/time, and the
// time member of GET /v1/status.
type Time struct {
	Member         string          `json:"member"`                // the node's member ID
	ConsortiumTime time.Time       `json:"consortium_time"`       // lower median of the member nodes' clock readings, never before ledger time; what checks without at are answered for
	Readings       int             `json:"readings"`              // clock readings the median is taken over, this node's included
	LedgerTime     time.Time       `json:"ledger_time"`           // ledger time at the applied index
	ClockOffsetMS  int64           `json:"clock_offset_ms"`       // this node's clock minus the consortium time, in milliseconds
	ClockSkewed    bool            `json:"clock_skewed"`          // the offset is over --max-clock-offset: the "clock" alarm
	Attestation    json.RawMessage `json:"attestation,omitempty"` // GET /v1/time: this node's newest signed clock reading, a DSSE envelope of type application/vnd.charta.time.v1+json
}

// ClusterServer is one server of the Raft configuration: the items of
// GET /v1/cluster.
type ClusterServer struct {
	ID       string `json:"id"`       // Raft server ID, equal to the member ID
	Address  string `json:"address"`  // Raft address
	Suffrage string `json:"suffrage"` // voter or nonvoter
	Leader   bool   `json:"leader"`   // whether it is the leader
}

// JoinRequest asks the cluster to add a member's node: POST
// /v1/cluster/join. The answer repeats it.
type JoinRequest struct {
	ID       string `json:"id"`        // the member ID, which is the Raft server ID
	RaftAddr string `json:"raft_addr"` // host:port peers dial
}

// Health is the answer to GET /healthz, which needs no token: the process
// serves, in this role, at this applied index. Alarms lists what the node
// raised ("nospace"), for operators and their monitoring. It is what
// `charta status --all` reads from the nodes it sends no token to.
type Health struct {
	Status       string   `json:"status"`
	Role         string   `json:"role,omitempty"`          // leader, follower or candidate
	AppliedIndex uint64   `json:"applied_index,omitempty"` // last index applied to the ledger
	Alarms       []string `json:"alarms,omitempty"`
}

// Whoami is who a bearer token authenticates as: GET /v1/whoami. A
// gateway in front of a member's resource asks it with its caller's token
// to learn which member is calling, and until when it may trust the answer.
type Whoami struct {
	// Member is the token's member; empty for the node's operator token.
	Member string `json:"member,omitempty"`
	// Role is the member's role (member or auditor); empty for the
	// operator.
	Role ledger.Role `json:"role,omitempty"`
	// Operator is true for the node's operator token.
	Operator bool `json:"operator,omitempty"`
	// Scopes are the token's scopes (read, write, admin); empty for the
	// operator, who may do everything.
	Scopes []string `json:"scopes"`
	// ExpiresAt is when the token expires by the consortium's time; nil
	// for the operator token, which does not expire.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// Transfer is the answer to POST /v1/cluster/transfer-leadership.
type Transfer struct {
	Previous string `json:"previous"` // the node that was leader
	Leader   string `json:"leader"`   // the leader it knows of now, if any
}

// ReadIndex is the answer to GET /v1/cluster/read-index: the commit index
// a linearizable read must wait for.
type ReadIndex struct {
	Index uint64 `json:"index"`
}

// ProposalResponse is the answer to an accepted proposal: POST
// /v1/proposals. A rejected one is a problem document instead.
type ProposalResponse struct {
	Index     uint64         `json:"index"`      // Raft log index of the entry
	Seq       uint64         `json:"seq"`        // journal position
	EntryHash ledger.Hash    `json:"entry_hash"` // hex
	Outcome   ledger.Outcome `json:"outcome"`
	Duplicate bool           `json:"duplicate"` // the same proposal was committed before; this is its original result
	// Receipt proves the entry's inclusion under a cosigned checkpoint;
	// sent with ?receipt=true.
	Receipt *verify.Receipt `json:"receipt,omitempty"`
}

// Lineage is an asset with everything it derives from and everything
// derived from it: GET /v1/assets/{id}/lineage.
type Lineage struct {
	Asset       *ledger.Asset   `json:"asset"`
	Ancestors   []*ledger.Asset `json:"ancestors"`   // parents first, then their parents, each once
	Descendants []*ledger.Asset `json:"descendants"` // children first, then theirs, each once
	Truncated   bool            `json:"truncated,omitempty"`
}

// CheckQuery is an entitlement question as the API takes it: the query
// parameters of GET /v1/check, or one element of a batch.
type CheckQuery struct {
	Member    string    `json:"member"`
	Asset     string    `json:"asset"`
	Action    string    `json:"action"`
	Territory string    `json:"territory,omitempty"`
	Purpose   string    `json:"purpose,omitempty"`
	Industry  string    `json:"industry,omitempty"`
	At        time.Time `json:"at,omitzero"` // ledger time when zero
	Quantity  uint64    `json:"quantity,omitempty"`
}

// CheckBatch is the body of POST /v1/check: several questions answered
// against one view of the state.
type CheckBatch struct {
	Requests []CheckQuery `json:"requests"`
}

// CheckBatchResponse is the answer to POST /v1/check: one decision per
// request, in their order.
type CheckBatchResponse struct {
	Decisions []ledger.Decision `json:"decisions"`
}

// PoolUsage is each member's use and remaining quota of a pool in one
// period: GET /v1/pools/{id}/usage.
type PoolUsage struct {
	Pool    string               `json:"pool"`
	Period  string               `json:"period,omitempty"`
	Members []ledger.MemberUsage `json:"members"`
}

// BaseURL turns a node's API address as the ledger or a flag records it
// (host:port, or a URL) into the base URL requests go to: https:// when
// the API is served over TLS, http:// otherwise, and no trailing slash.
func BaseURL(addr string, tls bool) string {
	if strings.Contains(addr, "://") {
		return strings.TrimSuffix(addr, "/")
	}
	if tls {
		return "https://" + addr
	}
	return "http://" + addr
}

// Member is a member as GET /v1/members and /v1/members/{id} show it: the
// ledger's record, every key it ever had with its validity, and the
// verifier keys of its node's checkpoint signatures.
type Member struct {
	ledger.Member
	Node       MemberNode  `json:"node"`        // where its node is reached, and its checkpoint verifier keys
	PublicKeys []MemberKey `json:"public_keys"` // every key the member ever had, oldest first
}

// MemberNode is where a member's node is reached and how to verify the
// signatures it makes on checkpoints. A node signs with its member's key;
// the verifier keys here are those of the member's newest currently valid
// key, and are empty when it has no Ed25519 part (an ML-DSA key: see
// PublicKeys for its post-quantum cosignatures).
type MemberNode struct {
	ledger.NodeInfo
	// NoteVKey verifies the node's plain Ed25519 checkpoint signature,
	// under the checkpoint's origin, in the golang.org/x/mod/sumdb/note
	// vkey format.
	NoteVKey string `json:"note_vkey,omitempty"`
	// CosignatureVKey verifies the node's C2SP tlog-cosignature
	// cosignature/v1 (signature type 0x04), under "<origin>/<member>".
	CosignatureVKey string `json:"cosignature_vkey,omitempty"`
}

// MemberKey is one of a member's signing keys.
type MemberKey struct {
	ID        string        `json:"id"`         // "<member>/<fingerprint>"
	Scheme    ledger.Scheme `json:"scheme"`     // ed25519, ml-dsa-44, ml-dsa-65 or ml-dsa-65+ed25519
	PublicKey []byte        `json:"public_key"` // the raw public key of the scheme, standard base64
	ValidFrom uint64        `json:"valid_from"` // the first log index at which it may sign
	// ValidUntil is the first log index at which it may no longer sign,
	// once it was rotated or revoked; 0 while it is valid.
	ValidUntil uint64 `json:"valid_until,omitempty"`
	EndedBy    string `json:"ended_by,omitempty"` // "rotated" or "revoked"
	// Scope bounds a delegated key (key.delegate): the proposal types,
	// grants, pools and assets it may sign for, and until when. Absent
	// for an ordinary key.
	Scope *ledger.KeyScope `json:"scope,omitempty"`
	// NoteVKey and CosignatureVKey are as in MemberNode, for this key;
	// empty for a key with no Ed25519 part.
	NoteVKey        string `json:"note_vkey,omitempty"`
	CosignatureVKey string `json:"cosignature_vkey,omitempty"`
}

// NewMember returns the API form of m; keys holds its key records, in
// m.Keys order, and valid reports which may sign the next entry.
func NewMember(origin string, m *ledger.Member, keys []*ledger.KeyRecord, valid func(*ledger.KeyRecord) bool) Member {
	out := Member{Member: *m, Node: MemberNode{NodeInfo: m.Node}, PublicKeys: make([]MemberKey, 0, len(keys))}
	for _, k := range keys {
		mk := MemberKey{ID: k.ID, Scheme: k.Public.Scheme, PublicKey: k.Public.Key, ValidFrom: k.ValidFrom, ValidUntil: k.ValidUntil, EndedBy: k.EndedBy, Scope: k.Scope}
		mk.NoteVKey, _ = verify.NoteVKey(origin, k.Public)
		mk.CosignatureVKey, _ = verify.CosignatureVKey(origin, m.ID, k.Public)
		if valid(k) && !k.Delegated() && mk.NoteVKey != "" {
			out.Node.NoteVKey, out.Node.CosignatureVKey = mk.NoteVKey, mk.CosignatureVKey
		}
		out.PublicKeys = append(out.PublicKeys, mk)
	}
	return out
}
