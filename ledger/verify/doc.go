// Package verify checks Charta's audit documents offline, with no node and
// no network: cosigned journal checkpoints (C2SP signed notes), receipts
// that prove a journal entry is included under a checkpoint, proof-carrying
// entitlement answers, licence certificates, and whole journal exports
// (AuditExport, which charta audit runs).
//
// Every document carries the consortium's genesis document. The verifier
// pins the consortium ID (the SHA-256 of the unsigned genesis), so the
// founders' keys, the charter and its voting threshold all follow from one
// 64-digit value the verifier already trusts. A checkpoint counts only when
// enough of those keys cosigned it; entries count only with an inclusion
// proof under that checkpoint; a decision or a grant counts only when
// replaying the proven entries into a fresh ledger gives the same result
// with the same ledger.Check code the nodes run.
//
// Replay is the one replay of a journal into a fresh ledger. Rebuild,
// AuditExport and every other check that replays a journal (the chaos
// suite's, a node's as_of_index answers) call it, and pass their own
// checks on each entry as hooks.
//
// A decision or a certificate about a confidential grant rests on terms
// sealed to the grant's parties. Without a key the package verifies the
// public part and says what is sealed (ErrSealed); with a party's
// encryption keys (Options.Key) it opens the terms and the sealed usage
// reports with ledger/seal, as the party's node does, and re-derives the
// decision from them.
//
// The package imports the ledger, ledger/seal, transparency-dev/merkle and
// the standard library only, so that an edge deployment can link it on
// its own.
package verify
