package ledger_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
)

func genesisMember(id string, role ledger.Role) ledger.GenesisMember {
	return ledger.GenesisMember{ID: id, Role: role, Keys: []ledger.PublicKey{ledgertest.Key(id, ledger.SchemeEd25519).Public()},
		Node: ledger.NodeInfo{RaftAddr: "127.0.0.1:7000"}}
}

func TestNewGenesis_MembersInIDOrderCreatedToTheSecond(t *testing.T) {
	created := time.Date(2026, 3, 1, 12, 30, 45, 999, time.FixedZone("CET", 3600))
	members := []ledger.GenesisMember{genesisMember("gamma", ledger.RoleMember), genesisMember("audit", ledger.RoleAuditor), genesisMember("alpha", ledger.RoleMember)}
	g, err := ledger.NewGenesis("Open Model Consortium", created, 3, members)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range g.Members {
		ids = append(ids, m.ID)
	}
	if len(ids) != 3 || ids[0] != "alpha" || ids[1] != "audit" || ids[2] != "gamma" {
		t.Errorf("members %v, want alpha, audit, gamma", ids)
	}
	if members[0].ID != "gamma" {
		t.Errorf("the caller's members were reordered: %v", members[0].ID)
	}
	if want := time.Date(2026, 3, 1, 11, 30, 45, 0, time.UTC); !g.CreatedAt.Equal(want) || g.CreatedAt.Location() != time.UTC {
		t.Errorf("created at %v, want %v", g.CreatedAt, want)
	}
	want := ledger.DefaultCharter()
	want.MaxVoters = 3
	if g.Format != ledger.GenesisFormat || g.Name != "Open Model Consortium" || !reflect.DeepEqual(g.Charter, want) || len(g.Signatures) != 0 {
		t.Errorf("genesis %+v", g)
	}
	// The same founders give the same consortium ID, whatever their order.
	again, err := ledger.NewGenesis("Open Model Consortium", created, 3, []ledger.GenesisMember{members[2], members[0], members[1]})
	if err != nil || again.ID() != g.ID() {
		t.Errorf("a second document: %v, ID %s, want %s", err, again.ID(), g.ID())
	}
}

func TestNewGenesis_Rejects(t *testing.T) {
	created := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for name, c := range map[string]struct {
		name    string
		members []ledger.GenesisMember
	}{
		"no name":          {"", []ledger.GenesisMember{genesisMember("alpha", ledger.RoleMember)}},
		"no founders":      {"c", nil},
		"only auditors":    {"c", []ledger.GenesisMember{genesisMember("audit", ledger.RoleAuditor)}},
		"one member twice": {"c", []ledger.GenesisMember{genesisMember("alpha", ledger.RoleMember), genesisMember("alpha", ledger.RoleMember)}},
	} {
		g, err := ledger.NewGenesis(c.name, created, 5, c.members)
		var le *ledger.Error
		if g != nil || !errors.As(err, &le) || le.Code != ledger.CodeInvalid {
			t.Errorf("%s: %v, %v; want an invalid error", name, g, err)
		}
	}
}
