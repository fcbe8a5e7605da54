package node

import (
	"encoding/json"
	"slices"

	"github.com/charta/charta/ledger"
)

// publicTypes are the proposal types whose records every member may see
// (members, keys, tokens, ballots, assets, pools), so their journal
// entries are shown whole to every member.
var publicTypes = []string{
	"token.register", "token.revoke", "key.rotate", "key.encryption.rotate", "key.revoke", "ballot.open", "ballot.vote",
	"asset.register", "asset.transfer", ledger.TimeEntryType,
	"pool.create", "pool.consume", "pool.transfer", "pool.hold", "pool.settle", "pool.release",
}

// entryFor returns the journal entry as p may see it. The journal is every
// member's audit log, but an entry about grants, bundles, usage or
// statements between others is withheld: only its position, hashes, ledger
// time and outcome status and type remain, which is what inclusion and
// consistency proofs need. Auditors and the operator see every entry
// whole, so a complete export for charta audit needs their token.
func entryFor(v *ledger.View, p *principal, e *ledger.Entry) *ledger.Entry {
	out, _ := visibleEntry(v, p, e)
	return out
}

// visibleEntry is entryFor, and whether it withheld the entry. The API and
// the dashboard both show entries through it, so that they show the same.
func visibleEntry(v *ledger.View, p *principal, e *ledger.Entry) (*ledger.Entry, bool) {
	if p != nil && (p.seesAll() || e.Seq == 0 || entryConcerns(v, p.member, e)) {
		return e, false
	}
	w := *e
	w.Envelope = nil
	w.Outcome = ledger.Outcome{Status: e.Outcome.Status, Type: e.Outcome.Type}
	return &w, true
}

// entryConcerns reports whether member signed the entry, or it is of a
// public type, or member is a party to the grant or bundle it is about.
func entryConcerns(v *ledger.View, member string, e *ledger.Entry) bool {
	if e.Outcome.Signer == member || slices.Contains(publicTypes, e.Outcome.Type) {
		return true
	}
	env, err := ledger.DecodeEnvelope(e.Envelope)
	if err != nil {
		return false
	}
	for _, sg := range env.Signatures {
		if m, _, ok := ledger.SplitKeyID(sg.KeyID); ok && m == member {
			return true
		}
	}
	prop, err := ledger.DecodePayload(env.Payload)
	if err != nil {
		return false
	}
	var body struct {
		ID        string              `json:"id"`
		Grant     string              `json:"grant"`
		Bundle    string              `json:"bundle"`
		Licensors []string            `json:"licensors"`
		Licensees []string            `json:"licensees"`
		Grants    []ledger.GrantOffer `json:"grants"`
	}
	if json.Unmarshal(prop.Body, &body) != nil {
		return false
	}
	if slices.Contains(body.Licensors, member) || slices.Contains(body.Licensees, member) {
		return true
	}
	for _, g := range body.Grants {
		if slices.Contains(g.Licensors, member) || slices.Contains(g.Licensees, member) {
			return true
		}
	}
	if g, ok := v.Grant(body.Grant); ok && g.IsParty(member) {
		return true
	}
	if b, ok := v.Bundle(body.Bundle); ok && slices.Contains(b.Parties, member) {
		return true
	}
	return false
}
