package gateway

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
	"github.com/charta/charta/node/api"
)

const fakeConsortium = "00000000000000000000000000000000000000000000000000000000000000aa"

// fakeNode is the part of a node's API a gateway uses, over httptest,
// with what it answers in fields.
type fakeNode struct {
	t  *testing.T
	ts *httptest.Server

	mu     sync.Mutex
	tokens map[string]string // bearer token → member
	decide func(q ledger.CheckRequest) ledger.Decision
	pools  map[string]api.PoolUsage
	hidden map[string]bool // grants answered 404
	// poolRead, if set, runs after a pool's usage is read and before it
	// is answered: what it changes is not in that answer.
	poolRead func()
	// refuse, if set, refuses a proposal unjournaled when it returns a
	// status other than 0.
	refuse func(p *ledger.Proposal) (status int, code ledger.Code, detail string)
	// lose, if set, loses the answer to a proposal the node took (a 503
	// after it is recorded) when it returns true.
	lose func(p *ledger.Proposal) bool
	// reject, if set, journals a proposal as rejected when it returns a
	// reason.
	reject func(p *ledger.Proposal) string
	// confidential grants are answered as a party's node shows them to
	// a party's token: their usage terms opened, or sealed while
	// sealedTerms is set.
	confidential map[string]bool
	sealedTerms  bool
	encKeys      map[string]ledger.EncryptionKey // members' current encryption keys
	proposals    []*ledger.Proposal              // accepted
	rejected     []*ledger.Proposal              // journaled as rejected
	seen         map[[32]byte]fakeResult         // payload hash → result, for duplicates
	ids          map[string][32]byte             // signer/ID → payload hash: an ID is taken once
	streams      []chan ledger.Entry

	checks  atomic.Int64
	idTaken atomic.Bool // refuse's problems carry id_taken
	// whoamiQuery is the query of the last whoami.
	whoamiQuery atomic.Value
	down        atomic.Bool // answer 503 to everything
}

func newFakeNode(t *testing.T) *fakeNode {
	f := &fakeNode{t: t, tokens: map[string]string{"gw-token": "alpha", "beta-token": "beta"}, pools: map[string]api.PoolUsage{}, hidden: map[string]bool{},
		confidential: map[string]bool{}, seen: map[[32]byte]fakeResult{}, ids: map[string][32]byte{},
		encKeys: map[string]ledger.EncryptionKey{"alpha": ledgertest.EncryptionKey("alpha"), "beta": ledgertest.EncryptionKey("beta")}}
	f.decide = func(q ledger.CheckRequest) ledger.Decision {
		return ledger.Decision{Allowed: true, Basis: "grant", Chain: []string{"g-1"}, Reason: "grant g-1 allows it"}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		f.json(w, api.Status{ID: "alpha", Consortium: fakeConsortium, JournalHead: ledger.Head{Size: 10}})
	})
	mux.HandleFunc("GET /v1/whoami", func(w http.ResponseWriter, r *http.Request) {
		f.whoamiQuery.Store(r.URL.RawQuery)
		m, ok := f.member(r)
		if !ok {
			f.problem(w, 401, ledger.CodeUnauthorized, "the bearer token is not registered on the ledger")
			return
		}
		exp := time.Now().Add(time.Hour)
		f.json(w, api.Whoami{Member: m, Role: ledger.RoleMember, Scopes: []string{"read"}, ExpiresAt: &exp})
	})
	mux.HandleFunc("GET /v1/check", func(w http.ResponseWriter, r *http.Request) {
		f.checks.Add(1)
		v := r.URL.Query()
		q := ledger.CheckRequest{Member: v.Get("member"), Asset: v.Get("asset"), Action: ledger.Right(v.Get("action")),
			Territory: v.Get("territory"), Purpose: v.Get("purpose"), Industry: v.Get("industry")}
		f.mu.Lock()
		d := f.decide(q)
		f.mu.Unlock()
		d.At = time.Now().UTC()
		f.json(w, d)
	})
	mux.HandleFunc("GET /v1/grants/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		f.mu.Lock()
		hidden, confidential, sealed := f.hidden[id], f.confidential[id], f.sealedTerms
		f.mu.Unlock()
		if hidden {
			f.problem(w, 404, ledger.CodeNotFound, "no grant")
			return
		}
		// beta holds every grant; alpha, the gateway's member, meters it.
		usage := &ledger.UsageTerms{Period: ledger.PeriodMonth, Meters: []string{"alpha"}}
		g := api.Grant{Grant: ledger.Grant{ID: id, Licensors: []string{"alpha"}, Licensees: []string{"beta"}}}
		switch {
		case !confidential:
			g.Terms.Usage = usage
		case sealed:
			g.Confidential = &api.GrantConfidential{Classification: api.ClassificationConfidential, Sealed: true, Recipients: g.Parties()}
		default:
			g.Confidential = &api.GrantConfidential{Classification: api.ClassificationConfidential,
				Terms: &ledger.ConfidentialTerms{Usage: usage}, Recipients: g.Parties()}
		}
		f.json(w, g)
	})
	mux.HandleFunc("GET /v1/members/{id}", func(w http.ResponseWriter, r *http.Request) {
		m := ledger.Member{ID: r.PathValue("id")}
		f.mu.Lock()
		k, ok := f.encKeys[m.ID]
		f.mu.Unlock()
		if ok {
			m.EncryptionKeys = []ledger.EncryptionKeyRecord{{Fingerprint: k.Fingerprint(), Public: k}}
		}
		f.json(w, api.Member{Member: m})
	})
	mux.HandleFunc("GET /v1/pools/{id}/usage", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		u, ok := f.pools[r.PathValue("id")]
		hook := f.poolRead
		f.mu.Unlock()
		if hook != nil {
			hook()
		}
		if !ok {
			f.problem(w, 404, ledger.CodeNotFound, "no pool")
			return
		}
		f.json(w, u)
	})
	mux.HandleFunc("POST /v1/proposals", f.handlePropose)
	mux.HandleFunc("GET /v1/events", f.handleEvents)
	f.ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.down.Load() {
			f.problem(w, 503, api.CodeUnavailable, "down")
			return
		}
		if r.URL.Path != "/v1/whoami" && r.URL.Path != "/v1/status" {
			if m, ok := f.member(r); !ok || m != "alpha" {
				f.problem(w, 401, ledger.CodeUnauthorized, "not the gateway's token")
				return
			}
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		f.mu.Lock()
		for _, s := range f.streams {
			close(s)
		}
		f.streams = nil
		f.mu.Unlock()
		f.ts.Close()
	})
	return f
}

func (f *fakeNode) member(r *http.Request) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	return m, ok
}

func (f *fakeNode) json(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeNode) problem(w http.ResponseWriter, status int, code ledger.Code, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(api.Problem{Type: api.ProblemTypeBase + string(code), Status: status, Code: code, Detail: detail})
}

// fakeResult is what the fake node journaled for a proposal.
type fakeResult struct {
	index    uint64
	rejected string // why it was journaled as rejected; "" if accepted
}

// handlePropose journals every proposal once, as the ledger does: an
// exact resubmission gets its first result, marked duplicate; another
// payload under an ID its signer used is refused unjournaled (409,
// id_taken). A usage report sealed to a key that is not its member's
// current one is journaled as rejected.
func (f *fakeNode) handlePropose(w http.ResponseWriter, r *http.Request) {
	var env ledger.Envelope
	if err := json.NewDecoder(r.Body).Decode(&env); err != nil {
		f.problem(w, 400, ledger.CodeInvalid, err.Error())
		return
	}
	p, err := ledger.DecodePayload(env.Payload)
	if err != nil {
		f.problem(w, 400, ledger.CodeInvalid, err.Error())
		return
	}
	if f.refuse != nil {
		if status, code, detail := f.refuse(p); status != 0 {
			if f.idTaken.Load() {
				w.Header().Set("Content-Type", "application/problem+json")
				w.WriteHeader(status)
				_ = json.NewEncoder(w).Encode(map[string]any{"type": api.ProblemTypeBase + string(code), "status": status,
					"code": code, "detail": detail, "id_taken": true})
				return
			}
			f.problem(w, status, code, detail)
			return
		}
	}
	h := sha256.Sum256(env.Payload)
	f.mu.Lock()
	res, dup := f.seen[h]
	taken := false
	if !dup {
		if prev, ok := f.ids[p.Signer+"/"+p.ID]; ok && prev != h {
			taken = true
		} else {
			res = fakeResult{index: uint64(100 + len(f.proposals) + len(f.rejected) + 1), rejected: f.staleSeal(p)}
			if res.rejected == "" && f.reject != nil {
				res.rejected = f.reject(p)
			}
			if res.rejected == "" {
				f.proposals = append(f.proposals, p)
			} else {
				f.rejected = append(f.rejected, p)
			}
			f.seen[h], f.ids[p.Signer+"/"+p.ID] = res, h
		}
	}
	lose := f.lose != nil && !taken && f.lose(p)
	f.mu.Unlock()
	switch {
	case taken:
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(409)
		_ = json.NewEncoder(w).Encode(map[string]any{"type": api.ProblemTypeBase + "conflict", "status": 409, "code": "conflict",
			"detail": "id: " + p.Signer + " already used proposal ID " + p.ID + " for a different proposal", "id_taken": true})
	case lose:
		f.problem(w, 503, api.CodeUnavailable, "the answer was lost")
	case res.rejected != "":
		out := ledger.Outcome{Status: ledger.StatusRejected, Type: p.Type, ID: p.ID, Signer: p.Signer, Code: ledger.CodeRejected, Message: res.rejected}
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(422)
		_ = json.NewEncoder(w).Encode(map[string]any{"type": api.ProblemTypeBase + "rejected", "status": 422, "code": "rejected",
			"detail": res.rejected, "index": res.index, "seq": res.index, "outcome": out, "duplicate": dup})
	default:
		f.json(w, api.ProposalResponse{Index: res.index, Seq: res.index, Duplicate: dup,
			Outcome: ledger.Outcome{Status: ledger.StatusAccepted, Type: p.Type, ID: p.ID, Signer: p.Signer}})
	}
}

// staleSeal is why the ledger rejects p, a usage report sealed to a key
// that is not its member's current encryption key, or "".
func (f *fakeNode) staleSeal(p *ledger.Proposal) string {
	var b ledger.UsageReportBody
	if p.Type != typeUsage || json.Unmarshal(p.Body, &b) != nil || b.Confidential == nil {
		return ""
	}
	for _, w := range b.Confidential.Sealed.Wraps {
		if k := f.encKeys[w.Member]; w.KeyFingerprint != k.Fingerprint() {
			return "body.confidential.sealed.wraps: " + w.KeyFingerprint + " is not the current encryption key of " + w.Member
		}
	}
	return ""
}

// handleEvents streams what emit sends.
func (f *fakeNode) handleEvents(w http.ResponseWriter, r *http.Request) {
	ch := make(chan ledger.Entry, 16)
	f.mu.Lock()
	f.streams = append(f.streams, ch)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(200)
	w.(http.Flusher).Flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case e, ok := <-ch:
			if !ok {
				return
			}
			b, _ := json.Marshal(e)
			fmt.Fprintf(w, "id: %d\nevent: entry\ndata: %s\n\n", e.Seq, b)
			w.(http.Flusher).Flush()
		}
	}
}

// emit sends an entry of type typ to every open event stream.
func (f *fakeNode) emit(seq uint64, typ string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.streams {
		s <- ledger.Entry{Seq: seq, Index: seq, Outcome: ledger.Outcome{Status: ledger.StatusAccepted, Type: typ}}
	}
}

func (f *fakeNode) streaming() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.streams) > 0
}

func (f *fakeNode) submitted() []*ledger.Proposal {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*ledger.Proposal(nil), f.proposals...)
}

// testGateway is a gateway in front of upstream, asking node, with its
// journal and key in a temporary directory. edit adjusts the config.
func testGateway(t *testing.T, node *fakeNode, upstream string, file string, edit func(*Config)) *Gateway {
	t.Helper()
	dir := t.TempDir()
	key := filepath.Join(dir, "gw.key")
	if err := ledger.WriteKeyFile(key, "alpha", ledgertest.Key("alpha", ledger.SchemeEd25519)); err != nil {
		t.Fatal(err)
	}
	f, err := ParseFile([]byte(strings.ReplaceAll(file, "UPSTREAM", upstream)))
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Nodes, cfg.Token, cfg.StateDir, cfg.KeyFile, cfg.File = []string{node.ts.URL}, "gw-token", filepath.Join(dir, "state"), key, f
	cfg.NodeTimeout = time.Second
	if edit != nil {
		edit(&cfg)
	}
	g, err := New(cfg, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.j.Close() })
	return g
}
