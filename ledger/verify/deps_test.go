package verify_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
	"github.com/charta/charta/ledger/verify"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
)

// world is a random ledger under construction: members whose keys
// rotate, assets (some derived from others), grants, sublicences and
// bundles, suspensions and terminations, and a member suspended by
// ballot. Most proposals are plausible and accepted; some are rejected,
// as in life.
type world struct {
	t       *testing.T
	rng     *rand.Rand
	g       *ledger.Genesis
	l       *ledger.Ledger
	index   uint64
	now     time.Time
	n       int
	signer  map[string]ledger.Signer // each member's current key
	assets  []string
	grants  []*ledger.GrantOffer
	bundles []string
}

var (
	worldMembers     = []string{"alpha", "beta", "delta", "gamma"}
	worldRights      = []ledger.Right{ledger.RightTrain, ledger.RightUse, ledger.RightEvaluate, ledger.RightDerive, ledger.RightSublicense}
	worldTerritories = []string{"", "DE", "FR", "US"}
	worldPurposes    = []string{"", "research", "commercial", "military"}
	worldIndustries  = []string{"", "healthcare", "defense"}
)

func newWorld(t *testing.T, seed uint64) *world {
	t.Helper()
	g := &ledger.Genesis{Format: ledger.GenesisFormat, Name: fmt.Sprintf("world %d", seed), CreatedAt: t0, Charter: ledger.DefaultCharter()}
	w := &world{t: t, rng: rand.New(rand.NewPCG(seed, 17)), g: g, now: t0.Add(time.Minute), signer: map[string]ledger.Signer{}}
	for _, m := range worldMembers {
		w.signer[m] = ledgertest.Signer(m, ledger.SchemeEd25519)
		g.Members = append(g.Members, ledger.GenesisMember{ID: m, Role: ledger.RoleMember, Keys: []ledger.PublicKey{w.signer[m].Key.Public()}})
	}
	for _, m := range worldMembers {
		if err := g.Sign(w.signer[m]); err != nil {
			t.Fatal(err)
		}
	}
	l, err := ledger.Open(filepath.Join(t.TempDir(), "state.db"), g, ledger.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	w.l = l
	return w
}

func (w *world) pick(xs []string) string { return xs[w.rng.IntN(len(xs))] }

// propose applies a proposal by member, signed by the current keys of
// member and of cosigners (or by signers, if given).
func (w *world) propose(member, typ string, body any, cosigners []string, signers ...ledger.Signer) *ledger.Result {
	w.n++
	if signers == nil {
		signers = []ledger.Signer{w.signer[member]}
		for _, m := range cosigners {
			if m != member {
				signers = append(signers, w.signer[m])
			}
		}
	}
	env := ledgertest.Propose(w.g.ID(), member, typ, fmt.Sprintf("p-%d", w.n), w.now, body, signers...).Encode()
	w.index++
	r := w.l.Apply([]ledger.LogEntry{{Index: w.index, Data: ledger.EncodeRecord(w.now, env)}})[0]
	w.now = w.now.Add(time.Duration(1+w.rng.IntN(3600)) * time.Second)
	return r
}

func (w *world) asset(id string) *ledger.Asset {
	var a *ledger.Asset
	w.l.View(func(v *ledger.View) error { a, _ = v.Asset(id); return nil })
	return a
}

func (w *world) grant(id string) *ledger.Grant {
	var g *ledger.Grant
	w.l.View(func(v *ledger.View) error { g, _ = v.Grant(id); return nil })
	return g
}

// terms are random terms over asset a that carry a's inherited
// prohibitions.
func (w *world) terms(a *ledger.Asset) ledger.Terms {
	t := ledger.Terms{Assets: []string{a.ID}, Prohibitions: slices.Clone(a.Prohibitions)}
	for _, r := range worldRights {
		if w.rng.IntN(2) == 0 {
			t.Rights = append(t.Rights, r)
		}
	}
	if len(t.Rights) == 0 {
		t.Rights = []ledger.Right{ledger.RightTrain}
	}
	if x := w.pick(worldTerritories); x != "" {
		t.Constraints.Territory.Allow = []string{x}
	}
	if x := w.pick(worldPurposes); x != "" && x != "military" {
		t.Constraints.Purposes = []string{x}
	}
	if w.rng.IntN(4) == 0 {
		end := w.now.Add(time.Duration(1+w.rng.IntN(48)) * time.Hour)
		t.Constraints.NotAfter = &end
	}
	if w.rng.IntN(5) == 0 {
		t.Prohibitions = append(t.Prohibitions, ledger.Prohibition{Industries: []string{"defense"}, Note: "no defense work"})
	}
	t.Exclusive = w.rng.IntN(8) == 0
	t.Termination = ledger.Termination{LicensorMayRevoke: true, LicenseeMayTerminate: w.rng.IntN(2) == 0}
	return t
}

// offer is a grant offer over a random asset from its owner, or a
// sublicence under a random grant.
func (w *world) offer(id string) *ledger.GrantOffer {
	if len(w.assets) == 0 {
		return nil
	}
	if len(w.grants) > 0 && w.rng.IntN(3) == 0 {
		parent := w.grant(w.grants[w.rng.IntN(len(w.grants))].ID)
		if parent == nil {
			return nil
		}
		t := parent.Terms
		t.Parent, t.Exclusive, t.Usage, t.Duties = parent.ID, false, nil, nil
		t.Rights = slices.DeleteFunc(slices.Clone(t.Rights), func(ledger.Right) bool { return w.rng.IntN(3) == 0 })
		if len(t.Rights) == 0 {
			t.Rights = parent.Terms.Rights[:1]
		}
		lic := parent.Licensees[0]
		return &ledger.GrantOffer{ID: id, Licensors: []string{lic}, Licensees: []string{w.other(lic)}, Terms: t}
	}
	a := w.asset(w.pick(w.assets))
	if a == nil {
		return nil
	}
	owner := a.Owners[0].Member
	return &ledger.GrantOffer{ID: id, Licensors: []string{owner}, Licensees: []string{w.other(owner)}, Terms: w.terms(a)}
}

func (w *world) other(m string) string {
	for {
		if o := w.pick(worldMembers); o != m {
			return o
		}
	}
}

// step makes one random proposal.
func (w *world) step() {
	id := fmt.Sprintf("x%d", w.n)
	switch k := w.rng.IntN(100); {
	case k < 15 || len(w.assets) < 2:
		owner := w.pick(worldMembers)
		reg := ledger.AssetRegister{ID: "a-" + id, Kind: ledger.AssetModel, Digest: digestA, Owners: []ledger.Owner{{Member: owner, ShareBP: 10000}}}
		if len(w.assets) > 0 && w.rng.IntN(2) == 0 {
			// Derived: from an asset of its own, or under a grant with
			// the derive right.
			p := w.asset(w.pick(w.assets))
			if p != nil && !p.OwnedBy(owner) {
				var grant string
				for _, o := range w.grants {
					if o.Terms.Assets[0] == p.ID && o.Licensees[0] == owner && slices.Contains(o.Terms.Rights, ledger.RightDerive) {
						grant = o.ID
					}
				}
				if grant == "" {
					break
				}
				reg.Parents = []ledger.Parent{{Asset: p.ID, Grant: grant, Purpose: "research"}}
			} else if p != nil {
				reg.Parents = []ledger.Parent{{Asset: p.ID}}
			}
		}
		if w.propose(owner, "asset.register", reg, nil).Outcome.Status == ledger.StatusAccepted {
			w.assets = append(w.assets, reg.ID)
		}
	case k < 40:
		o := w.offer("g-" + id)
		if o == nil {
			return
		}
		if w.propose(o.Licensors[0], "grant.offer", o, nil).Outcome.Status == ledger.StatusAccepted {
			w.grants = append(w.grants, o)
		}
	case k < 55:
		var offered []*ledger.GrantOffer
		for _, o := range w.grants {
			if g := w.grant(o.ID); g != nil && g.Bundle == "" && g.Status == ledger.StatusOffered {
				offered = append(offered, o)
			}
		}
		if len(offered) == 0 {
			return
		}
		o := offered[w.rng.IntN(len(offered))]
		w.propose(o.Licensees[0], "grant.accept", ledger.GrantRef{Grant: o.ID}, nil)
	case k < 65:
		// A cross-licence: grants over two assets of different owners,
		// in opposite directions.
		x, y := w.asset(w.pick(w.assets)), w.asset(w.pick(w.assets))
		if x.Owners[0].Member == y.Owners[0].Member {
			return
		}
		a, b := x.Owners[0].Member, y.Owners[0].Member
		ox := ledger.GrantOffer{ID: "g-" + id + "-1", Licensors: []string{a}, Licensees: []string{b}, Terms: w.terms(x)}
		oy := ledger.GrantOffer{ID: "g-" + id + "-2", Licensors: []string{b}, Licensees: []string{a}, Terms: w.terms(y)}
		bo := ledger.BundleOffer{ID: "b-" + id, Grants: []ledger.GrantOffer{ox, oy}, Deadline: w.now.Add(24 * time.Hour), LinkedTermination: w.rng.IntN(2) == 0}
		if w.propose(a, "bundle.offer", bo, nil).Outcome.Status == ledger.StatusAccepted {
			w.bundles = append(w.bundles, bo.ID)
			w.grants = append(w.grants, &ox, &oy)
		}
	case k < 72:
		if len(w.bundles) == 0 {
			return
		}
		b := w.pick(w.bundles)
		var bn *ledger.Bundle
		w.l.View(func(v *ledger.View) error { bn, _ = v.Bundle(b); return nil })
		if p := bn.Pending(); len(p) > 0 {
			w.propose(p[0], "bundle.accept", ledger.BundleAccept{Bundle: b}, nil)
		}
	case k < 85:
		if len(w.grants) == 0 {
			return
		}
		o := w.grants[w.rng.IntN(len(w.grants))]
		typ := []string{"grant.suspend", "grant.resume", "grant.revoke", "grant.terminate"}[w.rng.IntN(4)]
		by := o.Licensors[0]
		if typ == "grant.terminate" {
			by = o.Licensees[0]
		}
		w.propose(by, typ, ledger.GrantRef{Grant: o.ID, Reason: "random"}, nil)
	case k < 93:
		m := w.pick(worldMembers)
		old := w.signer[m]
		ns := ledger.NewSigner(m, ledgertest.Key(m+"-"+id, ledger.SchemeEd25519))
		if w.propose(m, "key.rotate", ledger.KeyRotate{Old: old.KeyID, New: ns.Key.Public()}, nil, old, ns).Outcome.Status == ledger.StatusAccepted {
			w.signer[m] = ns
		}
	case k < 95:
		// A ballot to suspend a member, which three of four must pass.
		params, _ := json.Marshal(ledger.MemberParams{Member: w.pick(worldMembers)})
		opener := w.pick(worldMembers)
		ballot := "bal-" + id
		w.propose(opener, "ballot.open", ledger.BallotOpenBody{ID: ballot, Action: "member.suspend", Params: params, Deadline: w.now.Add(time.Hour)}, nil)
		for _, m := range worldMembers {
			if m != opener && w.rng.IntN(4) != 0 {
				w.propose(m, "ballot.vote", ledger.BallotVoteBody{Ballot: ballot, Approve: true}, nil)
			}
		}
	default:
		// Unrelated noise: a token.
		m := w.pick(worldMembers)
		w.propose(m, "token.register", ledger.TokenRegister{Hash: ledger.HashToken("token-" + id + "-0123456789abcdef0123"), Scopes: []string{"read"}, ExpiresAt: w.now.Add(48 * time.Hour)}, nil)
	}
}

// question is a random entitlement question at or near ledger time.
func (w *world) question() ledger.CheckRequest {
	var lt time.Time
	w.l.View(func(v *ledger.View) error { lt = v.LedgerTime(); return nil })
	at := lt
	if w.rng.IntN(4) == 0 {
		at = lt.Add(time.Duration(w.rng.IntN(72)) * time.Hour)
	}
	return ledger.CheckRequest{
		Member: w.pick(worldMembers), Asset: w.pick(w.assets), Action: worldRights[w.rng.IntN(len(worldRights))], At: at,
		Territory: w.pick(worldTerritories), Purpose: w.pick(worldPurposes), Industry: w.pick(worldIndustries),
	}
}

// evidence is the proven entries seqs under a checkpoint of the whole
// journal, cosigned by every founder's genesis key.
func (w *world) evidence(all []ledger.Entry, tree *testonly.Tree, seqs []uint64) verify.Evidence {
	w.t.Helper()
	size := uint64(len(all))
	cp := &verify.Checkpoint{Origin: verify.Origin(w.g.ID()), Size: size, LedgerTime: all[size-1].LedgerTime}
	copy(cp.Root[:], tree.Hash())
	n := &verify.Note{Text: cp.Body()}
	for _, m := range worldMembers {
		s, err := verify.SignNote(cp.Body(), cp.Origin, m, ledgertest.Key(m, ledger.SchemeEd25519))
		if err != nil {
			w.t.Fatal(err)
		}
		n.Add(s)
	}
	ev := verify.Evidence{Genesis: json.RawMessage(all[0].Envelope), Checkpoint: n.String()}
	for _, seq := range seqs {
		hs, err := tree.InclusionProof(seq, size)
		if err != nil {
			w.t.Fatal(err)
		}
		p := verify.InclusionProof{Index: seq, Size: size, Hashes: make([]ledger.Hash, len(hs))}
		for i, h := range hs {
			copy(p.Hashes[i][:], h)
		}
		ev.Entries = append(ev.Entries, verify.ProvenEntry{Entry: all[seq], Proof: p})
	}
	return ev
}

// TestDependencies_RandomLedgers builds random ledgers and checks that
// for random questions, and for licence certificates of active grants, the evidence made of the answer's dependencies verifies offline
// as charta verify verifies it, and re-derives the node's answer.
func TestDependencies_RandomLedgers(t *testing.T) {
	// Each verification replays its evidence with every signature checked:
	// about a second per world under the race detector.
	seeds, steps, questions, certs := 4, 150, 25, 8
	if testing.Short() {
		seeds, steps, questions, certs = 2, 80, 10, 4
	}
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			w := newWorld(t, seed)
			for range steps {
				w.step()
			}
			var all []ledger.Entry
			tree := testonly.New(rfc6962.DefaultHasher)
			w.l.View(func(v *ledger.View) error {
				for _, e := range v.Entries(0, 1<<20) {
					all = append(all, *e)
					tree.AppendData(e.Hash[:])
				}
				return nil
			})
			tr, err := verify.Trace(t.TempDir(), w.g, verify.Entries(all))
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			allowed := 0
			for range questions {
				req := w.question()
				allowed += w.checkProof(t, tr, all, tree, req)
			}
			var lt time.Time
			var active []*ledger.Grant
			w.l.View(func(v *ledger.View) error {
				lt = v.LedgerTime()
				active, _ = v.Grants("", 1000, func(g *ledger.Grant) bool { return g.StatusAt(lt) == ledger.StatusActive })
				return nil
			})
			if len(active) > certs {
				active = active[:certs]
			}
			for _, g := range active {
				w.checkCertificate(t, tr, all, tree, g, lt)
			}
			t.Logf("%d entries, %d questions (%d allowed), %d certificates", len(all), questions, allowed, len(active))
		})
	}
}

// checkProof proves the answer to req and verifies the proof; it
// returns 1 if the answer is allowed.
func (w *world) checkProof(t *testing.T, tr *verify.Traced, all []ledger.Entry, tree *testonly.Tree, req ledger.CheckRequest) int {
	t.Helper()
	var d ledger.Decision
	w.l.View(func(v *ledger.View) error {
		var err error
		if d, err = ledger.Check(v, req); err != nil {
			t.Fatalf("%+v: %v", req, err)
		}
		return nil
	})
	if ix, _, err := w.l.Check(req); err != nil || !jsonEqual(ix, d) {
		t.Fatalf("%+v: the check index answers %+v (%v), the state %+v", req, ix, err, d)
	}
	seqs, err := tr.Dependencies(func(v *ledger.View) error { _, err := ledger.Check(v, req); return err })
	if err != nil {
		t.Fatal(err)
	}
	p := &verify.CheckProof{Format: verify.CheckProofFormat, Request: req, Decision: d, Evidence: w.evidence(all, tree, seqs)}
	p = roundTrip(t, p)
	if _, err := p.Verify(w.g.ID(), verify.Options{}); err != nil {
		t.Fatalf("%+v (entries %v): %v", req, seqs, err)
	}
	if d.Allowed {
		return 1
	}
	return 0
}

// checkCertificate issues a certificate of g to its first licensee, with
// the evidence a node gives for it, and verifies it at ledger time lt.
func (w *world) checkCertificate(t *testing.T, tr *verify.Traced, all []ledger.Entry, tree *testonly.Tree, g *ledger.Grant, lt time.Time) {
	t.Helper()
	seqs, err := tr.Dependencies(verify.CertificateQuestion(g.ID, g.Licensees[0]))
	if err != nil {
		t.Fatal(err)
	}
	body := verify.CertificateBody{Grant: *g, Licensee: g.Licensees[0], IssuedAt: lt, ExpiresAt: lt.Add(time.Hour), Evidence: w.evidence(all, tree, seqs)}
	c, err := verify.IssueCertificate(body, w.signer[g.Licensees[0]])
	if err != nil {
		t.Fatal(err)
	}
	c = roundTrip(t, c)
	if _, err := c.Verify(w.g.ID(), lt, verify.Options{}); err != nil {
		t.Fatalf("certificate of %s (entries %v): %v", g.ID, seqs, err)
	}
}

// roundTrip passes a document through its JSON encoding, as charta
// verify reads it from a file.
func roundTrip[T any](t *testing.T, doc *T) *T {
	t.Helper()
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	d, err := verify.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return d.(*T)
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
