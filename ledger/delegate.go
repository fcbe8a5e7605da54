package ledger

import (
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// delegableTypes are the proposal types a delegated key may be allowed to
// sign: what a metering gateway in front of a resource needs, and nothing
// that changes keys, members, grants or votes. Admission reads it, so it
// is not exported: DelegableTypes hands out copies.
var delegableTypes = []string{"infraction.observe", "pool.consume", "usage.report"}

// DelegableTypes returns the proposal types a delegated key may be
// allowed to sign, sorted: a copy, which the caller may change.
func DelegableTypes() []string { return slices.Clone(delegableTypes) }

// maxScopeEntries bounds each list of a KeyScope.
const maxScopeEntries = 256

// KeyScope bounds what a delegated key may sign: only the listed proposal
// types, only about the listed grants, pools and assets, and only while
// ledger time is before NotAfter. A type that acts on a grant, pool or
// asset needs its target listed: an empty list allows nothing of that
// kind, never "everything the member may act on", so that a scope says in
// full what the key can do.
type KeyScope struct {
	Types    []string  `json:"types"`            // sorted, from DelegableTypes()
	Grants   []string  `json:"grants,omitempty"` // sorted; usage.report and infraction.observe targets
	Pools    []string  `json:"pools,omitempty"`  // sorted; pool.consume targets
	Assets   []string  `json:"assets,omitempty"` // sorted; targets of an infraction.observe that names no grant
	NotAfter time.Time `json:"not_after"`        // the key may sign while ledger time is before it
}

// KeyDelegate is the body of key.delegate: the signer adds a key that may
// sign only within scope. It is signed by one of the member's ordinary
// keys; a delegated key can never sign it.
type KeyDelegate struct {
	Key   PublicKey `json:"key"` // encoded as key.rotate's new key
	Scope KeyScope  `json:"scope"`
}

// Target is what a proposal acts on, as a delegated key's scope bounds it.
type Target struct {
	Kind string // TargetGrant, TargetPool or TargetAsset
	ID   string
}

// The kinds of Target.
const (
	TargetGrant = "grant"
	TargetPool  = "pool"
	TargetAsset = "asset"
)

// includes reports whether the scope lists target.
func (s *KeyScope) includes(t Target) bool {
	var list []string
	switch t.Kind {
	case TargetGrant:
		list = s.Grants
	case TargetPool:
		list = s.Pools
	case TargetAsset:
		list = s.Assets
	}
	_, found := slices.BinarySearch(list, t.ID)
	return found
}

// String describes the scope, as in "usage.report on grants [g1] until
// 2027-01-01T00:00:00Z".
func (s *KeyScope) String() string {
	var b strings.Builder
	b.WriteString(strings.Join(s.Types, ", "))
	var on []string
	for _, l := range []struct {
		name string
		ids  []string
	}{{"grants", s.Grants}, {"pools", s.Pools}, {"assets", s.Assets}} {
		if len(l.ids) > 0 {
			on = append(on, l.name+" ["+strings.Join(l.ids, " ")+"]")
		}
	}
	if len(on) > 0 {
		b.WriteString(" on ")
		b.WriteString(strings.Join(on, ", "))
	}
	b.WriteString(" until ")
	b.WriteString(s.NotAfter.UTC().Format(time.RFC3339))
	return b.String()
}

// clone returns a deep copy of s, or nil.
func (s *KeyScope) clone() *KeyScope {
	if s == nil {
		return nil
	}
	c := *s
	c.Types, c.Grants, c.Pools, c.Assets = slices.Clone(s.Types), slices.Clone(s.Grants), slices.Clone(s.Pools), slices.Clone(s.Assets)
	return &c
}

// Delegated reports whether k is a delegated key, bounded by a scope. A
// delegated key signs only proposals within its scope: never checkpoints,
// time readings or certificates.
func (k *KeyRecord) Delegated() bool { return k.Scope != nil }

// checkScopes refuses p if a delegated key among signedBy signed it
// outside its scope, at ledger time now. It is part of admission, so Apply
// and the API's precheck refuse the same envelopes.
func checkScopes(t *tx, h handler, p *Proposal, signedBy []string, now time.Time) error {
	var target *Target
	for _, kid := range signedBy {
		k, ok := t.getKey(kid)
		if !ok || k.Scope == nil {
			continue // an ordinary key, or one the proposal introduces
		}
		s := k.Scope
		// The rejection is a public journal entry: it names the key and
		// the bound the proposal passes, and nothing else of the scope
		// (the grants it lists are the member's counterparties' to know).
		deny := func(why string) error {
			return Errorf(CodeForbidden, "signatures: key %s is a delegated key; %s", kid, why)
		}
		if !slices.Contains(s.Types, p.Type) {
			return deny("it may not sign " + p.Type)
		}
		if !now.Before(s.NotAfter) {
			return deny("its delegation ended at " + s.NotAfter.UTC().Format(time.RFC3339) + " (ledger time is " + now.UTC().Format(time.RFC3339) + ")")
		}
		if target == nil {
			tg, err := h.target(p.Body)
			if err != nil {
				return err
			}
			target = &tg
		}
		if !s.includes(*target) {
			return deny("it may not sign " + p.Type + " for " + target.Kind + " " + target.ID)
		}
	}
	return nil
}

// decodeTarget decodes the body of p strictly into v, for a handler's
// target function.
func decodeTarget(body json.RawMessage, v any) error {
	if err := DecodeStrict(body, v); err != nil {
		return Errorf(CodeInvalid, "body: %s", messageOf(err))
	}
	return nil
}

func init() {
	register("key.delegate", handler{apply: applyKeyDelegate})
}

// applyKeyDelegate adds a delegated key to the signer's keys.
func applyKeyDelegate(a *applyCtx) error {
	var b KeyDelegate
	if err := a.body(&b); err != nil {
		return err
	}
	if err := b.Key.Validate(); err != nil {
		return prefixed("body.key", err)
	}
	s, err := a.checkScope(&b.Scope)
	if err != nil {
		return err
	}
	id := KeyID(a.p.Signer, b.Key)
	if a.tx.get(bucketKeys, []byte(id)) != nil {
		return Errorf(CodeConflict, "body.key: key %s is already registered", id)
	}
	a.tx.putJSON(bucketKeys, []byte(id), KeyRecord{ID: id, Member: a.p.Signer, Public: b.Key, ValidFrom: a.index, Scope: s})
	m, err := a.member("signer", a.p.Signer)
	if err != nil {
		return err
	}
	m.Keys = append(m.Keys, id)
	m.UpdatedAt = a.index
	a.tx.putJSON(bucketMembers, []byte(m.ID), m)
	a.event("key.delegated", id)
	return nil
}

// checkScope validates a scope the signer delegates and returns it in its
// stored form: lists sorted, times in UTC.
func (a *applyCtx) checkScope(in *KeyScope) (*KeyScope, error) {
	s := in.clone()
	s.NotAfter = s.NotAfter.UTC()
	for _, l := range []struct {
		field string
		ids   *[]string
	}{{"types", &s.Types}, {"grants", &s.Grants}, {"pools", &s.Pools}, {"assets", &s.Assets}} {
		if len(*l.ids) > maxScopeEntries {
			return nil, Errorf(CodeInvalid, "body.scope.%s: at most %d entries", l.field, maxScopeEntries)
		}
		slices.Sort(*l.ids)
		if len(slices.Compact(slices.Clone(*l.ids))) != len(*l.ids) {
			return nil, Errorf(CodeInvalid, "body.scope.%s: an entry is listed twice", l.field)
		}
	}
	if len(s.Types) == 0 {
		return nil, Errorf(CodeInvalid, "body.scope.types: at least one proposal type is required (from %v)", delegableTypes)
	}
	for _, typ := range s.Types {
		if !slices.Contains(delegableTypes, typ) {
			return nil, Errorf(CodeInvalid, "body.scope.types: %q cannot be delegated; a delegated key may sign only %v", typ, delegableTypes)
		}
	}
	if s.NotAfter.IsZero() {
		return nil, Errorf(CodeInvalid, "body.scope.not_after: required")
	}
	if !s.NotAfter.After(a.now) {
		return nil, Errorf(CodeInvalid, "body.scope.not_after: %s is not after ledger time %s", s.NotAfter.Format(time.RFC3339), a.now.Format(time.RFC3339))
	}
	has := func(t string) bool { return slices.Contains(s.Types, t) }
	switch {
	case has("usage.report") && len(s.Grants) == 0:
		return nil, Errorf(CodeInvalid, "body.scope.grants: usage.report needs the grants the key may report on")
	case has("pool.consume") && len(s.Pools) == 0:
		return nil, Errorf(CodeInvalid, "body.scope.pools: pool.consume needs the pools the key may consume from")
	case has("infraction.observe") && len(s.Grants) == 0 && len(s.Assets) == 0:
		return nil, Errorf(CodeInvalid, "body.scope: infraction.observe needs the grants or assets the key may report on")
	case len(s.Grants) > 0 && !has("usage.report") && !has("infraction.observe"):
		return nil, Errorf(CodeInvalid, "body.scope.grants: only usage.report and infraction.observe act on grants")
	case len(s.Pools) > 0 && !has("pool.consume"):
		return nil, Errorf(CodeInvalid, "body.scope.pools: only pool.consume acts on pools")
	case len(s.Assets) > 0 && !has("infraction.observe"):
		return nil, Errorf(CodeInvalid, "body.scope.assets: only infraction.observe acts on assets")
	}
	me := a.p.Signer
	for i, id := range s.Grants {
		g, err := a.grant("body.scope.grants["+itoa(i)+"]", id)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(g.Licensees, me) && !slices.Contains(g.Licensors, me) {
			return nil, Errorf(CodeForbidden, "body.scope.grants[%d]: %s is neither a licensee nor a licensor of grant %s", i, me, id)
		}
	}
	for i, id := range s.Pools {
		p, err := a.pool("body.scope.pools["+itoa(i)+"]", id)
		if err != nil {
			return nil, err
		}
		if _, member := p.quota(me); !member && !slices.Contains(p.Owners, me) {
			return nil, Errorf(CodeForbidden, "body.scope.pools[%d]: %s is neither a member nor an owner of pool %s", i, me, id)
		}
	}
	for i, id := range s.Assets {
		var as Asset
		if !a.tx.getJSON(bucketAssets, []byte(id), &as) {
			return nil, Errorf(CodeNotFound, "body.scope.assets[%d]: no asset %q", i, id)
		}
		if !as.OwnedBy(me) {
			return nil, Errorf(CodeForbidden, "body.scope.assets[%d]: %s does not own asset %s", i, me, id)
		}
	}
	return s, nil
}

// KeyRevoke is the body of key.revoke as a proposal: a member ends one of
// its own delegated keys at once. Ending an ordinary key takes a key.revoke
// ballot (KeyRevokeParams), which any member may open.
type KeyRevoke struct {
	Key string `json:"key"`
}

func init() {
	register("key.revoke", handler{apply: applyKeyRevoke})
}

func applyKeyRevoke(a *applyCtx) error {
	var b KeyRevoke
	if err := a.body(&b); err != nil {
		return err
	}
	k, err := a.key(b.Key)
	if err != nil {
		return prefixed("body.key", err)
	}
	switch {
	case k.Member != a.p.Signer:
		return Errorf(CodeForbidden, "body.key: key %s belongs to %s", b.Key, k.Member)
	case !k.Delegated():
		return Errorf(CodeForbidden, "body.key: %s is an ordinary key; a member revokes only its delegated keys by itself, and an ordinary key through a key.revoke ballot", b.Key)
	case !k.ValidAt(a.index):
		return Errorf(CodeRejected, "body.key: %s is no longer valid", b.Key)
	}
	k.ValidUntil, k.EndedBy = a.index, "revoked"
	a.tx.putJSON(bucketKeys, []byte(k.ID), k)
	a.event("key.revoked", k.ID)
	return nil
}
