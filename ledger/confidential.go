package ledger

import (
	"crypto/sha256"
	"encoding/json"
	"slices"
)

// ConfidentialKind is the kind of object in the binding a grant's sealed
// part is sealed under (ledger/seal.Binding): the consortium ID, this kind
// and the grant's ID. A sealed part copied into another grant does not
// open there.
const ConfidentialKind = "grant"

// Confidential is the sealed part of a confidential grant: the terms'
// confidential fields (ConfidentialTerms) sealed to the grant's parties,
// and the commitment to them that the licensees' acceptance signs.
//
// Every node holds it and checks its shape; only the parties can open it
// (ledger/seal.OpenWith, with the binding {consortium, "grant", grant ID}).
// Commitment repeats Sealed.Commitment in the clear part of the offer, so
// that what the acceptance signs is visible without parsing the sealed
// object.
type Confidential struct {
	Commitment Hash    `json:"commitment"`
	Sealed     *Sealed `json:"sealed"`
}

// ConfidentialTerms is the plaintext of a grant's sealed part: the fields
// of its terms that only the parties may read. Which fields may be sealed:
//
//   - usage, the whole metered price (tiers, caps, minimum commitment, SLA
//     credits, performance multipliers, revenue share);
//   - the clauses the ledger only records: sla, indemnity_cap, liability,
//     governing_law and contract_hash.
//
// The clauses that the ledger enforces stay in the public terms, where
// every node can enforce them: data and export_control (Check), and
// outputs_owner and improvements_owner (who must own a derived asset, at
// asset.register). A sealed part that carries them is refused by the
// parties' nodes. A sealed field must be absent from the public terms
// (Terms.checkSealedAbsent).
type ConfidentialTerms struct {
	Usage   *UsageTerms `json:"usage,omitempty"`
	Clauses Clauses     `json:"clauses"`
}

// ParseConfidentialTerms decodes a sealed plaintext strictly and checks it
// against the grant's public terms: it must leave out the enforced
// clauses, and the terms it completes must be valid (Terms.Validate of
// the merged terms, so a report_usage duty names a metric of the sealed
// usage terms). It returns the terms normalised.
func ParseConfidentialTerms(plaintext []byte, public *Terms) (*ConfidentialTerms, error) {
	var ct ConfidentialTerms
	if err := DecodeStrict(plaintext, &ct); err != nil {
		return nil, err
	}
	if c := ct.Clauses; c.Data != nil || c.ExportControl != "" || c.OutputsOwner != "" || c.ImprovementsOwner != "" {
		return nil, Errorf(CodeInvalid, "clauses: data, export_control, outputs_owner and improvements_owner are enforced by every node and cannot be sealed; put them in the public terms")
	}
	merged := public.WithConfidential(&ct)
	merged.Normalize()
	if err := merged.Validate(); err != nil {
		return nil, err
	}
	return &ct, nil
}

// Canonical returns the encoding of ct that party nodes store and hash:
// equal terms give equal bytes on every node.
func (ct *ConfidentialTerms) Canonical() []byte { return mustMarshal(ct) }

// Digest is the private digest of ct: SHA-256 of its Canonical bytes,
// which the parties' nodes compare to know they hold the same terms.
func (ct *ConfidentialTerms) Digest() Hash { return sha256.Sum256(ct.Canonical()) }

// WithConfidential returns a copy of t completed with the sealed fields
// of ct: what the parties see.
func (t Terms) WithConfidential(ct *ConfidentialTerms) Terms {
	c := ct.Clauses
	c.Data, c.ExportControl = t.Clauses.Data, t.Clauses.ExportControl
	c.OutputsOwner, c.ImprovementsOwner = t.Clauses.OutputsOwner, t.Clauses.ImprovementsOwner
	t.Clauses, t.Usage = c, ct.Usage
	return t
}

// sealAuditors are the auditors the charter names (Charter.SealAuditors)
// that are still members: one removed from the consortium since it was
// named is no longer sealed to, so that confidential deals go on without a
// charter amendment.
func sealAuditors(t *tx, c *Charter) []string {
	var out []string
	for _, id := range c.SealAuditors {
		if m, ok := t.memos.members.get(t, id); ok && m.Status != MemberRemoved {
			out = append(out, id)
		}
	}
	return out
}

// sealRecipients are the members the sealed part of a new offer of grant
// g is sealed to: its licensors and licensees, and the charter's seal
// auditors that are still members (sealAuditors), sorted, each once.
func sealRecipients(t *tx, c *Charter, g *Grant) []string {
	return sortedSet(append(g.Parties(), sealAuditors(t, c)...))
}

// reportRecipients are the members the sealed part of a report of
// confidential grant g is sealed to: the recipients of the grant's own
// sealed terms, fixed when it was offered, but for any removed from the
// consortium since. Every recipient of a report can read the terms that
// price it, and an auditor named after the offer gets none of it.
func reportRecipients(t *tx, g *Grant) []string {
	var out []string
	for _, id := range g.Confidential.Sealed.Recipients() {
		if m, ok := t.memos.members.get(t, id); ok && m.Status != MemberRemoved || g.IsParty(id) {
			out = append(out, id)
		}
	}
	return out
}

// SealRecipients are the members a new offer of grant g must be sealed
// to now: its parties and the charter's seal auditors.
func (v *View) SealRecipients(g *Grant) []string {
	c := v.Charter()
	return sealRecipients(v.t, &c, g)
}

// ReportRecipients are the members a report of confidential grant g must
// be sealed to now (reportRecipients).
func (v *View) ReportRecipients(g *Grant) []string { return reportRecipients(v.t, g) }

// SealAuditors are the auditors every sealed part must be sealed to now:
// those the charter names that are still members.
func (v *View) SealAuditors() []string {
	c := v.Charter()
	return sealAuditors(v.t, &c)
}

// SealedTo reports whether g is confidential and its terms are sealed to
// member: one of its parties, or an auditor the charter named when it was
// offered. Its reports are sealed to the same members (reportRecipients).
func (g *Grant) SealedTo(member string) bool {
	return g.Confidential != nil && (g.IsParty(member) || g.Confidential.Sealed != nil && slices.Contains(g.Confidential.Sealed.Recipients(), member))
}

// Opened returns a copy of g whose terms are completed with its opened
// confidential terms ct (Terms.WithConfidential): the grant as its
// parties' nodes check and price it. The copy is never stored; Check
// applies its usage terms and hard caps like any other grant's.
func (g *Grant) Opened(ct *ConfidentialTerms) *Grant {
	o := *g
	o.Terms = g.Terms.WithConfidential(ct)
	o.opened = true
	return &o
}

// Sealed reports whether g is confidential and this copy does not hold
// its opened terms: whoever reads it cannot see its usage terms or the
// clauses it seals.
func (g *Grant) Sealed() bool { return g.Confidential != nil && !g.opened }

// checkSealedAbsent refuses public terms that also carry a field the
// sealed part holds: a confidential grant's usage terms and recorded-only
// clauses live only in the sealed part.
func (t *Terms) checkSealedAbsent() error {
	c := t.Clauses
	c.Data, c.ExportControl, c.OutputsOwner, c.ImprovementsOwner = nil, "", "", ""
	if t.Usage != nil {
		return Errorf(CodeInvalid, "usage: a confidential grant seals its usage terms; leave them out of the public terms")
	}
	if b, _ := json.Marshal(c); string(b) != "{}" {
		return Errorf(CodeInvalid, "clauses: a confidential grant seals every clause but data, export_control, outputs_owner and improvements_owner; leave the others out of the public terms")
	}
	return nil
}

// checkConfidential checks the sealed part of grant g's offer (field is
// the offer's path, such as "body") without
// opening it: its shape (Sealed.Validate), the commitment in the clear
// part equal to the sealed object's, the recipients exactly the grant's
// parties, each wrapped to that member's current encryption key, and the
// sealed fields absent from the public terms.
//
// The recipients are the parties only: the charter names no auditors (an
// auditor is a member role), so a confidential grant is sealed to its
// licensors and licensees, and a party discloses to an auditor with an
// opening.
func (a *applyCtx) checkConfidential(field string, g *Grant) error {
	if err := a.checkSealedTo(field+".confidential", g.Confidential, sealRecipients(a.tx, a.charter, g)); err != nil {
		return err
	}
	if err := g.Terms.checkSealedAbsent(); err != nil {
		return prefixed(field+".terms", err)
	}
	return nil
}

// checkSealedTo checks sealed part c (at field) without opening it: its
// shape (Sealed.Validate), the commitment in the clear equal to the
// sealed object's, the recipients exactly parties, and each wrapped to
// that member's current encryption key.
func (a *applyCtx) checkSealedTo(field string, c *Confidential, parties []string) error {
	if err := c.Sealed.Validate(); err != nil {
		return prefixed(field+".sealed", err)
	}
	if c.Commitment != c.Sealed.Commitment {
		return Errorf(CodeInvalid, "%s.commitment: %s is not the sealed object's commitment %s", field, c.Commitment, c.Sealed.Commitment)
	}
	if got := c.Sealed.Recipients(); !slices.Equal(got, parties) {
		return Errorf(CodeInvalid, "%s.sealed.wraps: the recipients must be exactly the grant's parties and the charter's seal auditors %v, got %v", field, parties, got)
	}
	for i, w := range c.Sealed.Wraps {
		m, err := a.member(field+".sealed.wraps["+itoa(i)+"].member", w.Member)
		if err != nil {
			return err
		}
		cur, ok := m.CurrentEncryptionKey()
		if !ok {
			return Errorf(CodeRejected, "%s.sealed.wraps[%d]: %s has no encryption key; it must register one (key.encryption.rotate) before it can be party to a confidential grant", field, i, w.Member)
		}
		if w.KeyFingerprint != cur.Fingerprint {
			return Errorf(CodeRejected, "%s.sealed.wraps[%d].key_fingerprint: %s is not the current encryption key of %s (%s); seal to the keys /v1/members lists", field, i, w.KeyFingerprint, w.Member, cur.Fingerprint)
		}
	}
	return nil
}
