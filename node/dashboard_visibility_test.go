package node

import (
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/charta/charta/ledger"
	"github.com/gorilla/mux"
)

// TestDashboard_ShowsWhatTheAPIShows walks the journal pages of the
// dashboard (the journal list, the overview's recent activity and every
// entry's page) as each member, and checks them against the API's view
// for the same member: nothing of an entry the API withholds (its
// proposal ID, signer, message or effects) appears on any page.
func TestDashboard_ShowsWhatTheAPIShows(t *testing.T) {
	ts := newTestServer(t)
	var full []*ledger.Entry
	ts.w.l.View(func(v *ledger.View) error { full = v.Entries(0, 1000); return nil })
	withheldFrom := map[string]int{}
	for _, m := range []string{"alpha", "beta", "gamma", "audit"} {
		p := &principal{member: m, role: ledger.RoleMember}
		if m == "audit" {
			p.role = ledger.RoleAuditor
		}
		page := func(h func(http.ResponseWriter, *http.Request, *principal) error, path string) string {
			t.Helper()
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, path, nil)
			if i := strings.LastIndex(path, "/"); strings.HasPrefix(path, "/ui/journal/") {
				req = mux.SetURLVars(req, map[string]string{"seq": path[i+1:]})
			}
			if err := h(rec, req, p); err != nil {
				t.Fatalf("%s as %s: %v", path, m, err)
			}
			return html.UnescapeString(rec.Body.String())
		}
		list := page(ts.s.handleDashboardJournal, "/ui/journal")
		overview := page(ts.s.handleDashboard, "/")
		for _, e := range full {
			seq := strconv.FormatUint(e.Seq, 10)
			var api ledger.Entry
			ts.get("/v1/journal/"+seq, m).json(t, &api)
			if api.Envelope != nil {
				continue // shown whole by the API
			}
			withheldFrom[m]++
			entryPage := page(ts.s.handleDashboardEntry, "/ui/journal/"+seq)
			row := regexp.MustCompile(`(?s)<tr data-seq="` + seq + `">.*?</tr>`).FindString(list)
			recent := regexp.MustCompile(`(?s)<li><a href="/ui/journal/` + seq + `">.*?</li>`).FindString(overview)
			secrets := []string{"signed by " + e.Outcome.Signer, `"` + e.Outcome.ID + `"`, ">" + e.Outcome.ID + "<"}
			if e.Outcome.Message != "" {
				secrets = append(secrets, e.Outcome.Message)
			}
			for _, ev := range e.Outcome.Events {
				secrets = append(secrets, ev.Kind+" "+ev.Subject)
			}
			for where, text := range map[string]string{"entry page": entryPage, "journal row": row, "recent activity": recent} {
				for _, s := range secrets {
					if text != "" && strings.Contains(text, s) {
						t.Errorf("%s's %s for entry %d shows %q, which the API withholds", m, where, e.Seq, s)
					}
				}
			}
			if strings.Contains(row, "<td>"+e.Outcome.Signer+"</td>") || strings.Contains(recent, " by "+e.Outcome.Signer) {
				t.Errorf("%s's journal shows the signer of withheld entry %d", m, e.Seq)
			}
			// The receipt on the page is the API's entry.
			receipt := regexp.MustCompile(`(?s)<pre class="note" id="receipt-text">(.*?)</pre>`).FindStringSubmatch(entryPage)
			var r struct{ Entry ledger.Entry }
			if len(receipt) != 2 || json.Unmarshal([]byte(receipt[1]), &r) != nil || r.Entry.Envelope != nil ||
				r.Entry.Outcome.Status != api.Outcome.Status || r.Entry.Outcome.Type != api.Outcome.Type || r.Entry.Outcome.Signer != "" ||
				r.Entry.Outcome.Events != nil || r.Entry.Hash != api.Hash {
				t.Errorf("%s's receipt for withheld entry %d is not the API's entry: %v", m, e.Seq, receipt)
			}
		}
	}
	if withheldFrom["gamma"] == 0 || withheldFrom["beta"] == 0 || withheldFrom["audit"] != 0 {
		t.Fatalf("entries withheld per member: %v", withheldFrom)
	}
}
