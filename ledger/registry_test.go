package ledger

import (
	"reflect"
	"slices"
	"testing"
)

// TestProposalTypes pins the registry: moving a registration must not lose
// a type or add one.
func TestProposalTypes(t *testing.T) {
	want := []string{
		"asset.register", "asset.transfer", "ballot.open", "ballot.vote", "bundle.accept", "bundle.offer", "duty.attest",
		"grant.accept", "grant.amend", "grant.offer", "grant.resume", "grant.revoke", "grant.suspend",
		"grant.terminate", "infraction.observe", "key.delegate", "key.encryption.rotate", "key.revoke", "key.rotate", "pool.consume", "pool.create", "pool.hold", "pool.release", "pool.settle",
		"pool.transfer", "retention.attest", "sla.report", "statement.attest", "token.register", "token.revoke", "usage.report",
	}
	if got := ProposalTypes(); !slices.Equal(got, want) {
		t.Errorf("ProposalTypes() = %q\nwant %q", got, want)
	}
	for _, typ := range []string{"token.register", "token.revoke", "key.rotate"} {
		if !handlers[typ].auditors {
			t.Errorf("%s: auditors may not propose it", typ)
		}
	}
	for _, typ := range DelegableTypes() {
		if handlers[typ].target == nil {
			t.Errorf("%s: may be delegated but has no target", typ)
		}
	}
	if handlers["key.rotate"].extraKeys == nil {
		t.Error("key.rotate: the new key's signature cannot be checked")
	}
}

func TestRegister_DuplicatePanics(t *testing.T) {
	before := reflect.ValueOf(handlers["grant.offer"].apply).Pointer()
	defer func() {
		const want = `ledger: proposal type "grant.offer" is registered twice`
		if r := recover(); r != want {
			t.Errorf("register of a duplicate panicked with %v, want %q", r, want)
		}
		if got := reflect.ValueOf(handlers["grant.offer"].apply).Pointer(); got != before {
			t.Error("the duplicate replaced the registered rule")
		}
	}()
	register("grant.offer", handler{apply: func(*applyCtx) error { return nil }})
}

func TestRegister_NoRulePanics(t *testing.T) {
	defer func() {
		const want = `ledger: proposal type "test.none" is registered without a rule`
		if r := recover(); r != want {
			t.Errorf("register without a rule panicked with %v, want %q", r, want)
		}
		if _, ok := handlers["test.none"]; ok {
			t.Error("a type without a rule was registered")
		}
	}()
	register("test.none", handler{})
}

// TestDelegableTypes_ACopy: what DelegableTypes hands out cannot widen
// what admission lets a delegated key sign.
func TestDelegableTypes_ACopy(t *testing.T) {
	got := DelegableTypes()
	got[0] = "key.rotate"
	if slices.Contains(delegableTypes, "key.rotate") || DelegableTypes()[0] == "key.rotate" {
		t.Fatal("changing the returned slice changed the delegable types")
	}
	if !slices.IsSorted(delegableTypes) {
		t.Fatalf("delegable types %v are not sorted", delegableTypes)
	}
}
