package ledger

import (
	"slices"
	"strings"
	"time"
)

// AssetKind is what kind of thing an asset is.
type AssetKind string

// The asset kinds.
const (
	AssetModel     AssetKind = "model"
	AssetDataset   AssetKind = "dataset"
	AssetAlgorithm AssetKind = "algorithm"
	AssetSoftware  AssetKind = "software"
	AssetOutput    AssetKind = "output"
	AssetPatent    AssetKind = "patent"
	AssetCompute   AssetKind = "compute"
)

// Owner is one owner of an asset and its share in basis points.
type Owner struct {
	Member  string `json:"member"`
	ShareBP uint32 `json:"share_bp"`
}

// Parent names an asset that another asset was derived from, and the basis
// on which the registrant could derive from it: ownership (Grant empty) or
// a grant that carried the derive right at registration time.
type Parent struct {
	Asset string `json:"asset"`
	Grant string `json:"grant,omitempty"`
	// Territory and Purpose say where and why the derivation took place,
	// for a grant whose derive right is limited to some territories or
	// purposes. They are checked like any entitlement question.
	Territory string `json:"territory,omitempty"`
	Purpose   string `json:"purpose,omitempty"`
	// Industry is the industry the derivation served, for a grant limited
	// to some industries.
	Industry string `json:"industry,omitempty"`
}

// Asset is a licensable thing recorded on the ledger.
type Asset struct {
	ID            string    `json:"id"`
	Kind          AssetKind `json:"kind"`
	Name          string    `json:"name,omitempty"`
	Digest        string    `json:"digest"` // "sha256:<64 hex>" of the weights or the data manifest
	Owners        []Owner   `json:"owners"` // sorted by member; shares sum to 10000
	Parents       []Parent  `json:"parents,omitempty"`
	SPDX          string    `json:"spdx,omitempty"`
	ModelCardURI  string    `json:"model_card_uri,omitempty"`
	LegalTextHash string    `json:"legal_text_hash,omitempty"`
	// Open makes SPDX, an open licence, the licence of every active
	// member: Check allows them OpenRights, the rights its family grants.
	Open       bool    `json:"open,omitempty"`
	OpenRights []Right `json:"open_rights,omitempty"`
	// Prohibitions are the use restrictions inherited from the grants of
	// its parents; every grant of this asset must carry them.
	Prohibitions []Prohibition `json:"prohibitions,omitempty"`
	RegisteredAt time.Time     `json:"registered_at"`
	Index        uint64        `json:"index"` // the log index that registered it
}

// OwnedBy reports whether member is one of the asset's owners.
func (a *Asset) OwnedBy(member string) bool {
	for _, o := range a.Owners {
		if o.Member == member {
			return true
		}
	}
	return false
}

// AssetRegister is the body of asset.register, signed by every owner.
type AssetRegister struct {
	ID            string    `json:"id"`
	Kind          AssetKind `json:"kind"`
	Name          string    `json:"name,omitempty"`
	Digest        string    `json:"digest"`
	Owners        []Owner   `json:"owners"`
	Parents       []Parent  `json:"parents,omitempty"`
	SPDX          string    `json:"spdx,omitempty"`
	ModelCardURI  string    `json:"model_card_uri,omitempty"`
	LegalTextHash string    `json:"legal_text_hash,omitempty"`
	// Open declares the SPDX licence open to all members (licence.go).
	Open bool `json:"open,omitempty"`
}

// AssetTransfer is the body of asset.transfer, signed by both sides.
type AssetTransfer struct {
	Asset   string `json:"asset"`
	From    string `json:"from"`
	To      string `json:"to"`
	ShareBP uint32 `json:"share_bp"`
}

// AssetKinds lists the asset kinds.
var AssetKinds = []AssetKind{AssetModel, AssetDataset, AssetAlgorithm, AssetSoftware, AssetOutput, AssetPatent, AssetCompute}

// ValidDigest reports whether s is "sha256:" followed by 64 lower-case hex
// digits, the form of content digests and document hashes.
func ValidDigest(s string) bool {
	const p = "sha256:"
	return len(s) == len(p)+64 && s[:len(p)] == p && validHexHash(s[len(p):])
}

// checkOwners validates an owner list: sorted by member, no duplicates,
// active members, positive shares summing to 10000 basis points.
func (a *applyCtx) checkOwners(field string, owners []Owner) error {
	if len(owners) == 0 {
		return Errorf(CodeInvalid, "%s: at least one owner is required", field)
	}
	var sum uint64
	for i, o := range owners {
		if i > 0 && owners[i-1].Member >= o.Member {
			return Errorf(CodeInvalid, "%s[%d].member: owners must be sorted by member without duplicates", field, i)
		}
		if _, err := a.activeMember(field+"["+itoa(i)+"].member", o.Member); err != nil {
			return err
		}
		if o.ShareBP == 0 {
			return Errorf(CodeInvalid, "%s[%d].share_bp: must be positive", field, i)
		}
		sum += uint64(o.ShareBP)
	}
	if sum != 10000 {
		return Errorf(CodeInvalid, "%s: shares sum to %d basis points, not 10000", field, sum)
	}
	return nil
}

func init() {
	register("asset.register", handler{apply: applyAssetRegister})
}

func applyAssetRegister(a *applyCtx) error {
	var b AssetRegister
	if err := a.body(&b); err != nil {
		return err
	}
	if !ValidID(b.ID) {
		return Errorf(CodeInvalid, "body.id: %q is not a valid ID (1-128 of A-Z a-z 0-9 . _ : -)", b.ID)
	}
	if a.tx.get(bucketAssets, []byte(b.ID)) != nil {
		return Errorf(CodeConflict, "body.id: asset %s already exists", b.ID)
	}
	if !slices.Contains(AssetKinds, b.Kind) {
		return Errorf(CodeInvalid, "body.kind: %q is not one of %v", b.Kind, AssetKinds)
	}
	if len(b.Name) > 200 {
		return Errorf(CodeInvalid, "body.name: longer than 200 characters")
	}
	if !ValidDigest(b.Digest) {
		return Errorf(CodeInvalid, "body.digest: want sha256:<64 lower-case hex digits>")
	}
	if b.LegalTextHash != "" && !ValidDigest(b.LegalTextHash) {
		return Errorf(CodeInvalid, "body.legal_text_hash: want sha256:<64 lower-case hex digits>")
	}
	var openRights []Right
	if b.SPDX != "" {
		if err := ValidSPDX(b.SPDX); err != nil {
			return prefixed("body.spdx", err)
		}
	}
	if b.Open {
		if b.SPDX == "" {
			return Errorf(CodeInvalid, "body.open: an open asset needs its licence in spdx")
		}
		if openRights = OpenRights(b.SPDX); len(openRights) == 0 {
			return Errorf(CodeInvalid, "body.open: the licence %s is of no open-licence family the ledger knows, so it would grant nothing; license the asset by grants instead", b.SPDX)
		}
	}
	if len(b.ModelCardURI) > 2048 || (b.ModelCardURI != "" && !strings.Contains(b.ModelCardURI, ":")) {
		return Errorf(CodeInvalid, "body.model_card_uri: want an absolute URI of at most 2048 characters")
	}
	if err := a.checkOwners("body.owners", b.Owners); err != nil {
		return err
	}
	owners := make([]string, len(b.Owners))
	for i, o := range b.Owners {
		owners[i] = o.Member
	}
	if err := a.requireSigned("asset.register", owners...); err != nil {
		return err
	}
	asset := &Asset{
		ID: b.ID, Kind: b.Kind, Name: b.Name, Digest: b.Digest, Owners: b.Owners, Parents: b.Parents,
		SPDX: b.SPDX, ModelCardURI: b.ModelCardURI, LegalTextHash: b.LegalTextHash, Open: b.Open, OpenRights: openRights,
		RegisteredAt: a.now, Index: a.index,
	}
	for i, p := range b.Parents {
		if err := a.checkParent(i, p, asset); err != nil {
			return err
		}
	}
	if err := a.checkClauseOwners(asset); err != nil {
		return err
	}
	asset.Prohibitions = normalizeProhibitions(asset.Prohibitions)
	a.tx.putJSON(bucketAssets, []byte(asset.ID), asset)
	a.event("asset.registered", asset.ID)
	return nil
}

// checkParent checks that the registrant may derive from parent p: it owns
// the parent, or the grant it names gives it the derive right now. The
// prohibitions that bind the parent pass on to the derived asset.
func (a *applyCtx) checkParent(i int, p Parent, asset *Asset) error {
	field := "body.parents[" + itoa(i) + "]"
	for _, q := range asset.Parents[:i] {
		if q.Asset == p.Asset {
			return Errorf(CodeInvalid, "%s.asset: %s is named twice", field, p.Asset)
		}
	}
	var parent Asset
	if !a.tx.getJSON(bucketAssets, []byte(p.Asset), &parent) {
		return Errorf(CodeNotFound, "%s.asset: no asset %q", field, p.Asset)
	}
	asset.Prohibitions = append(asset.Prohibitions, parent.Prohibitions...)
	if p.Grant == "" {
		if !parent.OwnedBy(a.p.Signer) {
			return Errorf(CodeForbidden, "%s: %s does not own %s; name the grant that gives it the derive right", field, a.p.Signer, p.Asset)
		}
		if g, why := boundBy(txView{a.tx}, &parent, &CheckRequest{Member: a.p.Signer, Asset: p.Asset, Action: RightDerive, At: a.now,
			Territory: p.Territory, Purpose: p.Purpose, Industry: p.Industry}); g != nil {
			return Errorf(CodeForbidden, "%s: %s", field, why)
		}
		return nil
	}
	d, err := Check(txView{a.tx}, CheckRequest{
		Member: a.p.Signer, Asset: p.Asset, Action: RightDerive, At: a.now, Territory: p.Territory, Purpose: p.Purpose,
		Industry: p.Industry,
	})
	if err != nil {
		return err
	}
	if !d.Allowed || len(d.Chain) == 0 || d.Chain[0] != p.Grant {
		why := d.Reason
		for _, c := range d.Candidates {
			if c.Grant == p.Grant {
				why = c.Reason
			}
		}
		return Errorf(CodeForbidden, "%s.grant: %s does not give %s the derive right over %s now: %s", field, p.Grant, a.p.Signer, p.Asset, why)
	}
	var g Grant
	a.tx.getJSON(bucketGrants, []byte(p.Grant), &g)
	asset.Prohibitions = append(asset.Prohibitions, g.Terms.Prohibitions...)
	return nil
}

// normalizeProhibitions sorts prohibitions by their encoding and drops
// duplicates, so that the same set always encodes to the same bytes.
func normalizeProhibitions(ps []Prohibition) []Prohibition {
	enc := make([]string, len(ps))
	for i, p := range ps {
		enc[i] = string(mustMarshal(p))
	}
	idx := make([]int, len(ps))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(x, y int) int { return strings.Compare(enc[x], enc[y]) })
	var out []Prohibition
	for n, i := range idx {
		if n > 0 && enc[i] == enc[idx[n-1]] {
			continue
		}
		out = append(out, ps[i])
	}
	return out
}

func init() {
	register("asset.transfer", handler{apply: applyAssetTransfer})
}

func applyAssetTransfer(a *applyCtx) error {
	var b AssetTransfer
	if err := a.body(&b); err != nil {
		return err
	}
	var asset Asset
	if !a.tx.getJSON(bucketAssets, []byte(b.Asset), &asset) {
		return Errorf(CodeNotFound, "body.asset: no asset %q", b.Asset)
	}
	if b.From == b.To {
		return Errorf(CodeInvalid, "body.to: must differ from body.from")
	}
	if _, err := a.activeMember("body.to", b.To); err != nil {
		return err
	}
	if err := a.requireSigned("asset.transfer", b.From, b.To); err != nil {
		return err
	}
	i := slices.IndexFunc(asset.Owners, func(o Owner) bool { return o.Member == b.From })
	if i < 0 {
		return Errorf(CodeForbidden, "body.from: %s does not own %s", b.From, b.Asset)
	}
	if b.ShareBP == 0 || b.ShareBP > asset.Owners[i].ShareBP {
		return Errorf(CodeInvalid, "body.share_bp: %d is not between 1 and %s's share of %d", b.ShareBP, b.From, asset.Owners[i].ShareBP)
	}
	asset.Owners[i].ShareBP -= b.ShareBP
	if j := slices.IndexFunc(asset.Owners, func(o Owner) bool { return o.Member == b.To }); j >= 0 {
		asset.Owners[j].ShareBP += b.ShareBP
	} else {
		asset.Owners = append(asset.Owners, Owner{Member: b.To, ShareBP: b.ShareBP})
	}
	asset.Owners = slices.DeleteFunc(asset.Owners, func(o Owner) bool { return o.ShareBP == 0 })
	slices.SortFunc(asset.Owners, func(x, y Owner) int { return strings.Compare(x.Member, y.Member) })
	a.tx.putJSON(bucketAssets, []byte(asset.ID), asset)
	a.event("asset.transferred", asset.ID)
	return nil
}
