package chaos

import (
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/charta/charta/ledger"
)

// ballotState is the model of one ballot. Yes and No are bitmasks over the
// voters in sorted order. Expired is sticky: ledger time never goes back,
// so once an operation has seen the deadline pass, every later one does.
type ballotState struct {
	Status  string // "none", or open, passed or rejected
	Yes, No uint16
	Expired bool
}

// ballotModel is the sequential specification of W3 on one ballot, for a
// consortium of voters (sorted) deciding with threshold th:
//
//   - open succeeds exactly when the ballot does not exist and its deadline
//     has not passed; it is the opener's yes vote;
//   - a vote succeeds exactly when the ballot is open and the member has
//     not voted; the vote that reaches the threshold passes the ballot (the
//     action, a harmless charter amendment, always executes), the one that
//     makes the threshold unreachable rejects it; a second vote by the same
//     member is refused as a conflict, a vote on a decided or expired
//     ballot as rejected;
//   - a read returns the status and the votes.
//
// Deadlines are compared with wall time on the harness's clock, which the
// nodes share. Ledger time is attested: never ahead of the nodes' clocks,
// and behind them by at most ledgerTimeLag (time entries follow writes
// within seconds, and stop only while no leader serves). So a write
// accepted while the ballot is open must have been called before the
// deadline plus that lag, and only an operation that returned after the
// deadline may see it passed.
// ledgerTimeLag bounds how far ledger time trails the wall clock in the
// scenarios (ClockHonestCheck asserts the same bound).
const ledgerTimeLag = 15 * time.Second

func ballotModel(voters []string, th ledger.Fraction) porcupine.Model {
	bit := func(m string) uint16 {
		i := slices.Index(voters, m)
		if i < 0 {
			return 0
		}
		return 1 << i
	}
	n := uint64(len(voters))
	passes := func(approvals int) bool { return uint64(approvals)*uint64(th.Den) >= uint64(th.Num)*n }
	decide := func(s ballotState) ballotState {
		switch yes, no := bits.OnesCount16(s.Yes), bits.OnesCount16(s.No); {
		case passes(yes):
			s.Status = ledger.BallotPassed
		case !passes(len(voters) - no):
			s.Status = ledger.BallotRejected
		}
		return s
	}
	vote := func(s ballotState, m string, approve bool) ballotState {
		if approve {
			s.Yes |= bit(m)
		} else {
			s.No |= bit(m)
		}
		return decide(s)
	}
	votes := func(s ballotState) string {
		var parts []string
		for i, m := range voters {
			switch {
			case s.Yes&(1<<i) != 0:
				parts = append(parts, m+":y")
			case s.No&(1<<i) != 0:
				parts = append(parts, m+":n")
			}
		}
		return strings.Join(parts, ",")
	}
	return porcupine.Model{
		Partition: partitionByKey,
		Init:      func() any { return ballotState{Status: "none"} },
		Step: func(state, input, output any) (bool, any) {
			s, op, out := state.(ballotState), input.(Op), output.(Op)
			open := s.Status == ledger.BallotOpen && !s.Expired
			before := op.Call.Before(op.Deadline.Add(ledgerTimeLag)) // ledger time may still be before the deadline
			after := !op.Return.Before(op.Deadline)
			voted := (s.Yes|s.No)&bit(op.Member) != 0
			switch op.Kind {
			case "ballot.read":
				if out.Votes != votes(s) {
					return false, s
				}
				switch out.Status {
				case "none", ledger.BallotPassed, ledger.BallotRejected:
					return out.Status == s.Status, s
				case ledger.BallotOpen:
					return open, s
				case ledger.BallotExpired:
					if s.Status == ledger.BallotOpen && after {
						s.Expired = true
						return true, s
					}
				}
				return false, s
			case "ballot.open":
				can := s.Status == "none" && before
				switch out.Outcome {
				case OK:
					return can, vote(ballotState{Status: ledger.BallotOpen}, op.Member, true)
				case Failed:
					switch ledger.Code(out.Rejected) {
					case ledger.CodeConflict:
						return s.Status != "none", s
					case ledger.CodeInvalid: // the deadline is no longer after ledger time
						return s.Status == "none" && after, s
					}
					return false, s
				case Ambiguous:
					if can {
						return true, vote(ballotState{Status: ledger.BallotOpen}, op.Member, true)
					}
					return true, s
				}
				return false, s
			case "ballot.vote":
				can := open && !voted && before
				switch out.Outcome {
				case OK:
					return can, vote(s, op.Member, op.Approve)
				case Failed:
					switch ledger.Code(out.Rejected) {
					case ledger.CodeNotFound:
						return s.Status == "none", s
					case ledger.CodeConflict:
						return open && voted && before, s
					case ledger.CodeRejected: // decided, or expired
						if s.Status == ledger.BallotOpen && after {
							s.Expired = true
							return true, s
						}
						return s.Status == ledger.BallotPassed || s.Status == ledger.BallotRejected, s
					}
					return false, s
				case Ambiguous:
					if can {
						return true, vote(s, op.Member, op.Approve)
					}
					return true, s
				}
				return false, s
			}
			return false, s
		},
		DescribeOperation: describeGovOp,
		DescribeState: func(st any) string {
			s := st.(ballotState)
			if s.Expired {
				return fmt.Sprintf("expired [%s]", votes(s))
			}
			return fmt.Sprintf("%s [%s]", s.Status, votes(s))
		},
	}
}

// keyModel is the sequential specification of W3 on one member's signing
// key: the generation that is current. key.rotate from generation k, signed
// by keys k and k+1, succeeds exactly when k is current and makes k+1
// current; a write signed with generation k succeeds exactly when k is
// current; both are otherwise refused as unauthorized (an unknown or
// retired key), by the API or in the journal. A read of the member returns
// the current generation.
func keyModel() porcupine.Model {
	return porcupine.Model{
		Partition: partitionByKey,
		Init:      func() any { return 0 },
		Step: func(state, input, output any) (bool, any) {
			cur, op, out := state.(int), input.(Op), output.(Op)
			if op.Kind == "key.read" {
				return out.Gen == cur, cur
			}
			valid, next := op.Gen == cur, cur
			if op.Kind == "key.rotate" && valid {
				next = cur + 1
			}
			switch out.Outcome {
			case OK:
				return valid, next
			case Failed, Refused:
				return !valid && ledger.Code(out.Rejected) == ledger.CodeUnauthorized, cur
			case Ambiguous:
				return true, next
			}
			return false, cur
		},
		DescribeOperation: describeGovOp,
		DescribeState:     func(s any) string { return fmt.Sprintf("generation %d", s.(int)) },
	}
}

func describeGovOp(input, output any) string {
	op, out := input.(Op), output.(Op)
	switch op.Kind {
	case "ballot.read":
		return fmt.Sprintf("read %s -> %s [%s]", op.Key, out.Status, out.Votes)
	case "ballot.open":
		return fmt.Sprintf("open by %s %s -> %s %s", op.Member, op.ID, out.Outcome, out.Rejected)
	case "ballot.vote":
		return fmt.Sprintf("vote %v by %s %s -> %s %s", op.Approve, op.Member, op.ID, out.Outcome, out.Rejected)
	case "key.read":
		return fmt.Sprintf("read %s -> generation %d", op.Key, out.Gen)
	}
	return fmt.Sprintf("%s gen %d %s -> %s %s", op.Kind, op.Gen, op.ID, out.Outcome, out.Rejected)
}
