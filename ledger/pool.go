package ledger

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Pool quota modes.
const (
	// QuotaFixed gives each member a stated amount per period; the amounts
	// may sum to less than the capacity, never more.
	QuotaFixed = "fixed"
	// QuotaWeighted shares the whole capacity in proportion to weights,
	// by the largest-remainder rule (see Pool).
	QuotaWeighted = "weighted"
)

// Hold statuses.
const (
	HoldOpen     = "open"
	HoldSettled  = "settled"
	HoldReleased = "released"
	HoldLapsed   = "lapsed"
)

const (
	maxPoolMembers = 256
	maxWeight      = 1_000_000
	maxRefLen      = 256
)

// Pool is a shared resource, such as GPU-hours, with a capacity per
// calendar period and a quota per member.
//
// Weighted quotas follow the largest-remainder (Hamilton) rule: member i
// with weight wᵢ of total W first gets ⌊C·wᵢ/W⌋ of capacity C; the units
// left over, fewer than the number of members, go one each to the members
// with the largest remainders C·wᵢ mod W, ties going to the member whose ID
// sorts first. The quotas then sum to exactly C.
type Pool struct {
	ID       string      `json:"id"`
	Resource string      `json:"resource"` // e.g. gpu-hours
	Unit     string      `json:"unit"`     // e.g. hour
	Period   Period      `json:"period"`
	Capacity int64       `json:"capacity"` // per period
	Mode     string      `json:"mode"`     // fixed or weighted
	Quotas   []PoolQuota `json:"quotas"`   // sorted by member
	// Owners are the members who contributed the resource and created the
	// pool; empty for a consortium-owned pool created by ballot.
	Owners    []string  `json:"owners,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	Index     uint64    `json:"index"`
	// LogSize is the number of events in the pool's history.
	LogSize uint64 `json:"log_size"`
}

// PoolQuota is one member's share of a pool per period, before transfers.
type PoolQuota struct {
	Member string `json:"member"`
	Weight int64  `json:"weight,omitempty"` // weighted pools only
	Quota  int64  `json:"quota"`
}

// quota returns member m's base quota and whether m is a member of the pool.
func (p *Pool) quota(m string) (int64, bool) {
	i, found := slices.BinarySearchFunc(p.Quotas, m, func(q PoolQuota, m string) int { return strings.Compare(q.Member, m) })
	if !found {
		return 0, false
	}
	return p.Quotas[i].Quota, true
}

// PoolCreate is the body of pool.create, and the params of a pool.create
// ballot for a consortium-owned pool (with no owners).
type PoolCreate struct {
	ID       string      `json:"id"`
	Resource string      `json:"resource"`
	Unit     string      `json:"unit"`
	Period   Period      `json:"period"`
	Capacity int64       `json:"capacity"`
	Mode     string      `json:"mode"`
	Quotas   []QuotaSpec `json:"quotas"` // sorted by member, no duplicates
	Owners   []string    `json:"owners,omitempty"`
}

// QuotaSpec is one member's quota as declared: an amount in a fixed pool,
// a weight in a weighted one.
type QuotaSpec struct {
	Member string `json:"member"`
	Amount int64  `json:"amount,omitempty"`
	Weight int64  `json:"weight,omitempty"`
}

// PoolConsume is the body of pool.consume. It consumes Member's quota,
// the signer's own by default. An owner of the pool may consume for any of
// its members, as a metering gateway in front of the resource does; any
// other member only for itself.
type PoolConsume struct {
	Pool   string `json:"pool"`
	Amount int64  `json:"amount"`
	Ref    string `json:"ref,omitempty"`    // the caller's reference, e.g. a job ID
	Member string `json:"member,omitempty"` // whose quota; default the signer
}

// PoolTransfer is the body of pool.transfer, signed by the giver (the
// signer). Period defaults to the current one; a later period may be named,
// an earlier one may not.
type PoolTransfer struct {
	Pool   string `json:"pool"`
	To     string `json:"to"`
	Amount int64  `json:"amount"`
	Period string `json:"period,omitempty"`
}

// PoolHold is the body of pool.hold: reserve amount of the signer's quota
// in the current period until deadline, which may not be later than the
// end of the period.
type PoolHold struct {
	Pool     string    `json:"pool"`
	Hold     string    `json:"hold"`
	Amount   int64     `json:"amount"`
	Deadline time.Time `json:"deadline"`
	Ref      string    `json:"ref,omitempty"`
}

// PoolSettle is the body of pool.settle: consume amount (at most the held
// amount) and release the rest of the hold.
type PoolSettle struct {
	Pool   string `json:"pool"`
	Hold   string `json:"hold"`
	Amount int64  `json:"amount"`
}

// PoolRelease is the body of pool.release.
type PoolRelease struct {
	Pool string `json:"pool"`
	Hold string `json:"hold"`
}

// Hold is a reservation of pool capacity. An open hold whose deadline has
// come lapses: nothing is written when it does, but every reader and every
// later rule treats it as lapsed, and the next proposal that touches the
// member's use of the pool records the lapse.
type Hold struct {
	Pool     string    `json:"pool"`
	Member   string    `json:"member"`
	ID       string    `json:"id"`
	Period   string    `json:"period"`
	Amount   int64     `json:"amount"`
	Settled  int64     `json:"settled,omitempty"`
	Deadline time.Time `json:"deadline"`
	Status   string    `json:"status"`
	Ref      string    `json:"ref,omitempty"`
	Index    uint64    `json:"index"`
}

// StatusAt is the hold's status at time t.
func (h *Hold) StatusAt(t time.Time) string {
	if h.Status == HoldOpen && !t.Before(h.Deadline) {
		return HoldLapsed
	}
	return h.Status
}

// PoolUsage is the stored record of one member's use of a pool in one
// period. Quota is Base + TransferredIn − TransferredOut.
type PoolUsage struct {
	Base           int64 `json:"base"`
	TransferredIn  int64 `json:"transferred_in"`
	TransferredOut int64 `json:"transferred_out"`
	Used           int64 `json:"used"`
	Held           int64 `json:"held"`
}

// Quota is the member's quota in the period after transfers.
func (u *PoolUsage) Quota() int64 { return u.Base + u.TransferredIn - u.TransferredOut }

// Remaining is what the member can still consume or hold in the period.
func (u *PoolUsage) Remaining() int64 { return u.Quota() - u.Used - u.Held }

// MemberUsage is one member's standing in a pool for one period, as the
// queries report it.
type MemberUsage struct {
	Member         string `json:"member"`
	Period         string `json:"period"`
	Base           int64  `json:"base"`
	TransferredIn  int64  `json:"transferred_in"`
	TransferredOut int64  `json:"transferred_out"`
	Quota          int64  `json:"quota"`
	Used           int64  `json:"used"`
	Held           int64  `json:"held"`
	Remaining      int64  `json:"remaining"`
}

// PoolEvent is one entry in a pool's history.
type PoolEvent struct {
	Seq    uint64    `json:"seq"`
	Index  uint64    `json:"index"` // the log index of the entry that caused it
	At     time.Time `json:"at"`
	Kind   string    `json:"kind"` // created, consumed, transferred, held, settled, released, lapsed
	Member string    `json:"member,omitempty"`
	To     string    `json:"to,omitempty"`
	Period string    `json:"period,omitempty"`
	Amount int64     `json:"amount,omitempty"`
	Hold   string    `json:"hold,omitempty"`
	Ref    string    `json:"ref,omitempty"`
	// By is the pool owner who consumed on Member's behalf; empty when
	// Member acted itself.
	By string `json:"by,omitempty"`
}

func validAmount(field string, v int64) error {
	if v <= 0 {
		return Errorf(CodeInvalid, "%s: %d is not a positive amount", field, v)
	}
	if v > MaxQuantity {
		return Errorf(CodeInvalid, "%s: %d is over the largest amount, %d", field, v, MaxQuantity)
	}
	return nil
}

func validRef(field, ref string) error {
	if len(ref) > maxRefLen {
		return Errorf(CodeInvalid, "%s: %d bytes is longer than %d", field, len(ref), maxRefLen)
	}
	return nil
}

// checkPoolCreate validates a pool definition against the state and
// returns the pool with its quotas worked out.
func (a *applyCtx) checkPoolCreate(field string, b *PoolCreate) (*Pool, error) {
	if !ValidID(b.ID) {
		return nil, Errorf(CodeInvalid, "%s.id: %q is not a valid ID (1-128 of A-Z a-z 0-9 . _ : -)", field, b.ID)
	}
	if a.tx.get(bucketPools, []byte(b.ID)) != nil {
		return nil, Errorf(CodeConflict, "%s.id: pool %s already exists", field, b.ID)
	}
	if !validTag(b.Resource) {
		return nil, Errorf(CodeInvalid, "%s.resource: %q must be 1-64 of a-z 0-9 - _", field, b.Resource)
	}
	if !validTag(b.Unit) {
		return nil, Errorf(CodeInvalid, "%s.unit: %q must be 1-64 of a-z 0-9 - _", field, b.Unit)
	}
	if !b.Period.valid() {
		return nil, Errorf(CodeInvalid, "%s.period: %q is not day, week, month, quarter or year", field, b.Period)
	}
	if err := validAmount(field+".capacity", b.Capacity); err != nil {
		return nil, err
	}
	if len(b.Quotas) == 0 || len(b.Quotas) > maxPoolMembers {
		return nil, Errorf(CodeInvalid, "%s.quotas: between 1 and %d members are required", field, maxPoolMembers)
	}
	p := &Pool{
		ID: b.ID, Resource: b.Resource, Unit: b.Unit, Period: b.Period, Capacity: b.Capacity, Mode: b.Mode,
		Owners: b.Owners, CreatedAt: a.now, Index: a.index,
	}
	for i, q := range b.Quotas {
		f := field + ".quotas[" + itoa(i) + "]"
		if i > 0 && b.Quotas[i-1].Member >= q.Member {
			return nil, Errorf(CodeInvalid, "%s.member: quotas must be sorted by member without duplicates", f)
		}
		m, err := a.activeMember(f+".member", q.Member)
		if err != nil {
			return nil, err
		}
		if m.Role != RoleMember {
			return nil, Errorf(CodeInvalid, "%s.member: %s is an %s and cannot use a pool", f, q.Member, m.Role)
		}
	}
	switch b.Mode {
	case QuotaFixed:
		var sum int64
		for i, q := range b.Quotas {
			f := field + ".quotas[" + itoa(i) + "]"
			if q.Weight != 0 {
				return nil, Errorf(CodeInvalid, "%s.weight: a fixed pool takes amounts, not weights", f)
			}
			if q.Amount < 0 || q.Amount > MaxQuantity {
				return nil, Errorf(CodeInvalid, "%s.amount: %d is not between 0 and %d", f, q.Amount, MaxQuantity)
			}
			sum += q.Amount // at most 256 × 1e15: no overflow
			p.Quotas = append(p.Quotas, PoolQuota{Member: q.Member, Quota: q.Amount})
		}
		if sum > b.Capacity {
			return nil, Errorf(CodeInvalid, "%s.quotas: the amounts sum to %d, over the capacity of %d", field, sum, b.Capacity)
		}
	case QuotaWeighted:
		for i, q := range b.Quotas {
			f := field + ".quotas[" + itoa(i) + "]"
			if q.Amount != 0 {
				return nil, Errorf(CodeInvalid, "%s.amount: a weighted pool takes weights, not amounts", f)
			}
			if q.Weight < 1 || q.Weight > maxWeight {
				return nil, Errorf(CodeInvalid, "%s.weight: %d is not between 1 and %d", f, q.Weight, maxWeight)
			}
		}
		p.Quotas = WeightedQuotas(b.Capacity, b.Quotas)
	default:
		return nil, Errorf(CodeInvalid, "%s.mode: %q is not fixed or weighted", field, b.Mode)
	}
	if len(b.Owners) > 0 {
		if err := a.sortedMembers(field+".owners", b.Owners); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// WeightedQuotas shares capacity among the members in proportion to their
// weights by the largest-remainder rule (see Pool). specs must be sorted by
// member, with weights between 1 and 1,000,000 and capacity at most
// MaxQuantity.
func WeightedQuotas(capacity int64, specs []QuotaSpec) []PoolQuota {
	var total int64
	for _, s := range specs {
		total += s.Weight
	}
	out := make([]PoolQuota, len(specs))
	rems := make([]uint64, len(specs))
	left := capacity
	for i, s := range specs {
		q, r, _ := mulDivFloor(capacity, s.Weight, total)
		out[i] = PoolQuota{Member: s.Member, Weight: s.Weight, Quota: int64(q)}
		rems[i] = r
		left -= int64(q)
	}
	order := make([]int, len(specs))
	for i := range order {
		order[i] = i
	}
	// Largest remainder first; equal remainders in member order, which is
	// the order of specs, so a stable sort keeps it.
	slices.SortStableFunc(order, func(x, y int) int {
		switch {
		case rems[x] > rems[y]:
			return -1
		case rems[x] < rems[y]:
			return 1
		}
		return 0
	})
	for _, i := range order[:left] {
		out[i].Quota++
	}
	return out
}

func init() {
	register("pool.create", handler{apply: applyPoolCreate})
}

func applyPoolCreate(a *applyCtx) error {
	var b PoolCreate
	if err := a.body(&b); err != nil {
		return err
	}
	if len(b.Owners) == 0 {
		return Errorf(CodeForbidden, "body.owners: a pool without owners belongs to the consortium and is created by a pool.create ballot")
	}
	p, err := a.checkPoolCreate("body", &b)
	if err != nil {
		return err
	}
	if !slices.Contains(p.Owners, a.p.Signer) {
		return Errorf(CodeForbidden, "body.owners: the signer %s must be an owner", a.p.Signer)
	}
	if err := a.requireSigned("pool.create", p.Owners...); err != nil {
		return err
	}
	a.createPool(p, a.p.Signer)
	return nil
}

func (a *applyCtx) createPool(p *Pool, by string) {
	a.poolLog(p, PoolEvent{Kind: "created", Member: by, Amount: p.Capacity, Period: PeriodKey(p.Period, a.now)})
	a.event("pool.created", p.ID)
}

// checkPoolBallot validates the params of a pool.create ballot.
func checkPoolBallot(a *applyCtx, raw json.RawMessage) error {
	_, err := poolFromParams(a, raw)
	return err
}

func executePoolBallot(a *applyCtx, raw json.RawMessage) error {
	p, err := poolFromParams(a, raw)
	if err != nil {
		return err
	}
	a.createPool(p, "consortium")
	return nil
}

func poolFromParams(a *applyCtx, raw json.RawMessage) (*Pool, error) {
	var b PoolCreate
	if err := decodeParams(raw, &b); err != nil {
		return nil, err
	}
	if len(b.Owners) > 0 {
		return nil, Errorf(CodeInvalid, "body.params.owners: a pool.create ballot creates a consortium-owned pool; owners create their own pool with a pool.create proposal")
	}
	return a.checkPoolCreate("body.params", &b)
}

// poolLog appends ev to p's history and stores p.
func (a *applyCtx) poolLog(p *Pool, ev PoolEvent) {
	ev.Seq, ev.Index, ev.At = p.LogSize, a.index, a.now
	a.tx.putJSON(bucketPoolLog, append(append([]byte(p.ID), 0), u64(ev.Seq)...), ev)
	p.LogSize++
	a.tx.putJSON(bucketPools, []byte(p.ID), p)
}

func (a *applyCtx) pool(field, id string) (*Pool, error) {
	var p Pool
	if !a.tx.getJSON(bucketPools, []byte(id), &p) {
		return nil, Errorf(CodeNotFound, "%s: no pool %q", field, id)
	}
	return &p, nil
}

// poolMember returns p's base quota for member m, refusing non-members.
func poolMember(field string, p *Pool, m string) (int64, error) {
	q, ok := p.quota(m)
	if !ok {
		return 0, Errorf(CodeForbidden, "%s: %s is not a member of pool %s", field, m, p.ID)
	}
	return q, nil
}

func usageKey(pool, period, member string) []byte { return key(pool, period, member) }

func loadPoolUsage(t *tx, p *Pool, period, member string) PoolUsage {
	var u PoolUsage
	if !t.getJSON(bucketPoolUsage, usageKey(p.ID, period, member), &u) {
		u.Base, _ = p.quota(member)
	}
	return u
}

func (a *applyCtx) putPoolUsage(p *Pool, period, member string, u *PoolUsage) {
	a.tx.putJSON(bucketPoolUsage, usageKey(p.ID, period, member), u)
}

// sweepHolds records the lapse of member m's open holds in p whose
// deadline has come, returning their reservations to the member.
func (a *applyCtx) sweepHolds(p *Pool, m string) {
	var lapsed [][]byte
	a.tx.scan(bucketPoolOpen, append(key(p.ID, m), 0), func(k, _ []byte) bool {
		lapsed = append(lapsed, k)
		return true
	})
	for _, k := range lapsed {
		var h Hold
		a.tx.getJSON(bucketPoolHolds, k, &h)
		if h.StatusAt(a.now) != HoldLapsed {
			continue
		}
		u := loadPoolUsage(a.tx, p, h.Period, m)
		u.Held -= h.Amount
		a.putPoolUsage(p, h.Period, m, &u)
		h.Status = HoldLapsed
		a.tx.putJSON(bucketPoolHolds, k, h)
		a.tx.del(bucketPoolOpen, k)
		a.poolLog(p, PoolEvent{Kind: "lapsed", Member: m, Period: h.Period, Amount: h.Amount, Hold: h.ID})
		a.event("pool.hold_lapsed", p.ID+"/"+m+"/"+h.ID)
	}
}

func quotaMessage(p *Pool, member, period string, u *PoolUsage, amount int64) string {
	return member + " asks for " + strconv.FormatInt(amount, 10) + " " + p.Unit + " of pool " + p.ID + " in period " + period +
		": quota " + strconv.FormatInt(u.Quota(), 10) + ", used " + strconv.FormatInt(u.Used, 10) +
		", held " + strconv.FormatInt(u.Held, 10) + ", remaining " + strconv.FormatInt(u.Remaining(), 10)
}

func init() {
	register("pool.consume", handler{apply: applyPoolConsume, target: poolConsumeTarget})
}

// poolConsumeTarget is the pool a consumption draws on.
func poolConsumeTarget(body json.RawMessage) (Target, error) {
	var b PoolConsume
	err := decodeTarget(body, &b)
	return Target{Kind: TargetPool, ID: b.Pool}, err
}

func applyPoolConsume(a *applyCtx) error {
	var b PoolConsume
	if err := a.body(&b); err != nil {
		return err
	}
	p, err := a.pool("body.pool", b.Pool)
	if err != nil {
		return err
	}
	if err := validAmount("body.amount", b.Amount); err != nil {
		return err
	}
	if err := validRef("body.ref", b.Ref); err != nil {
		return err
	}
	m, field, by := a.p.Signer, "signer", ""
	if b.Member != "" && b.Member != a.p.Signer {
		if !slices.Contains(p.Owners, a.p.Signer) {
			return Errorf(CodeForbidden, "body.member: only an owner of pool %s may consume for another member; %s is not one", p.ID, a.p.Signer)
		}
		m, field, by = b.Member, "body.member", a.p.Signer
	}
	if _, err := poolMember(field, p, m); err != nil {
		return err
	}
	a.sweepHolds(p, m)
	period := PeriodKey(p.Period, a.now)
	u := loadPoolUsage(a.tx, p, period, m)
	if b.Amount > u.Remaining() {
		return Errorf(CodeRejected, "body.amount: over quota: %s", quotaMessage(p, m, period, &u, b.Amount))
	}
	u.Used += b.Amount
	a.putPoolUsage(p, period, m, &u)
	a.poolLog(p, PoolEvent{Kind: "consumed", Member: m, By: by, Period: period, Amount: b.Amount, Ref: b.Ref})
	a.event("pool.consumed", p.ID)
	return nil
}

func init() {
	register("pool.transfer", handler{apply: applyPoolTransfer})
}

func applyPoolTransfer(a *applyCtx) error {
	var b PoolTransfer
	if err := a.body(&b); err != nil {
		return err
	}
	p, err := a.pool("body.pool", b.Pool)
	if err != nil {
		return err
	}
	if err := validAmount("body.amount", b.Amount); err != nil {
		return err
	}
	from := a.p.Signer
	if _, err := poolMember("signer", p, from); err != nil {
		return err
	}
	if _, err := poolMember("body.to", p, b.To); err != nil {
		return err
	}
	if b.To == from {
		return Errorf(CodeInvalid, "body.to: %s cannot transfer quota to itself", from)
	}
	if _, err := a.activeMember("body.to", b.To); err != nil {
		return err
	}
	period := PeriodKey(p.Period, a.now)
	if b.Period != "" {
		start, end, err := ParsePeriod(p.Period, b.Period)
		if err != nil {
			return prefixed("body.period", err)
		}
		if !end.After(a.now) {
			return Errorf(CodeRejected, "body.period: period %s of pool %s is over", b.Period, p.ID)
		}
		if start.After(a.now) {
			period = b.Period
		}
	}
	a.sweepHolds(p, from)
	a.sweepHolds(p, b.To)
	uf := loadPoolUsage(a.tx, p, period, from)
	if b.Amount > uf.Remaining() {
		return Errorf(CodeRejected, "body.amount: cannot transfer more than is left: %s", quotaMessage(p, from, period, &uf, b.Amount))
	}
	ut := loadPoolUsage(a.tx, p, period, b.To)
	uf.TransferredOut += b.Amount
	ut.TransferredIn += b.Amount
	a.putPoolUsage(p, period, from, &uf)
	a.putPoolUsage(p, period, b.To, &ut)
	a.poolLog(p, PoolEvent{Kind: "transferred", Member: from, To: b.To, Period: period, Amount: b.Amount})
	a.event("pool.transferred", p.ID)
	return nil
}

func validHoldID(field, id string) error {
	if !ValidID(id) {
		return Errorf(CodeInvalid, "%s: %q is not a valid ID (1-128 of A-Z a-z 0-9 . _ : -)", field, id)
	}
	return nil
}

func init() {
	register("pool.hold", handler{apply: applyPoolHold})
}

func applyPoolHold(a *applyCtx) error {
	var b PoolHold
	if err := a.body(&b); err != nil {
		return err
	}
	p, err := a.pool("body.pool", b.Pool)
	if err != nil {
		return err
	}
	if err := validHoldID("body.hold", b.Hold); err != nil {
		return err
	}
	if err := validAmount("body.amount", b.Amount); err != nil {
		return err
	}
	if err := validRef("body.ref", b.Ref); err != nil {
		return err
	}
	m := a.p.Signer
	if _, err := poolMember("signer", p, m); err != nil {
		return err
	}
	k := key(p.ID, m, b.Hold)
	if a.tx.get(bucketPoolHolds, k) != nil {
		return Errorf(CodeConflict, "body.hold: %s already has a hold %s on pool %s", m, b.Hold, p.ID)
	}
	period := PeriodKey(p.Period, a.now)
	_, end := PeriodBounds(p.Period, a.now)
	deadline := b.Deadline.UTC()
	if !deadline.After(a.now) || deadline.After(end) {
		return Errorf(CodeInvalid, "body.deadline: %s must be after ledger time and no later than the end of period %s (%s)",
			deadline.Format(time.RFC3339), period, end.Format(time.RFC3339))
	}
	a.sweepHolds(p, m)
	u := loadPoolUsage(a.tx, p, period, m)
	if b.Amount > u.Remaining() {
		return Errorf(CodeRejected, "body.amount: over quota: %s", quotaMessage(p, m, period, &u, b.Amount))
	}
	u.Held += b.Amount
	a.putPoolUsage(p, period, m, &u)
	h := Hold{Pool: p.ID, Member: m, ID: b.Hold, Period: period, Amount: b.Amount, Deadline: deadline, Status: HoldOpen, Ref: b.Ref, Index: a.index}
	a.tx.putJSON(bucketPoolHolds, k, h)
	a.tx.put(bucketPoolOpen, k, []byte{})
	a.poolLog(p, PoolEvent{Kind: "held", Member: m, Period: period, Amount: b.Amount, Hold: b.Hold, Ref: b.Ref})
	a.event("pool.held", p.ID)
	return nil
}

// openHold finds the signer's open hold, after recording any lapses.
func (a *applyCtx) openHold(poolID, holdID string) (*Pool, *Hold, error) {
	p, err := a.pool("body.pool", poolID)
	if err != nil {
		return nil, nil, err
	}
	if err := validHoldID("body.hold", holdID); err != nil {
		return nil, nil, err
	}
	m := a.p.Signer
	var h Hold
	if !a.tx.getJSON(bucketPoolHolds, key(p.ID, m, holdID), &h) {
		return nil, nil, Errorf(CodeNotFound, "body.hold: %s has no hold %q on pool %s", m, holdID, p.ID)
	}
	if s := h.StatusAt(a.now); s != HoldOpen {
		return nil, nil, Errorf(CodeRejected, "body.hold: hold %s is %s", holdID, s)
	}
	a.sweepHolds(p, m)
	return p, &h, nil
}

func (a *applyCtx) closeHold(p *Pool, h *Hold, status string, used int64) {
	u := loadPoolUsage(a.tx, p, h.Period, h.Member)
	u.Held -= h.Amount
	u.Used += used
	a.putPoolUsage(p, h.Period, h.Member, &u)
	h.Status, h.Settled = status, used
	k := key(p.ID, h.Member, h.ID)
	a.tx.putJSON(bucketPoolHolds, k, h)
	a.tx.del(bucketPoolOpen, k)
}

func init() {
	register("pool.settle", handler{apply: applyPoolSettle})
}

func applyPoolSettle(a *applyCtx) error {
	var b PoolSettle
	if err := a.body(&b); err != nil {
		return err
	}
	p, h, err := a.openHold(b.Pool, b.Hold)
	if err != nil {
		return err
	}
	if err := validAmount("body.amount", b.Amount); err != nil {
		return err
	}
	if b.Amount > h.Amount {
		return Errorf(CodeRejected, "body.amount: %d is more than the %d held by hold %s; consume the difference separately", b.Amount, h.Amount, h.ID)
	}
	a.closeHold(p, h, HoldSettled, b.Amount)
	a.poolLog(p, PoolEvent{Kind: "settled", Member: h.Member, Period: h.Period, Amount: b.Amount, Hold: h.ID, Ref: h.Ref})
	a.event("pool.consumed", p.ID)
	return nil
}

func init() {
	register("pool.release", handler{apply: applyPoolRelease})
}

func applyPoolRelease(a *applyCtx) error {
	var b PoolRelease
	if err := a.body(&b); err != nil {
		return err
	}
	p, h, err := a.openHold(b.Pool, b.Hold)
	if err != nil {
		return err
	}
	a.closeHold(p, h, HoldReleased, 0)
	a.poolLog(p, PoolEvent{Kind: "released", Member: h.Member, Period: h.Period, Amount: h.Amount, Hold: h.ID, Ref: h.Ref})
	a.event("pool.released", p.ID)
	return nil
}

// Pool returns a pool.
func (v *View) Pool(id string) (*Pool, bool) {
	var p Pool
	return &p, v.t.getJSON(bucketPools, []byte(id), &p)
}

// Pools lists pools in ID order, up to limit after the ID after; the second
// result is the cursor for the next page ("" at the end).
func (v *View) Pools(after string, limit int) ([]*Pool, string) {
	return list[Pool](v, bucketPools, after, limit, nil)
}

// PoolUsage returns every member's quota, use, holds and remaining amount
// in pool id for period ("" for the period that holds the view's ledger
// time), in member order. Holds past their deadline count as lapsed even if
// no entry has recorded the lapse yet.
func (v *View) PoolUsage(id, period string) ([]MemberUsage, error) {
	p, ok := v.Pool(id)
	if !ok {
		return nil, Errorf(CodeNotFound, "pool: no pool %q", id)
	}
	now := v.LedgerTime()
	if period == "" {
		period = PeriodKey(p.Period, now)
	} else if _, _, err := ParsePeriod(p.Period, period); err != nil {
		return nil, prefixed("period", err)
	}
	out := make([]MemberUsage, 0, len(p.Quotas))
	for _, q := range p.Quotas {
		u := loadPoolUsage(v.t, p, period, q.Member)
		v.t.scan(bucketPoolOpen, append(key(p.ID, q.Member), 0), func(k, _ []byte) bool {
			var h Hold
			v.t.getJSON(bucketPoolHolds, k, &h)
			if h.Period == period && h.StatusAt(now) == HoldLapsed {
				u.Held -= h.Amount
			}
			return true
		})
		out = append(out, MemberUsage{
			Member: q.Member, Period: period, Base: u.Base, TransferredIn: u.TransferredIn, TransferredOut: u.TransferredOut,
			Quota: u.Quota(), Used: u.Used, Held: u.Held, Remaining: u.Remaining(),
		})
	}
	return out, nil
}

// PoolHistory returns up to limit events of pool id's history with a
// sequence number of at least from, oldest first, and the from of the next
// page (0 at the end).
func (v *View) PoolHistory(id string, from uint64, limit int) ([]*PoolEvent, uint64) {
	var out []*PoolEvent
	var next uint64
	prefix := append([]byte(id), 0)
	v.seek(bucketPoolLog, prefix, append(slices.Clone(prefix), u64(from)...), func(k, val []byte) bool {
		e := new(PoolEvent)
		mustUnmarshal(bucketPoolLog, k, val, e)
		if len(out) == limit {
			next = e.Seq
			return false
		}
		out = append(out, e)
		return true
	})
	return out, next
}

// Hold returns member's hold id on pool, with its status as of the view's
// ledger time.
func (v *View) Hold(pool, member, id string) (*Hold, bool) {
	var h Hold
	if !v.t.getJSON(bucketPoolHolds, key(pool, member, id), &h) {
		return nil, false
	}
	h.Status = h.StatusAt(v.LedgerTime())
	return &h, true
}
