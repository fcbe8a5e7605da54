package faultproxy

import (
	"maps"
	"sync"
	"time"
)

// Rule is the fault applied to the bytes of one directed link.
type Rule struct {
	Cut    bool          // deliver nothing
	Delay  time.Duration // fixed delay per chunk
	Jitter time.Duration // extra random delay per chunk, up to this much
	Drop   float64       // probability in [0,1] that a chunk is lost (resetting its connection)
}

// zero reports whether the rule injects no fault.
func (r Rule) zero() bool { return r == Rule{} }

type link struct{ from, to string }

// Links is the fault table of a cluster: a Rule per directed link. It is
// safe for concurrent use. The zero value is not usable; call NewLinks.
type Links struct {
	mu      sync.Mutex
	rules   map[link]Rule
	changed chan struct{} // closed and replaced on every change
}

// NewLinks returns a table with no faults.
func NewLinks() *Links {
	return &Links{rules: map[link]Rule{}, changed: make(chan struct{})}
}

// Rule returns the rule of the link from → to.
func (l *Links) Rule(from, to string) Rule {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rules[link{from, to}]
}

// watch returns a channel closed at the next change.
func (l *Links) watch() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}

func (l *Links) notify() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// Set sets the rule of the link from → to (one way).
func (l *Links) Set(from, to string, r Rule) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r.zero() {
		delete(l.rules, link{from, to})
	} else {
		l.rules[link{from, to}] = r
	}
	l.notify()
}

// SetBoth sets the rule of both directions between a and b.
func (l *Links) SetBoth(a, b string, r Rule) {
	l.Set(a, b, r)
	l.Set(b, a, r)
}

// Partition cuts every link between nodes of different groups, both ways.
// Links within a group keep their rules.
func (l *Links) Partition(groups ...[]string) {
	for i, g := range groups {
		for _, h := range groups[i+1:] {
			for _, a := range g {
				for _, b := range h {
					l.SetBoth(a, b, Rule{Cut: true})
				}
			}
		}
	}
}

// Isolate cuts every link between node and the others, both ways.
func (l *Links) Isolate(node string, others []string) {
	for _, o := range others {
		if o != node {
			l.SetBoth(node, o, Rule{Cut: true})
		}
	}
}

// Heal removes every fault.
func (l *Links) Heal() {
	l.mu.Lock()
	defer l.mu.Unlock()
	clear(l.rules)
	l.notify()
}

// Faulty reports whether any link has a fault.
func (l *Links) Faulty() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.rules) > 0
}

// Snapshot returns the current rules, keyed "from->to", for logs.
func (l *Links) Snapshot() map[string]Rule {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]Rule, len(l.rules))
	for k, v := range maps.All(l.rules) {
		out[k.from+"->"+k.to] = v
	}
	return out
}
