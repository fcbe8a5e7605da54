package ledger

import (
	"slices"
	"strings"
)

// Export-control classifications. A grant's clauses.export_control is one
// of:
//
//   - an Export Control Classification Number: a category digit, a
//     product group letter (A to E, or Y for the 0Y521 series), three
//     digits, and optionally paragraphs of lower-case letters or digits
//     separated by dots, such as 5D002, 3A090.a or 5A992.c;
//   - EAR99, for items subject to the regulations but not listed;
//   - none, for items the parties state are not subject to export control.
const (
	ExportEAR99 = "EAR99"
	ExportNone  = "none"
)

// maxExportClass bounds a classification's length.
const maxExportClass = 32

// ValidateExportClass checks that s is an ECCN, EAR99 or none.
func ValidateExportClass(s string) error {
	if s == ExportEAR99 || s == ExportNone || validECCN(s) {
		return nil
	}
	return Errorf(CodeInvalid, "%q is not an export-control classification: want an ECCN such as 5D002 or 3A090.a, EAR99, or none", s)
}

// validECCN reports whether s is an ECCN, optionally with paragraphs.
func validECCN(s string) bool {
	if len(s) < 5 || len(s) > maxExportClass {
		return false
	}
	if !isDigit(s[0]) || !(s[1] >= 'A' && s[1] <= 'E' || s[1] == 'Y') || !isDigit(s[2]) || !isDigit(s[3]) || !isDigit(s[4]) {
		return false
	}
	rest := s[5:]
	for rest != "" {
		if rest[0] != '.' {
			return false
		}
		rest = rest[1:]
		n := 0
		for n < len(rest) && rest[n] != '.' {
			if c := rest[n]; !(c >= 'a' && c <= 'z' || isDigit(c)) {
				return false
			}
			n++
		}
		if n == 0 || n > 3 {
			return false
		}
		rest = rest[n:]
	}
	return true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// ExportRule is one row of the charter's export-control policy: uses of a
// grant whose classification falls under Classification are denied in
// the Deny territories, and are allowed elsewhere only if the grant
// carries every duty kind in RequireDuties. The consortium changes the
// table with a charter.amend ballot, which changes every affected grant at
// once: Check reads the table as it stands.
type ExportRule struct {
	// Classification is an ECCN (covering its paragraphs too: 5D002
	// covers 5D002.c.1) or EAR99.
	Classification string `json:"classification"`
	// Deny lists territories (ISO 3166-1 alpha-2, EU, EEA) where no use is
	// allowed.
	Deny []string `json:"deny,omitempty"`
	// RequireDuties lists duty kinds a grant must carry for any use.
	RequireDuties []string `json:"require_duties,omitempty"`
	// Note says where the rule comes from, for people.
	Note string `json:"note,omitempty"`
}

// validateExportPolicy checks the charter's table: rules sorted by
// classification without duplicates, each naming a classification and at
// least one denied territory or required duty.
func validateExportPolicy(rules []ExportRule) error {
	for i, r := range rules {
		f := "charter.export_policy[" + itoa(i) + "]"
		if r.Classification != ExportEAR99 && !validECCN(r.Classification) {
			return Errorf(CodeInvalid, "%s.classification: %q is not an ECCN (such as 5D002 or 3A090.a) or EAR99", f, r.Classification)
		}
		if i > 0 && rules[i-1].Classification >= r.Classification {
			return Errorf(CodeInvalid, "%s.classification: rules must be sorted by classification without duplicates", f)
		}
		if len(r.Deny)+len(r.RequireDuties) == 0 {
			return Errorf(CodeInvalid, "%s: names no denied territory and no required duty, so it would do nothing", f)
		}
		for j, c := range r.Deny {
			if !ValidTerritory(c) {
				return Errorf(CodeInvalid, "%s.deny[%d]: %q is not an ISO 3166-1 alpha-2 country code (or EU, EEA)", f, j, c)
			}
			if j > 0 && r.Deny[j-1] >= c {
				return Errorf(CodeInvalid, "%s.deny: territories must be sorted without duplicates", f)
			}
		}
		for j, k := range r.RequireDuties {
			if !slices.Contains(policyDutyKinds, k) {
				return Errorf(CodeInvalid, "%s.require_duties[%d]: %q is not one of %s", f, j, k, strings.Join(policyDutyKinds, ", "))
			}
			if j > 0 && r.RequireDuties[j-1] >= k {
				return Errorf(CodeInvalid, "%s.require_duties: duty kinds must be sorted without duplicates", f)
			}
		}
		if len(r.Note) > 200 {
			return Errorf(CodeInvalid, "%s.note: longer than 200 characters", f)
		}
	}
	return nil
}

// policyDutyKinds are the duty kinds an export rule may require.
var policyDutyKinds = []string{DutyAttribution, DutyAuditAccess, DutyReportUsage}

// appliesTo reports whether the rule covers classification c: the same
// class, or a paragraph of it.
func (r *ExportRule) appliesTo(c string) bool {
	return c == r.Classification || strings.HasPrefix(c, r.Classification) && c[len(r.Classification)] == '.'
}

// policyView is what Check reads to enforce export control. Every view the
// ledger provides implements it; a CheckView that does not is taken to
// have no policy.
type policyView interface {
	ExportPolicy() []ExportRule
}

// exportDenial says, in words, why the charter's export policy denies a
// use of g in req's territory, or "". Rules apply in table order and the
// first that denies is named.
func exportDenial(policy []ExportRule, g *Grant, req *CheckRequest) string {
	c := g.Terms.Clauses.ExportControl
	if c == "" || c == ExportNone || len(policy) == 0 {
		return ""
	}
	for i := range policy {
		r := &policy[i]
		if !r.appliesTo(c) {
			continue
		}
		if len(r.Deny) > 0 {
			deny := Territory{Allow: r.Deny}
			if req.Territory == "" {
				return "export control: charter rule " + r.Classification + " denies use in " + deny.String() +
					" and the request names no territory"
			}
			if deny.set().has(req.Territory) {
				return "export control: charter rule " + r.Classification + " denies use of " + c + " items in " + req.Territory
			}
		}
		for _, k := range r.RequireDuties {
			if !slices.ContainsFunc(g.Terms.Duties, func(d Duty) bool { return d.Kind == k }) {
				return "export control: charter rule " + r.Classification + " requires a " + k + " duty, which the grant lacks"
			}
		}
	}
	return ""
}
