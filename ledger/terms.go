package ledger

// Pricing models.
const (
	// PricingGraduated prices each unit at the tier it falls in: the first
	// up_to units at the first tier's price, the next at the second's, …
	PricingGraduated = "graduated"
	// PricingVolume prices every unit at the tier that the period's total
	// quantity falls in.
	PricingVolume = "volume"
)

const (
	maxMetrics   = 16
	maxTiers     = 16
	maxCredits   = 8
	maxGraceDays = 366
)

// UsageTerms make a grant metered: the licensee reports usage per metric
// and period, and the ledger prices it into a statement. See
// docs/pricing.md for the arithmetic, with a worked example.
type UsageTerms struct {
	// Period is the billing period: day, week, month, quarter or year,
	// calendar periods in UTC.
	Period Period `json:"period"`
	// GraceDays is how long after a period ends reports for it are still
	// accepted. The period's statement is provisional until then, and
	// final after.
	GraceDays int `json:"grace_days"`
	// Metrics are what the licensee reports, sorted by name.
	Metrics []UsageMetric `json:"metrics,omitempty"`
	// MinCommitment is the least the licensee pays for a period in which
	// the grant was active at any time; a shortfall is topped up.
	MinCommitment *Money `json:"min_commitment,omitempty"`
	// Meters are members, besides the licensees, whose signature on a
	// usage report counts: metering services the licensee delegates to.
	Meters []string `json:"meters,omitempty"`
	// SLAReporter is the member whose sla.report measurements count. It is
	// required when there are SLA credits or multipliers.
	SLAReporter string `json:"sla_reporter,omitempty"`
	// SLACredits discount the period's fee when a measured metric falls
	// below a level; they stack multiplicatively, in this order.
	SLACredits []SLACredit `json:"sla_credits,omitempty"`
	// Multipliers change the fee when a measured metric is at least, or
	// below, a level; they stack multiplicatively, in this order, before
	// the SLA credits.
	Multipliers []Multiplier `json:"multipliers,omitempty"`
	// RevenueShareBP is the share, in basis points, of the revenue of
	// grants over assets derived through this grant (this grant gave the
	// derive right) that is owed to this grant's licensors. It propagates
	// up the lineage: see Statement.
	RevenueShareBP int64 `json:"revenue_share_bp,omitempty"`
}

// UsageMetric is one thing the licensee reports and pays for.
type UsageMetric struct {
	Name    string  `json:"name"` // e.g. gpu_hours, tokens
	Unit    string  `json:"unit"` // e.g. hour, token
	Pricing Pricing `json:"pricing"`
	// HardCap, if set, is the most that may be used in one period: a
	// report that would pass it is rejected (and recorded as an
	// infraction), and Check denies use once it is reached.
	HardCap int64 `json:"hard_cap,omitempty"`
	// SoftCap, if set, is a level whose crossing in a period is recorded
	// as an infraction; the report is accepted.
	SoftCap int64 `json:"soft_cap,omitempty"`
}

// Pricing is how a metric's quantity becomes a fee.
type Pricing struct {
	Model    string `json:"model"`    // graduated or volume
	Currency string `json:"currency"` // ISO 4217; every metric and the minimum commitment use the same
	// Per is the number of units a unit price is for (default 1), so that
	// prices below one micro-unit per unit can be stated exactly: 1500
	// micro-units per 1000 tokens.
	Per   int64  `json:"per,omitempty"`
	Tiers []Tier `json:"tiers"`
}

// Tier is one price band. Tiers are sorted by UpTo; the last has no UpTo
// and covers everything above the one before.
type Tier struct {
	UpTo       int64 `json:"up_to,omitempty"` // inclusive upper bound of the band, in units; 0 on the last tier
	UnitMicros int64 `json:"unit_micros"`     // price per Per units, in micro-units
}

// SLACredit is a discount for a missed service level: when the period's
// measurement of Metric is below Below, the fee is reduced by DiscountBP.
type SLACredit struct {
	Metric     string `json:"metric"`
	Below      int64  `json:"below"`
	DiscountBP int64  `json:"discount_bp"`
}

// Multiplier scales the fee by MultiplierBP (10000 = ×1) when the period's
// measurement of Metric is at least AtLeast, or below Below (exactly one
// of the two is set).
type Multiplier struct {
	Metric       string `json:"metric"`
	AtLeast      *int64 `json:"at_least,omitempty"`
	Below        *int64 `json:"below,omitempty"`
	MultiplierBP int64  `json:"multiplier_bp"`
}

// applies reports whether the multiplier's condition holds for value.
func (m *Multiplier) applies(value int64) bool {
	if m.AtLeast != nil {
		return value >= *m.AtLeast
	}
	return value < *m.Below
}

// Currency is the currency of the terms' prices, "" if nothing is priced.
func (u *UsageTerms) Currency() string {
	if len(u.Metrics) > 0 {
		return u.Metrics[0].Pricing.Currency
	}
	if u.MinCommitment != nil {
		return u.MinCommitment.Currency
	}
	return ""
}

// metric returns the metric called name.
func (u *UsageTerms) metric(name string) (*UsageMetric, bool) {
	for i := range u.Metrics {
		if u.Metrics[i].Name == name {
			return &u.Metrics[i], true
		}
	}
	return nil, false
}

// normalize sorts the lists whose order carries no meaning.
func (u *UsageTerms) normalize() {
	u.Meters = sortedSet(u.Meters)
}

// Validate checks the usage terms on their own, with field names relative
// to "usage".
func (u *UsageTerms) Validate() error {
	if !u.Period.valid() {
		return Errorf(CodeInvalid, "usage.period: %q is not day, week, month, quarter or year", u.Period)
	}
	if u.GraceDays < 0 || u.GraceDays > maxGraceDays {
		return Errorf(CodeInvalid, "usage.grace_days: %d is not between 0 and %d", u.GraceDays, maxGraceDays)
	}
	if len(u.Metrics) > maxMetrics {
		return Errorf(CodeInvalid, "usage.metrics: at most %d metrics", maxMetrics)
	}
	if len(u.Metrics) == 0 && u.RevenueShareBP == 0 {
		return Errorf(CodeInvalid, "usage.metrics: at least one metric is required unless the terms only set a revenue share")
	}
	currency := u.Currency()
	for i := range u.Metrics {
		m := &u.Metrics[i]
		f := "usage.metrics[" + itoa(i) + "]"
		if !validTag(m.Name) {
			return Errorf(CodeInvalid, "%s.name: %q must be 1-64 of a-z 0-9 - _", f, m.Name)
		}
		if i > 0 && u.Metrics[i-1].Name >= m.Name {
			return Errorf(CodeInvalid, "%s.name: metrics must be sorted by name without duplicates", f)
		}
		if !validTag(m.Unit) {
			return Errorf(CodeInvalid, "%s.unit: %q must be 1-64 of a-z 0-9 - _", f, m.Unit)
		}
		if err := m.Pricing.validate(f + ".pricing"); err != nil {
			return err
		}
		if m.Pricing.Currency != currency {
			return Errorf(CodeInvalid, "%s.pricing.currency: %s does not match %s, the currency of the first metric", f, m.Pricing.Currency, currency)
		}
		for _, c := range []struct {
			name string
			v    int64
		}{{"hard_cap", m.HardCap}, {"soft_cap", m.SoftCap}} {
			if c.v < 0 || c.v > MaxQuantity {
				return Errorf(CodeInvalid, "%s.%s: %d is not between 0 (none) and %d", f, c.name, c.v, MaxQuantity)
			}
		}
		if m.HardCap > 0 && m.SoftCap >= m.HardCap {
			return Errorf(CodeInvalid, "%s.soft_cap: %d must be below the hard cap of %d", f, m.SoftCap, m.HardCap)
		}
	}
	if mc := u.MinCommitment; mc != nil {
		if !validCurrency(mc.Currency) {
			return Errorf(CodeInvalid, "usage.min_commitment.currency: %q is not a three-letter currency code", mc.Currency)
		}
		if mc.Currency != currency {
			return Errorf(CodeInvalid, "usage.min_commitment.currency: %s does not match the metrics' currency %s", mc.Currency, currency)
		}
		if mc.Micros <= 0 || mc.Micros > MaxMicros {
			return Errorf(CodeInvalid, "usage.min_commitment.micros: %d is not between 1 and %d", mc.Micros, MaxMicros)
		}
	}
	for i, m := range u.Meters {
		if !ValidMemberID(m) {
			return Errorf(CodeInvalid, "usage.meters[%d]: %q is not a member ID", i, m)
		}
	}
	if (len(u.SLACredits) > 0 || len(u.Multipliers) > 0) && u.SLAReporter == "" {
		return Errorf(CodeInvalid, "usage.sla_reporter: SLA credits and multipliers need the member whose SLA reports count")
	}
	if u.SLAReporter != "" && !ValidMemberID(u.SLAReporter) {
		return Errorf(CodeInvalid, "usage.sla_reporter: %q is not a member ID", u.SLAReporter)
	}
	if len(u.SLACredits) > maxCredits {
		return Errorf(CodeInvalid, "usage.sla_credits: at most %d credits", maxCredits)
	}
	for i, c := range u.SLACredits {
		f := "usage.sla_credits[" + itoa(i) + "]"
		if !validTag(c.Metric) {
			return Errorf(CodeInvalid, "%s.metric: %q must be 1-64 of a-z 0-9 - _", f, c.Metric)
		}
		if c.Below <= 0 || c.Below > MaxQuantity {
			return Errorf(CodeInvalid, "%s.below: %d is not between 1 and %d", f, c.Below, MaxQuantity)
		}
		if c.DiscountBP <= 0 || c.DiscountBP > bpScale {
			return Errorf(CodeInvalid, "%s.discount_bp: %d is not between 1 and 10000", f, c.DiscountBP)
		}
	}
	if len(u.Multipliers) > MaxMultipliers {
		return Errorf(CodeInvalid, "usage.multipliers: at most %d multipliers", MaxMultipliers)
	}
	for i, m := range u.Multipliers {
		f := "usage.multipliers[" + itoa(i) + "]"
		if !validTag(m.Metric) {
			return Errorf(CodeInvalid, "%s.metric: %q must be 1-64 of a-z 0-9 - _", f, m.Metric)
		}
		if (m.AtLeast == nil) == (m.Below == nil) {
			return Errorf(CodeInvalid, "%s: exactly one of at_least and below is required", f)
		}
		for _, v := range []*int64{m.AtLeast, m.Below} {
			if v != nil && (*v < 0 || *v > MaxQuantity) {
				return Errorf(CodeInvalid, "%s: the level %d is not between 0 and %d", f, *v, MaxQuantity)
			}
		}
		if m.MultiplierBP < 0 || m.MultiplierBP > MaxMultiplierBP {
			return Errorf(CodeInvalid, "%s.multiplier_bp: %d is not between 0 and %d", f, m.MultiplierBP, MaxMultiplierBP)
		}
	}
	if u.RevenueShareBP < 0 || u.RevenueShareBP > bpScale {
		return Errorf(CodeInvalid, "usage.revenue_share_bp: %d is not between 0 and 10000", u.RevenueShareBP)
	}
	return nil
}

func (p *Pricing) validate(f string) error {
	if p.Model != PricingGraduated && p.Model != PricingVolume {
		return Errorf(CodeInvalid, "%s.model: %q is not graduated or volume", f, p.Model)
	}
	if !validCurrency(p.Currency) {
		return Errorf(CodeInvalid, "%s.currency: %q is not a three-letter currency code", f, p.Currency)
	}
	if p.Per < 0 || p.Per > MaxQuantity {
		return Errorf(CodeInvalid, "%s.per: %d is not between 1 and %d (0 means 1)", f, p.Per, MaxQuantity)
	}
	if len(p.Tiers) == 0 || len(p.Tiers) > maxTiers {
		return Errorf(CodeInvalid, "%s.tiers: between 1 and %d tiers are required", f, maxTiers)
	}
	for i, t := range p.Tiers {
		tf := f + ".tiers[" + itoa(i) + "]"
		if t.UnitMicros < 0 || t.UnitMicros > MaxQuantity {
			return Errorf(CodeInvalid, "%s.unit_micros: %d is not between 0 and %d", tf, t.UnitMicros, MaxQuantity)
		}
		last := i == len(p.Tiers)-1
		switch {
		case last && t.UpTo != 0:
			return Errorf(CodeInvalid, "%s.up_to: the last tier must be open-ended (no up_to)", tf)
		case !last && (t.UpTo <= 0 || t.UpTo > MaxQuantity):
			return Errorf(CodeInvalid, "%s.up_to: %d is not between 1 and %d", tf, t.UpTo, MaxQuantity)
		case !last && i > 0 && t.UpTo <= p.Tiers[i-1].UpTo:
			return Errorf(CodeInvalid, "%s.up_to: %d does not follow %d; tiers must be sorted and must not overlap", tf, t.UpTo, p.Tiers[i-1].UpTo)
		}
	}
	return nil
}

func (p *Pricing) per() int64 {
	if p.Per == 0 {
		return 1
	}
	return p.Per
}

// TierLine is the part of a metric's quantity priced at one tier.
type TierLine struct {
	Tier       int    `json:"tier"` // index in the pricing's tiers
	From       int64  `json:"from"` // first unit of the band (1-based)
	UpTo       *int64 `json:"up_to,omitempty"`
	Quantity   int64  `json:"quantity"`
	UnitMicros int64  `json:"unit_micros"`
	Per        int64  `json:"per"`
	// AmountMicros is Quantity × UnitMicros / Per, rounded half to even.
	AmountMicros int64 `json:"amount_micros"`
}

// price splits quantity q into tier lines and prices each, rounding once
// per line. ok is false on overflow.
func (p *Pricing) price(q int64) (lines []TierLine, total int64, ok bool) {
	var c checked
	per := p.per()
	from := int64(1)
	for i, t := range p.Tiers {
		last := i == len(p.Tiers)-1
		var upTo *int64
		if !last {
			v := t.UpTo
			upTo = &v
		}
		var n int64
		switch p.Model {
		case PricingGraduated:
			if q < from {
				break
			}
			n = q - from + 1
			if !last && n > t.UpTo-from+1 {
				n = t.UpTo - from + 1
			}
		case PricingVolume:
			if q > 0 && q >= from && (last || q <= t.UpTo) {
				n = q
			}
		}
		if n > 0 {
			amt := c.mulDiv(n, t.UnitMicros, per)
			lines = append(lines, TierLine{Tier: i, From: from, UpTo: upTo, Quantity: n, UnitMicros: t.UnitMicros, Per: per, AmountMicros: amt})
			total = c.add(total, amt)
		}
		if !last {
			from = t.UpTo + 1
		}
	}
	return lines, total, !c.overflow && total <= MaxMicros
}
