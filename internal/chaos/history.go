package chaos

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// Outcome is what a client learned about an operation.
type Outcome string

// Outcomes.
const (
	OK        Outcome = "ok"        // a write accepted, or a read answered
	Failed    Outcome = "failed"    // a write journaled as rejected (it had no effect)
	Ambiguous Outcome = "ambiguous" // a write whose effect is unknown (timeout, cut connection, unavailable)
	NoAnswer  Outcome = "no-answer" // a read that got no answer (it is left out of the checks)
	Refused   Outcome = "refused"   // a write refused by the API with a 4xx problem, before the log (no effect)
)

// Op is one operation of a history.
type Op struct {
	Client   int       `json:"client"`
	Key      string    `json:"key"`  // what the operation is about: grant ID, or pool/member
	Kind     string    `json:"kind"` // accept, suspend, resume, check; consume, usage
	ID       string    `json:"id,omitempty"`
	Amount   int64     `json:"amount,omitempty"`
	Call     time.Time `json:"call"`
	Return   time.Time `json:"return"`
	Outcome  Outcome   `json:"outcome"`
	Allowed  bool      `json:"allowed,omitempty"` // check: the decision
	Used     int64     `json:"used,omitempty"`    // usage: the member's use
	Quota    int64     `json:"quota,omitempty"`   // usage: the member's quota
	Node     int       `json:"node"`
	Index    uint64    `json:"index,omitempty"` // journal/Raft index of a write's result
	Err      string    `json:"err,omitempty"`
	Rejected string    `json:"rejected,omitempty"` // the rejection code of a failed or refused write

	// W3 and W4.
	Member    string    `json:"member,omitempty"`    // ballot: who opens, votes or (reads) nobody
	Approve   bool      `json:"approve,omitempty"`   // ballot.vote: the vote
	Deadline  time.Time `json:"deadline,omitzero"`   // ballot ops: the ballot's deadline
	Status    string    `json:"status,omitempty"`    // ballot.read: the status read ("none" if not found)
	Votes     string    `json:"votes,omitempty"`     // ballot.read: the votes read, "alpha:y,beta:n"
	Gen       int       `json:"gen,omitempty"`       // key ops: the key generation signed with, or read
	Envelope  string    `json:"envelope,omitempty"`  // adversarial ops: hex SHA-256 of the envelope sent
	Expect    string    `json:"expect,omitempty"`    // adversarial ops: the code the refusal must carry
	Duplicate bool      `json:"duplicate,omitempty"` // adv.replay: the answer was marked a duplicate
	Orig      uint64    `json:"orig,omitempty"`      // adv.replay: the index of the original
}

// History is a concurrent-safe record of operations.
type History struct {
	mu  sync.Mutex
	ops []Op
}

// Add records an operation.
func (h *History) Add(op Op) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, op)
}

// Ops returns a copy of the operations in call order.
func (h *History) Ops() []Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := append([]Op(nil), h.ops...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Call.Before(out[j].Call) })
	return out
}

// Count returns the number of operations by outcome.
func (h *History) Count() map[Outcome]int {
	m := map[Outcome]int{}
	for _, op := range h.Ops() {
		m[op.Outcome]++
	}
	return m
}

// Save writes the history as JSON.
func (h *History) Save(path string) error {
	b, err := json.MarshalIndent(h.Ops(), "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// grantState is the model of one grant: offered, active or suspended.
type grantState string

// grantModel is the sequential specification of W1 on one grant, seen by
// beta's entitlement check on the grant's own asset: allowed exactly while
// the grant is active.
func grantModel() porcupine.Model {
	return porcupine.Model{
		Partition: partitionByKey,
		Init:      func() any { return grantState("offered") },
		Step: func(state, input, output any) (bool, any) {
			s, op := state.(grantState), input.(Op)
			if op.Kind == "check" {
				return output.(Op).Allowed == (s == "active"), s
			}
			from, to := transition(op.Kind)
			valid := s == from
			switch output.(Op).Outcome {
			case OK:
				return valid, to
			case Failed:
				return !valid, s
			case Refused: // never reached the log
				return true, s
			default: // ambiguous: takes effect if it can, at some point after its call
				if valid {
					return true, to
				}
				return true, s
			}
		},
		DescribeOperation: describeOp,
		DescribeState:     func(s any) string { return string(s.(grantState)) },
	}
}

// poolModel is the sequential specification of W2 on one pool member: a
// counter of use that a consume raises by its amount exactly when the
// quota allows it, and that a usage read returns.
func poolModel(quota int64) porcupine.Model {
	return porcupine.Model{
		Partition: partitionByKey,
		Init:      func() any { return int64(0) },
		Step: func(state, input, output any) (bool, any) {
			used, op, out := state.(int64), input.(Op), output.(Op)
			if op.Kind == "usage" {
				return out.Used == used, used
			}
			fits := used+op.Amount <= quota
			switch out.Outcome {
			case OK:
				return fits, used + op.Amount
			case Failed:
				return !fits, used
			case Refused: // never reached the log
				return true, used
			default:
				if fits {
					return true, used + op.Amount
				}
				return true, used
			}
		},
		DescribeOperation: describeOp,
		DescribeState:     func(s any) string { return fmt.Sprintf("used %d", s.(int64)) },
	}
}

// transition returns the grant status a write needs and the one it leads to.
func transition(kind string) (from, to grantState) {
	switch kind {
	case "accept":
		return "offered", "active"
	case "suspend":
		return "active", "suspended"
	case "resume":
		return "suspended", "active"
	}
	return "", ""
}

func describeOp(input, output any) string {
	op, out := input.(Op), output.(Op)
	switch op.Kind {
	case "check":
		return fmt.Sprintf("check %s -> %v", op.Key, out.Allowed)
	case "usage":
		return fmt.Sprintf("usage %s -> %d", op.Key, out.Used)
	case "consume":
		return fmt.Sprintf("consume %d %s -> %s", op.Amount, op.ID, out.Outcome)
	}
	return fmt.Sprintf("%s %s -> %s", op.Kind, op.ID, out.Outcome)
}

func partitionByKey(history []porcupine.Operation) [][]porcupine.Operation {
	by := map[string][]porcupine.Operation{}
	var keys []string
	for _, op := range history {
		k := op.Input.(Op).Key
		if _, ok := by[k]; !ok {
			keys = append(keys, k)
		}
		by[k] = append(by[k], op)
	}
	sort.Strings(keys)
	var out [][]porcupine.Operation
	for _, k := range keys {
		out = append(out, by[k])
	}
	return out
}

// porcupineOps converts the operations to porcupine's form: reads without
// an answer are left out, and ambiguous writes never return.
func porcupineOps(ops []Op, base time.Time) []porcupine.Operation {
	var out []porcupine.Operation
	for _, op := range ops {
		if op.Outcome == NoAnswer {
			continue
		}
		ret := op.Return.Sub(base).Nanoseconds()
		if op.Outcome == Ambiguous {
			ret = math.MaxInt64
		}
		out = append(out, porcupine.Operation{ClientId: op.Client, Input: op, Output: op,
			Call: op.Call.Sub(base).Nanoseconds(), Return: ret})
	}
	return out
}

// CheckLinearizable checks ops against model with porcupine. A timeout is a
// failure. On failure it writes the visualisation to htmlPath.
func CheckLinearizable(model porcupine.Model, ops []Op, timeout time.Duration, htmlPath string) error {
	if len(ops) == 0 {
		return nil
	}
	base := ops[0].Call
	for _, op := range ops {
		if op.Call.Before(base) {
			base = op.Call
		}
	}
	res, info := porcupine.CheckOperationsVerbose(model, porcupineOps(ops, base), timeout)
	if res == porcupine.Ok {
		return nil
	}
	if htmlPath != "" {
		os.MkdirAll(filepath.Dir(htmlPath), 0o755)
		porcupine.VisualizePath(model, info, htmlPath)
	}
	if res == porcupine.Unknown {
		return fmt.Errorf("chaos: the linearizability check timed out after %v (counted as a failure); see %s", timeout, htmlPath)
	}
	return fmt.Errorf("chaos: the history is not linearizable; see %s", htmlPath)
}
