// Package chaos is Charta's fault-injection harness. It starts a consortium
// of real `charta node` processes on loopback with mutual TLS, puts a
// faultproxy.Proxy in front of every node's Raft listener (each node
// advertises its proxy's address in the genesis, so every peer dials
// through it), and injects faults: kill -9 and restart, SIGSTOP and
// SIGCONT, partitions (both ways or one way), delay and loss per directed
// link, leadership-transfer storms, and per-node clock offsets (the
// hidden `charta node --clock-offset` flag, with TransferRound handing
// leadership to every node in turn).
//
// Workloads run from concurrent clients through node/client and record a
// History: every operation with its invocation and return times and its
// outcome, ambiguous outcomes (a timeout, a cut connection) marked as such.
//
//   - W1 (grants): per grant, accept, suspend and resume proposals and
//     entitlement checks at consistency=linearizable.
//   - W2 (pools): per member of a pool, consume proposals that must fail
//     exactly when the quota would be exceeded, and usage reads at
//     consistency=linearizable.
//   - W3 (governance, WorkloadConfig.Ballots and Rotators): per ballot,
//     opens, votes and reads of charter-amendment ballots, some left to
//     expire; per rotating auditor, key rotations, writes signed with some
//     key generation, and reads of the member's keys.
//   - W4 (adversary, WorkloadConfig.Adversaries): forged signatures,
//     replays, same-ID conflicts, stale issued_at, oversized envelopes,
//     other consortiums and malformed JSON, each with the code its refusal
//     must carry (CheckAdversary).
//   - W5 (confidential grants, WorkloadConfig.Confidential, in every
//     scenario): grants between alpha and the licensee whose usage terms
//     and clauses are sealed to the two parties (ledger/seal), offered and
//     accepted with their commitment, one at setup and the others during
//     the run, and usage reports of them with the quantities sealed.
//
// After each scenario the checkers assert the invariants of
// docs/TESTING.md: the history is linearizable (porcupine, partitioned by
// grant and by pool member, ambiguous writes with an unbounded return
// time; W3 also by ballot and by member key); every acknowledged proposal appears exactly once in every node's
// journal and no ambiguous one twice; no pool is overdrawn; every node
// reaches the same applied index, journal head and state digest; each
// node's journal replays from genesis to its hash chain, Merkle root and
// state digest; ledger time never moves backwards in any journal; a
// write succeeds soon after the last fault heals; and, for each
// confidential grant, both parties' nodes serve the private digest of the
// terms sealed and the same usage digest, and account for every sealed
// report the journal accepted, while every other node shows it sealed
// (CheckConfidential).
//
// On failure the scenario's directory is kept and its path logged: it holds
// the history (history.json and porcupine's HTML visualisation), the node
// logs and the data directories.
package chaos
