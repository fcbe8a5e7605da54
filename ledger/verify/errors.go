package verify

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error the package returns wraps one of them, so
// callers classify failures with errors.Is.
var (
	// ErrMalformed: the document does not parse.
	ErrMalformed = errors.New("verify: malformed document")
	// ErrConsortium: the document is for another consortium than the one
	// pinned.
	ErrConsortium = errors.New("verify: wrong consortium")
	// ErrSignature: a signature by a known key does not verify.
	ErrSignature = errors.New("verify: bad signature")
	// ErrThreshold: the checkpoint has fewer valid cosignatures than the
	// threshold demands.
	ErrThreshold = errors.New("verify: too few cosignatures")
	// ErrEntry: an entry's hash does not match its content.
	ErrEntry = errors.New("verify: entry does not match its hash")
	// ErrInclusion: an inclusion proof does not lead to the checkpoint's
	// root.
	ErrInclusion = errors.New("verify: inclusion proof fails")
	// ErrConsistency: a consistency proof fails between two checkpoints.
	ErrConsistency = errors.New("verify: consistency proof fails")
	// ErrReplay: the proven entries do not rebuild to the state or the
	// decision the document claims.
	ErrReplay = errors.New("verify: replay disagrees")
	// ErrExpired: a certificate is outside its validity window.
	ErrExpired = errors.New("verify: certificate expired")
	// ErrSealed: the document rests on confidential terms that the
	// verifier cannot open: it has no key (Options.Key), or not one they
	// are sealed to. Nothing says the document was tampered with; a
	// party's key can verify it.
	ErrSealed = errors.New("verify: sealed terms")
)

// markedError is an error marked as one of the sentinels, for errors.Is,
// without the sentinel's text: the audit's messages are charta audit's
// output, worded as they were before the audit moved into this package.
type markedError struct {
	kind error // one of the sentinels
	err  error
}

func (e *markedError) Error() string   { return e.err.Error() }
func (e *markedError) Unwrap() []error { return []error{e.kind, e.err} }

// markf is fmt.Errorf(format, a...) marked as kind.
func markf(kind error, format string, a ...any) error {
	return &markedError{kind: kind, err: fmt.Errorf(format, a...)}
}
