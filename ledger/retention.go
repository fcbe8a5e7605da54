package ledger

import (
	"slices"
	"strings"
	"time"
)

// A retention limit (clauses.data.retention_days) on a grant over a
// dataset gives its licensees a duty of kind deletion: they may keep the
// data for that many days from the grant's activation, and by then they
// must attest with retention.attest that they deleted it. Like the other
// dated duties it is evaluated against ledger time:
//
//   - until it falls due, Check lists it among the allowing grant's
//     duties, with its due date;
//   - from the due date the grant no longer allows any use of the dataset;
//   - a due date passed without an attestation is a deletion_not_attested
//     infraction, computed on read as soon as ledger time passes it and
//     recorded for good by the attestation that comes late.

// DutyDeletion is the duty a retention limit gives the licensees. It is
// derived from the data terms, never written in a grant's duties.
const DutyDeletion = "deletion"

// InfractionDeletion is a retention limit that ended without an
// attestation of deletion.
const InfractionDeletion = "deletion_not_attested"

// RetentionAttest is the body of retention.attest, signed by a licensee:
// it states that the licensee deleted a dataset it held under a grant.
type RetentionAttest struct {
	Grant string `json:"grant"`
	Asset string `json:"asset"`
	// Evidence is the sha256 digest of the deletion record (a log, a
	// certificate of destruction), kept off the ledger.
	Evidence string `json:"evidence"`
	// URI, if set, says where the evidence can be inspected.
	URI string `json:"uri,omitempty"`
	// Statement is a short declaration in words.
	Statement string `json:"statement,omitempty"`
}

// Attestation is a retention.attest as a grant's history records it.
type Attestation struct {
	RetentionAttest
	Signer string `json:"signer"`
	// Late is true if it came after the retention limit ended.
	Late bool `json:"late,omitempty"`
}

// retentionDue returns when the licensees of g must have deleted its
// datasets, if g has a retention limit and has been active.
func retentionDue(g *Grant) (time.Time, bool) {
	d := g.Terms.Clauses.Data
	if d == nil || d.RetentionDays <= 0 || g.ActivatedAt.IsZero() {
		return time.Time{}, false
	}
	return g.ActivatedAt.AddDate(0, 0, d.RetentionDays), true
}

// retentionDenial says why g no longer allows use of a dataset at t: its
// retention limit has ended.
func retentionDenial(g *Grant, kind AssetKind, at time.Time) string {
	if kind != AssetDataset {
		return ""
	}
	due, ok := retentionDue(g)
	if !ok || at.Before(due) {
		return ""
	}
	return "data terms: the retention limit of " + itoa(g.Terms.Clauses.Data.RetentionDays) + " days ended at " +
		due.Format(time.RFC3339) + "; the data must be deleted"
}

// deletionDuty is the pending deletion duty of g over a dataset, for
// Check's answer.
func deletionDuty(g *Grant, kind AssetKind, asset string) (PendingDuty, bool) {
	due, ok := retentionDue(g)
	if !ok || kind != AssetDataset {
		return PendingDuty{}, false
	}
	return PendingDuty{Grant: g.ID, Duty: Duty{
		Kind:    DutyDeletion,
		Text:    "delete " + asset + " and attest it with retention.attest by " + due.Format(time.RFC3339),
		DueDays: g.Terms.Clauses.Data.RetentionDays,
	}}, true
}

// attestation returns the deletion attestation of asset under grant, if
// one was recorded.
func attestation(t *tx, grant, asset string) (*Attestation, bool) {
	var found *Attestation
	t.scan(bucketHistory, append([]byte(grant), 0), func(_, v []byte) bool {
		var e GrantEvent
		mustUnmarshal(bucketHistory, nil, v, &e)
		if e.Deletion != nil && e.Deletion.Asset == asset {
			found = e.Deletion
			return false
		}
		return true
	})
	return found, found != nil
}

// deletionInfractions returns g's datasets whose retention limit ended
// by now without an attestation of deletion.
func deletionInfractions(t *tx, g *Grant, now time.Time) []Infraction {
	due, ok := retentionDue(g)
	if !ok || now.Before(due) {
		return nil
	}
	var out []Infraction
	for _, id := range g.Terms.Assets {
		var asset Asset
		if !t.getJSON(bucketAssets, []byte(id), &asset) || asset.Kind != AssetDataset {
			continue
		}
		if _, ok := attestation(t, g.ID, id); ok {
			continue
		}
		out = append(out, deletionInfraction(g, id, due))
	}
	return out
}

func deletionInfraction(g *Grant, asset string, due time.Time) Infraction {
	return Infraction{
		ID: infractionID(g.ID, InfractionDeletion, asset), Kind: InfractionDeletion, Grant: g.ID, Members: g.Licensees,
		Asset: asset, At: due,
		Detail: "no attestation that " + asset + " was deleted by " + due.Format(time.RFC3339) + ", when the retention limit of " +
			itoa(g.Terms.Clauses.Data.RetentionDays) + " days ended",
	}
}

// computedDeletions lists the deletion infractions that match filter and
// lie after after, at ledger time now, that are not yet recorded.
func computedDeletions(t *tx, filter InfractionFilter, after string, seen map[string]bool, now time.Time) []*Infraction {
	if filter.Kind != "" && filter.Kind != InfractionDeletion {
		return nil
	}
	var out []*Infraction
	visit := func(g *Grant) {
		for _, in := range deletionInfractions(t, g, now) {
			if !seen[in.ID] && filter.match(&in) && in.ID > after {
				out = append(out, &in)
			}
		}
	}
	if filter.Grant != "" {
		var g Grant
		if t.getJSON(bucketGrants, []byte(filter.Grant), &g) {
			visit(&g)
		}
		return out
	}
	t.scan(bucketGrants, nil, func(k, v []byte) bool {
		var g Grant
		mustUnmarshal(bucketGrants, k, v, &g)
		visit(&g)
		return true
	})
	return out
}

func init() {
	register("retention.attest", handler{apply: applyRetentionAttest})
}

func applyRetentionAttest(a *applyCtx) error {
	var b RetentionAttest
	if err := a.body(&b); err != nil {
		return err
	}
	g, err := a.grant("body.grant", b.Grant)
	if err != nil {
		return err
	}
	if !slices.Contains(g.Licensees, a.p.Signer) {
		return Errorf(CodeForbidden, "body.grant: %s is not a licensee of grant %s", a.p.Signer, g.ID)
	}
	if err := validateAttest(&b, g); err != nil {
		return err
	}
	var asset Asset
	if !a.tx.getJSON(bucketAssets, []byte(b.Asset), &asset) || asset.Kind != AssetDataset {
		return Errorf(CodeInvalid, "body.asset: %s is not a dataset; only datasets carry a retention limit", b.Asset)
	}
	due, ok := retentionDue(g)
	if !ok {
		return Errorf(CodeRejected, "body.grant: grant %s has no retention limit in effect (none stated, or never active)", g.ID)
	}
	if prev, ok := attestation(a.tx, g.ID, b.Asset); ok {
		return Errorf(CodeConflict, "body.asset: %s already attested the deletion of %s under grant %s", prev.Signer, b.Asset, g.ID)
	}
	at := &Attestation{RetentionAttest: b, Signer: a.p.Signer, Late: !a.now.Before(due)}
	a.putHistory(GrantEvent{
		Grant: g.ID, Index: a.index, At: a.now, Kind: "deletion_attested", By: a.p.Signer, Version: g.Version,
		Status: g.Status, Deletion: at,
	})
	a.event("retention.attested", g.ID)
	if at.Late {
		in := deletionInfraction(g, b.Asset, due)
		in.Report = a.p.ID
		a.recordInfraction(in)
	}
	return nil
}

// validateAttest checks the body's fields on their own.
func validateAttest(b *RetentionAttest, g *Grant) error {
	switch {
	case !slices.Contains(g.Terms.Assets, b.Asset):
		return Errorf(CodeInvalid, "body.asset: %q is not an asset of grant %s", b.Asset, g.ID)
	case !ValidDigest(b.Evidence):
		return Errorf(CodeInvalid, "body.evidence: want sha256:<64 lower-case hex digits> of the deletion record")
	case len(b.URI) > 2048 || b.URI != "" && !strings.Contains(b.URI, ":"):
		return Errorf(CodeInvalid, "body.uri: want an absolute URI of at most 2048 characters")
	case len(b.Statement) > 500:
		return Errorf(CodeInvalid, "body.statement: longer than 500 characters")
	}
	return nil
}
