// Package consensus replicates the ledger with Raft (hashicorp/raft).
//
// A Node wires the pieces together:
//
//   - The FSM is a thin adapter over *ledger.Ledger. Raft hands it batches
//     of committed entries; all command entries of a batch go to the ledger
//     in one Apply call, which is one state-store transaction, and each
//     entry's response is its *ledger.Result. The ledger records its own
//     applied index in that transaction, so replay after a restart skips
//     what it already holds: no entry is applied twice, none is skipped.
//   - Raft's log and stable store is raft-boltdb at Dir/raft/raft.db behind
//     a cache of recent entries; snapshots are files in Dir/snapshots (two
//     kept); the ledger's state is Dir/state.db. Because that state is
//     durable, Raft does not restore a snapshot on start; New restores one
//     only if the ledger is behind it (a crash during an install).
//   - The transport is TCP with mutual TLS 1.3. Every certificate must be
//     issued by the consortium CA and names its node in a URI SAN
//     charta://node/<id>. A listener admits a peer only if its ID is a
//     member of the ledger that is not removed (an ID the local ledger
//     does not know yet is admitted only while this node has no leader,
//     or if it is the leader's, so that a lagging node can be brought up to
//     date by a leader admitted after its state). Every request on an
//     accepted connection must name that same ID in its Raft RPC header,
//     or the connection is closed, so a member cannot vote or lead in
//     another's name. A dialer also refuses a server whose ID is not the
//     one the Raft configuration has at that address.
//   - Raft's hclog output goes to the node's slog logger, keeping levels:
//     Warn and above, or everything from Debug when the logger enables it.
//   - Raft reports metrics through go-metrics' process-wide default
//     registry; when Config.Registerer is set, a sink installed once per
//     process is registered with it (nodes in one process share it). The
//     sink maps Raft's keys to snake_case counters, gauges and histograms
//     with peers as labels (metrics.go holds the table) and drops the rest.
//   - Node.ObserveApply sees each applied batch's results and duration,
//     for the API's metrics.
//
// Time enters the ledger only through the log: the leader stamps each
// record with its clock (Config.Clock) in Propose.
//
// On the leader, a reconciler makes the Raft configuration follow the
// ledger's membership, one change per wake-up (on applied batches, Raft
// observations and a periodic tick): servers of removed or suspended
// members leave; active members with a raft_addr join as non-voters, so
// that a node not running yet never counts towards the quorum, and are
// promoted once in contact while there are fewer than MaxVoters voters; a
// voter whose
// heartbeats have failed for longer than VoterDeadAfter is demoted when a
// healthy non-voter exists, and non-voters are promoted while voter seats
// are free. Health comes from Raft's heartbeat observations
// (FailedHeartbeatObservation / ResumedHeartbeatObservation) rather than
// raft-autopilot, which would add a dependency for the same heuristic. A
// new leader first waits on a barrier, so it never acts on stale
// membership.
package consensus
