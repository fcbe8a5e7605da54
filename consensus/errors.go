package consensus

import "errors"

// The errors of package consensus. Callers check them with errors.Is; the
// returned errors wrap them with detail.
var (
	// ErrNotLeader is returned by leader-only operations on a node that is
	// not the leader. Nothing was appended: the caller may retry on the
	// leader (see Node.Leader).
	ErrNotLeader = errors.New("consensus: not leader")
	// ErrAmbiguous is returned when an entry was handed to Raft but its
	// outcome is unknown (leadership lost, timeout, shutdown): it may or
	// may not commit. A retry with the same signed proposal is safe,
	// because the ledger answers a resubmission with the original outcome.
	ErrAmbiguous = errors.New("consensus: outcome unknown, the entry may or may not commit")
	// ErrNotMember is returned when a node asks to join for an ID that is
	// not an active member of the ledger.
	ErrNotMember = errors.New("consensus: not an active member")
	// ErrShutdown is returned by operations on a node that has shut down.
	ErrShutdown = errors.New("consensus: node is shut down")
	// ErrTimeout is returned when an operation timed out before anything
	// was appended to the log.
	ErrTimeout = errors.New("consensus: timed out")
	// ErrNoTransferTarget is returned by TransferLeadership when no other
	// voter is in contact, or none took over: the leader stays.
	ErrNoTransferTarget = errors.New("consensus: no healthy voter took over leadership")
)
