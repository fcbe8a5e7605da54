package demo

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"time"

	"github.com/charta/charta/ledger"
)

// Propose signs a proposal of type typ with ID id and body as member,
// co-signed by cosigners, and submits it. Seed calls it once a proposal,
// in order, and stops at its first error, which it returns as it is.
type Propose func(member, typ, id string, body any, cosigners ...string) error

// proposeFunc is Propose with the ID chosen by Seed.
type proposeFunc func(member, typ string, body any, cosigners ...string) error

// step is one chapter of the story.
type step struct {
	what string
	do   func() error
}

// Seed tells the story through p, with the proposal IDs demo-001,
// demo-002, ..., and names each chapter on out as it begins.
func Seed(p Propose, out io.Writer) error {
	n := 0
	propose := func(m, typ string, body any, cosigners ...string) error {
		n++
		return p(m, typ, fmt.Sprintf("demo-%03d", n), body, cosigners...)
	}
	digest := digestOf
	asset := func(owner, id string, kind ledger.AssetKind, name string, parents ...ledger.Parent) error {
		return propose(owner, "asset.register", ledger.AssetRegister{
			ID: id, Kind: kind, Name: name, Digest: digest(id), Parents: parents,
			Owners: []ledger.Owner{{Member: owner, ShareBP: 10000}}, SPDX: "LicenseRef-charta-demo",
		})
	}
	end := time.Now().AddDate(3, 0, 0).UTC().Truncate(24 * time.Hour)
	noWeapons := []ledger.Prohibition{{Purposes: []string{"military", "surveillance"}, Note: "responsible-AI use restriction"}}
	grant := func(id, from, to string, assets []string, rights []ledger.Right, mod func(*ledger.Terms)) ledger.GrantOffer {
		t := ledger.Terms{Assets: assets, Rights: rights, Constraints: ledger.Constraints{NotAfter: &end}}
		if mod != nil {
			mod(&t)
		}
		return ledger.GrantOffer{ID: id, Licensors: []string{from}, Licensees: []string{to}, Terms: t}
	}
	steps := []step{
		{"assets: alpha's atlas-7b model and web corpus, beta's imaging dataset, gamma's inference cluster", func() error {
			for _, a := range []struct {
				owner, id string
				kind      ledger.AssetKind
				name      string
			}{
				{"alpha", "atlas-7b", ledger.AssetModel, "Atlas 7B foundation model"},
				{"alpha", "alpha-corpus", ledger.AssetDataset, "Alpha curated web corpus"},
				{"beta", "med-images", ledger.AssetDataset, "Beta de-identified radiology images"},
				{"gamma", "gamma-h100", ledger.AssetCompute, "Gamma H100 inference cluster"},
			} {
				if err := asset(a.owner, a.id, a.kind, a.name); err != nil {
					return err
				}
			}
			return nil
		}},
		{"cross-licence bundle x-atlas-med: atlas-7b to beta, med-images to alpha, activating together", func() error {
			b := ledger.BundleOffer{
				ID: "x-atlas-med", Deadline: time.Now().Add(7 * 24 * time.Hour).UTC().Truncate(time.Second), LinkedTermination: true,
				Grants: []ledger.GrantOffer{
					grant("g-atlas-beta", "alpha", "beta", []string{"atlas-7b"}, []ledger.Right{"use", "train", "derive", "evaluate"}, func(t *ledger.Terms) {
						t.Constraints.Territory.Allow = []string{"EU"}
						t.Constraints.Purposes = []string{"research", "healthcare"}
						t.Prohibitions = noWeapons
						t.Duties = []ledger.Duty{{Kind: ledger.DutyAttribution, Text: "Built on Atlas 7B by alpha"}}
						t.Clauses = ledger.Clauses{OutputsOwner: "licensee", ImprovementsOwner: "joint", GoverningLaw: "DE", ExportControl: "EAR99"}
					}),
					grant("g-med-alpha", "beta", "alpha", []string{"med-images"}, []ledger.Right{"use", "train"}, func(t *ledger.Terms) {
						t.Constraints.Territory.Allow = []string{"EU"}
						t.Constraints.Purposes = []string{"research"}
						t.Clauses = ledger.Clauses{Data: &ledger.DataTerms{RetentionDays: 365}, GoverningLaw: "DE"}
						t.Duties = []ledger.Duty{{Kind: ledger.DutyAuditAccess, Text: "training data lineage logs on request"}}
					}),
				},
			}
			if err := propose("alpha", "bundle.offer", b); err != nil {
				return err
			}
			return propose("beta", "bundle.accept", ledger.BundleAccept{Bundle: "x-atlas-med"})
		}},
		{"derived model atlas-med, registered by beta under g-atlas-beta: owned jointly with alpha, as its improvements_owner=joint says (inherits the use restriction)", func() error {
			return propose("beta", "asset.register", ledger.AssetRegister{
				ID: "atlas-med", Kind: ledger.AssetModel, Name: "Atlas fine-tuned on radiology", Digest: digest("atlas-med"),
				Parents: []ledger.Parent{{Asset: "atlas-7b", Grant: "g-atlas-beta", Territory: "DE", Purpose: "healthcare"}},
				Owners:  []ledger.Owner{{Member: "alpha", ShareBP: 5000}, {Member: "beta", ShareBP: 5000}}, SPDX: "LicenseRef-charta-demo",
			}, "alpha")
		}},
		{"exclusive grant g-host-us: gamma alone may host atlas-7b in the US", func() error {
			if err := propose("alpha", "grant.offer", grant("g-host-us", "alpha", "gamma", []string{"atlas-7b"}, []ledger.Right{"host", "use", "commercialize"}, func(t *ledger.Terms) {
				t.Exclusive = true
				t.Constraints.Territory.Allow = []string{"US"}
				t.Constraints.MaxSeats = 50
				t.Prohibitions = noWeapons
				t.Termination = ledger.Termination{LicensorMayRevoke: true, MayTerminateForCause: true}
			})); err != nil {
				return err
			}
			return propose("gamma", "grant.accept", ledger.GrantRef{Grant: "g-host-us"})
		}},
		{"sublicence: alpha lets beta sublicense alpha-corpus; beta sublicenses evaluation to gamma", func() error {
			if err := propose("alpha", "grant.offer", grant("g-corpus-beta", "alpha", "beta", []string{"alpha-corpus"}, []ledger.Right{"use", "train", "evaluate", "sublicense"}, func(t *ledger.Terms) {
				t.Constraints.Territory.Allow = []string{"EEA"}
			})); err != nil {
				return err
			}
			if err := propose("beta", "grant.accept", ledger.GrantRef{Grant: "g-corpus-beta"}); err != nil {
				return err
			}
			if err := propose("beta", "grant.offer", grant("g-corpus-gamma", "beta", "gamma", []string{"alpha-corpus"}, []ledger.Right{"evaluate"}, func(t *ledger.Terms) {
				t.Parent = "g-corpus-beta"
				t.Constraints.Territory.Allow = []string{"DE", "NL"}
			})); err != nil {
				return err
			}
			return propose("gamma", "grant.accept", ledger.GrantRef{Grant: "g-corpus-gamma"})
		}},
		{"data terms and export control: alpha licenses alpha-corpus to gamma, which may not share or sell it; it is classified 5D002", func() error {
			if err := propose("alpha", "grant.offer", grant("g-corpus-data", "alpha", "gamma", []string{"alpha-corpus"},
				[]ledger.Right{"use", "train", "distribute", "commercialize"}, func(t *ledger.Terms) {
					t.Clauses = ledger.Clauses{Data: &ledger.DataTerms{MayShare: false, MaySell: false, RetentionDays: 730}, ExportControl: "5D002"}
				})); err != nil {
				return err
			}
			return propose("gamma", "grant.accept", ledger.GrantRef{Grant: "g-corpus-data"})
		}},
		{"responsible AI: g-atlas-gamma makes gamma audit atlas-7b for fairness daily, and commercialize waits for the audit; the first is due about 10 s from now", func() error {
			// The window opened a day ago less ten seconds, so the first
			// daily period ends, and its audit falls due (due_days 0), ten
			// seconds after this offer: a time entry then makes it overdue.
			start := time.Now().Add(-24*time.Hour + 10*time.Second).UTC().Truncate(time.Second)
			if err := propose("alpha", "grant.offer", grant("g-atlas-gamma", "alpha", "gamma", []string{"atlas-7b"}, []ledger.Right{"use", "commercialize"}, func(t *ledger.Terms) {
				t.Constraints.NotBefore = &start
				t.Prohibitions = noWeapons
				t.Duties = []ledger.Duty{{Kind: ledger.DutyFairnessAudit, Period: ledger.PeriodDay, Text: "bias audit of atlas-7b's outputs across demographic groups",
					RequiredFor: []ledger.Right{ledger.RightCommercialize}}}
			})); err != nil {
				return err
			}
			return propose("gamma", "grant.accept", ledger.GrantRef{Grant: "g-atlas-gamma"})
		}},
		{"open licence: alpha's atlas-tokenizer is Apache-2.0, open to every member without a grant", func() error {
			return propose("alpha", "asset.register", ledger.AssetRegister{
				ID: "atlas-tokenizer", Kind: ledger.AssetSoftware, Name: "Atlas tokenizer", Digest: digest("atlas-tokenizer"),
				Owners: []ledger.Owner{{Member: "alpha", ShareBP: 10000}}, SPDX: "Apache-2.0", Open: true,
			})
		}},
	}
	steps = append(steps, poolSteps(propose, end)...)
	steps = append(steps, gatewaySteps(propose, end)...)
	for _, s := range steps {
		fmt.Fprintf(out, "  - %s\n", s.what)
		if err := s.do(); err != nil {
			return err
		}
	}
	return nil
}

// digestOf is the made-up content digest of a demo asset.
func digestOf(id string) string {
	h := sha256.Sum256([]byte(id))
	return "sha256:" + hex.EncodeToString(h[:])
}
