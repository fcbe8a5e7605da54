package seal

import (
	"errors"

	"github.com/charta/charta/ledger"
)

// Sentinel errors. Every error the package returns wraps one of them, so
// callers classify failures with errors.Is.
var (
	// ErrMalformed: a key, a binding, a sealed object or an opening does
	// not have the shape the format requires. Nothing was decrypted.
	ErrMalformed = errors.New("seal: malformed")
	// ErrNotRecipient: the sealed object holds no wrapped key for this
	// member and key.
	ErrNotRecipient = errors.New("seal: not a recipient")
	// ErrCorrupt: authenticated decryption failed. The wrapped key or the
	// ciphertext was altered, truncated or moved from another object, or
	// it was sealed under another binding or to another key with the same
	// fingerprint.
	ErrCorrupt = errors.New("seal: corrupt")
	// ErrCommitmentMismatch: the plaintext does not match the commitment.
	// Opening a well-formed object, this means its sealer committed to
	// one thing and encrypted another; checking a disclosure, that the
	// disclosure is not what was committed to.
	ErrCommitmentMismatch = errors.New("seal: commitment mismatch")
	// ErrInvalidContent: the plaintext opened and matches the commitment,
	// but it is not what an object of its kind holds (a grant's
	// confidential terms, a usage report's metrics). The sealer sealed
	// something else. The error never quotes the plaintext.
	ErrInvalidContent = errors.New("seal: invalid content")
)

// codeOf gives the ledger error code of each sentinel, which the one place
// that maps errors to HTTP problems will use.
func codeOf(kind error) ledger.Code {
	switch kind {
	case ErrNotRecipient:
		return ledger.CodeForbidden
	case ErrCommitmentMismatch, ErrInvalidContent:
		return ledger.CodeRejected
	}
	return ledger.CodeInvalid
}

// markedError is a *ledger.Error marked as one of the sentinels.
type markedError struct {
	kind error // one of the sentinels
	err  *ledger.Error
}

func (e *markedError) Error() string   { return e.kind.Error() + ": " + e.err.Message }
func (e *markedError) Unwrap() []error { return []error{e.kind, e.err} }

// fail returns an error of kind whose message is formatted from format and
// args.
func fail(kind error, format string, args ...any) error {
	return &markedError{kind: kind, err: ledger.Errorf(codeOf(kind), format, args...)}
}
