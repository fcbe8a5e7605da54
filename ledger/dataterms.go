package ledger

// Data terms (clauses.data) bind the licensee's use of licensed data. They
// are enforced on assets of kind dataset only:
//
//   - may_share=false denies distribute and sublicense: the data may not
//     be passed on, whether as a copy or as a licence;
//   - may_sell=false denies commercialize;
//   - retention_days gives the licensee a deletion duty (retention.go).
//
// On every other kind of asset (a model, an output, ...) they are recorded
// and shown but not enforced: they speak of the data, and a grant that
// means to keep a model from being passed on says so with its rights or a
// prohibition. A grant over a dataset and a model enforces them on the
// dataset alone. A derived asset does not inherit them: it is not the
// data, and the prohibitions it inherits are what carries over.

// dataTermsDenial says why g's data terms deny action on an asset of the
// given kind, or "".
func dataTermsDenial(g *Grant, kind AssetKind, action Right) string {
	d := g.Terms.Clauses.Data
	if d == nil || kind != AssetDataset {
		return ""
	}
	switch {
	case !d.MayShare && (action == RightDistribute || action == RightSublicense):
		return "data terms: may_share is false, so the dataset may not be passed on (" + string(action) + ")"
	case !d.MaySell && action == RightCommercialize:
		return "data terms: may_sell is false, so the dataset may not be commercialized"
	}
	return ""
}

// dataTermsAllowSublicence refuses a sublicence of a dataset whose parent
// grant's data terms forbid sharing: sublicensing passes the data on.
func (a *applyCtx) dataTermsAllowSublicence(field string, parent *Grant, t *Terms) error {
	for _, id := range t.Assets {
		var asset Asset
		if !a.tx.getJSON(bucketAssets, []byte(id), &asset) {
			continue // reported by checkTerms
		}
		if why := dataTermsDenial(parent, asset.Kind, RightSublicense); why != "" {
			return Errorf(CodeForbidden, "%s.parent: grant %s over %s: %s", field, parent.ID, id, why)
		}
	}
	return nil
}
