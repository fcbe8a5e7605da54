package node

import (
	"encoding/json"
	"errors"
	"html"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
	"github.com/charta/charta/ledger/seal"
	"github.com/gorilla/mux"
)

// sealedMarkers are values of the sealed terms of g-c that nothing public
// holds: a page that shows one of them shows the plaintext.
var sealedMarkers = []string{"Laws of Marker-Q9Z", "liability Marker-K7W", "marker_q9z_hours", "7654321"}

// confidentialWorld is the seeded world, with encryption keys for every
// member, plus g-c: alpha licenses model-a to beta with sealed usage
// terms and clauses holding sealedMarkers, accepted by beta.
func confidentialWorld(t *testing.T) (*world, ledger.Hash) {
	t.Helper()
	return confidentialWorldWith(t, markerTerms())
}

// markerTerms are g-c's sealed terms, which hold sealedMarkers.
func markerTerms() ledger.ConfidentialTerms {
	return ledger.ConfidentialTerms{
		Usage: &ledger.UsageTerms{Period: ledger.PeriodMonth, GraceDays: 7, Metrics: []ledger.UsageMetric{{
			Name: "marker_q9z_hours", Unit: "hour",
			Pricing: ledger.Pricing{Model: "volume", Currency: "EUR", Tiers: []ledger.Tier{{UnitMicros: 7654321}}},
		}}},
		Clauses: ledger.Clauses{GoverningLaw: "Laws of Marker-Q9Z", Liability: "liability Marker-K7W"},
	}
}

// confidentialWorldWith is confidentialWorld with g-c's sealed terms.
func confidentialWorldWith(t *testing.T, terms ledger.ConfidentialTerms) (*world, ledger.Hash) {
	t.Helper()
	return confidentialWorldAudited(t, terms)
}

// confidentialWorldAudited is confidentialWorldWith with a charter that
// names auditors as seal auditors: g-c's terms are sealed to them too.
func confidentialWorldAudited(t *testing.T, terms ledger.ConfidentialTerms, auditors ...string) (*world, ledger.Hash) {
	t.Helper()
	charter := ledgertest.StampedCharter()
	charter.SealAuditors = auditors
	w := newWorldWith(t, nil, charter, func(m *ledger.GenesisMember) {
		k := ledgertest.EncryptionKey(m.ID)
		m.EncryptionKey = &k
	})
	w.seed()
	var rs []seal.Recipient
	for _, m := range append([]string{"alpha"}, append(auditors, "beta")...) {
		pk, err := seal.PublicKeyFrom(ledgertest.EncryptionKey(m))
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, seal.Recipient{Member: m, Key: pk})
	}
	sealed, _, err := seal.Seal(mustJSON(terms), rs, seal.Binding{Consortium: w.g.ID(), Kind: ledger.ConfidentialKind, ID: "g-c"})
	if err != nil {
		t.Fatal(err)
	}
	o := grantOffer("g-c", "alpha", "beta", "model-a", ledger.RightUse)
	o.Confidential = &ledger.Confidential{Commitment: sealed.Commitment, Sealed: sealed.Ledger()}
	w.accept("alpha", "grant.offer", "offer-c", o)
	c := sealed.Commitment
	w.accept("beta", "grant.accept", "accept-c", ledger.GrantAccept{Grant: "g-c", Commitment: &c})
	return w, c
}

// partyNode starts the node of member over w with the encryption keys of
// keyOwners, and opens the confidential grants its member is party to.
func partyNode(t *testing.T, w *world, member string, keyOwners ...string) *Server {
	t.Helper()
	cfg := testConfig(t)
	cfg.Member = member
	for _, o := range keyOwners {
		k, err := seal.NewKeyFromSeed(ledgertest.EncryptionSeed(o))
		if err != nil {
			t.Fatal(err)
		}
		cfg.EncryptionKeys = append(cfg.EncryptionKeys, k)
	}
	s := startServer(t, w, w.leaderFake(member), cfg).s
	t.Cleanup(func() { s.private.close() })
	if _, err := s.syncPrivate(0, true); err != nil {
		t.Fatal(err)
	}
	s.private.markSynced(s.l.AppliedIndex()) // as watchPrivate does after a sync
	return s
}

// dashboardPage renders a dashboard page as p, with the route variable id
// when it is set, and returns its text with HTML entities decoded.
func dashboardPage(t *testing.T, h uiHandler, p *principal, path, id string) (string, error) {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if id != "" {
		req = mux.SetURLVars(req, map[string]string{"id": id})
	}
	if err := h(rec, req, p); err != nil {
		return "", err
	}
	return html.UnescapeString(rec.Body.String()), nil
}

// TestDashboard_ConfidentialGrant renders the grant list and g-c's page
// for each viewer, on alpha's node (a party's), on gamma's (not a
// party's) and on a node of beta's that lacks beta's key. Every viewer
// sees the confidential badge and the commitment; the opened terms and
// the private digest appear exactly where GET /v1/grants/g-c gives them
// (apiGrant), and nowhere else does any value of the sealed terms.
func TestDashboard_ConfidentialGrant(t *testing.T) {
	w, commitment := confidentialWorld(t)
	alphaNode := partyNode(t, w, "alpha", "alpha")
	gammaNode := partyNode(t, w, "gamma", "gamma")
	// A node of beta's that holds another key than the one the terms are
	// sealed to: it refuses them.
	betaNode := partyNode(t, w, "beta", "gamma")

	member := func(m string) *principal { return &principal{member: m, role: ledger.RoleMember} }
	auditor := &principal{member: "audit", role: ledger.RoleAuditor}
	operator := &principal{operator: true}
	var digest string
	for _, tc := range []struct {
		name    string
		node    *Server
		p       *principal
		opened  bool
		refused bool
	}{
		{"the licensor on alpha's node", alphaNode, member("alpha"), true, false},
		{"the licensee on alpha's node", alphaNode, member("beta"), true, false},
		{"the operator of alpha's node", alphaNode, operator, true, false},
		{"an auditor on alpha's node", alphaNode, auditor, false, false},
		{"the licensee on gamma's node", gammaNode, member("beta"), false, false},
		{"the operator of gamma's node", gammaNode, operator, false, false},
		{"an auditor on gamma's node", gammaNode, auditor, false, false},
		{"the licensee on its node without its key", betaNode, member("beta"), false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var g *ledger.Grant
			tc.node.l.View(func(v *ledger.View) (err error) { g, err = grant(v, tc.p, "g-c"); return err })
			if g == nil {
				t.Fatal("the viewer cannot see g-c")
			}
			apiView := tc.node.apiGrant(tc.p, g).Confidential
			if (apiView.Terms != nil) != tc.opened || (apiView.Refused != "") != tc.refused {
				t.Fatalf("the API shows %+v; the test expects opened %v, refused %v", apiView, tc.opened, tc.refused)
			}
			page, err := dashboardPage(t, tc.node.handleDashboardGrant, tc.p, "/ui/grants/g-c", "g-c")
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{
				`<span class="tag confidential" id="grant-confidential">confidential</span>`,
				`<h2 id="h-confidential">`, "Confidential terms</h2>",
				`<code class="hash" id="confidential-commitment">` + commitment.String() + `</code>`,
				"sealed to the grant's parties, alpha, beta.",
			} {
				if !strings.Contains(page, want) {
					t.Errorf("the grant page lacks %q", want)
				}
			}
			for _, m := range sealedMarkers {
				if strings.Contains(page, m) != tc.opened {
					t.Errorf("the grant page shows %q: %v, want %v", m, !tc.opened, tc.opened)
				}
			}
			switch {
			case tc.opened:
				digest = apiView.PrivateDigest.String()
				for _, want := range []string{
					`<code class="hash" id="confidential-digest">` + digest + `</code>`,
					`<dt>Governing law</dt><dd>Laws of Marker-Q9Z</dd>`,
					`<dt>Liability</dt><dd>liability Marker-K7W</dd>`,
					"This node is a party's and opened them",
				} {
					if !strings.Contains(page, want) {
						t.Errorf("the opened terms lack %q", want)
					}
				}
				usage := regexp.MustCompile(`(?s)<pre class="note" id="confidential-usage">(.*?)</pre>`).FindStringSubmatch(page)
				var u ledger.UsageTerms
				if len(usage) != 2 || json.Unmarshal([]byte(usage[1]), &u) != nil || len(u.Metrics) != 1 ||
					u.Metrics[0].Name != "marker_q9z_hours" || u.Metrics[0].Pricing.Tiers[0].UnitMicros != 7654321 {
					t.Errorf("the opened usage terms: %q", usage)
				}
			case tc.refused:
				want := `<span id="confidential-refused">` + apiView.Refused + `</span>`
				if !strings.Contains(page, want) || !strings.Contains(page, "This node is a party's but does not show them") {
					t.Errorf("the refused record lacks its reason %q", want)
				}
			default:
				if !strings.Contains(page, "Only a party's node can show them") {
					t.Error("the sealed view does not say who can show the terms")
				}
			}
			if !tc.opened && (strings.Contains(page, "confidential-digest") || strings.Contains(page, "confidential-usage")) {
				t.Error("a viewer without the opened terms gets a private digest or usage terms")
			}

			list, err := dashboardPage(t, tc.node.handleDashboardGrants, tc.p, "/ui/grants", "")
			if err != nil {
				t.Fatal(err)
			}
			row := regexp.MustCompile(`(?s)<tr data-grant="g-c">.*?</tr>`).FindString(list)
			if !strings.Contains(row, `<span class="tag confidential"`) || !strings.Contains(row, ">confidential</span>") {
				t.Errorf("the grant list's row of g-c has no confidential badge: %q", row)
			}
			if other := regexp.MustCompile(`(?s)<tr data-grant="g-ab">.*?</tr>`).FindString(list); other == "" || strings.Contains(other, "confidential") {
				t.Errorf("the row of g-ab, which is not confidential: %q", other)
			}
			if !regexp.MustCompile(`data-grant="g-c" data-from="alpha" data-to="beta"><title>[^<]*confidential terms\)</title></path><text [^>]*>g-c \(confidential\)</text>`).MatchString(list) {
				t.Error("the grant network does not label g-c's arrow confidential")
			}
			for _, m := range sealedMarkers {
				if strings.Contains(list, m) {
					t.Errorf("the grant list shows %q", m)
				}
			}
		})
	}
	if digest == "" {
		t.Fatal("no viewer saw the private digest")
	}

	// gamma is not a party: g-c is not on its list, and its page does not
	// exist for gamma, on any node.
	for _, s := range []*Server{alphaNode, gammaNode} {
		list, err := dashboardPage(t, s.handleDashboardGrants, member("gamma"), "/ui/grants", "")
		if err != nil || strings.Contains(list, "g-c") {
			t.Errorf("gamma's grant list on %s's node names g-c (%v)", s.cfg.Member, err)
		}
		_, err = dashboardPage(t, s.handleDashboardGrant, member("gamma"), "/ui/grants/g-c", "g-c")
		var ae *apiError
		if !errors.As(err, &ae) || ae.code != ledger.CodeNotFound {
			t.Errorf("gamma's page of g-c on %s's node: %v, want not_found", s.cfg.Member, err)
		}
	}
}
