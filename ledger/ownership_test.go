package ledger_test

import (
	"strings"
	"testing"

	"github.com/charta/charta/ledger"
)

// derived is an asset.register body for an asset of kind derived from
// m-base under grant g-own, with the given owners and shares.
func derived(id, kind string, owners ...any) map[string]any {
	var os []map[string]any
	for i := 0; i < len(owners); i += 2 {
		os = append(os, map[string]any{"member": owners[i], "share_bp": owners[i+1]})
	}
	return map[string]any{"id": id, "kind": kind, "digest": digestA, "owners": os,
		"parents": []map[string]any{{"asset": "m-base", "grant": "g-own"}}}
}

// ownershipFixture: alpha licenses m-base to beta with the derive right
// under the given ownership clauses.
func ownershipFixture(t *testing.T, improvements, outputs string) *fixture {
	f := newFixture(t)
	f.register("alpha", "m-base")
	f.accept("alpha", "grant.offer", offer("g-own", "alpha", "beta", "m-base", []ledger.Right{"derive", "use"}, func(t *ledger.Terms) {
		t.Clauses.ImprovementsOwner, t.Clauses.OutputsOwner = improvements, outputs
	}))
	f.accept("beta", "grant.accept", ledger.GrantRef{Grant: "g-own"})
	return f
}

// TestAsset_OwnershipClausesTakeEffect reproduces "improvements_owner=licensor
// and outputs_owner=licensor are ignored: the licensee registered a derived
// model and an output as 100 % its own".
func TestAsset_OwnershipClausesTakeEffect(t *testing.T) {
	f := ownershipFixture(t, "licensor", "licensor")
	r := f.reject(ledger.CodeForbidden, "beta", "asset.register", derived("m-fine", "model", "beta", 10000))
	if want := "body.owners: grant g-own gives what is derived under it to its licensors (improvements_owner=licensor), so the owners must be alpha, not beta"; r.Outcome.Message != want {
		t.Fatalf("message %q\nwant %q", r.Outcome.Message, want)
	}
	r = f.reject(ledger.CodeForbidden, "beta", "asset.register", derived("o-1", "output", "beta", 10000))
	if want := "(outputs_owner=licensor)"; !strings.Contains(r.Outcome.Message, want) {
		t.Fatalf("message %q lacks %q", r.Outcome.Message, want)
	}
	// Registered as the clause says, signed by the licensee and the licensor.
	f.accept("beta", "asset.register", derived("m-fine", "model", "alpha", 10000), "alpha")
	f.accept("beta", "asset.register", derived("o-1", "output", "alpha", 10000), "alpha")
	f.view(func(v *ledger.View) {
		a, _ := v.Asset("m-fine")
		if len(a.Owners) != 1 || a.Owners[0] != (ledger.Owner{Member: "alpha", ShareBP: 10000}) {
			t.Fatalf("owners %+v", a.Owners)
		}
	})
	// The licensor owns it: it may license and transfer it, the licensee only uses its grant.
	f.wantCheck(useOf("alpha", "m-fine"), true, "alpha owns m-fine")
	f.wantCheck(useOf("beta", "m-fine"), false, "beta holds no grant over m-fine")
	f.accept("alpha", "grant.offer", offer("g-fine", "alpha", "gamma", "m-fine", []ledger.Right{"use"}, nil))
	f.accept("alpha", "asset.transfer", map[string]any{"asset": "o-1", "from": "alpha", "to": "gamma", "share_bp": 2500}, "gamma")
	f.reject(ledger.CodeForbidden, "beta", "grant.offer", offer("g-steal", "beta", "gamma", "m-fine", []ledger.Right{"use"}, nil))
}

func TestAsset_JointOwnership(t *testing.T) {
	f := ownershipFixture(t, "joint", "joint")
	f.reject(ledger.CodeForbidden, "beta", "asset.register", derived("m-j", "model", "beta", 10000))
	f.accept("beta", "asset.register", derived("m-j", "model", "alpha", 5000, "beta", 5000), "alpha")
	f.accept("beta", "asset.register", derived("o-j", "output", "alpha", 5000, "beta", 5000), "alpha")
	f.wantCheck(useOf("beta", "m-j"), true, "beta owns m-j")
	// A licensee-owned clause (or none) leaves the asset to the licensee.
	g := ownershipFixture(t, "licensee", "")
	g.accept("beta", "asset.register", derived("m-l", "model", "beta", 10000))
	g.accept("beta", "asset.register", derived("o-l", "output", "beta", 10000))
}

// TestAsset_OwnershipClauseRejections is every rejection of the ownership
// clauses.
func TestAsset_OwnershipClauseRejections(t *testing.T) {
	for _, tc := range []struct {
		name, improvements, outputs string
		body                        map[string]any
		cosign                      []string
		want                        string
	}{
		{"licensor: licensee keeps a share", "licensor", "", derived("x", "model", "alpha", 5000, "beta", 5000), []string{"alpha"}, "the owners must be alpha, not alpha, beta"},
		{"licensor: a third party", "licensor", "", derived("x", "model", "gamma", 10000), []string{"gamma"}, "the owners must be alpha, not gamma"},
		{"joint: uneven shares", "joint", "", derived("x", "model", "alpha", 6000, "beta", 4000), []string{"alpha"}, "with beta holding 5000 basis points and the licensors 5000 together"},
		{"joint: a third owner", "joint", "", derived("x", "model", "alpha", 4000, "beta", 5000, "gamma", 1000), []string{"alpha", "gamma"}, "the owners must be alpha, beta"},
		{"joint: licensee alone", "joint", "", derived("x", "model", "beta", 10000), nil, "improvements_owner=joint"},
		{"outputs licensor: output owned by licensee", "", "licensor", derived("x", "output", "beta", 10000), nil, "outputs_owner=licensor"},
		{"outputs joint: output owned by licensor alone", "", "joint", derived("x", "output", "alpha", 10000), []string{"alpha"}, "outputs_owner=joint"},
		{"no clause: registrant not an owner", "", "", derived("x", "model", "alpha", 10000), []string{"alpha"}, "the registrant beta must be an owner"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := ownershipFixture(t, tc.improvements, tc.outputs)
			r := f.reject(ledger.CodeForbidden, "beta", "asset.register", tc.body, tc.cosign...)
			if !strings.Contains(r.Outcome.Message, tc.want) {
				t.Fatalf("message %q lacks %q", r.Outcome.Message, tc.want)
			}
		})
	}
}
