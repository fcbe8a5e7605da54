package ledger

import (
	"slices"
	"strings"
)

// The owners an ownership clause (Clauses.OutputsOwner and
// Clauses.ImprovementsOwner) gives a derived asset. "licensee", or no
// clause, leaves the asset to whoever derived it.
const (
	OwnerLicensee = "licensee"
	OwnerLicensor = "licensor"
	OwnerJoint    = "joint"
)

// jointShareBP is what each side of a joint clause holds together: the
// licensors half, the licensee that derived the asset the other half.
const jointShareBP = 5000

// ownershipClause returns the clause of g that governs an asset of kind
// derived under it, and the clause's name: outputs_owner for outputs,
// improvements_owner for everything else.
func ownershipClause(g *Grant, kind AssetKind) (clause, name string) {
	if kind == AssetOutput {
		return g.Terms.Clauses.OutputsOwner, "outputs_owner"
	}
	return g.Terms.Clauses.ImprovementsOwner, "improvements_owner"
}

// checkClauseOwners checks the owners of a derived asset against the
// ownership clauses of the grants its parents name, and that the
// registrant is an owner unless a clause gives the asset to the
// licensors. Every such owner signs the registration (asset.register
// requires it), so the licensors take part in registering what the
// licence gives them.
func (a *applyCtx) checkClauseOwners(asset *Asset) error {
	assigned := false
	for _, p := range asset.Parents {
		if p.Grant == "" {
			continue
		}
		var g Grant
		if !a.tx.getJSON(bucketGrants, []byte(p.Grant), &g) {
			continue // checkParent refused it already
		}
		clause, name := ownershipClause(&g, asset.Kind)
		var err error
		switch clause {
		case OwnerLicensor:
			assigned = true
			err = licensorOwned(&g, name, asset.Owners)
		case OwnerJoint:
			err = jointlyOwned(&g, name, a.p.Signer, asset.Owners)
		}
		if err != nil {
			return err
		}
	}
	if !assigned && !asset.OwnedBy(a.p.Signer) {
		return Errorf(CodeForbidden, "body.owners: the registrant %s must be an owner", a.p.Signer)
	}
	return nil
}

// licensorOwned requires the owners to be exactly g's licensors.
func licensorOwned(g *Grant, clause string, owners []Owner) error {
	if !slices.Equal(ownerIDs(owners), g.Licensors) {
		return Errorf(CodeForbidden, "body.owners: grant %s gives what is derived under it to its licensors (%s=licensor), so the owners must be %s, not %s",
			g.ID, clause, strings.Join(g.Licensors, ", "), strings.Join(ownerIDs(owners), ", "))
	}
	return nil
}

// jointlyOwned requires the owners to be g's licensors and the licensee
// that derived the asset, each side holding half.
func jointlyOwned(g *Grant, clause, licensee string, owners []Owner) error {
	want := append(slices.Clone(g.Licensors), licensee)
	slices.Sort(want)
	var licensors uint64
	for _, o := range owners {
		if o.Member != licensee {
			licensors += uint64(o.ShareBP)
		}
	}
	if !slices.Equal(ownerIDs(owners), want) || licensors != jointShareBP {
		return Errorf(CodeForbidden, "body.owners: grant %s makes what is derived under it joint (%s=joint), so the owners must be %s, with %s holding %d basis points and the licensors %d together",
			g.ID, clause, strings.Join(want, ", "), licensee, jointShareBP, jointShareBP)
	}
	return nil
}

func ownerIDs(owners []Owner) []string {
	out := make([]string, len(owners))
	for i, o := range owners {
		out[i] = o.Member
	}
	return out
}
