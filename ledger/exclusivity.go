package ledger

import (
	"slices"
	"strings"
	"time"
)

// Exclusivity says whom a grant keeps out of its scope (asset × right ×
// territory × time, and its purposes and industries):
//
//   - exclusive: everyone but its licensees, the licensor and the asset's
//     co-owners included. No other grant may overlap it, and the
//     licensor's and owners' own checks in its scope are denied, naming it;
//   - sole: everyone but its licensees and the licensor. No other grant
//     may overlap it; the licensor keeps its own use;
//   - none (or empty): no one.
//
// The older boolean Terms.Exclusive means sole: that is how the ledger
// treated it before exclusivity could be stated, so existing journals keep
// their meaning.
type Exclusivity string

// The exclusivity kinds.
const (
	ExclusivityNone      Exclusivity = "none"
	ExclusivitySole      Exclusivity = "sole"
	ExclusivityExclusive Exclusivity = "exclusive"
)

// ExclusivityKind is the grant's effective exclusivity: Exclusivity if
// stated, sole for the old exclusive=true, else none.
func (t *Terms) ExclusivityKind() Exclusivity {
	switch {
	case t.Exclusivity != "":
		return t.Exclusivity
	case t.Exclusive:
		return ExclusivitySole
	}
	return ExclusivityNone
}

func (t *Terms) validateExclusivity() error {
	switch t.Exclusivity {
	case "", ExclusivityNone, ExclusivitySole, ExclusivityExclusive:
	default:
		return Errorf(CodeInvalid, "exclusivity: %q is not exclusive, sole or none", t.Exclusivity)
	}
	if t.Exclusive && t.Exclusivity != "" {
		return Errorf(CodeInvalid, "exclusive: the boolean is the old form of exclusivity; state exclusivity alone")
	}
	return nil
}

// exclusiveView is what Check reads to find the exclusive grants that bind
// a licensor or owner. Every view the ledger provides implements it; a
// CheckView that does not is taken to have none.
type exclusiveView interface {
	// ExclusiveGrants returns the grants over asset whose stated
	// exclusivity is exclusive, in ID order, whatever their status.
	ExclusiveGrants(asset string) []*Grant
}

// boundBy returns the active exclusive grant over asset that binds
// req.Member in req's scope, and why in words, or nil. An exclusive grant
// binds its licensors and, if it is not a sublicence, the asset's owners;
// never its own licensees.
func boundBy(v CheckView, asset *Asset, req *CheckRequest) (*Grant, string) {
	ev, ok := v.(exclusiveView)
	if !ok {
		return nil, ""
	}
	for _, g := range ev.ExclusiveGrants(asset.ID) {
		if g.Terms.ExclusivityKind() != ExclusivityExclusive || g.StatusAt(req.At) != StatusActive ||
			slices.Contains(g.Licensees, req.Member) {
			continue
		}
		if !slices.Contains(g.Licensors, req.Member) && (g.Terms.Parent != "" || !asset.OwnedBy(req.Member)) {
			continue
		}
		if inScope(g, req) {
			return g, "exclusive grant " + g.ID + " to " + strings.Join(g.Licensees, ", ") + " binds " + req.Member +
				": it covers " + string(req.Action) + " of " + asset.ID + scopeWords(g)
		}
	}
	return nil, ""
}

// inScope reports whether req may fall within g's scope. An axis g limits
// and the request leaves unstated counts as inside: only a stated
// territory, purpose or industry outside g's takes the use out of it.
func inScope(g *Grant, req *CheckRequest) bool {
	c := &g.Terms.Constraints
	if !hasRight(g.Terms.Rights, req.Action) || c.NotBefore != nil && req.At.Before(*c.NotBefore) {
		return false
	}
	if req.Territory != "" && (len(c.Territory.Allow) > 0 || len(c.Territory.Deny) > 0) && !c.Territory.set().has(req.Territory) {
		return false
	}
	if req.Purpose != "" && len(c.Purposes) > 0 && !slices.Contains(c.Purposes, req.Purpose) {
		return false
	}
	return req.Industry == "" || len(c.Industries) == 0 || slices.Contains(c.Industries, req.Industry)
}

// scopeWords describes where and until when g's scope runs.
func scopeWords(g *Grant) string {
	c := &g.Terms.Constraints
	s := ""
	if len(c.Territory.Allow) > 0 || len(c.Territory.Deny) > 0 {
		s += " in " + c.Territory.String()
	}
	if c.NotAfter != nil {
		s += " until " + c.NotAfter.Format(time.RFC3339)
	}
	return s
}
