package ledger

import (
	"slices"
	"time"
)

// GrantEvent is one entry in a grant's history: its offer, acceptance,
// every amendment and every change of status, with the log index.
type GrantEvent struct {
	Grant   string    `json:"grant"`
	Index   uint64    `json:"index"`
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"` // offered, accepted, activated, amended, attested, deletion_attested, suspended, resumed, revoked, terminated
	By      string    `json:"by"`   // a member, or "parent:<id>" / "bundle:<id>" for knock-on changes
	Version uint32    `json:"version"`
	Status  Status    `json:"status"`
	Terms   *Terms    `json:"terms,omitempty"` // on offered and amended
	Reason  string    `json:"reason,omitempty"`
	// Attestation is the evidence of an attested duty, on attested.
	Attestation *DutyAttestation `json:"attestation,omitempty"`
	// Deletion is the evidence of a deletion_attested event.
	Deletion *Attestation `json:"deletion,omitempty"`
	// Statement is what a statement_attested event attests.
	Statement *StatementAttestBody `json:"statement,omitempty"`
}

// GrantOffer is the body of grant.offer, and one grant of a bundle.offer.
type GrantOffer struct {
	ID           string     `json:"id"`
	Licensors    []string   `json:"licensors"`
	Licensees    []string   `json:"licensees"`
	Terms        Terms      `json:"terms"`
	OfferExpires *time.Time `json:"offer_expires,omitempty"`
	// Confidential, if set, makes the grant confidential: its usage terms
	// and recorded-only clauses are sealed to the parties (confidential.go)
	// and absent from Terms. Bundles do not take confidential grants yet.
	Confidential *Confidential `json:"confidential,omitempty"`
}

// GrantAccept is the body of grant.accept. Commitment is required for a
// confidential grant, and must be its sealed part's commitment: the
// licensee signs the terms it opened. It must be left out otherwise, so
// an acceptance has the bytes it had before confidential grants.
type GrantAccept struct {
	Grant      string `json:"grant"`
	Reason     string `json:"reason,omitempty"`
	Commitment *Hash  `json:"commitment,omitempty"`
}

// GrantRef is the body of grant.suspend, grant.resume, grant.revoke and grant.terminate.
type GrantRef struct {
	Grant  string `json:"grant"`
	Reason string `json:"reason,omitempty"`
}

// GrantAmend is the body of grant.amend, signed by every party.
type GrantAmend struct {
	Grant string `json:"grant"`
	Terms Terms  `json:"terms"`
}

func (a *applyCtx) grant(field, id string) (*Grant, error) {
	var g Grant
	if !a.tx.getJSON(bucketGrants, []byte(id), &g) {
		return nil, Errorf(CodeNotFound, "%s: no grant %q", field, id)
	}
	return &g, nil
}

func (a *applyCtx) putGrant(g *Grant) { a.tx.putJSON(bucketGrants, []byte(g.ID), g) }

func (a *applyCtx) history(g *Grant, kind, by, reason string, terms *Terms) {
	a.putHistory(GrantEvent{
		Grant: g.ID, Index: a.index, At: a.now, Kind: kind, By: by, Version: g.Version,
		Status: g.Status, Terms: terms, Reason: reason,
	})
}

// putHistory appends e to its grant's history.
func (a *applyCtx) putHistory(e GrantEvent) {
	var n uint64
	a.tx.scan(bucketHistory, append([]byte(e.Grant), 0), func(_, _ []byte) bool { n++; return true })
	a.tx.putJSON(bucketHistory, append(append([]byte(e.Grant), 0), u64(n)...), e)
}

// sortedMembers checks a list of member IDs: sorted, no duplicates, active.
func (a *applyCtx) sortedMembers(field string, ms []string) error {
	if len(ms) == 0 {
		return Errorf(CodeInvalid, "%s: at least one member is required", field)
	}
	for i, m := range ms {
		if i > 0 && ms[i-1] >= m {
			return Errorf(CodeInvalid, "%s: members must be sorted without duplicates", field)
		}
		if _, err := a.activeMember(field+"["+itoa(i)+"]", m); err != nil {
			return err
		}
	}
	return nil
}

// checkOffer validates a grant offer against the state: the parties, the
// terms, the licensors' authority over every asset (ownership, or a parent
// grant with the sublicense right whose scope contains this one), the
// prohibitions the assets inherited, and exclusivity.
func (a *applyCtx) checkOffer(field string, o *GrantOffer) (*Grant, error) {
	if !ValidID(o.ID) {
		return nil, Errorf(CodeInvalid, "%s.id: %q is not a valid ID (1-128 of A-Z a-z 0-9 . _ : -)", field, o.ID)
	}
	if a.tx.get(bucketGrants, []byte(o.ID)) != nil {
		return nil, Errorf(CodeConflict, "%s.id: grant %s already exists", field, o.ID)
	}
	if err := a.sortedMembers(field+".licensors", o.Licensors); err != nil {
		return nil, err
	}
	if err := a.sortedMembers(field+".licensees", o.Licensees); err != nil {
		return nil, err
	}
	for _, m := range o.Licensees {
		if slices.Contains(o.Licensors, m) {
			return nil, Errorf(CodeInvalid, "%s.licensees: %s cannot license to itself", field, m)
		}
	}
	if o.OfferExpires != nil && !o.OfferExpires.After(a.now) {
		return nil, Errorf(CodeInvalid, "%s.offer_expires: %s is not after ledger time", field, o.OfferExpires.UTC().Format(time.RFC3339))
	}
	o.Terms.Normalize()
	if err := o.Terms.Validate(); err != nil {
		return nil, prefixed(field+".terms", err)
	}
	g := &Grant{
		ID: o.ID, Version: 1, Licensors: o.Licensors, Licensees: o.Licensees, Terms: o.Terms,
		Status: StatusOffered, OfferedAt: a.now, OfferExpires: o.OfferExpires, Index: a.index,
		Confidential: o.Confidential,
	}
	if g.Confidential != nil {
		if err := a.checkConfidential(field, g); err != nil {
			return nil, err
		}
	}
	if err := a.checkTerms(field+".terms", g); err != nil {
		return nil, err
	}
	return g, nil
}

// checkTerms checks a grant's terms against the state, for offers and
// amendments alike.
func (a *applyCtx) checkTerms(field string, g *Grant) error {
	t := &g.Terms
	if t.Parent != "" {
		parent, err := a.grant(field+".parent", t.Parent)
		if err != nil {
			return err
		}
		if parent.StatusAt(a.now) != StatusActive {
			return Errorf(CodeRejected, "%s.parent: grant %s is %s", field, parent.ID, parent.StatusAt(a.now))
		}
		for _, m := range g.Licensors {
			if !slices.Contains(parent.Licensees, m) {
				return Errorf(CodeForbidden, "%s.parent: %s is not a licensee of grant %s", field, m, parent.ID)
			}
		}
		if !slices.Contains(parent.Terms.Rights, RightSublicense) {
			return Errorf(CodeForbidden, "%s.parent: grant %s does not carry the sublicense right", field, parent.ID)
		}
		if err := a.dataTermsAllowSublicence(field, parent, t); err != nil {
			return err
		}
		if err := ScopeSubset(t, &parent.Terms); err != nil {
			return prefixed(field, err)
		}
		if len(a.ancestors(g)) > maxChain {
			return Errorf(CodeRejected, "%s.parent: sublicences may nest at most %d deep", field, maxChain)
		}
	}
	for i, id := range t.Assets {
		var asset Asset
		if !a.tx.getJSON(bucketAssets, []byte(id), &asset) {
			return Errorf(CodeNotFound, "%s.assets[%d]: no asset %q", field, i, id)
		}
		if t.Parent == "" {
			for _, o := range asset.Owners {
				if !slices.Contains(g.Licensors, o.Member) {
					return Errorf(CodeForbidden, "%s.assets[%d]: %s co-owns %s and must be a licensor", field, i, o.Member, id)
				}
			}
		}
		if miss := MissingProhibitions(asset.Prohibitions, t.Prohibitions); len(miss) > 0 {
			return Errorf(CodeRejected, "%s.prohibitions: asset %s inherits %d use restriction(s) from its lineage that this grant must carry: %s",
				field, id, len(miss), string(mustMarshal(miss)))
		}
	}
	if err := a.checkAssessors(field, t); err != nil {
		return err
	}
	return a.checkExclusive(g)
}

// checkExclusive rejects g if it overlaps, in asset × right × territory ×
// time, an active grant to another licensee where either is exclusive.
func (a *applyCtx) checkExclusive(g *Grant) error {
	mine := a.ancestors(g)
	for _, id := range g.Terms.Assets {
		var clash error
		a.tx.scan(bucketByAsset, append([]byte(id), 0), func(k, _ []byte) bool {
			other := string(k[len(id)+1:])
			if other == g.ID {
				return true
			}
			var o Grant
			a.tx.getJSON(bucketGrants, []byte(other), &o)
			if o.StatusAt(a.now) == StatusActive && !slices.Contains(mine, o.ID) &&
				!slices.Contains(a.ancestors(&o), g.ID) && ExclusiveClash(g, &o) {
				clash = &ConflictError{Err: Errorf(CodeConflict, "%s", clashMessage(a.charter, g, &o, id)), With: o.ID}
				return false
			}
			return true
		})
		if clash != nil {
			return clash
		}
	}
	return nil
}

// clashMessage says why g cannot be active beside o over asset, calling
// exclusive (or sole) only the grant that is. Journals of the first entry
// format keep the wording they were written with, which their entry
// hashes cover.
func clashMessage(c *Charter, g, o *Grant, asset string) string {
	if c.journalFormat() == JournalJSON {
		return "grant " + g.ID + " overlaps exclusive grant terms of " + o.ID + " over " + asset
	}
	if k := o.Terms.ExclusivityKind(); k != ExclusivityNone {
		return "grant " + g.ID + " overlaps " + string(k) + " grant " + o.ID + " over " + asset
	}
	return string(g.Terms.ExclusivityKind()) + " grant " + g.ID + " overlaps active grant " + o.ID + " over " + asset
}

// ancestors lists the grants g sublicenses from, nearest first. A grant
// and its own sublicences never clash: the sublicence is carved out of it.
func (a *applyCtx) ancestors(g *Grant) []string {
	var out []string
	for p := g.Terms.Parent; p != "" && len(out) <= maxChain; {
		out = append(out, p)
		var pg Grant
		if !a.tx.getJSON(bucketGrants, []byte(p), &pg) {
			break
		}
		p = pg.Terms.Parent
	}
	return out
}

// indexGrant records where to find g: under each licensee and asset for
// Check, under each asset for exclusivity, under its parent for
// sublicences.
func (a *applyCtx) indexGrant(g *Grant) {
	for _, asset := range g.Terms.Assets {
		a.tx.put(bucketByAsset, key(asset, g.ID), []byte{})
		for _, l := range g.Licensees {
			a.tx.put(bucketByHolder, key(l, asset, g.ID), []byte{})
		}
	}
	if g.Terms.Parent != "" {
		a.tx.put(bucketChildren, key(g.Terms.Parent, g.ID), []byte{})
	}
}

func init() {
	register("grant.offer", handler{apply: applyGrantOffer})
}

func applyGrantOffer(a *applyCtx) error {
	var o GrantOffer
	if err := a.body(&o); err != nil {
		return err
	}
	g, err := a.checkOffer("body", &o)
	if err != nil {
		return err
	}
	if !slices.Contains(g.Licensors, a.p.Signer) {
		return Errorf(CodeForbidden, "body.licensors: the signer %s must be a licensor", a.p.Signer)
	}
	if err := a.requireSigned("grant.offer", g.Licensors...); err != nil {
		return err
	}
	a.putGrant(g)
	a.indexGrant(g)
	terms := g.Terms
	a.history(g, "offered", a.p.Signer, "", &terms)
	a.event("grant.offered", g.ID)
	return nil
}

func init() {
	register("grant.accept", handler{apply: applyGrantAccept})
}

func applyGrantAccept(a *applyCtx) error {
	var b GrantAccept
	if err := a.body(&b); err != nil {
		return err
	}
	g, err := a.grant("body.grant", b.Grant)
	if err != nil {
		return err
	}
	if g.Bundle != "" {
		return Errorf(CodeRejected, "body.grant: grant %s is part of bundle %s; accept the bundle", g.ID, g.Bundle)
	}
	if !slices.Contains(g.Licensees, a.p.Signer) {
		return Errorf(CodeForbidden, "body.grant: %s is not a licensee of grant %s", a.p.Signer, g.ID)
	}
	if s := g.StatusAt(a.now); s != StatusOffered {
		return Errorf(CodeRejected, "body.grant: grant %s is %s, not offered", g.ID, s)
	}
	if g.OfferExpires != nil && !a.now.Before(*g.OfferExpires) {
		return Errorf(CodeRejected, "body.grant: the offer of grant %s expired at %s", g.ID, g.OfferExpires.UTC().Format(time.RFC3339))
	}
	if err := acceptedCommitment(g, b.Commitment); err != nil {
		return err
	}
	if err := a.requireSigned("grant.accept", g.Licensees...); err != nil {
		return err
	}
	// The state may have changed since the offer.
	if err := a.checkTerms("grant", g); err != nil {
		return err
	}
	a.activate(g, a.p.Signer)
	return nil
}

// acceptedCommitment checks the commitment an acceptance signs: a
// confidential grant's own, and none for any other grant.
func acceptedCommitment(g *Grant, c *Hash) error {
	switch {
	case g.Confidential == nil && c != nil:
		return Errorf(CodeInvalid, "body.commitment: grant %s is not confidential; leave commitment out", g.ID)
	case g.Confidential != nil && c == nil:
		return Errorf(CodeRejected, "body.commitment: grant %s is confidential; its acceptance must sign the commitment %s of the sealed terms the licensee opened", g.ID, g.Confidential.Commitment)
	case g.Confidential != nil && *c != g.Confidential.Commitment:
		return Errorf(CodeRejected, "body.commitment: %s is not the commitment %s of grant %s's sealed terms; the licensee accepted other terms", *c, g.Confidential.Commitment, g.ID)
	}
	return nil
}

func (a *applyCtx) activate(g *Grant, by string) {
	g.Status, g.ActivatedAt = StatusActive, a.now
	a.putGrant(g)
	a.history(g, "activated", by, "", nil)
	a.event("grant.activated", g.ID)
}

func init() {
	register("grant.amend", handler{apply: applyGrantAmend})
}

func applyGrantAmend(a *applyCtx) error {
	var b GrantAmend
	if err := a.body(&b); err != nil {
		return err
	}
	g, err := a.grant("body.grant", b.Grant)
	if err != nil {
		return err
	}
	if s := g.StatusAt(a.now); s != StatusActive && s != StatusOffered {
		return Errorf(CodeRejected, "body.grant: grant %s is %s and can no longer be amended", g.ID, s)
	}
	if g.Confidential != nil {
		return Errorf(CodeRejected, "body.grant: grant %s is confidential, and confidential grants cannot be amended yet; offer a new grant", g.ID)
	}
	if err := a.requireSigned("grant.amend", append(slices.Clone(g.Licensors), g.Licensees...)...); err != nil {
		return err
	}
	b.Terms.Normalize()
	if err := b.Terms.Validate(); err != nil {
		return prefixed("body.terms", err)
	}
	if !slices.Equal(b.Terms.Assets, g.Terms.Assets) || b.Terms.Parent != g.Terms.Parent {
		return Errorf(CodeInvalid, "body.terms: an amendment cannot change the assets or the parent grant; offer a new grant")
	}
	// An amendment may drop a duty: what is overdue by now stays on record.
	a.recordOverdueDuties(g)
	ng := *g
	ng.Terms = b.Terms
	ng.Version++
	if err := a.checkTerms("body.terms", &ng); err != nil {
		return err
	}
	a.putGrant(&ng)
	terms := ng.Terms
	a.history(&ng, "amended", a.p.Signer, "", &terms)
	a.event("grant.amended", g.ID)
	return nil
}

func init() {
	register("grant.suspend", handler{apply: applyGrantStatus(StatusSuspended)})
	register("grant.resume", handler{apply: applyGrantStatus(StatusActive)})
	register("grant.revoke", handler{apply: applyGrantStatus(StatusRevoked)})
	register("grant.terminate", handler{apply: applyGrantStatus(StatusTerminated)})
}

// applyGrantStatus moves a grant to a new status as its termination terms
// allow, then carries the change to its sublicences and, under linked
// termination, to the other grants of its bundle.
func applyGrantStatus(to Status) func(*applyCtx) error {
	return func(a *applyCtx) error {
		var b GrantRef
		if err := a.body(&b); err != nil {
			return err
		}
		g, err := a.grant("body.grant", b.Grant)
		if err != nil {
			return err
		}
		if !slices.Contains(g.Licensors, a.p.Signer) && !slices.Contains(g.Licensees, a.p.Signer) {
			return Errorf(CodeForbidden, "body.grant: %s is not a party to grant %s", a.p.Signer, g.ID)
		}
		g.Status = g.StatusAt(a.now)
		if err := g.CanTransition(to, a.p.Signer); err != nil {
			return prefixed("body.grant", err)
		}
		from := g.Status
		if to == StatusActive {
			// While it was suspended another licensee may have been given an
			// overlapping exclusive grant, or this one is exclusive and
			// another overlapping grant became active.
			if err := a.checkExclusive(g); err != nil {
				return err
			}
		}
		g.Status = to
		g.SuspendedBy = ""
		if to == StatusSuspended {
			g.SuspendedBy = a.p.Signer
		}
		a.putGrant(g)
		a.history(g, historyKind(from, to), a.p.Signer, b.Reason, nil)
		a.event("grant."+historyKind(from, to), g.ID)
		a.knockOn(g, to, b.Reason)
		return nil
	}
}

func historyKind(from, to Status) string {
	if to == StatusActive && from == StatusSuspended {
		return "resumed"
	}
	return string(to)
}

// knockOn suspends (or, on resumption, resumes) the sublicences of g and,
// if g's bundle links termination, the other grants of the bundle.
func (a *applyCtx) knockOn(g *Grant, to Status, reason string) {
	cause := "parent:" + g.ID
	var affected []string
	a.tx.scan(bucketChildren, append([]byte(g.ID), 0), func(k, _ []byte) bool {
		affected = append(affected, string(k[len(g.ID)+1:]))
		return true
	})
	if g.Bundle != "" && to != StatusActive && to != StatusSuspended {
		var bn Bundle
		if a.tx.getJSON(bucketBundles, []byte(g.Bundle), &bn) && bn.LinkedTermination {
			for _, id := range bn.Grants {
				if id != g.ID {
					affected = append(affected, id)
				}
			}
			cause = "bundle:" + g.Bundle
		}
	}
	for _, id := range affected {
		c, err := a.grant("", id)
		if err != nil {
			continue
		}
		st := c.StatusAt(a.now)
		switch {
		case to == StatusActive && st == StatusSuspended && c.SuspendedBy == "parent:"+g.ID:
			if a.checkExclusive(c) != nil {
				continue // an exclusive grant now covers its scope: it stays suspended
			}
			c.Status, c.SuspendedBy = StatusActive, ""
			a.putGrant(c)
			a.history(c, "resumed", "parent:"+g.ID, reason, nil)
			a.knockOn(c, StatusActive, reason)
		case to != StatusActive && st == StatusActive:
			c.Status, c.SuspendedBy = StatusSuspended, cause
			a.putGrant(c)
			a.history(c, "suspended", cause, "knock-on from grant "+g.ID, nil)
			a.event("grant.suspended", c.ID)
			a.knockOn(c, StatusSuspended, reason)
		}
	}
}
