package ledger

import (
	"slices"
	"strings"
	"time"
)

// StatementFormat names the statement encoding.
const StatementFormat = "charta-statement/1"

// Statement statuses.
const (
	StatementProvisional = "provisional" // the period or its grace is still open
	StatementFinal       = "final"       // no further report can change it
)

// Statement prices one grant's usage in one period. It is computed on read
// from the signed usage and SLA reports and the usage terms in force at
// the end of the period, so the same inputs give the same statement, and
// the same bytes (Encode), on every node.
//
// The arithmetic, in integers of micro-units, each line rounded half to
// even exactly once:
//
//  1. each metric's quantity is split into tier lines (graduated or
//     volume); a line is quantity × unit price / per;
//  2. the base fee is the sum of the tier lines;
//  3. each multiplier whose condition holds adds a line of
//     running × (multiplier_bp − 10000) / 10000, in the order of the terms;
//  4. each SLA credit whose metric is below its level subtracts
//     running × discount_bp / 10000, in the order of the terms;
//  5. if the result is below the minimum commitment, a top-up line makes
//     up the difference;
//  6. the total is the result;
//  7. revenue share lines, owed by the licensors out of the total, follow
//     the lineage of the grant's assets: for each parent asset obtained
//     through a derive grant whose usage terms set revenue_share_bp, that
//     grant's licensors are owed base × bp / 10000, where base is the total
//     at the first level and the amount owed at the level below further
//     up, so that a share is itself shared with the next ancestor.
//
// A measurement is the value of the metric in the latest SLA report of the
// period; a rule whose metric was not measured does not apply.
type Statement struct {
	Format       string         `json:"format"`
	Grant        string         `json:"grant"`
	TermsVersion uint32         `json:"terms_version"`
	Period       string         `json:"period"`
	Start        time.Time      `json:"start"`
	End          time.Time      `json:"end"`
	FinalAt      time.Time      `json:"final_at"` // end of the grace
	Status       string         `json:"status"`
	Currency     string         `json:"currency,omitempty"`
	Licensors    []string       `json:"licensors"`
	Licensees    []string       `json:"licensees"`
	Reports      int            `json:"reports"`
	SLAReports   int            `json:"sla_reports"`
	Metrics      []MetricLine   `json:"metrics"`
	BaseMicros   int64          `json:"base_micros"`
	Measurements []Measurement  `json:"measurements,omitempty"`
	Adjustments  []Adjustment   `json:"adjustments,omitempty"`
	TotalMicros  int64          `json:"total_micros"`
	RevenueShare []RevenueShare `json:"revenue_share,omitempty"`
}

// MetricLine is one metric of a statement.
type MetricLine struct {
	Metric       string     `json:"metric"`
	Unit         string     `json:"unit"`
	Model        string     `json:"model"`
	Quantity     int64      `json:"quantity"`
	Tiers        []TierLine `json:"tiers,omitempty"`
	AmountMicros int64      `json:"amount_micros"`
}

// Measurement is the period's value of an SLA metric.
type Measurement struct {
	Metric string `json:"metric"`
	Value  int64  `json:"value"`
	Report string `json:"report"` // the SLA report it comes from
	index  uint64 // the log index of that report, to find the latest
}

// Adjustment kinds.
const (
	AdjustMultiplier    = "multiplier"
	AdjustSLACredit     = "sla_credit"
	AdjustMinCommitment = "min_commitment"
)

// Adjustment is one line after the base fee.
type Adjustment struct {
	Kind   string `json:"kind"`
	Rule   int    `json:"rule"` // index of the multiplier or credit in the terms
	Metric string `json:"metric,omitempty"`
	Value  *int64 `json:"value,omitempty"` // the measurement that triggered it
	BP     int64  `json:"bp,omitempty"`
	// OnMicros is the running amount the line applied to.
	OnMicros     int64 `json:"on_micros"`
	AmountMicros int64 `json:"amount_micros"` // signed
}

// RevenueShare is an amount owed up the lineage.
type RevenueShare struct {
	Level        int      `json:"level"` // 1 for a parent asset, 2 for a grandparent, …
	Asset        string   `json:"asset"` // the ancestor asset
	Via          string   `json:"via"`   // the derive grant that carries the share
	To           []string `json:"to"`    // that grant's licensors
	BP           int64    `json:"bp"`
	BaseMicros   int64    `json:"base_micros"`
	AmountMicros int64    `json:"amount_micros"`
}

// Encode returns the statement's canonical bytes: JSON with the fields in
// declaration order, times in UTC, no insignificant space.
func (s *Statement) Encode() []byte { return mustMarshal(s) }

// termsAt returns the version of g's terms in force at t: the last offer or
// amendment before t, or the first terms if t precedes them all.
func termsAt(t *tx, g *Grant, at time.Time) (Terms, uint32) {
	terms, version := g.Terms, g.Version
	var first *GrantEvent
	found := false
	t.scan(bucketHistory, append([]byte(g.ID), 0), func(k, v []byte) bool {
		var e GrantEvent
		mustUnmarshal(bucketHistory, k, v, &e)
		if e.Terms == nil {
			return true
		}
		if first == nil {
			first = &e
		}
		if e.At.Before(at) {
			terms, version, found = *e.Terms, e.Version, true
		}
		return true
	})
	if !found && first != nil {
		terms, version = *first.Terms, first.Version
	}
	return terms, version
}

// computeStatement prices grant g's usage in period at ledger time now.
func computeStatement(t *tx, g *Grant, period string, now time.Time) (*Statement, error) {
	if g.Sealed() {
		return nil, Errorf(CodeForbidden, "grant: grant %s is confidential: its statements are computed by its parties' nodes (%s)", g.ID, strings.Join(g.Parties(), ", "))
	}
	return computeStatementFrom(t, g, period, now, nil)
}

// computeStatementFrom prices g's usage in period at ledger time now, from
// the usage and SLA reports of the state, or from the ones sealed accepted
// when sealed is a party's account of an opened confidential grant.
func computeStatementFrom(t *tx, g *Grant, period string, now time.Time, sealed *PrivateUsage) (*Statement, error) {
	if g.Terms.Usage == nil {
		return nil, Errorf(CodeNotFound, "grant: grant %s has no usage terms", g.ID)
	}
	start, end, err := ParsePeriod(g.Terms.Usage.Period, period)
	if err != nil {
		return nil, prefixed("period", err)
	}
	terms, version := termsAt(t, g, end)
	u := terms.Usage
	if u == nil || u.Period != g.Terms.Usage.Period {
		// The period kind changed by amendment: price by the current terms.
		terms, version, u = g.Terms, g.Version, g.Terms.Usage
	}
	s := &Statement{
		Format: StatementFormat, Grant: g.ID, TermsVersion: version, Period: period, Start: start, End: end,
		FinalAt: end.AddDate(0, 0, u.GraceDays), Status: StatementProvisional, Currency: u.Currency(),
		Licensors: g.Licensors, Licensees: g.Licensees, Metrics: []MetricLine{},
	}
	if !now.Before(s.FinalAt) {
		s.Status = StatementFinal
	}
	var c checked
	quantities := make([]int64, len(u.Metrics))
	add := func(metrics []MetricQuantity) {
		s.Reports++
		for _, mq := range metrics {
			i := slices.IndexFunc(u.Metrics, func(m UsageMetric) bool { return m.Name == mq.Metric })
			if i >= 0 {
				quantities[i] = c.add(quantities[i], mq.Quantity)
			}
		}
	}
	if sealed != nil {
		for _, r := range sealed.Reports {
			if r.Period == period && r.Status == PrivateAccepted {
				add(r.Metrics)
			}
		}
	} else {
		t.scan(bucketUsage, append(key(g.ID, period), 0), func(k, v []byte) bool {
			var r UsageReport
			mustUnmarshal(bucketUsage, k, v, &r)
			add(r.Metrics)
			return true
		})
	}
	for i, m := range u.Metrics {
		lines, amt, ok := m.Pricing.price(quantities[i])
		if !ok {
			c.overflow = true
		}
		s.Metrics = append(s.Metrics, MetricLine{Metric: m.Name, Unit: m.Unit, Model: m.Pricing.Model, Quantity: quantities[i], Tiers: lines, AmountMicros: amt})
		s.BaseMicros = c.add(s.BaseMicros, amt)
	}
	// Measurements: the latest SLA report of the period wins, metric by metric.
	latest := map[string]Measurement{}
	var measured []string
	measure := func(report string, index uint64, ms []SLAMeasurement) {
		s.SLAReports++
		for _, m := range ms {
			prev, ok := latest[m.Metric]
			if !ok {
				measured = append(measured, m.Metric)
			}
			if !ok || index > prev.index {
				latest[m.Metric] = Measurement{Metric: m.Metric, Value: m.Value, Report: report, index: index}
			}
		}
	}
	if sealed != nil {
		for _, r := range sealed.SLAReports {
			if r.Period == period && r.Status == PrivateAccepted {
				measure(r.Report, r.Index, r.Measurements)
			}
		}
	} else {
		t.scan(bucketSLA, append(key(g.ID, period), 0), func(k, v []byte) bool {
			var r SLAReport
			mustUnmarshal(bucketSLA, k, v, &r)
			measure(r.ReportID, r.Index, r.Measurements)
			return true
		})
	}
	slices.Sort(measured)
	for _, name := range measured {
		m := latest[name]
		m.index = 0
		s.Measurements = append(s.Measurements, m)
	}
	running := s.BaseMicros
	for i, m := range u.Multipliers {
		meas, ok := latest[m.Metric]
		if !ok || !m.applies(meas.Value) {
			continue
		}
		var amt int64
		if m.MultiplierBP >= bpScale {
			amt = c.mulDiv(running, m.MultiplierBP-bpScale, bpScale)
		} else {
			amt = -c.mulDiv(running, bpScale-m.MultiplierBP, bpScale)
		}
		v := meas.Value
		s.Adjustments = append(s.Adjustments, Adjustment{Kind: AdjustMultiplier, Rule: i, Metric: m.Metric, Value: &v, BP: m.MultiplierBP, OnMicros: running, AmountMicros: amt})
		running = c.add(running, amt)
	}
	for i, cr := range u.SLACredits {
		meas, ok := latest[cr.Metric]
		if !ok || meas.Value >= cr.Below {
			continue
		}
		amt := c.mulDiv(running, cr.DiscountBP, bpScale)
		v := meas.Value
		s.Adjustments = append(s.Adjustments, Adjustment{Kind: AdjustSLACredit, Rule: i, Metric: cr.Metric, Value: &v, BP: cr.DiscountBP, OnMicros: running, AmountMicros: -amt})
		running = c.add(running, -amt)
	}
	if mc := u.MinCommitment; mc != nil && running < mc.Micros && activeDuring(t, g, start, end) {
		s.Adjustments = append(s.Adjustments, Adjustment{Kind: AdjustMinCommitment, OnMicros: running, AmountMicros: mc.Micros - running})
		running = mc.Micros
	}
	s.TotalMicros = running
	s.RevenueShare = revenueShare(t, &terms, s.TotalMicros, &c)
	if c.overflow {
		return nil, Errorf(CodeTooLarge, "statement for grant %s period %s: an amount is over the largest the ledger computes", g.ID, period)
	}
	return s, nil
}

// revenueShare walks the lineage of the assets of terms, breadth first in
// ID order, and returns what is owed to each derive grant's licensors.
func revenueShare(t *tx, terms *Terms, total int64, c *checked) []RevenueShare {
	type item struct {
		asset string
		base  int64
		level int
	}
	var queue []item
	for _, a := range terms.Assets {
		queue = append(queue, item{a, total, 1})
	}
	var out []RevenueShare
	var visited []string
	for len(queue) > 0 {
		it := queue[0]
		queue = queue[1:]
		if it.level > maxChain || it.base <= 0 {
			continue
		}
		var asset Asset
		if !t.getJSON(bucketAssets, []byte(it.asset), &asset) {
			continue
		}
		parents := slices.Clone(asset.Parents)
		slices.SortFunc(parents, func(x, y Parent) int {
			switch {
			case x.Asset < y.Asset:
				return -1
			case x.Asset > y.Asset:
				return 1
			}
			return 0
		})
		for _, p := range parents {
			if p.Grant == "" || slices.Contains(visited, p.Grant) {
				continue
			}
			visited = append(visited, p.Grant)
			var d Grant
			if !t.getJSON(bucketGrants, []byte(p.Grant), &d) || d.Terms.Usage == nil || d.Terms.Usage.RevenueShareBP == 0 {
				continue
			}
			bp := d.Terms.Usage.RevenueShareBP
			amt := c.mulDiv(it.base, bp, bpScale)
			out = append(out, RevenueShare{Level: it.level, Asset: p.Asset, Via: d.ID, To: d.Licensors, BP: bp, BaseMicros: it.base, AmountMicros: amt})
			queue = append(queue, item{p.Asset, amt, it.level + 1})
		}
	}
	return out
}

// interval is a span of time [from, to); a zero to is open-ended.
type interval struct{ from, to time.Time }

func (iv interval) contains(s, e time.Time) bool {
	return !s.Before(iv.from) && (iv.to.IsZero() || !e.After(iv.to))
}

func (iv interval) overlaps(s, e time.Time) bool {
	return e.After(iv.from) && (iv.to.IsZero() || s.Before(iv.to))
}

// activeIntervals returns the spans in which g was active, from its
// history, clipped to its window [not_before, not_after).
func activeIntervals(t *tx, g *Grant) []interval {
	var out []interval
	open := false
	t.scan(bucketHistory, append([]byte(g.ID), 0), func(k, v []byte) bool {
		var e GrantEvent
		mustUnmarshal(bucketHistory, k, v, &e)
		switch e.Kind {
		case "activated", "resumed":
			if !open {
				out = append(out, interval{from: e.At})
				open = true
			}
		case "suspended", "revoked", "terminated":
			if open {
				out[len(out)-1].to = e.At
				open = false
			}
		}
		return true
	})
	c := g.Terms.Constraints
	var clipped []interval
	for _, iv := range out {
		if c.NotBefore != nil && iv.from.Before(*c.NotBefore) {
			iv.from = *c.NotBefore
		}
		if c.NotAfter != nil && (iv.to.IsZero() || iv.to.After(*c.NotAfter)) {
			iv.to = *c.NotAfter
		}
		if iv.to.IsZero() || iv.to.After(iv.from) {
			clipped = append(clipped, iv)
		}
	}
	return clipped
}

func activeDuring(t *tx, g *Grant, s, e time.Time) bool {
	for _, iv := range activeIntervals(t, g) {
		if iv.overlaps(s, e) {
			return true
		}
	}
	return false
}

// Statement computes grant's statement for period (a key of the grant's
// usage period, e.g. 2026-01), provisional while the period's grace is
// open and final after.
func (v *View) Statement(grant, period string) (*Statement, error) {
	g, ok := v.Grant(grant)
	if !ok {
		return nil, Errorf(CodeNotFound, "grant: no grant %q", grant)
	}
	return computeStatement(v.t, g, period, v.LedgerTime())
}

// Statements lists the periods of grant that have usage or SLA reports,
// oldest first.
func (v *View) Statements(grant string) []string {
	var out []string
	prefix := append([]byte(grant), 0)
	for _, b := range [][]byte{bucketUsageSum, bucketSLAIDs} {
		v.seek(b, prefix, prefix, func(k, val []byte) bool {
			p := string(k[len(prefix):])
			if string(b) == string(bucketSLAIDs) {
				var ref reportRef
				mustUnmarshal(b, k, val, &ref)
				p = ref.Period
			}
			if i, found := slices.BinarySearch(out, p); !found {
				out = slices.Insert(out, i, p)
			}
			return true
		})
	}
	return out
}
