package ledger

import (
	"slices"
)

// EncryptionKeyRecord is one of a member's encryption keys, with the span
// of log indices in which it was the member's current key. A member has at
// most one current key; retired keys stay in its record, so that a party
// restored from the log still knows every key it was ever sealed to.
type EncryptionKeyRecord struct {
	Fingerprint string        `json:"fingerprint"` // Public.Fingerprint(), what a sealed object's wraps name
	Public      EncryptionKey `json:"public"`
	ValidFrom   uint64        `json:"valid_from"`
	ValidUntil  uint64        `json:"valid_until,omitempty"` // first index at which it is no longer current; 0 = current
	EndedBy     string        `json:"ended_by,omitempty"`    // "rotated"
}

// ValidAt reports whether the key was the member's current encryption key
// at log index i.
func (r *EncryptionKeyRecord) ValidAt(i uint64) bool {
	return i >= r.ValidFrom && (r.ValidUntil == 0 || i < r.ValidUntil)
}

// newEncryptionKeyRecord returns the record of k, current from index from.
func newEncryptionKeyRecord(k EncryptionKey, from uint64) EncryptionKeyRecord {
	return EncryptionKeyRecord{Fingerprint: k.Fingerprint(), Public: k, ValidFrom: from}
}

// CurrentEncryptionKey returns the member's current encryption key: the
// newest, unless it has ended. A member admitted without one, or founded
// before encryption keys existed, has none until it rotates one in.
func (m *Member) CurrentEncryptionKey() (*EncryptionKeyRecord, bool) {
	if n := len(m.EncryptionKeys); n > 0 && m.EncryptionKeys[n-1].ValidUntil == 0 {
		return &m.EncryptionKeys[n-1], true
	}
	return nil, false
}

// EncryptionKey returns member's current encryption key, what new sealed
// objects must be wrapped to (ledger/seal.PublicKeyFrom converts it).
func (v *View) EncryptionKey(member string) (EncryptionKey, bool) {
	m, ok := v.Member(member)
	if !ok {
		return EncryptionKey{}, false
	}
	r, ok := m.CurrentEncryptionKey()
	if !ok {
		return EncryptionKey{}, false
	}
	return r.Public, true
}

// EncryptionKeys returns every encryption key member ever had, oldest
// first, with its validity; nil for an unknown member or one with none.
func (v *View) EncryptionKeys(member string) []EncryptionKeyRecord {
	m, ok := v.Member(member)
	if !ok {
		return nil
	}
	return m.EncryptionKeys
}

// EncryptionKeyRotate is the body of key.encryption.rotate: the signer's
// member makes New its current encryption key, and the key it had, if
// any, ends. Old is the fingerprint of that key, and must be left out when
// the member has none yet: two rotations racing each other cannot both
// win, and a member that has none registers its first key this way.
type EncryptionKeyRotate struct {
	Old string        `json:"old,omitempty"`
	New EncryptionKey `json:"new"`
}

func init() {
	register("key.encryption.rotate", handler{apply: applyEncryptionKeyRotate, auditors: true})
}

// applyEncryptionKeyRotate replaces the signer's encryption key. Any of
// the member's ordinary signing keys may sign it: an encryption key cannot
// sign, and a delegated key may never sign it (it is not delegable).
func applyEncryptionKeyRotate(a *applyCtx) error {
	var b EncryptionKeyRotate
	if err := a.body(&b); err != nil {
		return err
	}
	m, err := a.member("signer", a.p.Signer)
	if err != nil {
		return err
	}
	cur, has := m.CurrentEncryptionKey()
	switch {
	case has && b.Old != cur.Fingerprint:
		return Errorf(CodeConflict, "body.old: the current encryption key of %s is %s, not %q", m.ID, cur.Fingerprint, truncate(b.Old, 80))
	case !has && b.Old != "":
		return Errorf(CodeConflict, "body.old: %s has no encryption key to replace; leave old out", m.ID)
	}
	if err := a.checkEncryptionKey("body.new", b.New); err != nil {
		return err
	}
	if has {
		cur.ValidUntil, cur.EndedBy = a.index, "rotated"
	}
	m.EncryptionKeys = append(m.EncryptionKeys, newEncryptionKeyRecord(b.New, a.index))
	m.UpdatedAt = a.index
	a.tx.putJSON(bucketMembers, []byte(m.ID), m)
	a.event("key.encryption.rotated", m.ID)
	return nil
}

// checkEncryptionKey validates a new encryption key and refuses one that
// any member has ever registered, its own retired keys included: a
// fingerprint names one key of one member for the life of the consortium.
// field prefixes the error.
func (a *applyCtx) checkEncryptionKey(field string, k EncryptionKey) error {
	if err := k.Validate(); err != nil {
		return Errorf(CodeInvalid, "%s.%s", field, messageOf(err))
	}
	fp := k.Fingerprint()
	var owner string
	a.tx.scan(bucketMembers, nil, func(id, raw []byte) bool {
		m := a.tx.memos.members.decode(string(id), raw)
		if slices.ContainsFunc(m.EncryptionKeys, func(r EncryptionKeyRecord) bool { return r.Fingerprint == fp }) {
			owner = m.ID
			return false
		}
		return true
	})
	if owner != "" {
		return Errorf(CodeConflict, "%s: encryption key %s is already registered to %s", field, fp, owner)
	}
	return nil
}

// validateGenesisEncryptionKeys checks the founders' encryption keys: each
// valid, and no key given to two founders.
func validateGenesisEncryptionKeys(members []GenesisMember) error {
	owner := make(map[string]string, len(members)) // fingerprint → member; only looked up
	for i, m := range members {
		if m.EncryptionKey == nil {
			continue
		}
		if err := m.EncryptionKey.Validate(); err != nil {
			return Errorf(CodeInvalid, "genesis.members[%d].encryption_key.%s", i, messageOf(err))
		}
		fp := m.EncryptionKey.Fingerprint()
		if o, dup := owner[fp]; dup {
			return Errorf(CodeInvalid, "genesis.members[%d].encryption_key: the same key as %s's", i, o)
		}
		owner[fp] = m.ID
	}
	return nil
}
