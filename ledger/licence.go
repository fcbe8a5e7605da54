package ledger

import (
	"slices"
	"strings"

	"github.com/github/go-spdx/v2/spdxexp"
)

// An asset's spdx field is an SPDX licence expression ("MIT",
// "Apache-2.0 OR MIT", "GPL-2.0-only WITH Classpath-exception-2.0"),
// validated against the SPDX licence list built into the binary (through
// github.com/github/go-spdx); LicenseRef- and DocumentRef- identifiers
// name licences of one's own. An asset registered as open is licensed to
// every active member on that licence: Check allows the rights its
// licence family grants (licenceFamilies), while the use restrictions the
// asset inherits along its lineage still win.

// maxSPDX bounds an SPDX expression, in bytes.
const maxSPDX = 256

// LicenceFamily is a group of open licences that grant the same rights.
type LicenceFamily struct {
	Name     string   `json:"name"`
	Rights   []Right  `json:"rights"`
	Licences []string `json:"licences"` // SPDX identifiers
}

// LicenceFamilies are the open-licence families the ledger knows, with the
// rights each grants. A licence outside them grants nothing through
// "open": a member then needs a grant.
var LicenceFamilies = []LicenceFamily{
	{
		Name:   "permissive",
		Rights: []Right{RightUse, RightReproduce, RightModify, RightDerive, RightDistribute, RightSublicense, RightCommercialize, RightTrain, RightEvaluate, RightHost},
		Licences: []string{"0BSD", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "BSD-3-Clause-Clear", "BSL-1.0", "CC-BY-3.0", "CC-BY-4.0",
			"CC0-1.0", "CDLA-Permissive-1.0", "CDLA-Permissive-2.0", "ISC", "MIT", "MIT-0", "ODC-By-1.0", "PDDL-1.0", "PostgreSQL",
			"PSF-2.0", "Python-2.0", "UPL-1.0", "Unlicense", "X11", "Zlib"},
	},
	{
		// Copyleft licences allow commercial use but not sublicensing;
		// their share-alike conditions bind what is distributed.
		Name:   "copyleft",
		Rights: []Right{RightUse, RightReproduce, RightModify, RightDerive, RightDistribute, RightCommercialize, RightTrain, RightEvaluate, RightHost},
		Licences: []string{"AGPL-3.0-only", "AGPL-3.0-or-later", "CC-BY-SA-4.0", "CDLA-Sharing-1.0", "EPL-2.0", "EUPL-1.2",
			"GPL-2.0-only", "GPL-2.0-or-later", "GPL-3.0-only", "GPL-3.0-or-later", "LGPL-2.1-only", "LGPL-2.1-or-later",
			"LGPL-3.0-only", "LGPL-3.0-or-later", "MPL-2.0", "ODbL-1.0"},
	},
	{
		Name:     "noncommercial",
		Rights:   []Right{RightUse, RightReproduce, RightModify, RightDerive, RightDistribute, RightTrain, RightEvaluate},
		Licences: []string{"CC-BY-NC-4.0", "CC-BY-NC-SA-4.0"},
	},
	{
		Name:     "no-derivatives",
		Rights:   []Right{RightUse, RightReproduce, RightDistribute, RightCommercialize, RightEvaluate, RightHost},
		Licences: []string{"CC-BY-ND-4.0"},
	},
	{
		Name:     "noncommercial-no-derivatives",
		Rights:   []Right{RightUse, RightReproduce, RightDistribute, RightEvaluate},
		Licences: []string{"CC-BY-NC-ND-4.0"},
	},
}

// ValidSPDX checks an SPDX licence expression against the SPDX licence
// list.
func ValidSPDX(expr string) error {
	switch {
	case len(expr) > maxSPDX:
		return Errorf(CodeInvalid, "longer than %d characters", maxSPDX)
	case strings.TrimSpace(expr) != expr || expr == "":
		return Errorf(CodeInvalid, "%q is empty or has leading or trailing space", expr)
	}
	if ok, bad := spdxexp.ValidateLicenses([]string{expr}); !ok {
		return Errorf(CodeInvalid, "%q is not an SPDX licence expression of licences on the SPDX licence list (%s)", expr, strings.Join(bad, ", "))
	}
	return nil
}

// licenceFamily returns the family of one licence identifier as SPDX
// extracts it from an expression, ignoring an exception (WITH …).
func licenceFamily(id string) (*LicenceFamily, bool) {
	id, _, _ = strings.Cut(id, " WITH ")
	if ok, canon := spdxexp.ActiveLicense(id); ok {
		id = canon
	}
	for i := range LicenceFamilies {
		if slices.Contains(LicenceFamilies[i].Licences, id) {
			return &LicenceFamilies[i], true
		}
	}
	return nil, false
}

// OpenRights returns the rights an SPDX expression grants to everyone:
// a right is granted if the expression can be satisfied with licences
// that each grant it, so "A OR B" grants what either grants and "A AND B"
// what both grant.
func OpenRights(expr string) []Right {
	ids, err := spdxexp.ExtractLicenses(expr)
	if err != nil {
		return nil
	}
	slices.Sort(ids)
	var out []Right
	for _, r := range Rights {
		var allowed []string
		for _, id := range ids {
			if f, ok := licenceFamily(id); ok && slices.Contains(f.Rights, r) {
				allowed = append(allowed, id)
			}
		}
		if len(allowed) == 0 {
			continue
		}
		if ok, err := spdxexp.Satisfies(expr, allowed); err == nil && ok {
			out = append(out, r)
		}
	}
	return out
}

// openLicence says why asset's open licence lets member, an active member,
// perform action, or "" if it does not.
func openLicence(asset *Asset, action Right) string {
	if !asset.Open || !slices.Contains(asset.OpenRights, action) {
		return ""
	}
	return "the licence " + asset.SPDX + " of " + asset.ID + " is open to all members and permits " + string(action)
}
