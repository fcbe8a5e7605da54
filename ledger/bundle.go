package ledger

import (
	"slices"
	"time"
)

// Bundle statuses. An offered bundle whose deadline passes has expired
// (evaluated lazily); its grants never activate.
const (
	BundleOffered = "offered"
	BundleActive  = "active"
	BundleExpired = "expired"
)

// Bundle is a set of grants among several parties that activate together
// once every party has signed, or not at all. A cross-licence is a bundle
// of grants running in opposite directions.
type Bundle struct {
	ID                string    `json:"id"`
	Grants            []string  `json:"grants"`
	Parties           []string  `json:"parties"` // every licensor and licensee, sorted
	Signed            []string  `json:"signed"`  // parties that have signed, sorted
	Deadline          time.Time `json:"deadline"`
	LinkedTermination bool      `json:"linked_termination"`
	Status            string    `json:"status"`
	Proposer          string    `json:"proposer"`
	OfferedAt         time.Time `json:"offered_at"`
	ActivatedAt       time.Time `json:"activated_at,omitzero"`
	Index             uint64    `json:"index"`
}

// StatusAt is the bundle's status at ledger time now.
func (b *Bundle) StatusAt(now time.Time) string {
	if b.Status == BundleOffered && !now.Before(b.Deadline) {
		return BundleExpired
	}
	return b.Status
}

// Pending lists the parties that have not signed yet.
func (b *Bundle) Pending() []string {
	var out []string
	for _, p := range b.Parties {
		if _, ok := slices.BinarySearch(b.Signed, p); !ok {
			out = append(out, p)
		}
	}
	return out
}

// BundleOffer is the body of bundle.offer.
type BundleOffer struct {
	ID                string       `json:"id"`
	Grants            []GrantOffer `json:"grants"`
	Deadline          time.Time    `json:"deadline"`
	LinkedTermination bool         `json:"linked_termination,omitempty"`
}

// BundleAccept is the body of bundle.accept.
type BundleAccept struct {
	Bundle string `json:"bundle"`
}

func init() {
	register("bundle.offer", handler{apply: applyBundleOffer})
}

func applyBundleOffer(a *applyCtx) error {
	var b BundleOffer
	if err := a.body(&b); err != nil {
		return err
	}
	if !ValidID(b.ID) {
		return Errorf(CodeInvalid, "body.id: %q is not a valid ID (1-128 of A-Z a-z 0-9 . _ : -)", b.ID)
	}
	if a.tx.get(bucketBundles, []byte(b.ID)) != nil {
		return Errorf(CodeConflict, "body.id: bundle %s already exists", b.ID)
	}
	if len(b.Grants) < 1 || len(b.Grants) > a.charter.MaxBatch {
		return Errorf(CodeInvalid, "body.grants: a bundle holds 1 to %d grants, not %d", a.charter.MaxBatch, len(b.Grants))
	}
	if !b.Deadline.After(a.now) {
		return Errorf(CodeInvalid, "body.deadline: %s is not after ledger time", b.Deadline.UTC().Format(time.RFC3339))
	}
	bn := &Bundle{
		ID: b.ID, Deadline: b.Deadline.UTC(), LinkedTermination: b.LinkedTermination,
		Status: BundleOffered, Proposer: a.p.Signer, OfferedAt: a.now, Index: a.index,
	}
	var grants []*Grant
	for i := range b.Grants {
		field := "body.grants[" + itoa(i) + "]"
		if b.Grants[i].Confidential != nil {
			return Errorf(CodeInvalid, "%s.confidential: a bundle cannot carry confidential grants yet; offer them one by one with grant.offer", field)
		}
		if b.Grants[i].OfferExpires != nil {
			return Errorf(CodeInvalid, "%s.offer_expires: grants of a bundle expire with the bundle's deadline", field)
		}
		g, err := a.checkOffer(field, &b.Grants[i])
		if err != nil {
			return err
		}
		g.Bundle = b.ID
		// Later grants of the bundle see the earlier ones, so IDs stay
		// unique within it.
		a.putGrant(g)
		grants = append(grants, g)
		bn.Grants = append(bn.Grants, g.ID)
		bn.Parties = append(bn.Parties, g.Licensors...)
		bn.Parties = append(bn.Parties, g.Licensees...)
	}
	slices.Sort(bn.Parties)
	bn.Parties = slices.Compact(bn.Parties)
	if !slices.Contains(bn.Parties, a.p.Signer) {
		return Errorf(CodeForbidden, "body.grants: the proposer %s must be a party to the bundle", a.p.Signer)
	}
	for _, p := range a.signers {
		if slices.Contains(bn.Parties, p) {
			bn.Signed = append(bn.Signed, p)
		}
	}
	for _, g := range grants {
		a.indexGrant(g)
		terms := g.Terms
		a.history(g, "offered", a.p.Signer, "in bundle "+b.ID, &terms)
	}
	a.event("bundle.offered", bn.ID)
	return a.settleBundle(bn)
}

func init() {
	register("bundle.accept", handler{apply: applyBundleAccept})
}

func applyBundleAccept(a *applyCtx) error {
	var b BundleAccept
	if err := a.body(&b); err != nil {
		return err
	}
	var bn Bundle
	if !a.tx.getJSON(bucketBundles, []byte(b.Bundle), &bn) {
		return Errorf(CodeNotFound, "body.bundle: no bundle %q", b.Bundle)
	}
	if s := bn.StatusAt(a.now); s != BundleOffered {
		return Errorf(CodeRejected, "body.bundle: bundle %s is %s", bn.ID, s)
	}
	added := false
	for _, p := range a.signers {
		i, signed := slices.BinarySearch(bn.Signed, p)
		if slices.Contains(bn.Parties, p) && !signed {
			bn.Signed = slices.Insert(bn.Signed, i, p)
			added = true
		}
	}
	if !added {
		return Errorf(CodeRejected, "body.bundle: the envelope adds no new party signature to bundle %s (pending: %v)", bn.ID, bn.Pending())
	}
	return a.settleBundle(&bn)
}

// settleBundle stores the bundle and, once every party has signed,
// activates all of its grants together. If any grant can no longer
// activate (an exclusive grant now clashes, a parent was revoked), the
// whole proposal is rejected and nothing activates.
func (a *applyCtx) settleBundle(bn *Bundle) error {
	if len(bn.Pending()) == 0 {
		for i, id := range bn.Grants {
			g, err := a.grant("bundle.grants", id)
			if err != nil {
				return err
			}
			if err := a.checkTerms("bundle.grants["+itoa(i)+"]", g); err != nil {
				return err
			}
			// Activating one grant must be visible to the exclusivity
			// check of the next.
			a.activate(g, "bundle:"+bn.ID)
		}
		bn.Status, bn.ActivatedAt = BundleActive, a.now
		a.event("bundle.activated", bn.ID)
	}
	a.tx.putJSON(bucketBundles, []byte(bn.ID), bn)
	return nil
}
