package ledger

import (
	"bytes"
	"crypto/sha256"
	"maps"
	"slices"
	"time"
)

// Admission is what the ledger's admission learned of an envelope: every
// check that does not depend on the proposal's type. Apply admits each
// committed entry, and the API admits an envelope against its current
// view before it proposes it (View.Admit), through the same code, so the
// two cannot disagree about what is admissible.
type Admission struct {
	Envelope    *Envelope // the decoded envelope; read-only (Decoded holds it too)
	Proposal    *Proposal // its decoded payload; nil if the envelope did not decode
	PayloadHash Hash      // SHA-256 of the payload: what replay protection compares
	// EnvelopeHash is the SHA-256 of the envelope's bytes, computed once:
	// the signature cache's key and the journal entry's envelope_hash.
	EnvelopeHash Hash
	// Decoded is the envelope with the bytes it was decoded from, for a
	// leader to hand to Apply with the entry (LogEntry.Decoded); nil if
	// the envelope did not decode.
	Decoded *Decoded
	// Earlier is the recorded result of an exact resubmission of a
	// proposal already journaled, marked Duplicate. When it is set the
	// signatures were not checked again: the keys that signed the original
	// may have been rotated since, and a client resubmitting after a lost
	// answer must still learn what happened.
	Earlier  *Result
	SignedBy []string // key IDs whose signatures verified, in envelope order
	Signers  []string // members with a verified signature, sorted
	// remember reports whether the proposal is recorded under its (signer,
	// ID) for replay protection: only once its signatures verified, so
	// that a forged envelope cannot take an honest ID, and never over
	// another proposal that already holds that ID.
	remember bool
}

// KeyError is an admission error for a signature by a key that the state
// does not hold as valid for the entry: unknown, not yet admitted or
// retired. A node behind the leader may not know a key yet.
type KeyError struct {
	KeyID string
	Err   *Error
}

func (e *KeyError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying *Error, so that errors.As finds the code.
func (e *KeyError) Unwrap() error { return e.Err }

// SignerError is an admission error for a signature by a member that may
// not sign: unknown, suspended or removed. A node behind the leader may
// not know a member's admission yet.
type SignerError struct {
	Member string
	Err    *Error
}

func (e *SignerError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying *Error, so that errors.As finds the code.
func (e *SignerError) Unwrap() error { return e.Err }

// SkewError is an admission error for a proposal whose issued_at lies
// outside the charter's window around ledger time. Admission checks the
// window last, so a SkewError means that every other check passed.
type SkewError struct {
	Err *Error
}

func (e *SkewError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying *Error, so that errors.As finds the code.
func (e *SkewError) Unwrap() error { return e.Err }

// Admit runs the ledger's admission on raw against this view, as if it
// were the next entry, applied at ledger time at. It changes nothing. The
// Admission is never nil; on an error it holds what was learned before the
// check that failed.
func (v *View) Admit(raw []byte, at time.Time) (*Admission, error) {
	charter := loadCharter(v.t)
	adm, err := v.l.admit(v.t, &charter, v.AppliedIndex()+1, at, raw, nil)
	if adm.Decoded != nil {
		// The caller keeps raw: Apply compares the entry's bytes with
		// what was decoded, not with whatever raw holds by then.
		d := *adm.Decoded
		d.raw = bytes.Clone(raw)
		adm.Decoded = &d
	}
	return adm, err
}

// admit decodes and authenticates a proposal to be applied at index and
// ledger time now, under charter. decoded is raw as the ledger decoded it
// before, or nil. The Admission is never nil.
func (l *Ledger) admit(t *tx, charter *Charter, index uint64, now time.Time, raw []byte, decoded *Decoded) (*Admission, error) {
	adm := &Admission{}
	if decoded != nil {
		adm.EnvelopeHash = decoded.hash
	} else {
		adm.EnvelopeHash = sha256.Sum256(raw)
	}
	if len(raw) > charter.MaxProposalBytes {
		return adm, Errorf(CodeTooLarge, "envelope: %d bytes is over the charter's limit of %d", len(raw), charter.MaxProposalBytes)
	}
	if decoded == nil {
		env, err := DecodeEnvelope(raw)
		if err != nil {
			return adm, err
		}
		decoded = &Decoded{raw: raw, env: env, hash: adm.EnvelopeHash}
	}
	env := decoded.env
	adm.Envelope, adm.Decoded = env, decoded
	p, err := DecodePayload(env.Payload)
	if err != nil {
		return adm, err
	}
	adm.Proposal = p
	if p.Consortium != l.consortium {
		return adm, Errorf(CodeInvalid, "consortium: the proposal is for consortium %s, not this one (%s)", short(p.Consortium), short(l.consortium))
	}
	h, ok := handlers[p.Type]
	if !ok {
		return adm, Errorf(CodeInvalid, "type: unknown proposal type %q", p.Type)
	}
	// An exact resubmission gets its original result before its
	// signatures are checked again (see Admission.Earlier).
	adm.PayloadHash = sha256.Sum256(env.Payload)
	seen := t.getSeen(key(p.Signer, p.ID))
	if r, ok := seen.result(t, adm.PayloadHash); ok {
		r.Duplicate = true
		adm.Earlier = &r
		return adm, nil
	}
	var extra map[string]PublicKey
	if h.extraKeys != nil {
		extra = h.extraKeys(p)
	}
	lookup := func(id string) (*VerifyingKey, bool) {
		pk, ok := extra[id]
		if !ok {
			k, ok := t.memos.keys.peek(t, id)
			if !ok || !k.ValidAt(index) {
				return nil, false
			}
			pk = k.Public
		}
		return l.verifyingKey(id, pk)
	}
	var anon []string
	if slices.ContainsFunc(env.Signatures, func(s Signature) bool { return s.KeyID == "" }) {
		anon = signerKeys(t, p.Signer, extra)
	}
	var signedBy []string
	if l.opts.SkipVerify && anon == nil {
		for _, s := range env.Signatures {
			if _, ok := lookup(s.KeyID); !ok {
				return adm, &KeyError{KeyID: s.KeyID, Err: Errorf(CodeUnauthorized, "signatures: unknown or expired key %s", s.KeyID)}
			}
			signedBy = append(signedBy, s.KeyID)
		}
	} else if signedBy, err = l.verifyAdmitted(env, &adm.EnvelopeHash, lookup, anon); err != nil {
		return adm, err
	}
	var signers []string
	for _, kid := range signedBy {
		signers = append(signers, memberOf(kid))
	}
	slices.Sort(signers)
	signers = slices.Compact(signers)
	if _, found := slices.BinarySearch(signers, p.Signer); !found {
		return adm, Errorf(CodeUnauthorized, "signer: the envelope carries no valid signature by %s", p.Signer)
	}
	adm.SignedBy, adm.Signers, adm.remember = signedBy, signers, true
	// An exact resubmission was answered above; the same ID with another
	// payload is a conflict, and the original keeps its record.
	if seen != nil {
		adm.remember = false
		return adm, &IDTakenError{Err: Errorf(CodeConflict, "id: %s already used proposal ID %q for a different proposal (entry %d)", p.Signer, p.ID, seen.Result.Seq)}
	}
	for _, m := range signers {
		mem, ok := t.memos.members.peek(t, m)
		if !ok {
			return adm, &SignerError{Member: m, Err: Errorf(CodeNotFound, "signatures: no member %q", m)}
		}
		if mem.Status != MemberActive {
			return adm, &SignerError{Member: m, Err: Errorf(CodeForbidden, "signatures: member %s is %s and can no longer sign", m, mem.Status)}
		}
		if mem.Role == RoleAuditor && !h.auditors {
			return adm, Errorf(CodeForbidden, "type: auditor %s may not propose %s", m, p.Type)
		}
	}
	if err := checkScopes(t, h, p, signedBy, now); err != nil {
		return adm, err
	}
	lo := now.Add(-time.Duration(charter.SkewBeforeSec) * time.Second)
	hi := now.Add(time.Duration(charter.SkewAfterSec) * time.Second)
	if p.IssuedAt.Before(lo) || p.IssuedAt.After(hi) {
		return adm, &SkewError{Err: Errorf(CodeRejected, "issued_at: %s is outside the window [%s, %s] around ledger time",
			p.IssuedAt.Format(time.RFC3339), lo.Format(time.RFC3339), hi.Format(time.RFC3339))}
	}
	return adm, nil
}

// verifyingKey returns the parsed form of key id, parsing it once.
func (l *Ledger) verifyingKey(id string, pk PublicKey) (*VerifyingKey, bool) {
	if v, ok := l.keys.Load(id); ok {
		return v.(*VerifyingKey), true
	}
	v, err := pk.Parse()
	if err != nil || KeyID(memberOf(id), pk) != id {
		return nil, false
	}
	l.keys.Store(id, v)
	return v, true
}

// signerKeys lists the keys a signature with no key ID may be by: the
// signer's keys, oldest first, then the keys the proposal itself
// introduces (a rotation's new key), in ID order. Admission's lookup
// keeps only those valid at the entry's index.
func signerKeys(t *tx, signer string, extra map[string]PublicKey) []string {
	var out []string
	if m, ok := t.memos.members.get(t, signer); ok {
		out = append(out, m.Keys...)
	}
	return append(out, slices.Sorted(maps.Keys(extra))...)
}
