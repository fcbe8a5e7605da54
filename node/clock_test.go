package node

import (
	"context"
	"encoding/json"
	"net"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
	"github.com/charta/charta/node/api"
)

// clockCluster is alpha, beta and gamma, each over its own copy of the
// seeded world, with the given clock offsets; audit's node is down. The
// world's member tokens expire long before today, which the nodes' clocks
// say it is: ask as the operator.
// transfers counts each node's calls to TransferLeadership.
func clockCluster(t *testing.T, offsets map[string]time.Duration) (map[string]*testServer, map[string]*atomic.Int32) {
	t.Helper()
	lns := map[string]net.Listener{}
	addrs := map[string]string{"audit": "127.0.0.1:1"}
	for _, m := range []string{"alpha", "beta", "gamma"} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[m], addrs[m] = ln, ln.Addr().String()
	}
	nodes, transfers := map[string]*testServer{}, map[string]*atomic.Int32{}
	for _, m := range []string{"alpha", "beta", "gamma"} {
		w := newWorldCharter(t, addrs, ledger.DefaultCharter())
		w.seed()
		cfg := testConfig(t)
		s := ledgertest.Signer(m, scheme)
		cfg.SigningKey = &s
		c := w.leaderFake(m)
		n := new(atomic.Int32)
		transfers[m] = n
		c.TransferLeadershipFn = func() error { n.Add(1); return nil }
		c.ProposeTimeFn = func(_ context.Context, body []byte) (*ledger.Result, error) {
			w.index++
			return w.l.Apply([]ledger.LogEntry{{Index: w.index, Data: ledger.EncodeTimeRecord(body)}})[0], nil
		}
		off := offsets[m]
		srv, err := NewServer(cfg, c, Deps{Clock: func() time.Time { return time.Now().Add(off) }})
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewUnstartedServer(srv.Handler())
		ts.Listener.Close()
		ts.Listener = lns[m]
		ts.Start()
		t.Cleanup(ts.Close)
		nodes[m] = &testServer{t: t, s: srv, ts: ts, c: c, w: w}
	}
	return nodes, transfers
}

// GET /v1/time serves a reading signed with the member's key, which a
// peer checks before it counts it.
func TestTime_ServesASignedReading(t *testing.T) {
	nodes, _ := clockCluster(t, nil)
	r := nodes["beta"].get("/v1/time", "")
	if r.status != 200 {
		t.Fatalf("GET /v1/time: %d %s", r.status, r.body)
	}
	var tm api.Time
	if err := json.Unmarshal(r.body, &tm); err != nil {
		t.Fatal(err)
	}
	env, a, err := ledger.ParseTimeAttestation(tm.Attestation)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Verify(func(string) (ledger.PublicKey, bool) { return ledgertest.Key("beta", scheme).Public(), true }); err != nil {
		t.Fatalf("beta's reading does not verify with beta's key: %v", err)
	}
	if a.Member != "beta" || time.Since(a.Time).Abs() > 5*time.Second {
		t.Fatalf("reading %+v", a)
	}
}

// One node's clock 48 h ahead changes nothing: the others' readings
// outvote it, it raises the clock alarm and hands leadership to a node
// whose clock agrees, and the time entry an honest leader writes sets
// ledger time to within seconds of the true time.
func TestTime_OneSkewedClockChangesNothing(t *testing.T) {
	for _, off := range []time.Duration{48 * time.Hour, -48 * time.Hour} {
		t.Run(off.String(), func(t *testing.T) {
			nodes, transfers := clockCluster(t, map[string]time.Duration{"alpha": off, "gamma": time.Second})
			ctx := context.Background()
			for _, m := range []string{"alpha", "beta", "gamma"} {
				nodes[m].s.collectReadings(ctx)
			}
			for _, m := range []string{"alpha", "beta", "gamma"} {
				nodes[m].s.judgeClock()
			}
			if !slices.Contains(nodes["alpha"].s.alarms(), "clock") || transfers["alpha"].Load() == 0 {
				t.Fatalf("alpha, %v off: alarms %v, %d transfers; want the clock alarm and a transfer", off, nodes["alpha"].s.alarms(), transfers["alpha"].Load())
			}
			// Leadership goes to a node whose clock agrees: not to audit,
			// whose node gave no reading.
			if c := nodes["alpha"].c; !slices.Equal(c.avoided, []string{"audit"}) {
				t.Fatalf("alpha handed leadership over avoiding %v, want [audit]", c.avoided)
			}
			for _, m := range []string{"beta", "gamma"} {
				if a := nodes[m].s.alarms(); len(a) != 0 || transfers[m].Load() != 0 {
					t.Fatalf("%s: alarms %v, %d transfers; want none", m, a, transfers[m].Load())
				}
			}
			var st api.Status
			if err := json.Unmarshal(nodes["alpha"].get("/v1/status", "operator").body, &st); err != nil {
				t.Fatal(err)
			}
			if !st.Time.ClockSkewed || (st.Time.ClockOffsetMS-off.Milliseconds()) > 5000 || (off.Milliseconds()-st.Time.ClockOffsetMS) > 5000 {
				t.Fatalf("alpha's status: %+v", st.Time)
			}
			// Each node's consortium time is the true time, alpha's too.
			for _, m := range []string{"alpha", "beta", "gamma"} {
				if now, _ := nodes[m].s.consortiumNow(); time.Until(now).Abs() > 3*time.Second {
					t.Fatalf("%s's consortium time is %s off", m, time.Until(now))
				}
			}
			// A time entry sets ledger time to within seconds of the
			// true time, whether the skewed node or an honest one
			// writes it: the median keeps the skewed reading out.
			for _, m := range []string{"alpha", "beta"} {
				s := nodes[m].s
				if err := s.advanceTime(ctx, true); err != nil {
					t.Fatalf("%s: %v", m, err)
				}
				if lt := s.l.LedgerTime(); time.Until(lt).Abs() > 3*time.Second {
					t.Fatalf("%s's time entry set ledger time %s off the true time", m, time.Until(lt))
				}
			}
		})
	}
}

// A check without at is answered for the consortium's time, not for the
// time of the last write, and says which time and index it is for; a node
// with readings from fewer than a majority answers for ledger time rather
// than trust its own clock.
func TestCheck_WithoutAtAnswersForNow(t *testing.T) {
	nodes, _ := clockCluster(t, nil)
	beta := nodes["beta"]
	check := func() ledger.Decision {
		var d ledger.Decision
		if err := json.Unmarshal(beta.get("/v1/check?member=beta&asset=model-a&action=train", "operator").body, &d); err != nil {
			t.Fatal(err)
		}
		if d.Index != beta.s.l.AppliedIndex() || d.Index == 0 {
			t.Fatalf("answer is for index %d, the node has applied %d", d.Index, beta.s.l.AppliedIndex())
		}
		return d
	}
	if d := check(); !d.At.Equal(beta.s.l.LedgerTime()) {
		t.Fatalf("with no other node's reading: answered for %s, want ledger time %s", d.At, beta.s.l.LedgerTime())
	}
	beta.s.collectReadings(context.Background())
	if d := check(); time.Since(d.At).Abs() > 5*time.Second {
		t.Fatalf("answered for %s, %s from now (ledger time is %s)", d.At, time.Since(d.At), beta.s.l.LedgerTime())
	}
}
