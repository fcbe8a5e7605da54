package ledger

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Ledger time under attested time (Charter.AttestedTime) moves only by time
// entries: records that carry signed readings of the clocks of a majority
// of the member nodes. Apply checks every signature against the key table
// and sets ledger time to the lower median of the readings, so one node's
// clock, the leader's included, can neither push time ahead nor hold it
// back on its own. See docs/operations.md, "Ledger time".

// TimePayloadType is the DSSE payload type of a time attestation.
const TimePayloadType = "application/vnd.charta.time.v1+json"

// TimeEntryType is the journal type of a time entry.
const TimeEntryType = "ledger.time"

// TimeAttestation is one member node's signed reading of its clock. It is
// the payload of a DSSE envelope signed with the member's key.
type TimeAttestation struct {
	Consortium string    `json:"consortium"`
	Member     string    `json:"member"`
	Time       time.Time `json:"time"`
}

// timeBody is what a time entry journals in place of an envelope: the
// attestations, each a DSSE envelope as its node signed it.
type timeBody struct {
	Attestations []json.RawMessage `json:"attestations"`
}

// maxAttestations bounds the attestations in one time entry.
const maxAttestations = 64

// AttestTime signs s's member's reading now of its clock, for consortium.
// It returns the encoded DSSE envelope.
func AttestTime(consortium string, s Signer, now time.Time) ([]byte, error) {
	member, _, ok := SplitKeyID(s.KeyID)
	if !ok || s.Key == nil {
		return nil, fmt.Errorf("ledger: attest time: %q is not a usable signer", s.KeyID)
	}
	payload, err := json.Marshal(TimeAttestation{Consortium: consortium, Member: member, Time: now.UTC()})
	if err != nil {
		return nil, err
	}
	sig, err := s.Key.Sign(PAE(TimePayloadType, payload))
	if err != nil {
		return nil, err
	}
	e := &Envelope{PayloadType: TimePayloadType, Payload: payload, Signatures: []Signature{{KeyID: s.KeyID, Sig: sig}}}
	return e.Encode(), nil
}

// ParseTimeAttestation decodes an attestation envelope and its payload
// without checking the signature.
func ParseTimeAttestation(b []byte) (*Envelope, TimeAttestation, error) {
	var a TimeAttestation
	env, err := decodeEnvelope(b, TimePayloadType)
	if err != nil {
		return nil, a, err
	}
	if len(env.Signatures) != 1 {
		return nil, a, Errorf(CodeInvalid, "signatures: a time attestation has exactly one signature, not %d", len(env.Signatures))
	}
	if err := decodeStrictAt("payload", env.Payload, &a); err != nil {
		return nil, a, err
	}
	if m, _, _ := SplitKeyID(env.Signatures[0].KeyID); m != a.Member {
		return nil, a, Errorf(CodeUnauthorized, "signatures[0]: key %s is not %s's", env.Signatures[0].KeyID, a.Member)
	}
	if a.Time.IsZero() {
		return nil, a, Errorf(CodeInvalid, "payload.time: missing")
	}
	a.Time = a.Time.UTC()
	return env, a, nil
}

// EncodeTimeBody is the body of a time record holding attestations.
func EncodeTimeBody(attestations [][]byte) []byte {
	body := timeBody{Attestations: make([]json.RawMessage, len(attestations))}
	for i, a := range attestations {
		body.Attestations[i] = a
	}
	b, _ := json.Marshal(body) // raw envelopes always marshal
	return b
}

// TimeQuorum is how many distinct member nodes must attest a time entry
// when n member nodes keep the clock: a majority.
func TimeQuorum(n int) int { return n/2 + 1 }

// MedianTime is the time a time entry sets: the lower median of the
// readings, so that with a majority of honest readings it lies between two
// honest ones, and with two readings it is the earlier.
func MedianTime(times []time.Time) time.Time {
	s := slices.Clone(times)
	slices.SortFunc(s, func(a, b time.Time) int { return a.Compare(b) })
	return s[(len(s)-1)/2]
}

// timekeepers lists, in ID order, the members whose nodes keep the
// consortium's clock: the active members with a recorded Raft address.
func timekeepers(t *tx) []string {
	var out []string
	t.scan(bucketMembers, nil, func(_, v []byte) bool {
		var m Member
		mustUnmarshal(bucketMembers, nil, v, &m)
		if m.Status == MemberActive && m.Node.RaftAddr != "" {
			out = append(out, m.ID)
		}
		return true
	})
	return out
}

// TimeKeepers lists the members whose nodes keep the consortium's clock.
func (v *View) TimeKeepers() []string { return timekeepers(v.t) }

// attestedTime checks a time record's body against the key table at index
// and returns the time it sets.
func (l *Ledger) attestedTime(t *tx, index uint64, body []byte) (time.Time, error) {
	var tb timeBody
	if err := DecodeStrict(body, &tb); err != nil {
		return time.Time{}, err
	}
	if len(tb.Attestations) > maxAttestations {
		return time.Time{}, Errorf(CodeInvalid, "attestations: %d is more than %d", len(tb.Attestations), maxAttestations)
	}
	keepers := timekeepers(t)
	var times []time.Time
	var seen []string
	for i, raw := range tb.Attestations {
		env, a, err := ParseTimeAttestation(raw)
		if err != nil {
			return time.Time{}, Errorf(CodeInvalid, "attestations[%d]: %s", i, errorText(err))
		}
		switch {
		case a.Consortium != l.consortium:
			return time.Time{}, Errorf(CodeInvalid, "attestations[%d].consortium: not this consortium", i)
		case !slices.Contains(keepers, a.Member):
			return time.Time{}, Errorf(CodeForbidden, "attestations[%d]: %s is not an active member with a node", i, a.Member)
		case slices.Contains(seen, a.Member):
			return time.Time{}, Errorf(CodeInvalid, "attestations[%d]: %s attests twice", i, a.Member)
		}
		lookup := func(id string) (*VerifyingKey, bool) {
			k, ok := t.getKey(id)
			if !ok || !k.ValidAt(index) {
				return nil, false
			}
			return l.verifyingKey(id, k.Public)
		}
		if !l.opts.SkipVerify {
			if _, err := l.verifyAdmitted(env, lookup, nil); err != nil {
				return time.Time{}, Errorf(CodeUnauthorized, "attestations[%d]: %s", i, errorText(err))
			}
		}
		seen = append(seen, a.Member)
		times = append(times, a.Time)
	}
	if q := TimeQuorum(len(keepers)); len(times) < q {
		return time.Time{}, Errorf(CodeRejected, "attestations: %d of %d member nodes attest; a time entry needs %d", len(times), len(keepers), q)
	}
	return MedianTime(times), nil
}

// applyTime applies a time record: it checks the attestations and moves
// ledger time to their median. A valid record that would not move time
// forward leaves no entry, as a duplicate proposal does; an invalid one is
// journaled as rejected, so the attempt stays on record.
func (l *Ledger) applyTime(t *tx, index uint64, body []byte) (Result, bool) {
	now := loadLedgerTime(t)
	out := Outcome{Status: StatusAccepted, Type: TimeEntryType}
	at, err := l.attestedTime(t, index, body)
	switch {
	case err != nil:
		var e *Error
		if !errors.As(err, &e) {
			e = &Error{Code: CodeInvalid, Message: err.Error()}
		}
		out.Status, out.Code, out.Message = StatusRejected, e.Code, e.Message
	case !at.After(now):
		t.discard()
		return Result{Index: index, Outcome: Outcome{Status: StatusRejected, Type: TimeEntryType, Code: CodeConflict,
			Message: "attested time " + at.Format(time.RFC3339Nano) + " does not advance ledger time " + now.Format(time.RFC3339Nano)}}, false
	default:
		now = at
		out.Events = []Event{{Kind: TimeEntryType, Subject: at.Format(time.RFC3339Nano)}}
	}
	putLedgerTime(t, now)
	e := appendEntry(t, index, now, body, out)
	t.commit()
	return Result{Index: index, Seq: e.Seq, EntryHash: e.Hash, Outcome: out}, true
}

// IsTimeEntry reports whether a journal entry is a time entry (its
// "envelope" is then the time record's body).
func IsTimeEntry(e *Entry) bool {
	return e.Outcome.Type == TimeEntryType && e.Outcome.Signer == "" && bytes.HasPrefix(e.Envelope, []byte(`{"attestations":`))
}

// RecordOf rebuilds the log record behind a journal entry, for replay.
func RecordOf(e *Entry) []byte {
	if IsTimeEntry(e) {
		return EncodeTimeRecord(e.Envelope)
	}
	return EncodeRecord(e.LedgerTime, e.Envelope)
}

// NextDeadline returns the earliest instant after after at which some
// record's status changes with time alone: a grant offer lapsing, a grant
// starting or expiring, a bundle offer or ballot reaching its deadline, a
// pool hold lapsing, a pool period ending, or a usage report falling due.
// A node uses it to write a time entry only when one is due.
func (v *View) NextDeadline(after time.Time) (time.Time, bool) {
	var next time.Time
	consider := func(t time.Time) {
		if t.After(after) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	v.t.scan(bucketGrants, nil, func(k, val []byte) bool {
		var g Grant
		mustUnmarshal(bucketGrants, k, val, &g)
		grantDeadlines(&g, after, consider)
		return true
	})
	v.t.scan(bucketBundles, nil, func(k, val []byte) bool {
		var b Bundle
		mustUnmarshal(bucketBundles, k, val, &b)
		if b.Status == BundleOffered {
			consider(b.Deadline)
		}
		return true
	})
	v.t.scan(bucketBallots, nil, func(k, val []byte) bool {
		var b Ballot
		mustUnmarshal(bucketBallots, k, val, &b)
		if b.Status == BallotOpen {
			consider(b.Deadline)
		}
		return true
	})
	v.t.scan(bucketPools, nil, func(k, val []byte) bool {
		var p Pool
		mustUnmarshal(bucketPools, k, val, &p)
		_, end := PeriodBounds(p.Period, after)
		consider(end)
		return true
	})
	v.t.scan(bucketPoolHolds, nil, func(k, val []byte) bool {
		var h Hold
		mustUnmarshal(bucketPoolHolds, k, val, &h)
		if h.Status == HoldOpen {
			consider(h.Deadline)
		}
		return true
	})
	return next, !next.IsZero()
}

// grantDeadlines passes consider each instant after after at which g's
// status or duties change with time, each attested duty's next due date
// included.
func grantDeadlines(g *Grant, after time.Time, consider func(time.Time)) {
	switch g.Status {
	case StatusOffered:
		if g.OfferExpires != nil {
			consider(*g.OfferExpires)
		}
	case StatusActive, StatusSuspended:
	default:
		return
	}
	c := g.Terms.Constraints
	if c.NotBefore != nil {
		consider(*c.NotBefore)
	}
	if c.NotAfter != nil {
		consider(*c.NotAfter)
	}
	dutyDeadlines(g, after, consider)
	u := g.Terms.Usage
	if u == nil {
		return
	}
	// A period's statement turns final GraceDays after it ends, and each
	// report_usage duty's report falls due DueDays after it ends.
	considerAfterEnd(u.Period, u.GraceDays, after, consider)
	for _, d := range g.Terms.Duties {
		if d.Kind == DutyReportUsage {
			considerAfterEnd(u.Period, d.DueDays, after, consider)
		}
	}
}

// considerAfterEnd passes consider the first instant after after that lies
// days after the end of some period of kind p.
func considerAfterEnd(p Period, days int, after time.Time, consider func(time.Time)) {
	start, _ := PeriodBounds(p, after.AddDate(0, 0, -days))
	for range 3 {
		_, end := PeriodBounds(p, start)
		if due := end.AddDate(0, 0, days); due.After(after) {
			consider(due)
			return
		}
		start = end
	}
}
