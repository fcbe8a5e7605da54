package verify_test

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
	"github.com/charta/charta/ledger/verify"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
)

var t0 = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

// schemes gives gamma a composite key, so that the 0xff signature type is
// exercised next to Ed25519.
var schemes = map[string]ledger.Scheme{"alpha": ledger.SchemeEd25519, "beta": ledger.SchemeEd25519, "gamma": ledger.SchemeComposite}

const digestA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

// fixture is a small journal: an asset, a grant offered and accepted, and
// unrelated token registrations, with its Merkle tree.
type fixture struct {
	t       testing.TB
	g       *ledger.Genesis
	l       *ledger.Ledger
	entries []ledger.Entry
	tree    *testonly.Tree
	index   uint64
	now     time.Time
}

func newGenesis(t testing.TB, name string) *ledger.Genesis {
	t.Helper()
	g := &ledger.Genesis{Format: ledger.GenesisFormat, Name: name, CreatedAt: t0, Charter: ledgertest.StampedCharter()}
	for _, m := range []string{"alpha", "beta", "gamma"} {
		g.Members = append(g.Members, ledger.GenesisMember{ID: m, Role: ledger.RoleMember,
			Keys: []ledger.PublicKey{ledgertest.Key(m, schemes[m]).Public()}})
	}
	for _, m := range g.Members {
		if err := g.Sign(ledgertest.Signer(m.ID, schemes[m.ID])); err != nil {
			t.Fatal(err)
		}
	}
	return g
}

func newFixture(t testing.TB, name string) *fixture {
	t.Helper()
	g := newGenesis(t, name)
	l, err := ledger.Open(filepath.Join(t.TempDir(), "state.db"), g, ledger.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	f := &fixture{t: t, g: g, l: l, now: t0.Add(time.Minute)}
	f.accept("alpha", "token.register", "tok-alpha", ledger.TokenRegister{Hash: ledger.HashToken("secret-of-alpha-0123456789abcdef"), Scopes: []string{"read"}, ExpiresAt: t0.Add(48 * time.Hour)})
	f.accept("alpha", "asset.register", "reg-model-a", ledger.AssetRegister{ID: "model-a", Kind: ledger.AssetModel, Digest: digestA,
		Owners: []ledger.Owner{{Member: "alpha", ShareBP: 10000}}})
	f.accept("beta", "token.register", "tok-beta", ledger.TokenRegister{Hash: ledger.HashToken("secret-of-beta-0123456789abcdefg"), Scopes: []string{"read"}, ExpiresAt: t0.Add(48 * time.Hour)})
	f.accept("alpha", "grant.offer", "offer-g-1", ledger.GrantOffer{ID: "g-1", Licensors: []string{"alpha"}, Licensees: []string{"beta"},
		Terms: ledger.Terms{Assets: []string{"model-a"}, Rights: []ledger.Right{ledger.Right("train")}}})
	f.accept("beta", "grant.accept", "accept-g-1", ledger.GrantRef{Grant: "g-1"})
	f.sync()
	return f
}

func (f *fixture) accept(member, typ, id string, body any) {
	f.t.Helper()
	f.index++
	env := ledgertest.Propose(f.g.ID(), member, typ, id, f.now, body, ledgertest.Signer(member, schemes[member])).Encode()
	r := f.l.Apply([]ledger.LogEntry{{Index: f.index, Data: ledger.EncodeRecord(f.now, env)}})[0]
	if r.Outcome.Status != ledger.StatusAccepted {
		f.t.Fatalf("%s %s: %s %s", typ, id, r.Outcome.Code, r.Outcome.Message)
	}
	f.now = f.now.Add(time.Second)
}

// sync reads the journal and rebuilds its tree.
func (f *fixture) sync() {
	f.t.Helper()
	f.tree = testonly.New(rfc6962.DefaultHasher)
	f.entries = nil
	f.l.View(func(v *ledger.View) error {
		for _, e := range v.Entries(0, 1<<20) {
			f.entries = append(f.entries, *e)
			f.tree.AppendData(e.Hash[:])
		}
		if got, want := f.tree.Hash(), v.Head().Root; string(got) != string(want[:]) {
			f.t.Fatalf("tree root %x, journal head %s", got, want)
		}
		return nil
	})
}

func (f *fixture) consortium() string { return f.g.ID() }

func (f *fixture) checkpoint() *verify.Checkpoint {
	size := uint64(len(f.entries))
	cp := &verify.Checkpoint{Origin: verify.Origin(f.consortium()), Size: size, LedgerTime: f.entries[size-1].LedgerTime}
	copy(cp.Root[:], f.tree.Hash())
	return cp
}

// cosignTime is the timestamp of the fixture's cosignatures.
const cosignTime = 1767225600

// note cosigns the checkpoint by each member.
func (f *fixture) note(cp *verify.Checkpoint, members ...string) string {
	f.t.Helper()
	n := &verify.Note{Text: cp.Body()}
	for _, m := range members {
		sigs, err := verify.Cosign(cp.Body(), cp.Origin, m, ledgertest.Key(m, schemes[m]), cosignTime)
		if err != nil {
			f.t.Fatal(err)
		}
		n.Add(sigs...)
	}
	return n.String()
}

func (f *fixture) proven(seq uint64) verify.ProvenEntry {
	f.t.Helper()
	hs, err := f.tree.InclusionProof(seq, f.tree.Size())
	if err != nil {
		f.t.Fatal(err)
	}
	p := verify.InclusionProof{Index: seq, Size: f.tree.Size(), Hashes: make([]ledger.Hash, len(hs))}
	for i, h := range hs {
		copy(p.Hashes[i][:], h)
	}
	return verify.ProvenEntry{Entry: f.entries[seq], Proof: p}
}

func (f *fixture) seqOf(id string) uint64 {
	for _, e := range f.entries {
		if e.Outcome.ID == id {
			return e.Seq
		}
	}
	f.t.Fatalf("no entry %s", id)
	return 0
}

func (f *fixture) receipt(id string, signers ...string) *verify.Receipt {
	return &verify.Receipt{Format: verify.ReceiptFormat, Genesis: json.RawMessage(f.entries[0].Envelope),
		Entry: f.proven(f.seqOf(id)), Checkpoint: f.note(f.checkpoint(), signers...)}
}

func (f *fixture) evidence(signers []string, ids ...string) verify.Evidence {
	ev := verify.Evidence{Genesis: json.RawMessage(f.entries[0].Envelope), Entries: []verify.ProvenEntry{f.proven(0)},
		Checkpoint: f.note(f.checkpoint(), signers...)}
	for _, id := range ids {
		ev.Entries = append(ev.Entries, f.proven(f.seqOf(id)))
	}
	return ev
}

var checkReq = ledger.CheckRequest{Member: "beta", Asset: "model-a", Action: ledger.Right("train"), At: t0.Add(time.Hour)}

func (f *fixture) checkProof(signers []string, ids ...string) *verify.CheckProof {
	f.t.Helper()
	var d ledger.Decision
	f.l.View(func(v *ledger.View) error {
		var err error
		d, err = ledger.Check(v, checkReq)
		return err
	})
	return &verify.CheckProof{Format: verify.CheckProofFormat, Request: checkReq, Decision: d, Evidence: f.evidence(signers, ids...)}
}

var all3 = []string{"alpha", "beta", "gamma"}

// clone deep-copies a document through JSON.
func clone[T any](t testing.TB, v *T) *T {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out := new(T)
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
	return out
}
