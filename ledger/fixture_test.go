package ledger_test

import (
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
)

// scheme is the scheme of the fixture's keys: ed25519 keeps the many
// proposals of the property tests fast. Every scheme is covered by the
// signature tests.
const scheme = ledger.SchemeEd25519

var t0 = time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)

// testGenesis returns a signed genesis for founders alpha, beta, gamma
// (members) and audit (auditor).
func testGenesis(t testing.TB) *ledger.Genesis {
	t.Helper()
	return testGenesisCharter(t, ledgertest.StampedCharter())
}

// testGenesisCharter is testGenesis with the given charter.
func testGenesisCharter(t testing.TB, c ledger.Charter) *ledger.Genesis {
	t.Helper()
	g := &ledger.Genesis{
		Format:    ledger.GenesisFormat,
		Name:      "Test consortium",
		CreatedAt: t0,
		Charter:   c,
	}
	for _, m := range []string{"alpha", "audit", "beta", "gamma"} {
		role := ledger.RoleMember
		if m == "audit" {
			role = ledger.RoleAuditor
		}
		g.Members = append(g.Members, ledger.GenesisMember{
			ID: m, Role: role, Keys: []ledger.PublicKey{ledgertest.Key(m, scheme).Public()},
			Node: ledger.NodeInfo{RaftAddr: "127.0.0.1:1", APIAddr: "127.0.0.1:2"},
		})
	}
	for _, m := range g.Members {
		if err := g.Sign(ledgertest.Signer(m.ID, scheme)); err != nil {
			t.Fatal(err)
		}
	}
	return g
}

// fixture is a ledger on a temporary bbolt file, fed proposals as a leader
// would: each gets the next log index and the fixture's clock as stamp.
type fixture struct {
	t     testing.TB
	l     *ledger.Ledger
	g     *ledger.Genesis
	now   time.Time
	index uint64
	seq   int
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	return newFixtureGenesis(t, testGenesis(t))
}

// newJournalFixture is newFixture with a charter whose journal format is
// format; 0 is the format of charters from before the field.
func newJournalFixture(t testing.TB, format int) *fixture {
	t.Helper()
	c := ledgertest.StampedCharter()
	c.JournalFormat = format
	return newFixtureGenesis(t, testGenesisCharter(t, c))
}

func newFixtureGenesis(t testing.TB, g *ledger.Genesis) *fixture {
	t.Helper()
	return &fixture{t: t, l: openLedger(t, g), g: g, now: t0.Add(time.Minute)}
}

// openLedger opens a fresh ledger for g on a temporary bbolt file, closed
// when the test ends.
func openLedger(t testing.TB, g *ledger.Genesis) *ledger.Ledger {
	t.Helper()
	l, err := ledger.Open(filepath.Join(t.TempDir(), "state.db"), g, ledger.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// envelope signs a proposal by member with the given co-signers.
func (f *fixture) envelope(member, typ, id string, body any, cosigners ...string) []byte {
	signers := []ledger.Signer{ledgertest.Signer(member, scheme)}
	for _, c := range cosigners {
		if c == member {
			continue
		}
		signers = append(signers, ledgertest.Signer(c, scheme))
	}
	return ledgertest.Propose(f.g.ID(), member, typ, id, f.now, body, signers...).Encode()
}

// raw applies raw envelope bytes as the next log entry.
func (f *fixture) raw(env []byte) *ledger.Result {
	f.t.Helper()
	f.index++
	rs := f.l.Apply([]ledger.LogEntry{{Index: f.index, Data: ledger.EncodeRecord(f.now, env)}})
	if rs[0] == nil {
		f.t.Fatalf("entry %d was skipped", f.index)
	}
	return rs[0]
}

// submit signs and applies a proposal with a fresh ID.
func (f *fixture) submit(member, typ string, body any, cosigners ...string) *ledger.Result {
	f.t.Helper()
	f.seq++
	return f.raw(f.envelope(member, typ, typ+"-"+strconv.Itoa(f.seq), body, cosigners...))
}

func (f *fixture) accept(member, typ string, body any, cosigners ...string) *ledger.Result {
	f.t.Helper()
	r := f.submit(member, typ, body, cosigners...)
	if r.Outcome.Status != ledger.StatusAccepted {
		f.t.Fatalf("%s by %s: want accepted, got %s: %s", typ, member, r.Outcome.Code, r.Outcome.Message)
	}
	return r
}

func (f *fixture) reject(code ledger.Code, member, typ string, body any, cosigners ...string) *ledger.Result {
	f.t.Helper()
	r := f.submit(member, typ, body, cosigners...)
	if r.Outcome.Status != ledger.StatusRejected || r.Outcome.Code != code {
		f.t.Fatalf("%s by %s: want rejected %s, got %s %s: %s", typ, member, code, r.Outcome.Status, r.Outcome.Code, r.Outcome.Message)
	}
	return r
}

func (f *fixture) view(fn func(v *ledger.View)) {
	f.t.Helper()
	if err := f.l.View(func(v *ledger.View) error { fn(v); return nil }); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) digest() ledger.Hash {
	var d ledger.Hash
	f.view(func(v *ledger.View) { d = v.Digest() })
	return d
}

const digestA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

// register registers an asset owned by owner alone.
func (f *fixture) register(owner, id string) {
	f.t.Helper()
	f.accept(owner, "asset.register", map[string]any{
		"id": id, "kind": "model", "digest": digestA,
		"owners": []map[string]any{{"member": owner, "share_bp": 10000}},
	})
}
