// Package seal encrypts confidential deal terms to the members entitled to
// read them, and commits to them so that anyone can later check a
// disclosure against the ledger.
//
// A sealed object (Sealed) is a payload encrypted once under a fresh
// content key, that key wrapped for each recipient with HPKE (RFC 9180,
// base mode) using the X-Wing hybrid KEM (ML-KEM-768 + X25519), and a
// hiding commitment to the plaintext. Everything is bound to a Binding (the
// consortium, the kind and the ID of the object that carries it), so a
// sealed object cannot be moved to another grant or consortium.
// docs/confidentiality.md states the construction byte for byte.
//
// The package is public so that auditors and third-party tools can open
// sealed objects and verify disclosures offline, with no node. It is not
// part of the ledger's Apply path: Seal reads crypto/rand (content keys,
// salts, nonces and KEM encapsulations must be unpredictable), which Apply
// may never do. What a node may check without keys, the shape of a sealed
// object, is Sealed.Validate, which is deterministic.
//
// Every error about its input wraps one of ErrMalformed, ErrNotRecipient,
// ErrCorrupt, ErrCommitmentMismatch and ErrInvalidContent (for errors.Is)
// and a *ledger.Error (for ledger.CodeOf); only a failing random source
// gives another error. No input, however hostile, makes the package panic.
//
// What a party reads of a ledger (party.go) is opened here too, once, for
// both a party's node and an offline verifier holding a party's key:
// OpenGrant, OpenUsage, OpenSLA and AdmitUsage, and Party, which opens what a view
// holds for ledger.WithOpened.
package seal
