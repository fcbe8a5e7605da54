package ledger

import (
	"slices"
	"strings"
	"time"
)

// ScopeSubset checks that a sublicence's terms stay within its parent's:
// the same or fewer assets and rights, a window inside the parent's, a
// territory, purposes and industries inside the parent's, no more seats,
// and every prohibition of the parent carried over. The error names the
// first axis that is wider.
func ScopeSubset(child, parent *Terms) error {
	for _, a := range child.Assets {
		if !slices.Contains(parent.Assets, a) {
			return Errorf(CodeForbidden, "assets: %s is not licensed by parent grant %s", a, child.Parent)
		}
	}
	for _, r := range child.Rights {
		if !slices.Contains(parent.Rights, r) {
			return Errorf(CodeForbidden, "rights: %s is not a right of parent grant %s", r, child.Parent)
		}
	}
	cc, pc := &child.Constraints, &parent.Constraints
	if pc.NotBefore != nil && (cc.NotBefore == nil || cc.NotBefore.Before(*pc.NotBefore)) {
		return Errorf(CodeForbidden, "constraints.not_before: must not be before the parent's %s", pc.NotBefore.Format(time.RFC3339))
	}
	if pc.NotAfter != nil && (cc.NotAfter == nil || cc.NotAfter.After(*pc.NotAfter)) {
		return Errorf(CodeForbidden, "constraints.not_after: must not be after the parent's %s", pc.NotAfter.Format(time.RFC3339))
	}
	if ct, pt := cc.Territory.set(), pc.Territory.set(); !ct.subsetOf(pt) {
		extra := ct
		for i := range extra {
			extra[i] &^= pt[i]
		}
		return Errorf(CodeForbidden, "constraints.territory: %s outside the parent's territory (%s)", describeSet(extra), pc.Territory)
	}
	if err := listSubset("constraints.purposes", "purpose", cc.Purposes, pc.Purposes); err != nil {
		return err
	}
	if err := listSubset("constraints.industries", "industry", cc.Industries, pc.Industries); err != nil {
		return err
	}
	if pc.MaxSeats > 0 && (cc.MaxSeats == 0 || cc.MaxSeats > pc.MaxSeats) {
		return Errorf(CodeForbidden, "constraints.max_seats: the parent allows at most %d", pc.MaxSeats)
	}
	if miss := MissingProhibitions(parent.Prohibitions, child.Prohibitions); len(miss) > 0 {
		return Errorf(CodeForbidden, "prohibitions: the parent's use restriction %s must be carried over", miss[0])
	}
	return nil
}

func listSubset(field, what string, child, parent []string) error {
	if len(parent) == 0 {
		return nil
	}
	if len(child) == 0 {
		return Errorf(CodeForbidden, "%s: the parent is limited to %s; name a subset", field, strings.Join(parent, ", "))
	}
	for _, v := range child {
		if !slices.Contains(parent, v) {
			return Errorf(CodeForbidden, "%s: %s %s is outside the parent's (%s)", field, what, v, strings.Join(parent, ", "))
		}
	}
	return nil
}

func describeSet(s territorySet) string {
	c := s.codes()
	if len(c) > 8 {
		return strings.Join(c[:8], ", ") + " and " + itoa(len(c)-8) + " more are"
	}
	if len(c) == 1 {
		return c[0] + " is"
	}
	return strings.Join(c, ", ") + " are"
}

// ExclusiveClash reports whether two grants may not both be active: either
// is exclusive or sole, their licensees differ, and they overlap in asset, right,
// territory and time. A grant never clashes with its own sublicences; the
// caller excludes ancestors, which it can see and this function cannot.
func ExclusiveClash(a, b *Grant) bool {
	if a.Terms.ExclusivityKind() == ExclusivityNone && b.Terms.ExclusivityKind() == ExclusivityNone {
		return false
	}
	if slices.Equal(a.Licensees, b.Licensees) {
		return false
	}
	if !intersects(a.Terms.Assets, b.Terms.Assets) || !intersects(a.Terms.Rights, b.Terms.Rights) {
		return false
	}
	if a.Terms.Constraints.Territory.set().and(b.Terms.Constraints.Territory.set()).empty() {
		return false
	}
	return windowsOverlap(&a.Terms.Constraints, &b.Terms.Constraints)
}

func intersects[E comparable](a, b []E) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

// windowsOverlap reports whether [a.NotBefore, a.NotAfter) and
// [b.NotBefore, b.NotAfter) share an instant; a missing bound is open.
func windowsOverlap(a, b *Constraints) bool {
	if a.NotAfter != nil && b.NotBefore != nil && !b.NotBefore.Before(*a.NotAfter) {
		return false
	}
	if b.NotAfter != nil && a.NotBefore != nil && !a.NotBefore.Before(*b.NotAfter) {
		return false
	}
	return true
}

// covers reports whether prohibition p forbids at least everything q does:
// on each axis p is either unrestricted or a superset of q.
func (p Prohibition) covers(q Prohibition) bool {
	return axisCovers(p.Purposes, q.Purposes) && axisCovers(p.Industries, q.Industries) && axisCovers(p.Actions, q.Actions)
}

func axisCovers[E comparable](p, q []E) bool {
	if len(p) == 0 {
		return true
	}
	if len(q) == 0 {
		return false
	}
	for _, x := range q {
		if !slices.Contains(p, x) {
			return false
		}
	}
	return true
}

// matches reports whether a use with this action, purpose and industry
// falls under the prohibition. An axis the prohibition leaves empty matches
// anything; one it names must match the request's value.
func (p Prohibition) matches(action Right, purpose, industry string) bool {
	return (len(p.Actions) == 0 || slices.Contains(p.Actions, action)) &&
		(len(p.Purposes) == 0 || slices.Contains(p.Purposes, purpose)) &&
		(len(p.Industries) == 0 || slices.Contains(p.Industries, industry))
}

// String describes the prohibition in words.
func (p Prohibition) String() string {
	var parts []string
	if len(p.Actions) > 0 {
		a := make([]string, len(p.Actions))
		for i, r := range p.Actions {
			a[i] = string(r)
		}
		parts = append(parts, strings.Join(a, "/"))
	} else {
		parts = append(parts, "use")
	}
	if len(p.Purposes) > 0 {
		parts = append(parts, "for "+strings.Join(p.Purposes, "/")+" purposes")
	}
	if len(p.Industries) > 0 {
		parts = append(parts, "in "+strings.Join(p.Industries, "/"))
	}
	s := "no " + strings.Join(parts, " ")
	if p.Note != "" {
		s += " (" + p.Note + ")"
	}
	return s
}

// MissingProhibitions returns the prohibitions in required that none in
// have covers: what a grant must still add to carry its obligations.
func MissingProhibitions(required, have []Prohibition) []Prohibition {
	var out []Prohibition
	for _, r := range required {
		if !slices.ContainsFunc(have, func(h Prohibition) bool { return h.covers(r) }) {
			out = append(out, r)
		}
	}
	return out
}
