package gateway

import (
	"sync"
	"time"

	"github.com/charta/charta/ledger"
)

// ObservationType is the proposal type of an observed infraction.
const ObservationType = "infraction.observe"

// observer counts denied attempts per member and asset in a sliding
// window, and reports an observation (the body of infraction.observe)
// when a pair reaches the threshold.
// The pair then starts counting afresh, so that one burst is one report.
type observer struct {
	rule   InfractionRule
	report func(ledger.InfractionObserve) // called with the lock released

	mu    sync.Mutex
	seen  map[obsPair][]time.Time // times of denied attempts within the window, oldest first
	swept time.Time
}

type obsPair struct{ member, asset string }

// maxObsPairs bounds the pairs tracked; stale ones are swept first.
const maxObsPairs = 1 << 14

func newObserver(rule InfractionRule, report func(ledger.InfractionObserve)) *observer {
	return &observer{rule: rule, report: report, seen: map[obsPair][]time.Time{}}
}

// denied notes a denied attempt by member on asset at time at; grant is
// the grant the decision considered first, if any.
func (o *observer) denied(member, asset string, action ledger.Right, grant string, at time.Time) {
	obs, ok := o.note(member, asset, action, grant, at)
	if ok {
		o.report(obs)
	}
}

// note is denied without the report: what it would report, if anything.
func (o *observer) note(member, asset string, action ledger.Right, grant string, at time.Time) (ledger.InfractionObserve, bool) {
	window := time.Duration(o.rule.Window)
	o.mu.Lock()
	defer o.mu.Unlock()
	if at.Sub(o.swept) > window || len(o.seen) >= maxObsPairs {
		o.sweep(at, at.Add(-window))
	}
	k := obsPair{member, asset}
	ts := o.seen[k]
	cut := 0
	for cut < len(ts) && !ts[cut].After(at.Add(-window)) {
		cut++
	}
	ts = append(ts[cut:], at)
	if len(ts) < o.rule.Threshold {
		if len(o.seen) < maxObsPairs {
			o.seen[k] = ts
		}
		return ledger.InfractionObserve{}, false
	}
	delete(o.seen, k)
	reason := o.rule.Reason
	if reason == "" {
		reason = "repeated denied attempts at the gateway"
	}
	return ledger.InfractionObserve{Grant: grant, Licensee: member, Asset: asset, Action: action, Attempts: int64(len(ts)),
		WindowStart: ts[0].UTC(), WindowEnd: at.UTC(), Reason: reason}, true
}

// sweep drops pairs with no attempt after cutoff, at time at.
func (o *observer) sweep(at, cutoff time.Time) {
	for k, ts := range o.seen {
		if len(ts) == 0 || !ts[len(ts)-1].After(cutoff) {
			delete(o.seen, k)
		}
	}
	o.swept = at
}
