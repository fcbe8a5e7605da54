package node

import (
	"context"
	"errors"
	"io"

	"github.com/charta/charta/consensus"
	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/api"
)

// Consensus is what the API needs from the replication layer: the subset of
// consensus.Node that the handlers call. It uses node-local types so that
// the API can be built and tested without Raft; an adapter over
// consensus.Node translates its Status and Server types and wraps its errors
// with the sentinels below, so that handlers test them with errors.Is.
type Consensus interface {
	// ID returns this node's Raft server ID, which is its member ID.
	ID() string
	// Ledger returns the local replica of the ledger.
	Ledger() *ledger.Ledger
	// Propose appends a signed envelope to the log and returns the
	// ledger's result for it. It fails with ErrNotLeader on a follower and
	// with an error wrapping ErrAmbiguous when the entry may or may not
	// have been committed. decoded, if not nil, is the envelope as the
	// API's admission decoded it, which the leader's state machine uses
	// instead of decoding it again.
	Propose(ctx context.Context, envelope []byte, decoded *ledger.Decoded) (*ledger.Result, error)
	// IsLeader reports whether this node is the Raft leader.
	IsLeader() bool
	// Leader returns the leader's server ID and Raft address, or "" when
	// no leader is known.
	Leader() (id, raftAddr string)
	// ReadIndex returns an index that a linearizable read must wait for.
	// Leader only: ErrNotLeader elsewhere.
	ReadIndex(ctx context.Context) (uint64, error)
	// WaitApplied returns once the ledger has applied index, or with the
	// context's error.
	WaitApplied(ctx context.Context, index uint64) error
	// Status describes this node's view of the cluster.
	Status() consensus.Status
	// Servers lists the Raft configuration.
	Servers() ([]api.ClusterServer, error)
	// Join adds or updates server id at Raft address addr. Leader only
	// (ErrNotLeader elsewhere); ErrNotMember unless id is an active member.
	Join(ctx context.Context, id, addr string) error
	// TransferLeadership hands leadership to another voter, not one of
	// avoid.
	TransferLeadership(avoid ...string) error
	// ProposeTime appends a time record with the given body (see
	// ledger.EncodeTimeBody), with Propose's errors.
	ProposeTime(ctx context.Context, body []byte) (*ledger.Result, error)
	// Backup streams a consistent snapshot of the ledger to w.
	Backup(w io.Writer) (int64, error)
	// ObserveApply makes fn see every batch the ledger applies from now
	// on, for the node's metrics.
	ObserveApply(fn consensus.ApplyObserver)
}

// The errors a Consensus implementation wraps (with %w) so that the API can
// tell them apart. An adapter over consensus.Node maps consensus.ErrNotLeader,
// ErrAmbiguous and ErrNotMember onto them.
var (
	// ErrNotLeader means the call needs the leader and this node is not it.
	ErrNotLeader = errors.New("node: not leader")
	// ErrAmbiguous means a proposal may or may not have been committed;
	// resubmitting the same envelope is safe because proposals are
	// idempotent.
	ErrAmbiguous = errors.New("node: outcome unknown")
	// ErrNotMember means a server tried to join without being an active
	// member of the consortium.
	ErrNotMember = errors.New("node: not an active member")
	// ErrUnavailable means the replication layer cannot serve the call now
	// (shutting down, no quorum, timed out); the client may retry.
	ErrUnavailable = errors.New("node: unavailable")
)
