package gateway

import (
	"testing"
	"time"

	"github.com/charta/charta/ledger"
)

// TestObserver_TriggersAtThreshold reports once when a member's denied
// attempts on an asset reach the threshold within the window, then counts
// afresh; attempts that slid out of the window, and other pairs, do not
// count.
func TestObserver_TriggersAtThreshold(t *testing.T) {
	var got []ledger.InfractionObserve
	o := newObserver(InfractionRule{Enabled: true, Threshold: 3, Window: Duration(time.Minute), Reason: "probing"},
		func(ob ledger.InfractionObserve) { got = append(got, ob) })
	t0 := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	o.denied("beta", "model-x", ledger.RightUse, "g-1", t0)
	o.denied("beta", "model-x", ledger.RightUse, "g-1", t0.Add(10*time.Second))
	o.denied("gamma", "model-x", ledger.RightUse, "", t0.Add(20*time.Second)) // another member
	o.denied("beta", "data-y", ledger.RightUse, "", t0.Add(20*time.Second))   // another asset
	if len(got) != 0 {
		t.Fatalf("reported early: %+v", got)
	}
	o.denied("beta", "model-x", ledger.RightUse, "g-1", t0.Add(50*time.Second))
	if len(got) != 1 {
		t.Fatalf("%d reports, want 1", len(got))
	}
	want := ledger.InfractionObserve{Grant: "g-1", Licensee: "beta", Asset: "model-x", Action: ledger.RightUse, Attempts: 3,
		WindowStart: t0, WindowEnd: t0.Add(50 * time.Second), Reason: "probing"}
	if got[0] != want {
		t.Fatalf("report %+v\nwant %+v", got[0], want)
	}
	// Counting starts afresh: two more within the window do not report.
	o.denied("beta", "model-x", ledger.RightUse, "g-1", t0.Add(55*time.Second))
	o.denied("beta", "model-x", ledger.RightUse, "g-1", t0.Add(56*time.Second))
	if len(got) != 1 {
		t.Fatalf("reported again within the same burst: %+v", got)
	}
	// The window slides: attempts older than a minute fall out.
	o.denied("beta", "model-x", ledger.RightUse, "g-1", t0.Add(3*time.Minute))
	o.denied("beta", "model-x", ledger.RightUse, "g-1", t0.Add(3*time.Minute+time.Second))
	if len(got) != 1 {
		t.Fatalf("counted attempts outside the window: %+v", got)
	}
	o.denied("beta", "model-x", ledger.RightUse, "", t0.Add(3*time.Minute+2*time.Second))
	if len(got) != 2 || got[1].Attempts != 3 || !got[1].WindowStart.Equal(t0.Add(3*time.Minute)) || got[1].Grant != "" {
		t.Fatalf("second report: %+v", got)
	}
}

// TestObservation_JSON pins the body's field names, as the gateway
// sends them.
func TestObservation_JSON(t *testing.T) {
	t0 := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	b := mustJSON(t, ledger.InfractionObserve{Grant: "g-1", Licensee: "beta", Asset: "model-x", Action: ledger.RightUse, Attempts: 5,
		WindowStart: t0, WindowEnd: t0.Add(time.Minute), Reason: "r"})
	const want = `{"grant":"g-1","licensee":"beta","asset":"model-x","action":"use","attempts":5,"window_start":"2026-01-05T09:00:00Z","window_end":"2026-01-05T09:01:00Z","reason":"r"}`
	if string(b) != want {
		t.Fatalf("%s\nwant %s", b, want)
	}
}
