package ledger_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/charta/charta/ledger"
)

func (f *fixture) registerLicensed(owner, id, spdx string, open bool) *ledger.Result {
	f.t.Helper()
	return f.submit(owner, "asset.register", ledger.AssetRegister{
		ID: id, Kind: ledger.AssetModel, Digest: digestA, Owners: []ledger.Owner{{Member: owner, ShareBP: 10000}}, SPDX: spdx, Open: open,
	})
}

// SPDX IDs were checked for syntax only, so Foo-Proprietary-1 was
// accepted. Expressions are now checked against the SPDX licence list.
func TestAsset_SPDXCheckedAgainstTheList(t *testing.T) {
	for _, c := range []struct {
		spdx string
		open bool
		want string // "" = accepted
	}{
		{"Apache-2.0", false, ""},
		{"MIT OR Apache-2.0", true, ""},
		{"GPL-2.0-only WITH Classpath-exception-2.0", true, ""},
		{"LicenseRef-charta-demo", false, ""},
		{"Foo-Proprietary-1", false, `"Foo-Proprietary-1" is not an SPDX licence expression of licences on the SPDX licence list (Foo-Proprietary-1)`},
		{"MIT OR", false, "is not an SPDX licence expression"},
		{"MIT WITH Apache-2.0", false, "is not an SPDX licence expression"},
		{" MIT", false, "leading or trailing space"},
		{strings.Repeat("MIT OR ", 40) + "MIT", false, "longer than 256"},
		{"", true, "body.open: an open asset needs its licence in spdx"},
		{"LicenseRef-charta-demo", true, "of no open-licence family the ledger knows"},
		{"Elastic-2.0", true, "of no open-licence family"},
	} {
		t.Run(c.spdx, func(t *testing.T) {
			f := newFixture(t)
			r := f.registerLicensed("alpha", "m", c.spdx, c.open)
			if c.want == "" {
				if r.Outcome.Status != ledger.StatusAccepted {
					t.Fatalf("rejected: %s", r.Outcome.Message)
				}
				return
			}
			if r.Outcome.Code != ledger.CodeInvalid || !strings.Contains(r.Outcome.Message, c.want) {
				t.Fatalf("got %s %q, want invalid containing %q", r.Outcome.Code, r.Outcome.Message, c.want)
			}
		})
	}
}

func TestOpenRights_Families(t *testing.T) {
	all := slices.Clone(ledger.Rights)
	for _, c := range []struct {
		spdx string
		want []ledger.Right
	}{
		{"Apache-2.0", all},
		{"mit", all},
		{"GPL-3.0-or-later", []ledger.Right{"use", "reproduce", "modify", "derive", "distribute", "commercialize", "train", "evaluate", "host"}},
		{"CC-BY-NC-4.0", []ledger.Right{"use", "reproduce", "modify", "derive", "distribute", "train", "evaluate"}},
		{"CC-BY-NC-ND-4.0", []ledger.Right{"use", "reproduce", "distribute", "evaluate"}},
		// OR: what either grants; AND: what both grant.
		{"CC-BY-NC-4.0 OR MIT", all},
		{"CC-BY-NC-4.0 AND MIT", []ledger.Right{"use", "reproduce", "modify", "derive", "distribute", "train", "evaluate"}},
		{"CC-BY-ND-4.0 AND CC-BY-NC-4.0", []ledger.Right{"use", "reproduce", "distribute", "evaluate"}},
		{"LicenseRef-own", nil},
		{"LicenseRef-own OR Apache-2.0", all},
	} {
		if got := ledger.OpenRights(c.spdx); !slices.Equal(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.spdx, got, c.want)
		}
	}
}

// An Apache-2.0 asset was denied to every member without a grant. An open
// asset is now licensed to every active member for what its licence
// permits, and Check names the licence.
func TestCheck_OpenLicenceAllows(t *testing.T) {
	f := newFixture(t)
	if r := f.registerLicensed("alpha", "acc-open", "Apache-2.0", true); r.Outcome.Status != ledger.StatusAccepted {
		t.Fatal(r.Outcome.Message)
	}
	if r := f.registerLicensed("alpha", "acc-closed", "Apache-2.0", false); r.Outcome.Status != ledger.StatusAccepted {
		t.Fatal(r.Outcome.Message)
	}
	if r := f.registerLicensed("alpha", "acc-nc", "CC-BY-NC-4.0", true); r.Outcome.Status != ledger.StatusAccepted {
		t.Fatal(r.Outcome.Message)
	}
	for _, a := range []ledger.Right{"use", "modify", "distribute", "commercialize"} {
		d := f.wantCheck(ledger.CheckRequest{Member: "beta", Asset: "acc-open", Action: a}, true,
			"the licence Apache-2.0 of acc-open is open to all members and permits "+string(a))
		if d.Basis != "licence" {
			t.Fatalf("basis %q", d.Basis)
		}
	}
	f.wantCheck(ledger.CheckRequest{Member: "beta", Asset: "acc-closed", Action: "use"}, false, "beta holds no grant over acc-closed")
	f.wantCheck(ledger.CheckRequest{Member: "beta", Asset: "acc-nc", Action: "commercialize"}, false, "beta holds no grant over acc-nc")
	f.wantCheck(ledger.CheckRequest{Member: "beta", Asset: "acc-nc", Action: "train"}, true, "the licence CC-BY-NC-4.0 of acc-nc")
}

// Prohibitions inherited along the lineage still bind an open asset
// (RAIL-style use restrictions), and a grant's own denial reasons give way
// to the open licence only where no prohibition applies.
func TestCheck_OpenLicenceKeepsLineageProhibitions(t *testing.T) {
	f := newFixture(t)
	f.register("alpha", "base")
	f.accept("alpha", "grant.offer", offer("g-d", "alpha", "beta", "base", []ledger.Right{"derive"}, func(t *ledger.Terms) {
		t.Prohibitions = []ledger.Prohibition{{Purposes: []string{"surveillance"}, Note: "RAIL use restriction"}}
	}))
	f.accept("beta", "grant.accept", ledger.GrantRef{Grant: "g-d"})
	f.accept("beta", "asset.register", ledger.AssetRegister{
		ID: "derived", Kind: ledger.AssetModel, Digest: digestA, Owners: []ledger.Owner{{Member: "beta", ShareBP: 10000}},
		Parents: []ledger.Parent{{Asset: "base", Grant: "g-d"}}, SPDX: "MIT", Open: true,
	})
	f.wantCheck(ledger.CheckRequest{Member: "gamma", Asset: "derived", Action: "use", Purpose: "research"}, true, "the licence MIT of derived")
	d := f.wantCheck(ledger.CheckRequest{Member: "gamma", Asset: "derived", Action: "use", Purpose: "surveillance"}, false,
		"prohibited: the lineage of derived carries the use restriction")
	if d.Basis != "none" {
		t.Fatalf("basis %q", d.Basis)
	}
	// alpha holds a grant over nothing here but is also a member: the
	// licence covers it, and a grant that does not allow the use leaves
	// the open licence to answer.
	f.accept("beta", "grant.offer", offer("g-e", "beta", "gamma", "derived", []ledger.Right{"evaluate"}, func(t *ledger.Terms) {
		t.Prohibitions = []ledger.Prohibition{{Purposes: []string{"surveillance"}, Note: "RAIL use restriction"}}
	}))
	f.accept("gamma", "grant.accept", ledger.GrantRef{Grant: "g-e"})
	d = f.wantCheck(ledger.CheckRequest{Member: "gamma", Asset: "derived", Action: "host"}, true, "the licence MIT of derived is open to all members and permits host")
	if len(d.Candidates) != 1 || d.Candidates[0].Allowed {
		t.Fatalf("candidates %+v", d.Candidates)
	}
}
