package node

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
)

// badCase is one bad request and the problem it must get.
type badCase struct {
	name    string
	method  string
	path    string
	as      string
	body    []byte
	status  int
	code    string
	detail  string // a substring of the problem's detail that names the problem
	journal bool   // the ledger owns the refusal: it is journaled as a rejected entry
}

func (w *world) env(member, typ, id string, body any) []byte {
	return w.envelope(member, typ, id, body)
}

func badInputCases(w *world) []badCase {
	good := w.env("alpha", "token.register", "tok-bad", ledger.TokenRegister{Hash: ledger.HashToken("bad"), Scopes: []string{"read"}, ExpiresAt: t0.Add(time.Hour)})
	forged, _ := ledger.DecodeEnvelope(good)
	forged.Signatures[0].Sig[0] ^= 1
	unsigned, _ := ledger.DecodeEnvelope(good)
	unsigned.Signatures = nil
	badB64 := bytes.Replace(good, []byte(`"payload":"`), []byte(`"payload":"!!!`), 1)
	stranger := ledgertest.Propose(w.g.ID(), "zed", "token.register", "x", w.now, map[string]any{}, ledgertest.Signer("zed", scheme)).Encode()
	otherConsortium := ledgertest.Propose(ledgertest.Consortium, "alpha", "token.register", "x", w.now, map[string]any{}, ledgertest.Signer("alpha", scheme)).Encode()
	old := ledgertest.Propose(w.g.ID(), "alpha", "grant.suspend", "old", w.now.Add(-2*time.Hour), ledger.GrantRef{Grant: "g-ab"}, ledgertest.Signer("alpha", scheme)).Encode()
	future := ledgertest.Propose(w.g.ID(), "alpha", "grant.suspend", "future", w.now.Add(2*time.Hour), ledger.GrantRef{Grant: "g-ab"}, ledgertest.Signer("alpha", scheme)).Encode()
	post := func(name string, body []byte, status int, code, detail string, journal bool) badCase {
		return badCase{name: "proposal/" + name, method: http.MethodPost, path: "/v1/proposals", body: body, status: status, code: code, detail: detail, journal: journal}
	}
	get := func(path string, status int, code, detail string) badCase {
		return badCase{name: "GET " + path, method: http.MethodGet, path: path, as: "alpha", status: status, code: code, detail: detail}
	}
	check := func(name, body string, status int, code, detail string) badCase {
		return badCase{name: "check/" + name, method: http.MethodPost, path: "/v1/check", as: "alpha", body: []byte(body), status: status, code: code, detail: detail}
	}
	cases := []badCase{
		post("malformed JSON", []byte(`{"payloadType":`), 400, "invalid", "", false),
		post("wrong types", []byte(`{"payloadType":1,"payload":"eA==","signatures":[]}`), 400, "invalid", "", false),
		post("unknown field", []byte(`{"payloadType":"x","payload":"eA==","signatures":[],"extra":1}`), 400, "invalid", "extra", false),
		post("oversized", bytes.Repeat([]byte("x"), 1<<20+1), 413, "too_large", "limit", false),
		post("bad base64", badB64, 400, "invalid", "", false),
		post("bad signature", forged.Encode(), 401, "unauthorized", "signature", false),
		post("missing signature", unsigned.Encode(), 400, "invalid", "signatures", false),
		post("unknown key", stranger, 401, "unauthorized", "zed", false),
		post("wrong consortium", otherConsortium, 400, "invalid", "consortium", false),
		post("issued_at too old", old, 422, "rejected", "issued_at", true),
		post("issued_at in the future", future, 422, "rejected", "issued_at", true),
		post("unknown grant", w.env("beta", "grant.accept", "acc-nope", ledger.GrantRef{Grant: "g-nope"}), 422, "not_found", "g-nope", true),
		post("unknown asset", w.env("alpha", "grant.offer", "offer-nope", grantOffer("g-x", "alpha", "beta", "model-nope", ledger.RightTrain)), 422, "not_found", "model-nope", true),
		post("unknown member", w.env("alpha", "grant.offer", "offer-zed", grantOffer("g-y", "alpha", "zed", "model-a", ledger.RightTrain)), 422, "not_found", "zed", true),
		post("unknown pool", w.env("alpha", "pool.consume", "consume-nope", ledger.PoolConsume{Pool: "p-nope", Amount: 1}), 422, "not_found", "p-nope", true),
		post("body wrong type", w.env("alpha", "grant.suspend", "susp-type", map[string]any{"grant": 5}), 422, "invalid", "grant", true),
		post("body unknown field", w.env("alpha", "grant.suspend", "susp-field", map[string]any{"grant": "g-ab", "bogus": 1}), 422, "invalid", "bogus", true),

		get("/v1/members/zed", 404, "not_found", "zed"),
		get("/v1/assets/model-nope", 404, "not_found", "model-nope"),
		get("/v1/assets/model-nope/lineage", 404, "not_found", "model-nope"),
		get("/v1/grants/g-nope", 404, "not_found", "g-nope"),
		get("/v1/grants/g-nope/history", 404, "not_found", "g-nope"),
		get("/v1/bundles/x-nope", 404, "not_found", "x-nope"),
		get("/v1/ballots/b-nope", 404, "not_found", "b-nope"),
		get("/v1/pools/p-nope", 404, "not_found", "p-nope"),
		get("/v1/pools/p-nope/usage", 404, "not_found", "p-nope"),
		get("/v1/journal/999999", 404, "not_found", "999999"),
		get("/v1/journal/x", 400, "invalid", "x"),
		get("/v1/journal?from=x", 400, "invalid", "from"),
		get("/v1/members?limit=x", 400, "invalid", "limit"),
		get("/v1/grants?consistency=eventual", 400, "invalid", "consistency"),
		get("/v1/proofs/inclusion?index=x&size=2", 400, "invalid", "index"),
		get("/v1/proofs/consistency?from=5&to=2", 400, "invalid", ""),
		get("/v1/check?member=beta&asset=model-a&action=fly", 400, "invalid", "fly"),
		get("/v1/check?member=Not+A+Member&asset=model-a&action=train", 400, "invalid", "member"),
		get("/v1/check?member=beta&asset=model-a&action=train&territory=XX", 400, "invalid", "XX"),
		check("malformed JSON", `{"requests":[{"member":`, 400, "invalid", ""),
		check("wrong types", `{"requests":[{"member":5,"asset":"model-a","action":"train"}]}`, 400, "invalid", "member"),
		check("unknown field", `{"requests":[{"member":"beta","asset":"model-a","action":"train","bogus":1}]}`, 400, "invalid", "bogus"),
		check("unknown top-level field", `{"requests":[],"extra":true}`, 400, "invalid", "extra"),
		check("oversized", `{"requests":[`+strings.Repeat(`{"member":"beta","asset":"model-a","action":"train"},`, 30000)+`{}]}`, 413, "too_large", ""),
		{name: "join/malformed", method: http.MethodPost, path: "/v1/cluster/join", as: "operator", body: []byte(`{"id":`), status: 400, code: "invalid"},
		{name: "join/unknown field", method: http.MethodPost, path: "/v1/cluster/join", as: "operator", body: []byte(`{"id":"delta","raft_addr":"127.0.0.1:1","x":1}`), status: 400, code: "invalid", detail: "x"},
	}
	for _, p := range []string{"/v1/members", "/v1/assets/model-a", "/v1/grants", "/v1/pools", "/v1/journal", "/v1/check?member=beta&asset=model-a&action=train", "/v1/status", "/v1/checkpoint"} {
		cases = append(cases, badCase{name: "no token " + p, method: http.MethodGet, path: p, status: 401, code: "unauthorized", detail: "token"})
		cases = append(cases, badCase{name: "unknown token " + p, method: http.MethodGet, path: p, as: "nobody", status: 401, code: "unauthorized", detail: "token"})
	}
	return cases
}

func digestAndHead(w *world) (ledger.Hash, ledger.Head) {
	var d ledger.Hash
	var h ledger.Head
	w.l.View(func(v *ledger.View) error { d, h = v.Digest(), v.Head(); return nil })
	return d, h
}

// TestBadInput_EveryRoute sends every route every kind of bad input: each
// gets a 4xx problem+json with a stable code and a detail that names the
// problem, and the node keeps serving. What the node refuses before the log
// leaves the state digest and the journal unchanged. What only the ledger
// can judge (issued_at against ledger time, references to members, assets,
// grants and pools, the body's shape) is journaled as one rejected entry,
// answered 422 with the ledger's code, and changes no record.
func TestBadInput_EveryRoute(t *testing.T) {
	ts := newTestServer(t)
	w := ts.w
	for _, c := range badInputCases(w) {
		t.Run(c.name, func(t *testing.T) {
			before, head := digestAndHead(w)
			r := ts.do(c.method, c.path, c.as, c.body)
			p := r.problem(t, c.status, c.code)
			if d, _ := p["detail"].(string); !strings.Contains(d, c.detail) {
				t.Errorf("detail %q does not name %q", d, c.detail)
			}
			after, head2 := digestAndHead(w)
			switch {
			case !c.journal && (after != before || head2 != head):
				t.Errorf("the state changed: digest %s -> %s, journal %d -> %d", before, after, head.Size, head2.Size)
			case c.journal:
				if head2.Size != head.Size+1 {
					t.Fatalf("journal %d -> %d, want one rejected entry", head.Size, head2.Size)
				}
				var e *ledger.Entry
				w.l.View(func(v *ledger.View) error { e, _ = v.Entry(head.Size); return nil })
				if e == nil || e.Outcome.Status != ledger.StatusRejected || string(e.Outcome.Code) != c.code {
					t.Errorf("journaled %+v, want a %s rejection", e, c.code)
				}
			}
			if r := ts.get("/v1/grants/g-ab", "alpha"); r.status != 200 {
				t.Fatalf("the node stopped serving: %d %s", r.status, r.body)
			}
		})
	}
	var g ledger.Grant
	ts.get("/v1/grants/g-ab", "alpha").json(t, &g)
	if g.Status != ledger.StatusActive {
		t.Fatalf("grant g-ab is %s after the bad input, want active", g.Status)
	}
}

// TestBadInput_RateLimitFlood floods the node with one token beyond its
// rate limit: it answers 429 with Retry-After, keeps serving other tokens,
// and every write it accepted is journaled.
func TestBadInput_RateLimitFlood(t *testing.T) {
	w := newWorld(t, nil)
	w.seed()
	cfg := testConfig(t)
	cfg.RateLimit, cfg.RateBurst = 5, 5
	ts := startServer(t, w, w.leaderFake("alpha"), cfg)
	limited := 0
	for i := 0; i < 30; i++ {
		r := ts.get("/v1/grants", "alpha")
		switch r.status {
		case 200:
		case 429:
			limited++
			r.problem(t, 429, "rate_limited")
			if r.header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
		default:
			t.Fatalf("flood: status %d: %s", r.status, r.body)
		}
	}
	if limited == 0 {
		t.Fatal("30 requests at a limit of 5/s with a burst of 5 were all served")
	}
	if r := ts.get("/v1/grants", "beta"); r.status != 200 {
		t.Fatalf("another token was refused during the flood: %d %s", r.status, r.body)
	}
	// Writes under the flood: every one that was accepted is journaled.
	accepted := map[string]bool{}
	for i := 0; i < 20; i++ {
		id := "flood-" + string(rune('a'+i))
		env := w.env("alpha", "token.register", id, ledger.TokenRegister{Hash: ledger.HashToken(id), Scopes: []string{"read"}, ExpiresAt: t0.Add(time.Hour)})
		r := ts.do(http.MethodPost, "/v1/proposals", "alpha", env)
		if r.status == 200 {
			accepted[id] = true
		} else if r.status != 429 {
			t.Fatalf("write under the flood: %d %s", r.status, r.body)
		}
	}
	journaled := map[string]bool{}
	w.l.View(func(v *ledger.View) error {
		for s := uint64(0); s < v.Head().Size; s++ {
			if e, ok := v.Entry(s); ok && e.Outcome.Status == ledger.StatusAccepted {
				journaled[e.Outcome.ID] = true
			}
		}
		return nil
	})
	for id := range accepted {
		if !journaled[id] {
			t.Errorf("accepted write %s is not in the journal", id)
		}
	}
}
