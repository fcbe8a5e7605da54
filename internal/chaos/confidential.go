package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/seal"
	"github.com/charta/charta/node/api"
	"github.com/charta/charta/node/client"
)

// W5: confidential grants. Confidential grants gc-0, gc-1, ... between
// alpha and the workload's licensee seal their usage terms and clauses to
// the two parties (ledger/seal, the binding {consortium, "grant", ID}),
// and the licensee reports usage of them with the quantities sealed to the
// parties (the binding {consortium, "usage.report", grant/report}), as
// charta grant offer --confidential and charta usage report do. gc-0 is
// offered and accepted at setup; each other one is offered and accepted
// during the run by the client that owns it, so that the parties' nodes
// open terms while faults strike. Once a grant is active, every client
// reports usage of it now and then.
//
// The parties' nodes open each grant into their private stores and admit
// its sealed reports in log order; CheckConfidential asserts that both
// serve the same private digest and usage digest, that their accounts hold
// every report the journal accepted with the quantities sent, and that
// every other node shows the grant sealed.

func confGrantID(i int) string { return "gc-" + strconv.Itoa(i) }
func confAssetID(i int) string { return "ac-" + strconv.Itoa(i) }

const (
	// confMetric is the metric the sealed usage terms price and the
	// sealed reports carry.
	confMetric = "gpu_hours"
	// confSoftCap is the metric's soft cap per period: crossing it is an
	// infraction that only the parties' nodes record, in their accounts.
	confSoftCap = 60
	// confEvery is one in how many of a client's operations is W5's.
	confEvery = 20
	// confSettle is how long the parties' nodes have, after the public
	// state converged, to open and admit what it holds.
	confSettle = 20 * time.Second
)

// confidentialTerms are the sealed terms of confidential grant i: usage
// terms priced in tiers with a soft cap, and two recorded clauses.
func confidentialTerms(i int) ledger.ConfidentialTerms {
	return ledger.ConfidentialTerms{
		Usage: &ledger.UsageTerms{Period: ledger.PeriodMonth, GraceDays: 7, Metrics: []ledger.UsageMetric{{
			Name: confMetric, Unit: "hour", SoftCap: confSoftCap,
			Pricing: ledger.Pricing{Model: "graduated", Currency: "EUR",
				Tiers: []ledger.Tier{{UpTo: 100, UnitMicros: 2_500_000 + int64(i)}, {UnitMicros: 2_000_000}}},
		}}},
		Clauses: ledger.Clauses{GoverningLaw: "Laws of Ruritania", Liability: "capped at fees paid"},
	}
}

// confidential is W5's shared state.
type confidential struct {
	licensee string
	mu       sync.Mutex
	active   []activeGrant // in the order they were seen active
}

// activeGrant is a confidential grant seen active, with its activation's
// ledger time, where the windows of its reports begin.
type activeGrant struct {
	id string
	at time.Time
}

// activated records grant id as active since at, once.
func (cf *confidential) activated(id string, at time.Time) {
	cf.mu.Lock()
	defer cf.mu.Unlock()
	if !slices.ContainsFunc(cf.active, func(a activeGrant) bool { return a.id == id }) {
		cf.active = append(cf.active, activeGrant{id, at.UTC()})
	}
}

// isActive reports whether grant id was seen active.
func (cf *confidential) isActive(id string) bool {
	cf.mu.Lock()
	defer cf.mu.Unlock()
	return slices.ContainsFunc(cf.active, func(a activeGrant) bool { return a.id == id })
}

// pick returns an active grant chosen with rng.
func (cf *confidential) pick(rng *rand.Rand) (activeGrant, bool) {
	cf.mu.Lock()
	defer cf.mu.Unlock()
	if len(cf.active) == 0 {
		return activeGrant{}, false
	}
	return cf.active[rng.IntN(len(cf.active))], true
}

// Seal seals plaintext to members' encryption keys under the binding
// {consortium, kind, id}, as a member's client does. The keys are those
// the genesis registers; no scenario rotates an encryption key, so they
// are the members' current keys (a stale one would make Apply reject the
// proposal, and CheckConfidential report it).
func (c *Cluster) Seal(plaintext []byte, members []string, kind, id string) (*ledger.Confidential, error) {
	var rs []seal.Recipient
	for _, m := range members {
		ek, ok := c.encKeys[m]
		if !ok {
			return nil, fmt.Errorf("chaos: %s has no encryption key", m)
		}
		pk, err := seal.PublicKeyFrom(ek)
		if err != nil {
			return nil, fmt.Errorf("chaos: %s's encryption key: %w", m, err)
		}
		rs = append(rs, seal.Recipient{Member: m, Key: pk})
	}
	s, _, err := seal.Seal(plaintext, rs, seal.Binding{Consortium: c.Genesis.ID(), Kind: kind, ID: id})
	if err != nil {
		return nil, err
	}
	return &ledger.Confidential{Commitment: s.Commitment, Sealed: s.Ledger()}, nil
}

// confidentialOffer is the offer of confidential grant i from alpha to
// licensee, its terms sealed to both.
func (c *Cluster) confidentialOffer(i int, licensee string) (*ledger.GrantOffer, error) {
	o := &ledger.GrantOffer{ID: confGrantID(i), Licensors: []string{"alpha"}, Licensees: []string{licensee},
		Terms: ledger.Terms{Assets: []string{confAssetID(i)}, Rights: []ledger.Right{"use"}}}
	ct := confidentialTerms(i)
	var err error
	o.Confidential, err = c.Seal(ct.Canonical(), []string{"alpha", licensee}, ledger.ConfidentialKind, o.ID)
	return o, err
}

// setupConfidential registers the assets of the confidential grants, and
// offers and accepts gc-0, so that every scenario has one whatever its
// faults do to the others.
func setupConfidential(ctx context.Context, c *Cluster, cfg WorkloadConfig, alpha *client.Client, licensee string) (*confidential, error) {
	cf := &confidential{licensee: licensee}
	for i := range cfg.Confidential {
		if _, err := alpha.Propose(ctx, "asset.register", "setup-conf-asset-"+strconv.Itoa(i), map[string]any{
			"id": confAssetID(i), "kind": "model", "digest": "sha256:" + fmt.Sprintf("%064x", 1000+i),
			"owners": []map[string]any{{"member": "alpha", "share_bp": 10000}},
		}); err != nil {
			return nil, fmt.Errorf("chaos: setup confidential asset %d: %w", i, err)
		}
	}
	o, err := c.confidentialOffer(0, licensee)
	if err != nil {
		return nil, err
	}
	if _, err := alpha.Propose(ctx, "grant.offer", "setup-conf-offer-0", o); err != nil {
		return nil, fmt.Errorf("chaos: setup confidential grant 0: %w", err)
	}
	lc, err := c.Client(0, licensee, "")
	if err != nil {
		return nil, err
	}
	if _, err := lc.Propose(ctx, "grant.accept", "setup-conf-accept-0", ledger.GrantAccept{Grant: o.ID, Commitment: &o.Confidential.Commitment}); err != nil {
		return nil, fmt.Errorf("chaos: setup accepting confidential grant 0: %w", err)
	}
	g, err := lc.Grant(ctx, o.ID, client.Consistency("linearizable"))
	if err != nil {
		return nil, fmt.Errorf("chaos: setup reading confidential grant 0: %w", err)
	}
	if g.Status != ledger.StatusActive {
		return nil, fmt.Errorf("chaos: setup confidential grant 0 is %s after its acceptance", g.Status)
	}
	cf.activated(o.ID, g.ActivatedAt)
	return cf, nil
}

// confidentialOp runs one W5 operation: client k advances the grant it
// owns (gc-k) from nothing to offered to active, and otherwise reports
// sealed usage of an active grant. A read that gets no answer records
// nothing; the client moves on.
func (w *Workload) confidentialOp(ctx context.Context, rng *rand.Rand, clients map[string]*client.Client, k, node int) {
	licensee := w.conf.licensee
	if k > 0 && k < w.cfg.Confidential && !w.conf.isActive(confGrantID(k)) {
		w.advanceConfidential(ctx, clients, k, node)
		return
	}
	g, ok := w.conf.pick(rng)
	if !ok {
		return
	}
	n := w.seq.Add(1)
	rid := fmt.Sprintf("r%d-%d", k, n)
	_, pEnd, err := ledger.ParsePeriod(ledger.PeriodMonth, g.at.Format("2006-01"))
	if err != nil {
		panic("chaos: the month of a ledger time is a period: " + err.Error())
	}
	// The use happened in the grant's first second, or what is left of
	// the month it was activated in.
	end := g.at.Add(time.Second)
	if end.After(pEnd) {
		end = pEnd
	}
	b := ledger.UsageReportBody{Grant: g.id, ReportID: rid, Period: g.at.Format("2006-01"), Window: ledger.Window{Start: g.at, End: end}}
	q := int64(1 + rng.IntN(4))
	su := ledger.SealedUsage{Metrics: []ledger.MetricQuantity{{Metric: confMetric, Quantity: q}}}
	if b.Confidential, err = w.c.Seal(su.Canonical(), []string{"alpha", licensee}, ledger.SealedUsageKind, ledger.SealedUsageID(g.id, rid)); err != nil {
		panic("chaos: sealing a usage report: " + err.Error()) // the genesis keys are valid
	}
	w.propose(ctx, clients[licensee], Op{Client: k, Key: g.id, Kind: "conf.report", Node: node, Amount: q}, "usage.report", b)
}

// advanceConfidential takes confidential grant k as far as it goes: it
// reads the grant, alpha offers it if it does not exist, the licensee
// accepts it with its commitment while it is offered, and once it is
// active it is marked so, for the clients to report usage of. It stops at
// the first step that does not succeed; a later call goes on from there.
func (w *Workload) advanceConfidential(ctx context.Context, clients map[string]*client.Client, k, node int) {
	licensee, id := w.conf.licensee, confGrantID(k)
	for range 3 {
		octx, cancel := context.WithTimeout(ctx, w.cfg.OpTimeout)
		g, err := clients[licensee].Grant(octx, id, client.Consistency("linearizable"))
		cancel()
		switch {
		case errors.Is(err, client.ErrNotFound):
			o, err := w.c.confidentialOffer(k, licensee)
			if err != nil {
				panic("chaos: sealing an offer: " + err.Error()) // the genesis keys are valid
			}
			if w.propose(ctx, clients["alpha"], Op{Client: k, Key: id, Kind: "conf.offer", Node: node}, "grant.offer", o) != OK {
				return
			}
		case err != nil:
			return
		case g.Status == ledger.StatusOffered && g.Confidential != nil:
			commitment := g.Confidential.Commitment
			if w.propose(ctx, clients[licensee], Op{Client: k, Key: id, Kind: "conf.accept", Node: node}, "grant.accept",
				ledger.GrantAccept{Grant: id, Commitment: &commitment}) != OK {
				return
			}
		case g.Status == ledger.StatusActive:
			w.conf.activated(id, g.ActivatedAt)
			return
		default:
			return
		}
	}
}

// confExpect is what the journal says the parties' accounts of one grant
// must hold.
type confExpect struct {
	reports  int   // sealed reports accepted
	quantity int64 // their quantities' sum
}

// CheckConfidential checks W5 once the public state has converged and
// journal is a node's journal. For each confidential grant: its parties'
// nodes both open the terms the harness sealed (the private digest of
// exactly those terms), serve the same usage digest, and account for
// every sealed report the journal accepted, with the quantities sent (so
// every acknowledged one), and a soft-cap infraction exactly when the sum
// passes the cap; every other node shows it sealed, with no terms,
// digests or infractions, and refuses its statements. The parties' nodes
// get confSettle to catch up. A sealed report that was journaled as
// rejected is a violation too: every report the harness sends is valid.
func (w *Workload) CheckConfidential(ctx context.Context, ops []Op, journal []ledger.Entry) error {
	if w.conf == nil {
		return nil
	}
	want, errs := confExpectations(ops, journal)
	first, err := w.c.operatorClient(0)
	if err != nil {
		return err
	}
	for i := range w.cfg.Confidential {
		id := confGrantID(i)
		g, err := first.Grant(ctx, id)
		if errors.Is(err, client.ErrNotFound) {
			if e := want[id]; e.reports > 0 {
				errs = append(errs, fmt.Errorf("chaos: confidential grant %s is missing on %s, but the journal accepted %d reports of it", id, w.c.Nodes[0].ID, e.reports))
			}
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("chaos: reading confidential grant %s on %s: %w", id, w.c.Nodes[0].ID, err))
			continue
		}
		if g.Confidential == nil {
			errs = append(errs, fmt.Errorf("chaos: grant %s is not confidential on %s", id, w.c.Nodes[0].ID))
			continue
		}
		ct := confidentialTerms(i)
		opened, err := ledger.ParseConfidentialTerms(ct.Canonical(), &g.Terms)
		if err != nil {
			return fmt.Errorf("chaos: the terms the harness seals to %s: %w", id, err)
		}
		if err := w.checkConfidentialGrant(ctx, g, opened.Digest(), want[id]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// confExpectations returns, per confidential grant, what its parties'
// accounts must hold: the sealed reports of the history that journal
// accepted (acknowledged or ambiguous), and their quantities. A sealed
// report journaled as rejected is a violation: every report the harness
// sends is valid.
func confExpectations(ops []Op, journal []ledger.Entry) (map[string]confExpect, []error) {
	landed := map[string]bool{}
	for _, e := range journal {
		if e.Outcome.Status == ledger.StatusAccepted && e.Outcome.ID != "" {
			landed[e.Outcome.ID] = true
		}
	}
	var errs []error
	want := map[string]confExpect{}
	for _, op := range ops {
		if op.Kind != "conf.report" {
			continue
		}
		if op.Outcome == Failed {
			errs = append(errs, fmt.Errorf("chaos: sealed usage report %s of %s was rejected (%s): %s", op.ID, op.Key, op.Rejected, op.Err))
		}
		if landed[op.ID] {
			e := want[op.Key]
			e.reports++
			e.quantity += op.Amount
			want[op.Key] = e
		}
	}
	return want, errs
}

// partyView is what a party's node serves of a confidential grant.
type partyView struct {
	node     string
	private  *ledger.Hash
	usage    *ledger.Hash
	refused  string
	reports  int
	quantity int64
	soft     int // soft-cap infractions
}

func (p partyView) String() string {
	s := fmt.Sprintf("%s: private digest %v, usage digest %v, %d reports of %d hours, %d soft-cap infractions",
		p.node, p.private, p.usage, p.reports, p.quantity, p.soft)
	if p.refused != "" {
		s += ", refused: " + p.refused
	}
	return s
}

func joinViews(views []partyView) string {
	var out []string
	for _, v := range views {
		out = append(out, v.String())
	}
	return strings.Join(out, "; ")
}

// checkConfidentialGrant checks grant g (as the first node serves it) on
// every node: the parties' nodes, which must agree with each other and
// with the private digest and the expectations, until confSettle has
// passed, and the others.
func (w *Workload) checkConfidentialGrant(ctx context.Context, g *api.Grant, private ledger.Hash, e confExpect) error {
	var errs []error
	var parties []int
	for i, n := range w.c.Nodes {
		if g.IsParty(n.ID) {
			parties = append(parties, i)
			continue
		}
		if err := w.checkSealedOn(ctx, i, g); err != nil {
			errs = append(errs, err)
		}
	}
	deadline := time.Now().Add(confSettle)
	for {
		views, problems := w.partyViews(ctx, g.ID, parties, private, e)
		if len(problems) == 0 {
			w.c.log.Info("confidential grant checked", "grant", g.ID, "reports", e.reports, "quantity", e.quantity, "parties", joinViews(views))
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			errs = append(errs, fmt.Errorf("chaos: confidential grant %s (want private digest %s, %d reports of %d hours): after %v: %s; the parties' nodes serve %v",
				g.ID, private, e.reports, e.quantity, confSettle, strings.Join(problems, "; "), joinViews(views)))
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	return errors.Join(errs...)
}

// partyViews reads grant id and its statements on the party nodes and
// says what differs from what they must serve (confProblems).
func (w *Workload) partyViews(ctx context.Context, id string, parties []int, private ledger.Hash, e confExpect) ([]partyView, []string) {
	var views []partyView
	var problems []string
	for _, i := range parties {
		v, err := w.partyView(ctx, i, id)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		views = append(views, v)
	}
	return views, append(problems, confProblems(views, private, e)...)
}

// confProblems says how the party nodes' views of a confidential grant
// differ from what they must serve: the private digest of the terms
// sealed, the reports and quantities e, a soft-cap infraction exactly
// when the quantities pass confSoftCap, and one usage digest.
func confProblems(views []partyView, private ledger.Hash, e confExpect) []string {
	var problems []string
	soft := 0
	if e.quantity > confSoftCap {
		soft = 1
	}
	for _, v := range views {
		switch {
		case v.refused != "":
			problems = append(problems, v.node+" refused the terms: "+v.refused)
		case v.private == nil:
			problems = append(problems, v.node+" has not opened the terms")
		case *v.private != private:
			problems = append(problems, fmt.Sprintf("%s's private digest %s is not that of the terms sealed", v.node, v.private))
		}
		if v.reports != e.reports || v.quantity != e.quantity {
			problems = append(problems, fmt.Sprintf("%s admitted %d reports of %d hours", v.node, v.reports, v.quantity))
		}
		if v.soft != soft {
			problems = append(problems, fmt.Sprintf("%s records %d soft-cap infractions, want %d", v.node, v.soft, soft))
		}
		if v.usage == nil {
			problems = append(problems, v.node+" serves no usage digest")
		}
	}
	for _, v := range views[min(1, len(views)):] {
		if v.usage != nil && views[0].usage != nil && *v.usage != *views[0].usage {
			problems = append(problems, fmt.Sprintf("usage digests differ: %s %s, %s %s", views[0].node, views[0].usage, v.node, v.usage))
		}
		if v.private != nil && views[0].private != nil && *v.private != *views[0].private {
			problems = append(problems, fmt.Sprintf("private digests differ: %s %s, %s %s", views[0].node, views[0].private, v.node, v.private))
		}
	}
	return problems
}

// partyView reads what party node i serves its operator of grant id: the
// grant's confidential part and the statements of its sealed reports.
func (w *Workload) partyView(ctx context.Context, i int, id string) (partyView, error) {
	v := partyView{node: w.c.Nodes[i].ID}
	cl, err := w.c.operatorClient(i)
	if err != nil {
		return v, err
	}
	g, err := cl.Grant(ctx, id)
	if err != nil {
		return v, fmt.Errorf("%s: reading %s: %w", v.node, id, err)
	}
	c := g.Confidential
	if c == nil {
		return v, fmt.Errorf("%s: %s is not confidential", v.node, id)
	}
	v.private, v.usage, v.refused = c.PrivateDigest, c.UsageDigest, c.Refused
	for _, in := range c.Infractions {
		if in.Kind == ledger.InfractionSoftCap {
			v.soft++
		}
	}
	if c.Terms == nil {
		return v, nil
	}
	raw, _, err := cl.Statements(ctx, client.Param("grant", id))
	if err != nil {
		return v, fmt.Errorf("%s: statements of %s: %w", v.node, id, err)
	}
	for _, r := range raw {
		var st ledger.Statement
		if err := json.Unmarshal(r, &st); err != nil {
			return v, fmt.Errorf("%s: a statement of %s: %w", v.node, id, err)
		}
		v.reports += st.Reports
		for _, m := range st.Metrics {
			if m.Metric == confMetric {
				v.quantity += m.Quantity
			}
		}
	}
	return v, nil
}

// checkSealedOn checks that node i, whose member is not a party to g,
// shows g sealed to its operator — the commitment and nothing else of
// the confidential part — and refuses its statements.
func (w *Workload) checkSealedOn(ctx context.Context, i int, g *api.Grant) error {
	n := w.c.Nodes[i].ID
	cl, err := w.c.operatorClient(i)
	if err != nil {
		return err
	}
	got, err := cl.Grant(ctx, g.ID)
	if err != nil {
		return fmt.Errorf("chaos: reading confidential grant %s on %s: %w", g.ID, n, err)
	}
	c := got.Confidential
	switch {
	case c == nil:
		return fmt.Errorf("chaos: %s shows confidential grant %s without its confidential part", n, g.ID)
	case !c.Sealed || c.Terms != nil || c.PrivateDigest != nil || c.UsageDigest != nil || len(c.Infractions) > 0 || c.Refused != "":
		b, _ := json.Marshal(c)
		return fmt.Errorf("chaos: %s, not a party, shows more of confidential grant %s than that it is sealed: %s", n, g.ID, b)
	case c.Commitment != g.Confidential.Commitment:
		return fmt.Errorf("chaos: %s shows commitment %s of confidential grant %s; %s shows %s", n, c.Commitment, g.ID, w.c.Nodes[0].ID, g.Confidential.Commitment)
	}
	if _, _, err := cl.Statements(ctx, client.Param("grant", g.ID)); !errors.Is(err, client.ErrForbidden) {
		return fmt.Errorf("chaos: %s, not a party, answered the statements of confidential grant %s with %v, want forbidden", n, g.ID, err)
	}
	return nil
}

// operatorClient returns a client of node i with its operator token.
func (c *Cluster) operatorClient(i int) (*client.Client, error) {
	tok, err := c.OperatorToken(i)
	if err != nil {
		return nil, err
	}
	return client.New(c.Nodes[i].API, client.WithToken(tok))
}
