package ledger

import (
	"crypto/sha256"
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

// MaxReadings bounds the attestations in one time entry. A consortium of
// more member nodes needs no more: a majority of up to 127 fits.
const MaxReadings = 64

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
	if a.Time.Before(earliestReading) || !a.Time.Before(latestReading) {
		return nil, a, Errorf(CodeInvalid, "payload.time: %s is not between 1970 and 2200", a.Time.UTC().Format(time.RFC3339))
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

// MedianTime is the lower median of times, which must not be empty: with
// a majority of honest times among them it lies between two honest ones,
// and of two times it is the earlier.
func MedianTime(times []time.Time) time.Time {
	s := slices.Clone(times)
	slices.SortFunc(s, func(a, b time.Time) int { return a.Compare(b) })
	return s[(len(s)-1)/2]
}

// AttestedTime is the time a time entry with readings from k of n
// timekeepers (k at least TimeQuorum(n)) sets at ledger time now: the
// (f+1)-th latest reading, where f = (n-1)/2 is the most timekeepers that
// may be wrong while a majority is right, and never before now. At least
// f+1 readings are then at or after it, one of them right: with a
// majority of right clocks among the n, no choice of readings by the
// leader puts ledger time ahead of a right clock. With all n readings it
// is the median; with fewer it leans early, and a wrong clock behind can
// hold time back only while right ones are missing.
func AttestedTime(readings []time.Time, n int, now time.Time) time.Time {
	s := slices.Clone(readings)
	slices.SortFunc(s, func(a, b time.Time) int { return a.Compare(b) })
	i := max(len(s)-1-(n-1)/2, 0)
	if s[i].After(now) {
		return s[i]
	}
	return now
}

// Readings the ledger can store: Unix nanoseconds in an int64 run out in
// 2262.
var (
	earliestReading = time.Unix(0, 1).UTC()
	latestReading   = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// timekeepers lists, in ID order, the members whose nodes keep the
// consortium's clock: the active members whose node the ledger records,
// with the Raft address it replicates at and the API address its clock
// readings are fetched from.
func timekeepers(t *tx) []string {
	var out []string
	t.scan(bucketMembers, nil, func(_, v []byte) bool {
		var m Member
		mustUnmarshal(bucketMembers, nil, v, &m)
		if m.Status == MemberActive && m.Node.RaftAddr != "" && m.Node.APIAddr != "" {
			out = append(out, m.ID)
		}
		return true
	})
	return out
}

// TimeKeepers lists the members whose nodes keep the consortium's clock.
func (v *View) TimeKeepers() []string { return timekeepers(v.t) }

// checkReading checks one attestation as an entry at index would: its
// form, consortium, signer (a timekeeper other than those in seen) and
// signature against the key table.
func (l *Ledger) checkReading(t *tx, index uint64, keepers, seen []string, raw []byte) (TimeAttestation, error) {
	env, a, err := ParseTimeAttestation(raw)
	switch {
	case err != nil:
		return a, err
	case a.Consortium != l.consortium:
		return a, Errorf(CodeInvalid, "consortium: not this consortium")
	case !slices.Contains(keepers, a.Member):
		return a, Errorf(CodeForbidden, "%s is not an active member with a node", a.Member)
	case slices.Contains(seen, a.Member):
		return a, Errorf(CodeInvalid, "%s attests twice", a.Member)
	}
	if l.opts.SkipVerify {
		return a, nil
	}
	lookup := func(id string) (*VerifyingKey, bool) {
		k, ok := t.getKey(id)
		if !ok || !k.ValidAt(index) || k.Delegated() {
			// A delegated key signs only the proposals in its scope.
			return nil, false
		}
		return l.verifyingKey(id, k.Public)
	}
	rawHash := Hash(sha256.Sum256(raw))
	if _, err := l.verifyAdmitted(env, &rawHash, lookup, nil); err != nil {
		return a, Errorf(CodeUnauthorized, "%s", errorText(err))
	}
	return a, nil
}

// CheckReading checks a clock reading as the next entry's Apply would, so
// that a node counts, and a leader proposes, only readings that Apply will
// accept.
func (v *View) CheckReading(raw []byte) (TimeAttestation, error) {
	return v.l.checkReading(v.t, v.AppliedIndex()+1, timekeepers(v.t), nil, raw)
}

// attestedTime checks a time record's body against the key table at index
// and returns the time it sets at ledger time now.
func (l *Ledger) attestedTime(t *tx, index uint64, now time.Time, body []byte) (time.Time, error) {
	var tb timeBody
	if err := DecodeStrict(body, &tb); err != nil {
		return time.Time{}, err
	}
	if len(tb.Attestations) > MaxReadings {
		return time.Time{}, Errorf(CodeInvalid, "attestations: %d is more than %d", len(tb.Attestations), MaxReadings)
	}
	keepers := timekeepers(t)
	var times []time.Time
	var seen []string
	for i, raw := range tb.Attestations {
		a, err := l.checkReading(t, index, keepers, seen, raw)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				e = Errorf(CodeInvalid, "%v", err)
			}
			return time.Time{}, Errorf(e.Code, "attestations[%d]: %s", i, e.Message)
		}
		seen = append(seen, a.Member)
		times = append(times, a.Time)
	}
	if q := TimeQuorum(len(keepers)); len(times) < q {
		return time.Time{}, Errorf(CodeRejected, "attestations: %d of %d member nodes attest; a time entry needs %d", len(times), len(keepers), q)
	}
	return AttestedTime(times, len(keepers), now), nil
}

// applyTime applies a time record under charter: it checks the
// attestations and moves ledger time to AttestedTime. A valid record that
// would not move time forward leaves no entry, as a duplicate proposal
// does; any other is journaled, an invalid one as rejected, so that the
// attempt stays on record.
func (l *Ledger) applyTime(t *tx, charter *Charter, index uint64, body []byte) Result {
	now := loadLedgerTime(t)
	out := Outcome{Status: StatusAccepted, Type: TimeEntryType}
	var at time.Time
	var err error
	if charter.AttestedTime {
		at, err = l.attestedTime(t, index, now, body)
	} else {
		err = Errorf(CodeRejected, "the charter moves ledger time by the leader's stamps (attested_time is off)")
	}
	switch {
	case err != nil:
		var e *Error
		if !errors.As(err, &e) {
			e = Errorf(CodeInvalid, "%v", err)
		}
		out.Status, out.Code, out.Message = StatusRejected, e.Code, e.Message
	case !at.After(now):
		t.discard()
		return Result{Index: index, Outcome: Outcome{Status: StatusRejected, Type: TimeEntryType, Code: CodeConflict,
			Message: "the readings do not move ledger time past " + now.Format(time.RFC3339Nano)}}
	default:
		now = at
		out.Events = []Event{{Kind: TimeEntryType, Subject: at.Format(time.RFC3339Nano)}}
	}
	putLedgerTime(t, now)
	e := appendEntry(t, charter.journalFormat(), index, now, body, sha256.Sum256(body), out)
	t.commit()
	return Result{Index: index, Seq: e.Seq, EntryHash: e.Hash, Outcome: out}
}
