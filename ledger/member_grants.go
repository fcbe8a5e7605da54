package ledger

import (
	"slices"
)

// What a member.suspend or member.remove ballot does to the grants the
// member gave as licensor (MemberParams.LicensorGrants). Licensees paid
// for those grants, so by default they continue.
const (
	LicensorGrantsContinue = "continue"
	LicensorGrantsSuspend  = "suspend"
	LicensorGrantsEnd      = "end"
)

// memberCause is the SuspendedBy and history "by" of a change made because
// a member was suspended, reinstated or removed.
func memberCause(member string) string { return "member:" + member }

// checkLicensorGrants validates MemberParams.LicensorGrants for a ballot
// that moves a member to status to.
func checkLicensorGrants(to MemberStatus, v string) error {
	switch {
	case v == "" || v == LicensorGrantsContinue || v == LicensorGrantsSuspend:
		return nil
	case v == LicensorGrantsEnd && to == MemberRemoved:
		return nil
	case v == LicensorGrantsEnd:
		return Errorf(CodeInvalid, "body.params.licensor_grants: a suspension is undone on reinstatement, so its grants can only continue or be suspended, not end")
	}
	return Errorf(CodeInvalid, "body.params.licensor_grants: %q is not continue, suspend or end", v)
}

// partyGrants returns the IDs of the grants, in ID order, in which member
// is a licensee and in which it is a licensor.
func (a *applyCtx) partyGrants(member string) (asLicensee, asLicensor []string) {
	a.tx.scan(bucketGrants, nil, func(k, v []byte) bool {
		var g Grant
		mustUnmarshal(bucketGrants, k, v, &g)
		if slices.Contains(g.Licensees, member) {
			asLicensee = append(asLicensee, g.ID)
		}
		if slices.Contains(g.Licensors, member) {
			asLicensor = append(asLicensor, g.ID)
		}
		return true
	})
	return asLicensee, asLicensor
}

// otherLicenseeStays reports whether g has a licensee other than member
// that is still in the consortium: the grant then goes on for it, and
// Check refuses member on its own status.
func (a *applyCtx) otherLicenseeStays(g *Grant, member string, staying MemberStatus) bool {
	for _, l := range g.Licensees {
		if l == member {
			continue
		}
		if m, ok := a.tx.memos.members.get(a.tx, l); ok && (m.Status == MemberActive || m.Status == staying) {
			return true
		}
	}
	return false
}

// suspendForMember suspends the member's licences and, if the ballot says
// so, the grants it gave: each active grant in which it is the only
// licensee still active, and each active grant it gave as licensor. They
// come back on reinstatement (resumeForMember).
func (a *applyCtx) suspendForMember(member, licensorGrants string) {
	asLicensee, asLicensor := a.partyGrants(member)
	for _, id := range asLicensee {
		g, _ := a.grant("", id)
		if !a.otherLicenseeStays(g, member, MemberActive) {
			a.setGrantStatus(g, StatusSuspended, member, "licensee "+member+" was suspended from the consortium")
		}
	}
	if licensorGrants == LicensorGrantsSuspend {
		for _, id := range asLicensor {
			g, _ := a.grant("", id)
			a.setGrantStatus(g, StatusSuspended, member, "licensor "+member+" was suspended from the consortium")
		}
	}
}

// resumeForMember brings back the grants suspended because member was
// suspended. A grant that another suspended licensee still holds, or that
// an exclusive grant now overlaps, stays suspended.
func (a *applyCtx) resumeForMember(member string) {
	cause := memberCause(member)
	var ids []string
	a.tx.scan(bucketGrants, nil, func(k, v []byte) bool {
		var g Grant
		mustUnmarshal(bucketGrants, k, v, &g)
		if g.Status == StatusSuspended && g.SuspendedBy == cause {
			ids = append(ids, g.ID)
		}
		return true
	})
	for _, id := range ids {
		g, _ := a.grant("", id)
		if g.StatusAt(a.now) != StatusSuspended {
			continue
		}
		if other := a.suspendedLicensee(g, member); other != "" {
			g.SuspendedBy = memberCause(other) // it comes back with that one
			a.putGrant(g)
			continue
		}
		if a.checkExclusive(g) != nil {
			continue
		}
		a.setGrantStatus(g, StatusActive, member, "member "+member+" was reinstated")
	}
}

// suspendedLicensee returns a licensee of g other than member that is
// suspended, or "".
func (a *applyCtx) suspendedLicensee(g *Grant, member string) string {
	for _, l := range g.Licensees {
		if m, ok := a.tx.memos.members.get(a.tx, l); ok && l != member && m.Status == MemberSuspended {
			return l
		}
	}
	return ""
}

// endForMember carries out a removal: the member's licences end (unless
// another licensee remains), and the grants it gave continue, are
// suspended or end as the ballot says. An offer to or from it is
// withdrawn.
func (a *applyCtx) endForMember(member, licensorGrants string) {
	asLicensee, asLicensor := a.partyGrants(member)
	for _, id := range asLicensee {
		g, _ := a.grant("", id)
		if !a.otherLicenseeStays(g, member, MemberSuspended) {
			a.setGrantStatus(g, a.endStatus(g), member, "licensee "+member+" was removed from the consortium")
		}
	}
	for _, id := range asLicensor {
		g, _ := a.grant("", id)
		why := "licensor " + member + " was removed from the consortium"
		switch {
		case g.StatusAt(a.now) == StatusOffered:
			a.setGrantStatus(g, StatusRevoked, member, why)
		case licensorGrants == LicensorGrantsEnd:
			a.setGrantStatus(g, a.endStatus(g), member, why)
		case licensorGrants == LicensorGrantsSuspend:
			a.setGrantStatus(g, StatusSuspended, member, why)
		}
	}
}

// endStatus is how g ends: an open offer is withdrawn (revoked), a grant
// in force is terminated.
func (a *applyCtx) endStatus(g *Grant) Status {
	if g.StatusAt(a.now) == StatusOffered {
		return StatusRevoked
	}
	return StatusTerminated
}

// setGrantStatus moves g to status to because of member's change of
// standing, records it in the grant's history and the journal's events,
// and carries it to its sublicences and linked bundle. A grant that is
// already final, or not in a status that the move applies to, is left
// alone.
func (a *applyCtx) setGrantStatus(g *Grant, to Status, member, why string) {
	from := g.StatusAt(a.now)
	switch {
	case from.final():
		return
	case to == StatusSuspended && from != StatusActive:
		return
	case to == StatusActive && from != StatusSuspended:
		return
	}
	g.Status, g.SuspendedBy = to, ""
	if to == StatusSuspended {
		g.SuspendedBy = memberCause(member)
	}
	a.putGrant(g)
	kind := historyKind(from, to)
	a.history(g, kind, memberCause(member), why, nil)
	a.event("grant."+kind, g.ID)
	if from != StatusOffered {
		a.knockOn(g, to, why)
	}
}
