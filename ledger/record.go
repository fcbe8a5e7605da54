package ledger

import (
	"encoding/binary"
	"fmt"
	"time"
)

// A Record is what the leader appends to the Raft log: either its own
// timestamp and a client's envelope, byte for byte as the client sent it,
// or a time record carrying member nodes' signed clock readings.
//
// Encoding (version 1): kind (1 byte, 1 = proposal) ‖ stamp (8 bytes, big
// endian, Unix nanoseconds) ‖ envelope bytes; or kind 2 (time) ‖ the
// time body, {"attestations":[envelope, ...]}. Under attested time
// (Charter.AttestedTime) a proposal's stamp does not move ledger time. The framing is the node's
// own; the envelope inside is client input and may be anything, so a bad
// envelope is an ordinary rejection, while a record whose framing does not
// decode can only come from a broken or hostile leader and stops the node.
type Record struct {
	Stamp    time.Time
	Envelope []byte // for a time record, its body
	Time     bool   // a time record
}

const (
	recordProposal byte = 1
	recordTime     byte = 2
	recordHeader   int  = 9
)

// EncodeTimeRecord frames the body of a time record (see EncodeTimeBody).
func EncodeTimeRecord(body []byte) []byte {
	return append([]byte{recordTime}, body...)
}

// EncodeRecord frames an envelope with the leader's timestamp.
func EncodeRecord(stamp time.Time, envelope []byte) []byte {
	b := make([]byte, recordHeader, recordHeader+len(envelope))
	b[0] = recordProposal
	binary.BigEndian.PutUint64(b[1:], uint64(stamp.UnixNano()))
	return append(b, envelope...)
}

// DecodeRecord reverses EncodeRecord.
func DecodeRecord(b []byte) (Record, error) {
	if len(b) >= 1 && b[0] == recordTime {
		return Record{Envelope: b[1:], Time: true}, nil
	}
	if len(b) < recordHeader {
		return Record{}, fmt.Errorf("ledger: record of %d bytes is shorter than its %d-byte header", len(b), recordHeader)
	}
	if b[0] != recordProposal {
		return Record{}, fmt.Errorf("ledger: unknown record kind %d", b[0])
	}
	ns := int64(binary.BigEndian.Uint64(b[1:]))
	if ns <= 0 {
		return Record{}, fmt.Errorf("ledger: record stamp %d is not a positive Unix time", ns)
	}
	return Record{Stamp: time.Unix(0, ns).UTC(), Envelope: b[recordHeader:]}, nil
}

// IsTimeEntry reports whether a journal entry is a time entry (its
// "envelope" is then the time record's body). A proposal's entry never
// is: its type, if any, is the proposal's, whose signer is never empty,
// and no proposal type is named ledger.time.
func IsTimeEntry(e *Entry) bool {
	return e.Outcome.Type == TimeEntryType && e.Outcome.Signer == ""
}

// RecordOf rebuilds the log record behind a journal entry, for replay.
func RecordOf(e *Entry) []byte {
	if IsTimeEntry(e) {
		return EncodeTimeRecord(e.Envelope)
	}
	return EncodeRecord(e.LedgerTime, e.Envelope)
}
