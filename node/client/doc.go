// Package client is the typed Go client of a Charta node's HTTP API (v1).
// The command line, the tests and the benchmarks use it.
//
// A Client talks to one node. Writes are signed proposals: Propose builds
// the payload (format version 1, the consortium ID, a client-chosen ID, the
// signer and issued_at from the client's clock), signs it with the keys
// given by WithKeyFile or WithSigner, and submits the DSSE envelope. Several
// members can sign one envelope, either together (ProposeMulti) or one after
// another offline (Sign, Cosign, Submit).
//
// What the package promises:
//
//   - A write whose outcome is unknown (503 with "resubmit", any 503 or 429,
//     a broken connection) is retried with the identical envelope, never a
//     re-signed one, so it takes effect at most once: the ledger treats the
//     same proposal as a duplicate and returns its original result.
//   - Every error answer becomes an *Error decoded from the problem+json
//     body, and errors.Is matches it against the sentinels (ErrNotFound,
//     ErrConflict, ...) or a *ledger.Error by code; errors.As recovers a
//     *ledger.ConflictError with the clashing record.
//   - LastIndex is the highest X-Charta-Index seen. Reads take ReadOptions:
//     Consistency, and MinIndex for reading your writes on any node.
//   - Lists return one page and the next cursor; the All... iterators follow
//     the cursors, and keep later pages at least as fresh as the first.
//   - Events resumes a broken event stream after the last delivered entry.
//
// Pools, pool usage, statements and infractions are returned as raw JSON
// until package ledger defines their types.
package client
