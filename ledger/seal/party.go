package seal

import (
	"cmp"
	"errors"
	"slices"
	"strings"

	"github.com/charta/charta/ledger"
)

// OpenGrant opens the sealed part of confidential grant g as member with
// keys (its current and retired encryption keys), under the binding
// {consortium, "grant", g.ID}, and checks the terms against g's public
// ones (ledger.ParseConfidentialTerms). It returns terms only when they
// opened, match the commitment and are valid. Opening the same grant with
// the same keys gives the same answer on every party's node and in every
// offline verifier.
//
// A member that is not a recipient (a party, or an auditor the charter
// named when the grant was offered) gets ErrNotRecipient. A plaintext that is
// not valid terms gets ErrInvalidContent, whose message does not quote
// it: a party's node logs and serves the reason.
func OpenGrant(g *ledger.Grant, consortium, member string, keys ...*PrivateKey) (*ledger.ConfidentialTerms, error) {
	c := g.Confidential
	if c == nil || c.Sealed == nil {
		return nil, fail(ErrMalformed, "grant %s carries no sealed object", truncate(g.ID, 80))
	}
	if rs := c.Sealed.Recipients(); !slices.Contains(rs, member) {
		return nil, fail(ErrNotRecipient, "%s is not a recipient of grant %s, whose terms are sealed to %s", truncate(member, 80), g.ID, strings.Join(rs, ", "))
	}
	pt, _, err := OpenWith(FromLedger(c.Sealed), member, Binding{Consortium: consortium, Kind: ledger.ConfidentialKind, ID: g.ID}, keys...)
	if err != nil {
		return nil, err
	}
	ct, err := ledger.ParseConfidentialTerms(pt, &g.Terms)
	if err != nil {
		return nil, fail(ErrInvalidContent, "the sealed terms of grant %s decrypt and match their commitment but are not valid terms", g.ID)
	}
	return ct, nil
}

// OpenUsage opens the sealed metrics of usage report r as member with
// keys, under the binding {consortium, "usage.report", grant/report}. A
// plaintext that is not valid metrics gets ErrInvalidContent, whose
// message does not quote it.
func OpenUsage(r *ledger.UsageReport, consortium, member string, keys ...*PrivateKey) (*ledger.SealedUsage, error) {
	if r.Confidential == nil || r.Confidential.Sealed == nil {
		return nil, fail(ErrMalformed, "usage report %s of grant %s carries no sealed part", truncate(r.ReportID, 80), truncate(r.Grant, 80))
	}
	pt, _, err := OpenWith(FromLedger(r.Confidential.Sealed), member,
		Binding{Consortium: consortium, Kind: ledger.SealedUsageKind, ID: ledger.SealedUsageID(r.Grant, r.ReportID)}, keys...)
	if err != nil {
		return nil, err
	}
	su, err := ledger.ParseSealedUsage(pt)
	if err != nil {
		return nil, fail(ErrInvalidContent, "the sealed metrics of usage report %s decrypt and match their commitment but are not valid metrics", r.ReportID)
	}
	return su, nil
}

// OpenSLA opens the sealed measurements of SLA report r as member with
// keys, under the binding {consortium, "sla.report", grant/report}. A
// plaintext that is not valid measurements gets ErrInvalidContent, whose
// message does not quote it.
func OpenSLA(r *ledger.SLAReport, consortium, member string, keys ...*PrivateKey) (*ledger.SealedSLA, error) {
	if r.Confidential == nil || r.Confidential.Sealed == nil {
		return nil, fail(ErrMalformed, "SLA report %s of grant %s carries no sealed part", truncate(r.ReportID, 80), truncate(r.Grant, 80))
	}
	pt, _, err := OpenWith(FromLedger(r.Confidential.Sealed), member,
		Binding{Consortium: consortium, Kind: ledger.SealedSLAKind, ID: ledger.SealedSLAID(r.Grant, r.ReportID)}, keys...)
	if err != nil {
		return nil, err
	}
	sm, err := ledger.ParseSealedSLA(pt)
	if err != nil {
		return nil, fail(ErrInvalidContent, "the sealed measurements of SLA report %s decrypt and match their commitment but are not valid measurements", r.ReportID)
	}
	return sm, nil
}

// AdmitUsage opens the sealed parts of usage reports us (OpenUsage) and
// SLA reports ss (OpenSLA) of confidential grant g as member with keys,
// and admits them into pu in one pass in log order
// (ledger.PrivateUsage.Admit and AdmitSLA): what every party's node
// does, and what an offline verifier with a party's key repeats. g is the
// grant opened (Grant.Opened) when its terms opened, and as the ledger
// holds it otherwise, in which case every report is refused. refused, if
// not nil, hears of each report whose sealed part did not open — its
// kind (ledger.SealedUsageKind or ledger.SealedSLAKind), its ID and why —
// in words that never quote decrypted values.
func AdmitUsage(pu *ledger.PrivateUsage, g *ledger.Grant, us []*ledger.UsageReport, ss []*ledger.SLAReport, consortium, member string, keys []*PrivateKey, refused func(kind, report, why string)) {
	us = slices.Clone(us)
	slices.SortFunc(us, func(x, y *ledger.UsageReport) int { return cmp.Compare(x.Index, y.Index) })
	ss = slices.Clone(ss)
	slices.SortFunc(ss, func(x, y *ledger.SLAReport) int { return cmp.Compare(x.Index, y.Index) })
	why := func(kind, report string, err error) string {
		if err == nil {
			return ""
		}
		if refused != nil {
			refused(kind, report, err.Error())
		}
		return RefusalClass(err)
	}
	// Each log entry is one report, so the indexes of the two lists never
	// tie: merge them.
	for len(us) > 0 || len(ss) > 0 {
		if len(ss) == 0 || len(us) > 0 && us[0].Index < ss[0].Index {
			r := us[0]
			us = us[1:]
			su, err := OpenUsage(r, consortium, member, keys...)
			pu.Admit(g, r, su, why(ledger.SealedUsageKind, r.ReportID, err))
			continue
		}
		r := ss[0]
		ss = ss[1:]
		sm, err := OpenSLA(r, consortium, member, keys...)
		pu.AdmitSLA(g, r, sm, why(ledger.SealedSLAKind, r.ReportID, err))
	}
}

// RefusalClass says in a few fixed words why a sealed part did not open,
// by the class of err alone: what a party's account records, so that two
// parties that refuse the same sealed part for the same reason record the
// same words (the error itself names the member and its keys, and goes to
// the log).
func RefusalClass(err error) string {
	switch {
	case errors.Is(err, ErrNotRecipient):
		return "the sealed part is not sealed to this party's keys"
	case errors.Is(err, ErrCommitmentMismatch):
		return "the sealed part does not match its commitment"
	case errors.Is(err, ErrCorrupt):
		return "the sealed part does not decrypt: it is corrupt or sealed under another binding"
	case errors.Is(err, ErrInvalidContent):
		return "the sealed part decrypts and matches its commitment but its content is not valid"
	default:
		return "the sealed part is malformed"
	}
}

// Party is what one member reads of a ledger view with its encryption
// keys. It is a ledger.Opener (for ledger.WithOpened): it opens the
// confidential grants of the view that the member is party to
// (OpenGrant), and admits the sealed usage reports of each period Check
// asks about (AdmitUsage over View.SealedUsageReports). It derives
// everything from the view and the keys, as the member's node derives its
// private store, so a view rebuilt from a proof's entries gives the
// decision the party's node gave, and a traced question records every
// report the totals rest on.
//
// A Party caches what it opened. It is for one view, on one goroutine.
type Party struct {
	v          *ledger.View
	consortium string
	member     string
	keys       []*PrivateKey
	grants     map[string]partyGrant
	totals     map[[2]string]*ledger.UsageTotals // by grant and period; nil: not open
}

// partyGrant is what a Party made of one grant's sealed part.
type partyGrant struct {
	commitment ledger.Hash
	terms      *ledger.ConfidentialTerms
	err        error
}

// NewParty reads v as member, with member's current and retired
// encryption keys.
func NewParty(v *ledger.View, member string, keys ...*PrivateKey) *Party {
	return &Party{v: v, consortium: v.Consortium(), member: member, keys: keys,
		grants: map[string]partyGrant{}, totals: map[[2]string]*ledger.UsageTotals{}}
}

// Member returns the member the party reads as.
func (p *Party) Member() string { return p.member }

// Open returns the opened terms of confidential grant g, or why they do
// not open for this member and its keys (OpenGrant's errors).
func (p *Party) Open(g *ledger.Grant) (*ledger.ConfidentialTerms, error) {
	if g.Confidential == nil {
		return nil, fail(ErrMalformed, "grant %s is not confidential", truncate(g.ID, 80))
	}
	if o, ok := p.grants[g.ID]; ok && o.commitment == g.Confidential.Commitment {
		return o.terms, o.err
	}
	ct, err := OpenGrant(g, p.consortium, p.member, p.keys...)
	p.grants[g.ID] = partyGrant{commitment: g.Confidential.Commitment, terms: ct, err: err}
	return ct, err
}

// OpenedTerms returns the opened terms of g if it is confidential and
// they open for this member (ledger.Opener).
func (p *Party) OpenedTerms(g *ledger.Grant) (*ledger.ConfidentialTerms, bool) {
	if g.Confidential == nil {
		return nil, false
	}
	ct, err := p.Open(g)
	return ct, err == nil
}

// SealedTotal returns the totals of grant's period that its sealed usage
// reports in the view add up to, admitted in log order with the opened
// terms, if grant is confidential and opens for this member
// (ledger.Opener). A period without accepted reports has zero totals.
func (p *Party) SealedTotal(grant, period string) (*ledger.UsageTotals, bool) {
	k := [2]string{grant, period}
	if t, ok := p.totals[k]; ok {
		return t, t != nil
	}
	var total *ledger.UsageTotals
	if g, ok := p.v.Grant(grant); ok && g.Confidential != nil {
		if ct, err := p.Open(g); err == nil {
			pu := &ledger.PrivateUsage{Grant: grant}
			// SLA reports change no totals: only the usage reports are
			// admitted.
			AdmitUsage(pu, g.Opened(ct), p.v.SealedUsageReports(grant, period), nil, p.consortium, p.member, p.keys, nil)
			if total, ok = pu.Total(period); !ok {
				total = &ledger.UsageTotals{Grant: grant, Period: period}
			}
		}
	}
	p.totals[k] = total
	return total, total != nil
}
