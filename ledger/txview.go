package ledger

// txView lets Check read the state that Apply is building, including the
// writes of the proposal being applied.
type txView struct{ t *tx }

// publicTermsOnly marks txView, Apply's view, as deciding by public terms
// (publicView).
func (txView) publicTermsOnly() {}

func (v txView) Asset(id string) (*Asset, bool) {
	var a Asset
	return &a, v.t.getJSON(bucketAssets, []byte(id), &a)
}

func (v txView) Grant(id string) (*Grant, bool) {
	var g Grant
	return &g, v.t.getJSON(bucketGrants, []byte(id), &g)
}

func (v txView) GrantsFor(licensee, asset string) []*Grant { return grantsFor(v.t, licensee, asset) }

func (v txView) Member(id string) (*Member, bool) {
	m, ok := v.t.memos.members.get(v.t, id)
	return &m, ok
}

func (v txView) UsageTotal(grant, period string) (*UsageTotals, bool) {
	var u UsageTotals
	return &u, v.t.getJSON(bucketUsageSum, key(grant, period), &u)
}

func (v txView) ExclusiveGrants(asset string) []*Grant { return exclusiveGrants(v.t, asset) }

func (v txView) ExportPolicy() []ExportRule { return loadCharter(v.t).ExportPolicy }
