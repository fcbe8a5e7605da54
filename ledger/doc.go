// Package ledger is Charta's deterministic domain: signed proposals, the
// member and key table, governance, assets, grants, bundles, pools, usage
// terms and statements, entitlement checks, and the journal that records
// every committed proposal with its outcome.
//
// Every node applies the same committed entries to its own Ledger and must
// reach the same state, byte for byte. So Apply promises, and the code
// keeps to, these rules:
//
//   - No wall clock. Ledger time is the leader's stamp in each log record,
//     made monotonic: max(previous ledger time, stamp).
//   - No map iteration order reaches an output, a hash, a list or an error
//     message. State lives in bbolt, which keeps keys sorted.
//   - No randomness and no generated IDs: IDs are chosen by clients and
//     signed, or derived from the log index.
//   - Integers for money, quotas and shares (micro-units, basis points).
//   - No I/O but the state store; no goroutines that decide outcomes; no
//     environment or configuration read while applying.
//   - Signatures are verified in Apply, whatever the API checked before.
//   - A domain rejection is an ordinary outcome, journaled like an
//     acceptance. Only a record whose framing cannot be decoded, or a broken
//     invariant of the store, panics: a node that cannot apply what its
//     peers applied must stop rather than diverge.
//
// The package imports the standard library, circl, bbolt and
// transparency-dev/merkle, and nothing that talks to a network or to Raft;
// scripts/check-deps.sh enforces it.
package ledger
