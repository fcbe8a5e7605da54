package demo

import (
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
)

// TestSeed_ShowsClauseDenials applies the story to a ledger whose genesis
// carries the example policy, and asks the questions the demo suggests:
// the data terms and the export-control policy deny them.
func TestSeed_ShowsClauseDenials(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	g := &ledger.Genesis{Format: ledger.GenesisFormat, Name: "demo", CreatedAt: now.Add(-time.Minute), Charter: ledger.DefaultCharter()}
	g.Charter.ExportPolicy = ExamplePolicy()
	for _, m := range []string{"alpha", "beta", "gamma"} {
		g.Members = append(g.Members, ledger.GenesisMember{ID: m, Role: ledger.RoleMember,
			Keys: []ledger.PublicKey{ledgertest.Key(m, ledger.SchemeEd25519).Public()}, Node: ledger.NodeInfo{RaftAddr: "127.0.0.1:1"}})
	}
	for _, m := range g.Members {
		if err := g.Sign(ledgertest.Signer(m.ID, ledger.SchemeEd25519)); err != nil {
			t.Fatal(err)
		}
	}
	l, err := ledger.Open(filepath.Join(t.TempDir(), "state.db"), g, ledger.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var index uint64
	err = Seed(func(member, typ, id string, body any, cosigners ...string) error {
		index++
		signers := []ledger.Signer{ledgertest.Signer(member, ledger.SchemeEd25519)}
		for _, c := range cosigners {
			signers = append(signers, ledgertest.Signer(c, ledger.SchemeEd25519))
		}
		env := ledgertest.Propose(g.ID(), member, typ, id, now, body, signers...).Encode()
		r := l.Apply([]ledger.LogEntry{{Index: index, Data: ledger.EncodeRecord(now, env)}})[0]
		if r.Outcome.Status != ledger.StatusAccepted {
			t.Fatalf("%s %s by %s: %s", id, typ, member, r.Outcome.Message)
		}
		return nil
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		action    ledger.Right
		territory string
		allowed   bool
		reason    string
	}{
		{"distribute", "DE", false, "g-corpus-data: data terms: may_share is false"},
		{"train", "KP", false, "g-corpus-data: export control: charter rule 5D002 denies use of 5D002 items in KP"},
		{"train", "DE", true, "grant g-corpus-data from alpha allows gamma to train alpha-corpus in DE"},
	} {
		d, _, err := l.Check(ledger.CheckRequest{Member: "gamma", Asset: "alpha-corpus", Action: c.action, Territory: c.territory})
		if err != nil || d.Allowed != c.allowed || !strings.Contains(d.Reason, c.reason) {
			t.Errorf("gamma %s alpha-corpus in %s: %v %v %q, want %v containing %q", c.action, c.territory, err, d.Allowed, d.Reason, c.allowed, c.reason)
		}
	}
	// The gateway's resource: beta may call atlas-chat in the EU for
	// research; gamma may not.
	for _, c := range []struct {
		member  string
		allowed bool
	}{{"beta", true}, {"gamma", false}} {
		d, _, err := l.Check(ledger.CheckRequest{Member: c.member, Asset: ChatAsset, Action: "use", Territory: "DE", Purpose: "research"})
		if err != nil || d.Allowed != c.allowed {
			t.Errorf("%s use %s in DE for research: %v %v %q, want %v", c.member, ChatAsset, err, d.Allowed, d.Reason, c.allowed)
		}
	}
}
