package node

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/charta/charta/consensus"
	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/api"
	"github.com/gorilla/mux"
)

// allOf pages through a list accessor until its end.
func allOf[T any](list func(after string) ([]*T, string)) []*T {
	var out []*T
	for after := ""; ; {
		xs, next := list(after)
		out = append(out, xs...)
		if next == "" {
			return out
		}
		after = next
	}
}

func allMembers(v *ledger.View) []*ledger.Member {
	return allOf(func(a string) ([]*ledger.Member, string) { return v.Members(a, maxLimit) })
}

func allAssets(v *ledger.View) []*ledger.Asset {
	return allOf(func(a string) ([]*ledger.Asset, string) { return v.Assets(a, maxLimit) })
}

// visibleGrants lists the grants p may see, with statuses as of ledger time.
func visibleGrants(v *ledger.View, p *principal) []*ledger.Grant {
	now := v.LedgerTime()
	gs := allOf(func(a string) ([]*ledger.Grant, string) {
		return v.Grants(a, maxLimit, func(g *ledger.Grant) bool { return visibleGrant(p, g) })
	})
	for _, g := range gs {
		g.Status = g.StatusAt(now)
	}
	return gs
}

// entryRow is one journal entry as the dashboard shows it, with the IDs of
// records the viewer may not see replaced.
type entryRow struct {
	Seq        uint64
	Index      uint64
	LedgerTime time.Time
	Type       string
	Status     string
	Signer     string
	Proposal   string
	Message    string
	Subjects   []string // event kind: subject
	Hash       string
	Redacted   bool // the entry concerns a record the viewer may not see
}

// newEntryRow shows entry e as principal p may see it: an entry the API
// withholds from p (entryFor) shows only its position, time, hashes, type
// and status here too, and the redactor hides the IDs of records p may not
// see in the rest.
func newEntryRow(v *ledger.View, p *principal, e *ledger.Entry, x redactor) entryRow {
	e, withheld := visibleEntry(v, p, e)
	o := e.Outcome
	row := entryRow{Seq: e.Seq, Index: e.Index, LedgerTime: e.LedgerTime, Type: o.Type, Status: o.Status,
		Signer: o.Signer, Proposal: x.clean(o.ID), Message: x.clean(o.Message), Hash: e.Hash.String()}
	row.Redacted = withheld || x.hides(o.ID) || x.hides(o.Message)
	if withheld {
		row.Proposal = "[not visible to you]"
	}
	for _, ev := range o.Events {
		if x.hides(ev.Subject) {
			row.Redacted = true
		}
		row.Subjects = append(row.Subjects, ev.Kind+" "+x.clean(ev.Subject))
	}
	if o.Type == "genesis" {
		row.Proposal = "genesis " + short(o.ID)
	}
	return row
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12] + "…"
	}
	return s
}

// recentEntries returns the last n journal entries, newest first.
func recentEntries(v *ledger.View, p *principal, x redactor, n int) []entryRow {
	size := v.Head().Size
	from := uint64(0)
	if size > uint64(n) {
		from = size - uint64(n)
	}
	es := v.Entries(from, n)
	out := make([]entryRow, 0, len(es))
	for i := len(es) - 1; i >= 0; i-- {
		out = append(out, newEntryRow(v, p, es[i], x))
	}
	return out
}

type overviewData struct {
	Members    []*ledger.Member
	Status     consensus.Status
	Servers    []serverRow
	Healthy    bool
	Health     string
	Checkpoint api.Checkpoint
	Digest     string
	Counts     struct{ Assets, Grants, Bundles, Pools int }
	Recent     []entryRow
	Node       string
}

// serverRow is one server of the Raft configuration, with whether its
// node answers this one.
type serverRow struct {
	api.ClusterServer
	State    string // "up", "down", or "" when not known yet
	LastSeen string // when its node last answered, to the second; "" if never
}

// handleDashboard renders the overview: consortium, members, cluster,
// checkpoint and recent activity.
func (s *Server) handleDashboard(w http.ResponseWriter, r *http.Request, p *principal) error {
	var pd pageData
	d := &overviewData{Status: s.c.Status(), Node: s.c.ID(), Healthy: true, Health: "ready"}
	if err := s.checkReady(); err != nil {
		d.Healthy, d.Health = false, buildProblem(err).Detail
	}
	if sv, err := s.c.Servers(); err == nil {
		for _, srv := range sv {
			row := serverRow{ClusterServer: srv}
			var seen time.Time
			row.State, seen = s.peerState(srv.ID)
			if !seen.IsZero() {
				row.LastSeen = seen.UTC().Format("2006-01-02 15:04:05 UTC")
			}
			d.Servers = append(d.Servers, row)
		}
	}
	// The newest checkpoint with the cosignatures gathered so far (cached;
	// gathering asks the peers at most once per checkpoint).
	note, cp, cpErr := s.signedCheckpoint(r.Context(), 0, true)
	s.l.View(func(v *ledger.View) error {
		d.Members = allMembers(v)
		if cpErr == nil {
			d.Checkpoint = checkpointJSON(v, cp, note)
		}
		d.Digest = s.stateDigest(v).String()
		d.Counts.Assets = len(allAssets(v))
		d.Counts.Grants = len(visibleGrants(v, p))
		d.Counts.Bundles = len(allOf(func(a string) ([]*ledger.Bundle, string) {
			return v.Bundles(a, maxLimit, func(b *ledger.Bundle) bool { return p.party(b.Parties) })
		}))
		d.Counts.Pools = len(allOf(func(a string) ([]*ledger.Pool, string) { return v.Pools(a, maxLimit) }))
		d.Recent = recentEntries(v, p, newRedactor(v, p), 10)
		pd = newPage(v, p, "Overview", "overview", d)
		return nil
	})
	s.render(w, http.StatusOK, "overview", pd)
	return nil
}

type assetsData struct {
	Assets  []*ledger.Asset
	Lineage graphSVG
	Edges   []lineageEdge
}

// lineageEdge is one derivation, in words.
type lineageEdge struct {
	Parent, Child, Grant string
}

// handleDashboardAssets lists the assets and draws their lineage.
func (s *Server) handleDashboardAssets(w http.ResponseWriter, r *http.Request, p *principal) error {
	var pd pageData
	s.l.View(func(v *ledger.View) error {
		as := allAssets(v)
		d := &assetsData{Assets: as}
		x := newRedactor(v, p)
		for _, a := range as {
			for _, par := range a.Parents {
				g := par.Grant
				if g == "" {
					g = "ownership"
				}
				d.Edges = append(d.Edges, lineageEdge{Parent: par.Asset, Child: a.ID, Grant: x.clean(g)})
			}
		}
		// Hidden grant IDs are also dropped from the asset records shown.
		for _, a := range as {
			for i := range a.Parents {
				a.Parents[i].Grant = x.clean(a.Parents[i].Grant)
			}
		}
		d.Lineage = lineageGraph(as)
		pd = newPage(v, p, "Assets", "assets", d)
		return nil
	})
	s.render(w, http.StatusOK, "assets", pd)
	return nil
}

type grantsData struct {
	Grants  []*api.Grant // as apiGrant shows them to the viewer
	Graph   graphSVG
	Assets  []string
	Rights  []ledger.Right
	Asset   string
	Right   string
	Members []string
}

// handleDashboardGrants draws the grant network and lists the grants the
// viewer may see, filtered by ?asset= and ?right=.
func (s *Server) handleDashboardGrants(w http.ResponseWriter, r *http.Request, p *principal) error {
	q := r.URL.Query()
	d := &grantsData{Asset: q.Get("asset"), Right: q.Get("right"), Rights: ledger.Rights}
	var pd pageData
	s.l.View(func(v *ledger.View) error {
		for _, a := range allAssets(v) {
			d.Assets = append(d.Assets, a.ID)
		}
		for _, m := range allMembers(v) {
			d.Members = append(d.Members, m.ID)
		}
		for _, g := range visibleGrants(v, p) {
			if d.Asset != "" && !slices.Contains(g.Terms.Assets, d.Asset) {
				continue
			}
			if d.Right != "" && !slices.Contains(g.Terms.Rights, ledger.Right(d.Right)) {
				continue
			}
			d.Grants = append(d.Grants, s.apiGrant(p, g))
		}
		d.Graph = grantGraph(d.Members, d.Grants)
		pd = newPage(v, p, "Grants", "grants", d)
		return nil
	})
	s.render(w, http.StatusOK, "grants", pd)
	return nil
}

type grantData struct {
	G           *api.Grant // as apiGrant shows it to the viewer: its confidential terms only where the API shows them
	Parties     []string   // licensors and licensees, sorted: a confidential grant's recipients
	History     []any
	Statements  []*ledger.Statement
	Infractions []*ledger.Infraction
	Usage       string
}

// handleDashboardGrant shows one grant: terms, clauses, history,
// statements and infractions. A grant the viewer may not see does not
// exist (404), as in the API. A confidential grant's sealed terms are
// shown as GET /v1/grants/{id} shows them to the same viewer (apiGrant):
// opened on a party's node for the parties and the operator, and
// otherwise only the commitment.
func (s *Server) handleDashboardGrant(w http.ResponseWriter, r *http.Request, p *principal) error {
	var pd pageData
	err := s.l.View(func(v *ledger.View) error {
		g, err := grant(v, p, mux.Vars(r)["id"])
		if err != nil {
			return err
		}
		d := &grantData{G: s.apiGrant(p, g), History: grantHistory(v, g), Parties: g.Parties()}
		if _, opened := s.opened(p, g); g.Confidential == nil || opened {
			// A confidential grant's statements are the parties' only.
			d.Statements, err = s.statements(r.Context(), v, p, g.ID, "")
		}
		if err != nil {
			return err
		}
		d.Infractions, _ = v.Infractions(ledger.InfractionFilter{Grant: g.ID}, "", maxLimit)
		if g.Terms.Usage != nil {
			d.Usage = prettyJSON(g.Terms.Usage)
		}
		pd = newPage(v, p, "Grant "+g.ID, "grants", d)
		return nil
	})
	if err != nil {
		return err
	}
	s.render(w, http.StatusOK, "grant", pd)
	return nil
}

type bundleRow struct {
	B        *ledger.Bundle
	Pending  []string
	Progress bar
	Grants   []string // the grants the viewer may see
	Others   int      // grants of the bundle between other parties
}

// handleDashboardBundles lists the viewer's bundles with their signature
// progress.
func (s *Server) handleDashboardBundles(w http.ResponseWriter, r *http.Request, p *principal) error {
	var pd pageData
	s.l.View(func(v *ledger.View) error {
		now := v.LedgerTime()
		bs := allOf(func(a string) ([]*ledger.Bundle, string) {
			return v.Bundles(a, maxLimit, func(b *ledger.Bundle) bool { return p.party(b.Parties) })
		})
		var rows []bundleRow
		for _, b := range bs {
			b.Status = b.StatusAt(now)
			row := bundleRow{B: b, Pending: b.Pending(), Progress: newBar(int64(len(b.Signed)), 0, int64(len(b.Parties)))}
			for _, id := range b.Grants {
				if g, ok := v.Grant(id); ok && visibleGrant(p, g) {
					row.Grants = append(row.Grants, id)
				} else {
					row.Others++
				}
			}
			rows = append(rows, row)
		}
		pd = newPage(v, p, "Bundles", "bundles", rows)
		return nil
	})
	s.render(w, http.StatusOK, "bundles", pd)
	return nil
}

type poolView struct {
	P       *ledger.Pool
	Period  string
	Members []poolMember
	History []poolEventRow
	Error   string
}

type poolMember struct {
	U   ledger.MemberUsage
	Bar bar
}

type poolEventRow struct {
	E   *ledger.PoolEvent
	Bar bar
}

// handleDashboardPools shows each pool's quota bars for the current period
// and its usage history.
func (s *Server) handleDashboardPools(w http.ResponseWriter, r *http.Request, p *principal) error {
	var pd pageData
	s.l.View(func(v *ledger.View) error {
		var out []poolView
		for _, pl := range allOf(func(a string) ([]*ledger.Pool, string) { return v.Pools(a, maxLimit) }) {
			pv := poolView{P: pl}
			us, err := v.PoolUsage(pl.ID, "")
			if err != nil {
				pv.Error = buildProblem(err).Detail
			}
			for _, u := range us {
				pv.Period = u.Period
				pv.Members = append(pv.Members, poolMember{U: u, Bar: newBar(u.Used, u.Held, u.Quota)})
			}
			evs, _ := v.PoolHistory(pl.ID, 0, 200)
			var most int64
			for _, e := range evs {
				if e.Kind != "created" {
					most = max(most, e.Amount)
				}
			}
			for _, e := range evs {
				row := poolEventRow{E: e}
				if e.Kind != "created" {
					row.Bar = newBar(e.Amount, 0, most)
				}
				pv.History = append(pv.History, row)
			}
			out = append(out, pv)
		}
		pd = newPage(v, p, "Pools", "pools", out)
		return nil
	})
	s.render(w, http.StatusOK, "pools", pd)
	return nil
}

type statementView struct {
	S     *ledger.Statement
	Lines []statementLine
}

type statementLine struct {
	Label  string
	Amount int64
	Bar    bar
}

// handleDashboardStatements shows the statements of every metered grant
// the viewer may see, per period, with a chart of each breakdown.
func (s *Server) handleDashboardStatements(w http.ResponseWriter, r *http.Request, p *principal) error {
	var pd pageData
	err := s.l.View(func(v *ledger.View) error {
		var out []statementView
		for _, g := range visibleGrants(v, p) {
			if _, opened := s.opened(p, g); g.Confidential != nil && !opened {
				continue // its statements are its parties' only
			}
			sts, err := s.statements(r.Context(), v, p, g.ID, "")
			if err != nil {
				return err
			}
			for _, st := range sts {
				sv := statementView{S: st}
				var lines []statementLine
				for _, m := range st.Metrics {
					lines = append(lines, statementLine{Label: m.Metric + " (" + strconv.FormatInt(m.Quantity, 10) + " " + m.Unit + ")", Amount: m.AmountMicros})
				}
				for _, a := range st.Adjustments {
					lines = append(lines, statementLine{Label: strings.ReplaceAll(a.Kind, "_", " "), Amount: a.AmountMicros})
				}
				var most int64
				for _, l := range lines {
					most = max(most, abs(l.Amount))
				}
				for i := range lines {
					lines[i].Bar = newBar(abs(lines[i].Amount), 0, most)
				}
				sv.Lines = lines
				out = append(out, sv)
			}
		}
		pd = newPage(v, p, "Statements", "statements", out)
		return nil
	})
	if err != nil {
		return err
	}
	s.render(w, http.StatusOK, "statements", pd)
	return nil
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

type infractionsData struct {
	Items                []*ledger.Infraction
	Grant, Kind, Member  string
	Grants, Kinds, Users []string
}

// handleDashboardInfractions lists the infractions of the grants the
// viewer may see, filtered by ?grant=, ?kind= and ?member=.
func (s *Server) handleDashboardInfractions(w http.ResponseWriter, r *http.Request, p *principal) error {
	q := r.URL.Query()
	d := &infractionsData{Grant: q.Get("grant"), Kind: q.Get("kind"), Member: q.Get("member")}
	var pd pageData
	s.l.View(func(v *ledger.View) error {
		all := allOf(func(a string) ([]*ledger.Infraction, string) {
			return v.Infractions(ledger.InfractionFilter{}, a, maxLimit)
		})
		kinds := map[string]bool{}
		for _, in := range all {
			if !visibleInfraction(v, p, in) {
				continue
			}
			kinds[in.Kind] = true
			if in.Grant != "" && !slices.Contains(d.Grants, in.Grant) {
				d.Grants = append(d.Grants, in.Grant)
			}
			for _, m := range in.Members {
				if !slices.Contains(d.Users, m) {
					d.Users = append(d.Users, m)
				}
			}
			if (d.Grant == "" || in.Grant == d.Grant) && (d.Kind == "" || in.Kind == d.Kind) &&
				(d.Member == "" || slices.Contains(in.Members, d.Member)) {
				d.Items = append(d.Items, in)
			}
		}
		for k := range kinds {
			d.Kinds = append(d.Kinds, k)
		}
		slices.Sort(d.Kinds)
		slices.Sort(d.Users)
		pd = newPage(v, p, "Infractions", "infractions", d)
		return nil
	})
	s.render(w, http.StatusOK, "infractions", pd)
	return nil
}

type journalData struct {
	Entries     []entryRow
	Size        uint64
	Older       string
	Newer       string
	FirstShown  uint64
	LastShown   uint64
	PageEntries int
}

// journalPage is how many entries the explorer shows at once.
const journalPage = 50

// handleDashboardJournal lists journal entries with their outcomes, newest
// first; ?before= pages back.
func (s *Server) handleDashboardJournal(w http.ResponseWriter, r *http.Request, p *principal) error {
	before, err := uintParam(r, "before", 0)
	if err != nil {
		return err
	}
	var pd pageData
	s.l.View(func(v *ledger.View) error {
		d := &journalData{Size: v.Head().Size}
		end := d.Size
		if before > 0 && before < end {
			end = before
		}
		start := uint64(0)
		if end > journalPage {
			start = end - journalPage
		}
		x := newRedactor(v, p)
		es := v.Entries(start, int(end-start))
		for i := len(es) - 1; i >= 0; i-- {
			d.Entries = append(d.Entries, newEntryRow(v, p, es[i], x))
		}
		if start > 0 {
			d.Older = strconv.FormatUint(start, 10)
		}
		if end < d.Size {
			d.Newer = strconv.FormatUint(min(end+journalPage, d.Size), 10)
		}
		pd = newPage(v, p, "Journal", "journal", d)
		return nil
	})
	s.render(w, http.StatusOK, "journal", pd)
	return nil
}

type entryData struct {
	Row      entryRow
	PrevHash string
	EnvHash  string
	Receipt  string // JSON: entry, inclusion proof, checkpoint
}

// handleDashboardEntry shows one journal entry and its receipt: the entry,
// its inclusion proof and the checkpoint, exactly as the API's
// /v1/journal/{seq}, /v1/proofs/inclusion and /v1/checkpoint answer them,
// for the browser to verify. The envelope of an entry about a record the
// viewer may not see is left out.
func (s *Server) handleDashboardEntry(w http.ResponseWriter, r *http.Request, p *principal) error {
	raw := mux.Vars(r)["seq"]
	seq, err := strconv.ParseUint(raw, 10, 64)
	if err != nil {
		return errorf(ledger.CodeNotFound, "no journal entry %q", raw)
	}
	var (
		size     uint64
		d        entryData
		e        *ledger.Entry
		x        redactor
		withheld bool // as the API withholds it from p
	)
	err = s.l.View(func(v *ledger.View) error {
		var ok bool
		if e, ok = v.Entry(seq); !ok {
			return errorf(ledger.CodeNotFound, "no journal entry %d (the journal has %d)", seq, v.Head().Size)
		}
		size = v.Head().Size
		x = newRedactor(v, p)
		d.Row = newEntryRow(v, p, e, x)
		e, withheld = visibleEntry(v, p, e)
		return nil
	})
	if err != nil {
		return err
	}
	d.PrevHash, d.EnvHash = e.PrevHash.String(), e.EnvelopeHash.String()
	// The proof and the checkpoint come from the API's own handlers, for
	// the same tree size, so that the receipt is what the API serves.
	sz := strconv.FormatUint(size, 10)
	proof, err := s.internalJSON(r, s.handleProofInclusion, "/v1/proofs/inclusion?index="+raw+"&size="+sz)
	if err != nil {
		return err
	}
	cp, err := s.internalJSON(r, s.handleCheckpoint, "/v1/checkpoint")
	if err != nil {
		return err
	}
	entry, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if d.Row.Redacted && !withheld {
		var m map[string]any
		json.Unmarshal(entry, &m)
		delete(m, "envelope")
		m["outcome"] = map[string]any{"status": e.Outcome.Status, "type": e.Outcome.Type, "note": "withheld: it concerns a record not visible to you"}
		entry, _ = json.Marshal(m)
	}
	receipt := map[string]json.RawMessage{"entry": entry, "inclusion_proof": proof, "checkpoint": cp}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.Encode(receipt)
	d.Receipt = buf.String()
	var pd pageData
	s.l.View(func(v *ledger.View) error {
		pd = newPage(v, p, "Journal entry "+raw, "journal", d)
		return nil
	})
	s.render(w, http.StatusOK, "entry", pd)
	return nil
}

// internalJSON runs an API read handler for target and returns its JSON
// answer, or its problem as an error.
func (s *Server) internalJSON(r *http.Request, h http.HandlerFunc, target string) (json.RawMessage, error) {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, target, nil)
	if err != nil {
		return nil, errorf(ledger.CodeInternal, "%s: %v", target, err)
	}
	req.Header.Set("Accept", "application/json")
	rec := &bufferedResponse{header: http.Header{}, code: http.StatusOK}
	h(rec, req)
	if rec.code != http.StatusOK {
		var pr api.Problem
		json.Unmarshal(rec.body.Bytes(), &pr)
		return nil, errorf(ledger.CodeInternal, "%s: %s", target, pr.Detail)
	}
	return json.RawMessage(bytes.TrimSpace(rec.body.Bytes())), nil
}

// bufferedResponse is an http.ResponseWriter that keeps the answer of a
// handler run inside the node, for a dashboard page to use.
type bufferedResponse struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header         { return b.header }
func (b *bufferedResponse) Write(p []byte) (int, error) { return b.body.Write(p) }
func (b *bufferedResponse) WriteHeader(code int)        { b.code = code }

type checkData struct {
	Q        api.CheckQuery
	Members  []string
	Assets   []string
	Rights   []ledger.Right
	Asked    bool
	Decision *ledger.Decision
	Error    string
}

// handleDashboardCheck asks the ledger an entitlement question and shows
// the decision and its reasons.
func (s *Server) handleDashboardCheck(w http.ResponseWriter, r *http.Request, p *principal) error {
	q, qerr := checkQueryFrom(r.URL.Query())
	d := &checkData{Q: q, Rights: ledger.Rights}
	var pd pageData
	s.l.View(func(v *ledger.View) error {
		for _, m := range allMembers(v) {
			d.Members = append(d.Members, m.ID)
		}
		for _, a := range allAssets(v) {
			d.Assets = append(d.Assets, a.ID)
		}
		if d.Q.Member == "" {
			d.Q.Member = p.member
		}
		d.Asked = r.URL.Query().Get("asset") != "" || r.URL.Query().Get("action") != ""
		if d.Asked {
			err := qerr
			if err == nil {
				err = authorizeCheck(v, p, &q, "")
			}
			var req ledger.CheckRequest
			if err == nil {
				req, err = toCheckRequest(q, s.checkTime())
			}
			if err == nil {
				var cv ledger.CheckView
				if cv, err = s.checkView(r.Context(), v, p, v.AppliedIndex()); err == nil {
					var dec ledger.Decision
					if dec, err = ledger.Check(cv, req); err == nil {
						d.Decision = &dec
					}
				}
			}
			if err != nil {
				d.Error = buildProblem(err).Detail
				if d.Error == "" {
					d.Error = "the question could not be answered"
				}
			}
		}
		pd = newPage(v, p, "Check", "check", d)
		return nil
	})
	s.render(w, http.StatusOK, "check", pd)
	return nil
}
