package ledger

import (
	"encoding/json"
	"fmt"
	"slices"
)

// handler is the rule for one proposal type.
type handler struct {
	apply func(*applyCtx) error
	// extraKeys names keys that the proposal itself introduces, such as
	// the new key of a rotation, so that their signatures can be checked.
	extraKeys func(*Proposal) map[string]PublicKey
	auditors  bool // auditors may propose it
	// target extracts what the proposal acts on from its body, for the
	// types a delegated key may sign (delegableTypes), whose scope bounds
	// the target.
	target func(body json.RawMessage) (Target, error)
}

// handlers is the registry of proposal types, filled by register from the
// init function beside each rule. It is looked up by key only, never
// iterated into an outcome, so map order cannot reach one.
var handlers = map[string]handler{}

// register adds the rule for proposal type t. Each call sits beside the rule
// it registers, as consul's FSM registers its commands. A type registered
// twice is a bug in this package, and one rule silently replacing another
// would change what Apply decides, so register panics, when the package is
// initialised and before any entry is applied.
func register(t string, h handler) {
	if _, dup := handlers[t]; dup {
		panic(fmt.Sprintf("ledger: proposal type %q is registered twice", t))
	}
	if slices.Contains(delegableTypes, t) && h.target == nil {
		panic(fmt.Sprintf("ledger: proposal type %q may be delegated but is registered without a target", t))
	}
	if h.apply == nil {
		panic(fmt.Sprintf("ledger: proposal type %q is registered without a rule", t))
	}
	handlers[t] = h
}

// ProposalTypes lists the proposal types the ledger knows, sorted.
func ProposalTypes() []string {
	out := make([]string, 0, len(handlers))
	for t := range handlers {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// dispatch applies a proposal whose type admit has found in the registry.
func dispatch(a *applyCtx) error { return handlers[a.p.Type].apply(a) }
