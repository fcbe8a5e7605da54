package demo

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/charta/charta/ledger"
)

type call struct {
	member, typ, id string
	body            any
	cosigners       []string
}

func TestSeed_ProposesTheStoryInOrder(t *testing.T) {
	var calls []call
	var out bytes.Buffer
	err := Seed(func(member, typ, id string, body any, cosigners ...string) error {
		calls = append(calls, call{member, typ, id, body, cosigners})
		return nil
	}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 32 {
		t.Fatalf("%d proposals, want 32", len(calls))
	}
	for i, c := range calls {
		if want := fmt.Sprintf("demo-%03d", i+1); c.id != want {
			t.Errorf("proposal %d has ID %q, want %q", i, c.id, want)
		}
		// Only atlas-med, owned jointly under its grant's
		// improvements_owner=joint, needs its other owner's signature.
		if want := c.id == "demo-007"; want != (len(c.cosigners) == 1 && c.cosigners[0] == "alpha") || !want && len(c.cosigners) != 0 {
			t.Errorf("%s: co-signed by %v", c.id, c.cosigners)
		}
	}
	first, last := calls[0], calls[len(calls)-1]
	if a, ok := first.body.(ledger.AssetRegister); first.member != "alpha" || first.typ != "asset.register" || !ok || a.ID != "atlas-7b" {
		t.Errorf("first proposal %+v", first)
	}
	if last.member != "beta" || last.typ != "grant.accept" {
		t.Errorf("last proposal %+v", last)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 11 || !strings.HasPrefix(lines[0], "  - assets: ") || !strings.HasPrefix(lines[5], "  - data terms and export control") ||
		!strings.HasPrefix(lines[6], "  - responsible AI: ") || !strings.HasPrefix(lines[7], "  - open licence: ") ||
		!strings.HasPrefix(lines[9], "  - metered grant g-inference") || !strings.HasPrefix(lines[10], "  - gateway: ") {
		t.Errorf("chapters:\n%s", out.String())
	}
}

func TestSeed_StopsAtTheFirstError(t *testing.T) {
	refused := errors.New("refused")
	n := 0
	var out bytes.Buffer
	err := Seed(func(member, typ, id string, body any, cosigners ...string) error {
		if n++; n == 5 {
			return refused
		}
		return nil
	}, &out)
	if err != refused || n != 5 {
		t.Errorf("err %v after %d proposals, want the proposer's own error after 5", err, n)
	}
	if strings.Count(out.String(), "\n") != 2 {
		t.Errorf("chapters begun:\n%s", out.String())
	}
}
