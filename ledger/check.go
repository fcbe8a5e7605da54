package ledger

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// CheckView is what Check reads. The ledger serves it from an immutable
// in-memory index (Ledger.Check), from a read transaction (View) and, while
// applying, from the state being built.
type CheckView interface {
	Member(id string) (*Member, bool)
	Asset(id string) (*Asset, bool)
	Grant(id string) (*Grant, bool)
	// GrantsFor returns the grants held by licensee over asset, in ID order.
	GrantsFor(licensee, asset string) []*Grant
}

// CheckRequest asks whether a member may perform an action on an asset.
// Empty territory, purpose and industry mean "not stated": a grant that
// restricts that axis then does not allow the use.
type CheckRequest struct {
	Member    string    `json:"member"`
	Asset     string    `json:"asset"`
	Action    Right     `json:"action"`
	At        time.Time `json:"at,omitzero"` // when; the caller fills in ledger time if zero
	Territory string    `json:"territory,omitempty"`
	Purpose   string    `json:"purpose,omitempty"`
	Industry  string    `json:"industry,omitempty"`
	Quantity  int64     `json:"quantity,omitempty"` // seats or deployments asked for
}

// Validate checks the request's shape.
func (r *CheckRequest) Validate() error {
	switch {
	case !ValidMemberID(r.Member):
		return Errorf(CodeInvalid, "member: %q is not a member ID", r.Member)
	case !ValidID(r.Asset):
		return Errorf(CodeInvalid, "asset: %q is not an asset ID", r.Asset)
	case !r.Action.Valid():
		return Errorf(CodeInvalid, "action: %q is not a right (one of %s)", r.Action, rightList())
	case r.Territory != "":
		if _, ok := countryPos(r.Territory); !ok {
			return Errorf(CodeInvalid, "territory: %q is not an ISO 3166-1 alpha-2 country code", r.Territory)
		}
	}
	if r.Purpose != "" && !validTag(r.Purpose) {
		return Errorf(CodeInvalid, "purpose: %q must be 1-64 of a-z 0-9 - _", r.Purpose)
	}
	if r.Industry != "" && !validTag(r.Industry) {
		return Errorf(CodeInvalid, "industry: %q must be 1-64 of a-z 0-9 - _", r.Industry)
	}
	if r.Quantity < 0 {
		return Errorf(CodeInvalid, "quantity: %d is negative", r.Quantity)
	}
	return nil
}

// Decision is Check's answer, with the reasons in words a person can act
// on.
type Decision struct {
	Allowed bool `json:"allowed"`
	// Basis is why: "owner", "grant", "licence" (an open licence),
	// "confidential" when only a confidential grant could allow it and
	// its terms are sealed from the node that answers, or "none" when
	// denied.
	Basis  string `json:"basis"`
	Reason string `json:"reason"`
	// Chain is the grant that allows the use followed by its ancestors, up
	// to the grant issued by the asset's owners.
	Chain []string `json:"chain,omitempty"`
	// Candidates are every grant the member holds over the asset, each with
	// why it does or does not allow the use.
	Candidates []Candidate `json:"candidates,omitempty"`
	// Duties are the obligations that come with the allowing grant.
	Duties []PendingDuty `json:"duties,omitempty"`
	// SeatsLeft is how many more seats the allowing grant leaves after the
	// requested quantity, when it limits seats.
	SeatsLeft *int64 `json:"seats_left,omitempty"`
	// Caps are the hard caps of the allowing grant's usage terms, with
	// what is left of each in the period that holds the request's time.
	Caps []CapLeft `json:"caps,omitempty"`
	// At is the time the question was answered for.
	At time.Time `json:"at"`
	// ValidUntil is, for an allow through a grant, the earliest not_after
	// of the allowing grant and its parent grants: the answer changes by
	// time alone then at the latest. It is nil when no grant of the chain
	// ends, and for owners, open licences and denials. A cache of
	// decisions (such as charta gateway's) must not serve the answer past
	// it; entries that change the ledger can end it earlier.
	ValidUntil *time.Time `json:"valid_until,omitempty"`
	// BoundBy is the exclusive grant that denies the use to its licensor
	// or to the asset's owners, when that is why it is denied.
	BoundBy string `json:"bound_by,omitempty"`
	// Observed are the open observed infractions against the member on
	// the asset (infraction.observe), recorded by At. They warn and never
	// deny: the reason ends with a warning that lists them.
	Observed []ObservedNote `json:"observed,omitempty"`
	// Sealed are the confidential grants that allow the use by their
	// public terms but whose usage terms (and hard caps) are sealed from
	// the view that answered: a node that is not a party. Only a party's
	// node, which holds the opened terms, can say whether they allow it.
	Sealed []string `json:"sealed,omitempty"`
	// Index is the applied index the answer is for. The node that answers
	// sets it; Check leaves it zero, and a proof's replay ignores it.
	Index uint64 `json:"index,omitempty"`
}

// Candidate is one grant considered by Check.
type Candidate struct {
	Grant   string `json:"grant"`
	Status  Status `json:"status"`
	Allowed bool   `json:"allowed"`
	Reason  string `json:"reason"`
}

// PendingDuty is a duty of the allowing grant. For an attested duty it
// says where the duty stands at the time asked: the earliest period begun
// and not attested, with its due date ("due" or "overdue"), or "attested".
type PendingDuty struct {
	Grant string `json:"grant"`
	Duty
	Status       string     `json:"status,omitempty"`
	PeriodNumber int        `json:"period_number,omitempty"`
	Due          *time.Time `json:"due,omitempty"`
}

// CapLeft is what remains of one hard cap in one period.
type CapLeft struct {
	Grant     string `json:"grant"`
	Metric    string `json:"metric"`
	Unit      string `json:"unit"`
	Period    string `json:"period"`
	Cap       int64  `json:"cap"`
	Used      int64  `json:"used"`
	Remaining int64  `json:"remaining"`
}

// usageView is what Check reads to enforce hard caps. Every view the
// ledger provides implements it; a CheckView that does not is taken to
// have no usage reported.
type usageView interface {
	UsageTotal(grant, period string) (*UsageTotals, bool)
}

// hardCaps returns what is left of g's hard caps in the period holding at,
// and why g allows nothing more if one is used up ("" otherwise).
func hardCaps(v CheckView, g *Grant, at time.Time) ([]CapLeft, string) {
	u := g.Terms.Usage
	if u == nil {
		return nil, ""
	}
	period := PeriodKey(u.Period, at)
	var totals *UsageTotals
	if uv, ok := v.(usageView); ok {
		totals, _ = uv.UsageTotal(g.ID, period)
	}
	var caps []CapLeft
	why := ""
	for _, m := range u.Metrics {
		if m.HardCap == 0 {
			continue
		}
		var used int64
		if totals != nil {
			used = totals.get(m.Name)
		}
		c := CapLeft{Grant: g.ID, Metric: m.Name, Unit: m.Unit, Period: period, Cap: m.HardCap, Used: used, Remaining: m.HardCap - used}
		caps = append(caps, c)
		if c.Remaining <= 0 && why == "" {
			why = "has used its hard cap of " + strconv.FormatInt(m.HardCap, 10) + " " + m.Unit + " of " + m.Name + " in period " + period
		}
	}
	return caps, why
}

// publicView is implemented by a CheckView that decides by public terms
// only, as Apply does: Apply has no keys, so a confidential grant's sealed
// usage terms cannot bear on what it accepts (a derive right, for one),
// and it checks the public terms alone rather than refuse.
type publicView interface{ publicTermsOnly() }

func publicTermsOnly(v CheckView) bool {
	_, ok := v.(publicView)
	return ok
}

// maxChain bounds how far Check follows parent grants; offers are refused
// deeper than this, so it is never reached in a consistent state.
const maxChain = 16

// Check decides whether req is allowed. Owners are always allowed. Anyone
// else needs a grant that is active at req.At and whose rights and
// constraints cover the request, and whose parent grants, if any, are
// active and cover it too. A prohibition on the asset's lineage or in any
// active grant the member holds over it beats every permission. Open
// observed infractions against the member on the asset are listed in
// Decision.Observed and warned of in the reason, whatever the answer.
func Check(v CheckView, req CheckRequest) (Decision, error) {
	d, err := decide(v, req)
	if err == nil {
		noteObserved(v, &d, &req)
	}
	return d, err
}

// decide is Check without the observed infractions.
func decide(v CheckView, req CheckRequest) (Decision, error) {
	if err := req.Validate(); err != nil {
		return Decision{}, err
	}
	d := Decision{At: req.At, Basis: "none"}
	asset, ok := v.Asset(req.Asset)
	if !ok {
		return d, Errorf(CodeNotFound, "asset: no asset %q", req.Asset)
	}
	m, ok := v.Member(req.Member)
	if !ok {
		return d, Errorf(CodeNotFound, "member: no member %q", req.Member)
	}
	if g, why := boundBy(v, asset, &req); g != nil {
		d.Reason, d.BoundBy = why, g.ID
		return d, nil
	}
	if asset.OwnedBy(req.Member) {
		d.Allowed, d.Basis = true, "owner"
		d.Reason = req.Member + " owns " + asset.ID
		return d, nil
	}
	if m.Status != MemberActive {
		// Its licences ended or were suspended with it; a grant it shares
		// with other licensees goes on for them only.
		d.Reason = req.Member + " is " + string(m.Status) + " from the consortium, so no grant allows it anything"
		return d, nil
	}
	grants := v.GrantsFor(req.Member, req.Asset)
	open := ""
	if m, _ := v.Member(req.Member); m.Status == MemberActive {
		open = openLicence(asset, req.Action)
	}
	if len(grants) == 0 && open == "" {
		d.Reason = req.Member + " holds no grant over " + asset.ID
		return d, nil
	}
	d.Candidates = make([]Candidate, len(grants))
	rules := clauseRules{kind: asset.Kind}
	if pv, ok := v.(policyView); ok {
		rules.policy = pv.ExportPolicy()
	}
	var allow *Grant
	var prohibited string
	for _, p := range asset.Prohibitions {
		if p.matches(req.Action, req.Purpose, req.Industry) {
			prohibited = "the lineage of " + asset.ID + " carries the use restriction " + p.String()
			break
		}
	}
	for i, g := range grants {
		st := g.StatusAt(req.At)
		c := Candidate{Grant: g.ID, Status: st}
		if st == StatusActive && prohibited == "" {
			for _, p := range g.Terms.Prohibitions {
				if p.matches(req.Action, req.Purpose, req.Industry) {
					prohibited = "grant " + g.ID + " prohibits it: " + p.String()
					break
				}
			}
		}
		why := evaluate(v, g, &req, &rules)
		var caps []CapLeft
		if why == "" && g.Sealed() && !publicTermsOnly(v) {
			why = "allows it by its public terms, but its usage terms are sealed to its parties " + strings.Join(g.Parties(), ", ") + ": ask a party's node"
			d.Sealed = append(d.Sealed, g.ID)
		} else if why == "" {
			caps, why = hardCaps(v, g, req.At)
		}
		if why == "" {
			c.Allowed = true
			c.Reason = "allows it"
			if allow == nil {
				allow, d.Chain, d.Caps = g, chainOf(v, g), caps
				d.ValidUntil = chainEnd(v, g)
			}
		} else {
			c.Reason = why
		}
		d.Candidates[i] = c
	}
	switch {
	case prohibited != "":
		d.Chain, d.Caps, d.ValidUntil = nil, nil, nil
		d.Reason = "prohibited: " + prohibited
		for i := range d.Candidates {
			if d.Candidates[i].Allowed {
				d.Candidates[i].Allowed = false
				d.Candidates[i].Reason = "would allow it, but a prohibition wins"
			}
		}
	case allow != nil:
		d.Allowed, d.Basis = true, "grant"
		var b strings.Builder
		b.Grow(len("grant  from  allows ") + len(allow.ID) + joinedLen(allow.Licensors, ", ") + useLen(&req))
		b.WriteString("grant ")
		b.WriteString(allow.ID)
		b.WriteString(" from ")
		for i, m := range allow.Licensors {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(m)
		}
		b.WriteString(" allows ")
		writeUse(&b, &req)
		d.Reason = b.String()
		for _, du := range allow.Terms.Duties {
			if IsAttestedDuty(du.Kind) {
				d.Duties = append(d.Duties, dutyStatus(allow, &du, req.At))
				continue
			}
			d.Duties = append(d.Duties, PendingDuty{Grant: allow.ID, Duty: du})
		}
		if du, ok := deletionDuty(allow, asset.Kind, asset.ID); ok {
			d.Duties = append(d.Duties, du)
		}
		d.Reason += pendingWords(d.Duties)
		if max := allow.Terms.Constraints.MaxSeats; max > 0 {
			left := max - req.Quantity
			d.SeatsLeft = &left
		}
	case open != "":
		d.Allowed, d.Basis, d.Reason = true, "licence", open
	case len(d.Sealed) > 0:
		d.Basis = "confidential"
		var parts []string
		for _, c := range d.Candidates {
			if slices.Contains(d.Sealed, c.Grant) {
				parts = append(parts, "grant "+c.Grant+" "+c.Reason)
			}
		}
		d.Reason = "confidential: " + strings.Join(parts, "; ")
	default:
		n := len("no grant allows ") + useLen(&req)
		for _, c := range d.Candidates {
			n += len("; grant : ") + len(c.Grant) + len(c.Reason)
		}
		var b strings.Builder
		b.Grow(n)
		b.WriteString("no grant allows ")
		writeUse(&b, &req)
		for _, c := range d.Candidates {
			b.WriteString("; grant ")
			b.WriteString(c.Grant)
			b.WriteString(": ")
			b.WriteString(c.Reason)
		}
		d.Reason = b.String()
	}
	return d, nil
}

// clauseRules are what Check enforces of a grant's clauses beyond its
// scope: the data terms for the asset's kind and the charter's
// export-control policy.
type clauseRules struct {
	kind   AssetKind
	policy []ExportRule
}

// deny says why g's clauses deny req, or "".
func (r *clauseRules) deny(g *Grant, req *CheckRequest) string {
	if why := dataTermsDenial(g, r.kind, req.Action); why != "" {
		return why
	}
	if why := retentionDenial(g, r.kind, req.At); why != "" {
		return why
	}
	return exportDenial(r.policy, g, req)
}

// evaluate returns "" if g and every grant up to the root of its
// sublicensing allow req, or else why not.
func evaluate(v CheckView, g *Grant, req *CheckRequest, rules *clauseRules) string {
	for depth := 0; ; depth++ {
		why := covers(g, req)
		if why == "" {
			why = rules.deny(g, req)
		}
		if why != "" {
			if depth > 0 {
				return "its parent grant " + g.ID + " " + why
			}
			return why
		}
		if g.Terms.Parent == "" {
			return ""
		}
		if depth == maxChain {
			return "its chain of parent grants is deeper than " + itoa(maxChain)
		}
		p, ok := v.Grant(g.Terms.Parent)
		if !ok {
			return "its parent grant " + g.Terms.Parent + " does not exist"
		}
		g = p
	}
}

// chainOf returns the IDs of g and its parent grants, up to the root of
// its sublicensing, for a grant evaluate found allowing: only the
// allowing grant's chain is answered, so the others' are never built.
func chainOf(v CheckView, g *Grant) []string {
	chain := []string{g.ID}
	for g.Terms.Parent != "" && len(chain) <= maxChain {
		p, ok := v.Grant(g.Terms.Parent)
		if !ok {
			break
		}
		g = p
		chain = append(chain, g.ID)
	}
	return chain
}

// chainEnd is the earliest not_after of g and its parent grants, or nil
// if none of them ends: when an allow through g ends by time alone.
func chainEnd(v CheckView, g *Grant) *time.Time {
	var end *time.Time
	for depth := 0; g != nil && depth <= maxChain; depth++ {
		if na := g.Terms.Constraints.NotAfter; na != nil && (end == nil || na.Before(*end)) {
			t := na.UTC()
			end = &t
		}
		if g.Terms.Parent == "" {
			break
		}
		g, _ = v.Grant(g.Terms.Parent)
	}
	return end
}

// covers says, in words, the first reason g does not allow req, or "".
func covers(g *Grant, req *CheckRequest) string {
	switch st := g.StatusAt(req.At); st {
	case StatusActive:
	case StatusExpired:
		if g.Status == StatusOffered {
			return "was offered but never accepted; the offer expired"
		}
		return "expired at " + g.Terms.Constraints.NotAfter.Format(time.RFC3339)
	case StatusOffered:
		return "is offered but not yet accepted"
	case StatusSuspended:
		return "is suspended (by " + g.SuspendedBy + ")"
	default:
		return "is " + string(st)
	}
	t := &g.Terms
	c := &t.Constraints
	if c.NotBefore != nil && req.At.Before(*c.NotBefore) {
		return "starts at " + c.NotBefore.Format(time.RFC3339)
	}
	if !hasRight(t.Rights, req.Action) {
		return "right " + string(req.Action) + " is not among " + joinRights(t.Rights)
	}
	if len(c.Territory.Allow) > 0 || len(c.Territory.Deny) > 0 {
		if req.Territory == "" {
			return "is limited to " + c.Territory.String() + " and the request names no territory"
		}
		if !c.Territory.set().has(req.Territory) {
			return "territory " + req.Territory + " is not in " + c.Territory.String()
		}
	}
	if why := inList("purpose", req.Purpose, c.Purposes); why != "" {
		return why
	}
	if why := inList("industry", req.Industry, c.Industries); why != "" {
		return why
	}
	if c.MaxSeats > 0 && req.Quantity > c.MaxSeats {
		return "asks for " + itoa(int(req.Quantity)) + " seats; the grant allows at most " + itoa(int(c.MaxSeats))
	}
	return requiredAttestation(g, req.Action, req.At)
}

func hasRight(rs []Right, r Right) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

func inList(what, v string, list []string) string {
	if len(list) == 0 {
		return ""
	}
	for _, x := range list {
		if x == v {
			return ""
		}
	}
	if v == "" {
		return "is limited to " + what + " " + strings.Join(list, ", ") + " and the request names none"
	}
	return what + " " + v + " is not in " + strings.Join(list, ", ")
}

func joinRights(rs []Right) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}

// useLen is the length of what writeUse writes.
func useLen(r *CheckRequest) int {
	n := len(r.Member) + len(" to  ") + len(r.Action) + len(r.Asset)
	if r.Territory != "" {
		n += len(" in ") + len(r.Territory)
	}
	if r.Purpose != "" {
		n += len(" for ") + len(r.Purpose)
	}
	if r.Industry != "" {
		n += len(" in the  industry") + len(r.Industry)
	}
	return n
}

// joinedLen is the length of strings.Join(list, sep).
func joinedLen(list []string, sep string) int {
	n := 0
	for i, s := range list {
		if i > 0 {
			n += len(sep)
		}
		n += len(s)
	}
	return n
}

// writeUse describes the use a request asks about, as in "beta to train
// atlas-7b in DE for research".
func writeUse(b *strings.Builder, r *CheckRequest) {
	b.WriteString(r.Member)
	b.WriteString(" to ")
	b.WriteString(string(r.Action))
	b.WriteString(" ")
	b.WriteString(r.Asset)
	if r.Territory != "" {
		b.WriteString(" in ")
		b.WriteString(r.Territory)
	}
	if r.Purpose != "" {
		b.WriteString(" for ")
		b.WriteString(r.Purpose)
	}
	if r.Industry != "" {
		b.WriteString(" in the ")
		b.WriteString(r.Industry)
		b.WriteString(" industry")
	}
}

// Opener gives a party's node's opened confidential grants to Check
// (WithOpened): the terms it opened, and the period totals of the sealed
// usage reports it admitted (PrivateUsage).
type Opener interface {
	// OpenedTerms returns the opened terms of confidential grant g, if
	// they are open to whoever asks.
	OpenedTerms(g *Grant) (*ConfidentialTerms, bool)
	// SealedTotal returns the admitted totals of confidential grant's
	// period, if the grant is open to whoever asks.
	SealedTotal(grant, period string) (*UsageTotals, bool)
}

// WithOpened returns v with the confidential grants o opens: Check then
// applies their usage terms and hard caps like any grant's, with the
// totals o admitted. The other lookups Check makes pass through to v.
func WithOpened(v CheckView, o Opener) CheckView { return openedView{v, o} }

type openedView struct {
	v CheckView
	o Opener
}

func (ov openedView) open(g *Grant) *Grant {
	if g.Sealed() {
		if ct, ok := ov.o.OpenedTerms(g); ok {
			return g.Opened(ct)
		}
	}
	return g
}

func (ov openedView) Member(id string) (*Member, bool) { return ov.v.Member(id) }
func (ov openedView) Asset(id string) (*Asset, bool)   { return ov.v.Asset(id) }

func (ov openedView) Grant(id string) (*Grant, bool) {
	g, ok := ov.v.Grant(id)
	if ok {
		g = ov.open(g)
	}
	return g, ok
}

func (ov openedView) GrantsFor(licensee, asset string) []*Grant {
	gs := ov.v.GrantsFor(licensee, asset)
	var out []*Grant // a copy: v's slice may be shared
	for i, g := range gs {
		if o := ov.open(g); o != g {
			if out == nil {
				out = slices.Clone(gs)
			}
			out[i] = o
		}
	}
	if out == nil {
		return gs
	}
	return out
}

func (ov openedView) UsageTotal(grant, period string) (*UsageTotals, bool) {
	if g, ok := ov.v.Grant(grant); ok && g.Sealed() {
		// Only the totals of a grant o opens, whoever asks for them.
		if _, open := ov.o.OpenedTerms(g); !open {
			return nil, false
		}
		return ov.o.SealedTotal(grant, period)
	}
	if uv, ok := ov.v.(usageView); ok {
		return uv.UsageTotal(grant, period)
	}
	return nil, false
}

func (ov openedView) ExportPolicy() []ExportRule {
	if pv, ok := ov.v.(policyView); ok {
		return pv.ExportPolicy()
	}
	return nil
}

func (ov openedView) ObservedInfractions(member, asset string) []*Infraction {
	if x, ok := ov.v.(observedView); ok {
		return x.ObservedInfractions(member, asset)
	}
	return nil
}

func (ov openedView) ExclusiveGrants(asset string) []*Grant {
	if x, ok := ov.v.(exclusiveView); ok {
		return x.ExclusiveGrants(asset)
	}
	return nil
}
