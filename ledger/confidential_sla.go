package ledger

import (
	"cmp"
	"crypto/sha256"
	"slices"
	"strconv"
	"time"
)

// SealedSLAKind is the kind of object in the binding a confidential
// grant's SLA report is sealed under; the binding's ID is
// SealedSLAID(grant, report). A sealed part copied into another report,
// a usage report or another grant does not open there.
const SealedSLAKind = "sla.report"

// SealedSLAID is the binding ID of SLA report report of grant:
// "grant/report".
func SealedSLAID(grant, report string) string { return grant + "/" + report }

// SealedSLA is the plaintext of a confidential grant's SLA report's sealed
// part: the measurements, which only the parties may read, as they say
// what the sealed SLA targets and credits are met by. The report's grant,
// ID and period stay public.
type SealedSLA struct {
	Measurements []SLAMeasurement `json:"measurements"` // sorted by metric, no duplicates
}

// ParseSealedSLA decodes a sealed SLA report's plaintext strictly.
func ParseSealedSLA(plaintext []byte) (*SealedSLA, error) {
	var ss SealedSLA
	if err := DecodeStrict(plaintext, &ss); err != nil {
		return nil, err
	}
	return &ss, nil
}

// Canonical returns ss's encoding, the plaintext a sealer seals.
func (ss *SealedSLA) Canonical() []byte { return mustMarshal(ss) }

// applySealedSLAReport applies an SLA report of a confidential grant.
// Every node checks what is public — the signer a party, the report ID,
// the period, the sealed part sealed to the same recipients as the
// grant's sealed usage reports — and records the report with its sealed
// measurements. The signer being the SLA reporter, the period's kind and
// grace, the measurements and the SLA breaches are the parties' nodes' to
// check, in log order, with the same code (PrivateUsage.AdmitSLA); no
// node records a breach in public.
func applySealedSLAReport(a *applyCtx, b *SLAReportBody) error {
	g, _, _, err := a.sealedReportGrant(b.Grant, b.ReportID, b.Period, "measurements", len(b.Measurements) > 0)
	if err != nil {
		return err
	}
	if err := a.checkSealedReport(b.Confidential, g); err != nil {
		return err
	}
	h := Hash(sha256.Sum256(mustMarshal(b)))
	if dup, err := a.seenReport(bucketSLAIDs, g.ID, b.ReportID, h); err != nil || dup {
		return err
	}
	a.tx.putJSON(bucketSLA, key(g.ID, b.Period, b.ReportID), SLAReport{SLAReportBody: *b, Hash: h, Signer: a.p.Signer, Index: a.index, At: a.now})
	a.tx.putJSON(bucketSLAIDs, key(g.ID, b.ReportID), reportRef{Period: b.Period, Hash: h, Index: a.index})
	a.event("sla.reported", g.ID)
	return nil
}

// SealedSLAReports lists the SLA reports of confidential grant grant
// applied after log index after, of every period, in log order: what a
// party's node admits (PrivateUsage.AdmitSLA).
func (v *View) SealedSLAReports(grant string, after uint64) []*SLAReport {
	var out []*SLAReport
	v.t.scan(bucketSLA, append([]byte(grant), 0), func(k, val []byte) bool {
		r := new(SLAReport)
		mustUnmarshal(bucketSLA, k, val, r)
		if r.Confidential != nil && r.Index > after {
			out = append(out, r)
		}
		return true
	})
	slices.SortFunc(out, func(x, y *SLAReport) int { return cmp.Compare(x.Index, y.Index) })
	return out
}

// PrivateSLAReport is a confidential grant's SLA report as its parties'
// nodes admitted it: the public record with the opened measurements, and
// whether they were accepted.
type PrivateSLAReport struct {
	Report       string           `json:"report"`
	Period       string           `json:"period"`
	Signer       string           `json:"signer"`
	Index        uint64           `json:"index"`
	At           time.Time        `json:"at"`
	Measurements []SLAMeasurement `json:"measurements,omitempty"`
	Status       string           `json:"status"`
	Reason       string           `json:"reason,omitempty"`
}

// AdmitSLA admits SLA report r of grant g, as the public state holds it,
// whose sealed measurements opened to sm; sm is nil, and why says what
// went wrong, when they did not open. g must be opened (Grant.Opened).
// Usage and SLA reports are admitted in one pass in log order (Through is
// the cursor of both); one at or before Through is ignored.
//
// It checks what Apply checks for an SLA report in the clear and could
// not check publicly: the signer the SLA reporter the usage terms name,
// the period of the terms' kind and its grace not over when the report
// was applied, and the measurements. A report that fails is refused; an
// accepted measurement that misses an SLA target or triggers a credit
// adds an SLA-breach infraction against the licensors.
func (pu *PrivateUsage) AdmitSLA(g *Grant, r *SLAReport, sm *SealedSLA, why string) {
	if r.Index <= pu.Through {
		return
	}
	pu.Through = r.Index
	rep := PrivateSLAReport{Report: r.ReportID, Period: r.Period, Signer: r.Signer, Index: r.Index, At: r.At, Status: PrivateRefused}
	defer func() { pu.SLAReports = append(pu.SLAReports, rep) }()
	u, reason := sealedReportTerms(g, sm != nil, why)
	if reason != "" {
		rep.Reason = reason
		return
	}
	rep.Measurements = sm.Measurements
	if u.SLAReporter == "" || r.Signer != u.SLAReporter {
		rep.Reason = "the usage terms of grant " + g.ID + " name " + strconv.Quote(u.SLAReporter) + " to report service levels, not " + r.Signer
		return
	}
	if rep.Reason = periodOpenAt(u, r.Period, r.At); rep.Reason != "" {
		return
	}
	if err := checkMeasurements(sm.Measurements); err != nil {
		rep.Reason = err.Error()
		return
	}
	rep.Status = PrivateAccepted
	for _, m := range sm.Measurements {
		if in, ok := slaBreachInfraction(g, r.Period, r.ReportID, m); ok {
			pu.infraction(in, r.Index, r.At)
		}
	}
}
