package node

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/api"
)

// The check answers are the node's hottest responses: a batch carries up to
// the charter's MaxBatch decisions, and encoding/json's reflection cost
// more than answering the questions. They are written by hand here, byte
// for byte what encoding/json writes with HTML escaping off (the node's
// writeJSON); TestAppendDecision_MatchesEncodingJSON and
// FuzzAppendJSONString hold the two together.

// jsonAppender is a response that appends its own JSON encoding.
type jsonAppender interface {
	appendJSON(b []byte) ([]byte, error)
}

// batchJSON is a batch of decisions as writeJSON's jsonAppender.
type batchJSON api.CheckBatchResponse

func (r batchJSON) appendJSON(b []byte) ([]byte, error) {
	if r.Decisions == nil {
		return append(b, `{"decisions":null}`...), nil
	}
	b = append(b, `{"decisions":[`...)
	for i := range r.Decisions {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendDecision(b, &r.Decisions[i]); err != nil {
			return b, err
		}
	}
	return append(b, "]}"...), nil
}

// decisionJSON is a single decision as writeJSON's jsonAppender.
type decisionJSON ledger.Decision

func (d *decisionJSON) appendJSON(b []byte) ([]byte, error) {
	return appendDecision(b, (*ledger.Decision)(d))
}

// appendDecision appends d as encoding/json encodes a ledger.Decision.
// The hand-written path covers the common decision; one with parts it
// does not model (an exclusive grant binding, attested duties, observed
// infractions) goes through encoding/json, so that nothing is dropped.
func appendDecision(b []byte, d *ledger.Decision) ([]byte, error) {
	if !commonDecision(d) {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(d); err != nil {
			return b, err
		}
		return append(b, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...), nil
	}
	b = append(b, `{"allowed":`...)
	b = strconv.AppendBool(b, d.Allowed)
	b = append(b, `,"basis":`...)
	b = appendJSONString(b, d.Basis)
	b = append(b, `,"reason":`...)
	b = appendJSONString(b, d.Reason)
	if len(d.Chain) > 0 {
		b = append(b, `,"chain":[`...)
		for i, g := range d.Chain {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, g)
		}
		b = append(b, ']')
	}
	if len(d.Candidates) > 0 {
		b = append(b, `,"candidates":[`...)
		for i, c := range d.Candidates {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"grant":`...)
			b = appendJSONString(b, c.Grant)
			b = append(b, `,"status":`...)
			b = appendJSONString(b, string(c.Status))
			b = append(b, `,"allowed":`...)
			b = strconv.AppendBool(b, c.Allowed)
			b = append(b, `,"reason":`...)
			b = appendJSONString(b, c.Reason)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if len(d.Duties) > 0 {
		b = append(b, `,"duties":[`...)
		for i, u := range d.Duties {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"grant":`...)
			b = appendJSONString(b, u.Grant)
			b = append(b, `,"kind":`...)
			b = appendJSONString(b, u.Kind)
			if u.Text != "" {
				b = append(b, `,"text":`...)
				b = appendJSONString(b, u.Text)
			}
			if u.Metric != "" {
				b = append(b, `,"metric":`...)
				b = appendJSONString(b, u.Metric)
			}
			if u.Period != "" {
				b = append(b, `,"period":`...)
				b = appendJSONString(b, string(u.Period))
			}
			if u.DueDays != 0 {
				b = append(b, `,"due_days":`...)
				b = strconv.AppendInt(b, int64(u.DueDays), 10)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if d.SeatsLeft != nil {
		b = append(b, `,"seats_left":`...)
		b = strconv.AppendInt(b, *d.SeatsLeft, 10)
	}
	if len(d.Caps) > 0 {
		b = append(b, `,"caps":[`...)
		for i, c := range d.Caps {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"grant":`...)
			b = appendJSONString(b, c.Grant)
			b = append(b, `,"metric":`...)
			b = appendJSONString(b, c.Metric)
			b = append(b, `,"unit":`...)
			b = appendJSONString(b, c.Unit)
			b = append(b, `,"period":`...)
			b = appendJSONString(b, c.Period)
			b = append(b, `,"cap":`...)
			b = strconv.AppendInt(b, c.Cap, 10)
			b = append(b, `,"used":`...)
			b = strconv.AppendInt(b, c.Used, 10)
			b = append(b, `,"remaining":`...)
			b = strconv.AppendInt(b, c.Remaining, 10)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"at":"`...)
	// time.Time's MarshalJSON is its AppendText in quotes; both refuse a
	// year outside 0-9999.
	b, err := d.At.AppendText(b)
	if err != nil {
		return b, err
	}
	b = append(b, '"')
	if d.Index != 0 {
		b = append(b, `,"index":`...)
		b = strconv.AppendUint(b, d.Index, 10)
	}
	return append(b, '}'), nil
}

// commonDecision reports whether appendDecision's hand-written path
// models every field d holds.
func commonDecision(d *ledger.Decision) bool {
	if d.BoundBy != "" || len(d.Observed) > 0 || len(d.Sealed) > 0 {
		return false
	}
	for i := range d.Duties {
		u := &d.Duties[i]
		if u.Assessor != "" || len(u.RequiredFor) > 0 || u.Status != "" || u.PeriodNumber != 0 || u.Due != nil {
			return false
		}
	}
	return true
}

// appendJSONString appends s as a JSON string the way encoding/json does
// without HTML escaping, as the node's writeJSON encodes.
func appendJSONString(b []byte, s string) []byte { return ledger.AppendJSONString(b, s, false) }
