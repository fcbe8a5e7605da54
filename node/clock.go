package node

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/api"
	"github.com/gorilla/mux"
)

// Ledger time is kept by the member nodes together (see ledger/time.go).
// Every node signs a reading of its clock each second and serves it at
// GET /v1/time; every node collects the others' readings. From them a node
// knows the consortium's time, the lower median of the readings, which is
// what it answers "now" questions for; it knows whether its own clock
// disagrees with the others, and then raises the "clock" alarm and hands
// over leadership; and, as leader, it writes a time entry carrying a
// majority of the readings whenever a deadline falls due or writes have
// moved on while ledger time stood still.

const (
	timePoll         = time.Second     // how often readings are collected
	timeFresh        = 3 * time.Second // a reading older than this is not used for a time entry
	timeUsable       = 8 * time.Second // a reading older than this is not used at all
	timeWriteLag     = time.Second     // after writes, ledger time may lag consortium time by this much
	timeCatchUpLag   = 10 * time.Second
	timeEntryTimeout = 3 * time.Second
)

// reading is one node's signed clock reading as this node received it.
type reading struct {
	raw  []byte    // the attestation envelope
	at   time.Time // the time it attests
	got  time.Time // this node's clock when it arrived (monotonic)
	self bool
}

// timekeeper holds the readings and what this node makes of them.
type timekeeper struct {
	mu       sync.Mutex
	readings map[string]reading // member → newest reading
	offset   time.Duration      // this node's clock minus the consortium's
	judged   bool               // offset rests on enough readings
	skewed   bool               // offset is over the limit: the "clock" alarm
	wrote    bool               // a proposal was accepted since the last time entry
	deadline struct {
		index uint64
		after time.Time
		next  time.Time
		ok    bool
	}
	advance sync.Mutex // one time entry at a time
}

func (s *Server) registerTimeRoutes(r *mux.Router) {
	// Public: a signed clock reading and the time this node derives from
	// them reveal nothing about the consortium's records.
	s.handle(r, http.MethodGet, "/v1/time", "handleTime", routeOpts{access: accessPublic}, s.handleTime)
}

// handleTime serves this node's newest signed clock reading and its view
// of the consortium's time.
func (s *Server) handleTime(w http.ResponseWriter, r *http.Request) {
	out := s.timeStatus()
	if rd, ok := s.ownReading(); ok {
		out.Attestation = json.RawMessage(rd.raw)
	}
	s.setIndex(w, s.l.AppliedIndex())
	s.writeJSON(w, r, http.StatusOK, out)
}

// timeStatus is this node's view of the consortium's clock.
func (s *Server) timeStatus() api.Time {
	now, n := s.consortiumNow()
	s.time.mu.Lock()
	defer s.time.mu.Unlock()
	return api.Time{Member: s.c.ID(), ConsortiumTime: now, Readings: n, LedgerTime: s.l.LedgerTime(),
		ClockOffsetMS: s.time.offset.Milliseconds(), ClockSkewed: s.time.skewed}
}

// ownReading signs a fresh reading of this node's clock, at most one per
// half second. A node without a member key makes none.
func (s *Server) ownReading() (reading, bool) {
	signer := s.SigningKey()
	if signer == nil {
		return reading{}, false
	}
	s.time.mu.Lock()
	defer s.time.mu.Unlock()
	now := s.clock()
	if rd, ok := s.time.readings[s.c.ID()]; ok && now.Sub(rd.got) < timePoll/2 && now.Sub(rd.got) >= 0 {
		return rd, true
	}
	raw, err := ledger.AttestTime(s.l.Consortium(), *signer, now)
	if err != nil {
		s.log.Warn("cannot sign a clock reading", "err", err)
		return reading{}, false
	}
	rd := reading{raw: raw, at: now.UTC(), got: now, self: true}
	s.time.readings[s.c.ID()] = rd
	return rd, true
}

// keepTime collects the other nodes' readings every timePoll, judges this
// node's clock, and on the leader writes time entries, until ctx ends.
func (s *Server) keepTime(ctx context.Context) {
	t := time.NewTicker(timePoll)
	defer t.Stop()
	for {
		s.collectReadings(ctx)
		s.judgeClock()
		if err := s.advanceTime(ctx, false); err != nil {
			s.log.Debug("no time entry", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// collectReadings asks every other member's node for its reading and keeps
// those whose signature checks out against the member's current keys.
func (s *Server) collectReadings(ctx context.Context) {
	s.ownReading()
	var peers []peer
	s.l.View(func(v *ledger.View) error { peers = s.peers(v, ""); return nil })
	var wg sync.WaitGroup
	for _, p := range peers {
		wg.Go(func() {
			rd, err := s.fetchReading(ctx, p)
			if err != nil {
				s.log.Debug("no clock reading", "member", p.member, "err", err)
				return
			}
			s.time.mu.Lock()
			if old, ok := s.time.readings[p.member]; !ok || rd.at.After(old.at) {
				s.time.readings[p.member] = rd
			}
			s.time.mu.Unlock()
		})
	}
	wg.Wait()
}

// fetchReading gets and checks one peer's reading.
func (s *Server) fetchReading(ctx context.Context, p peer) (reading, error) {
	ctx, cancel := context.WithTimeout(ctx, timePoll)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url+"/v1/time", nil)
	if err != nil {
		return reading{}, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return reading{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return reading{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return reading{}, fmt.Errorf("GET /v1/time: %s", resp.Status)
	}
	var t api.Time
	if err := json.Unmarshal(b, &t); err != nil {
		return reading{}, err
	}
	if len(t.Attestation) == 0 {
		return reading{}, fmt.Errorf("node %s signs no clock readings", p.member)
	}
	env, a, err := ledger.ParseTimeAttestation(t.Attestation)
	if err != nil {
		return reading{}, err
	}
	if a.Member != p.member || a.Consortium != s.l.Consortium() {
		return reading{}, fmt.Errorf("reading is %s's for consortium %.8s", a.Member, a.Consortium)
	}
	if _, err := env.Verify(func(id string) (ledger.PublicKey, bool) {
		for _, k := range p.keys {
			if ledger.KeyID(p.member, k) == id {
				return k, true
			}
		}
		return ledger.PublicKey{}, false
	}); err != nil {
		return reading{}, err
	}
	return reading{raw: t.Attestation, at: a.Time, got: s.clock()}, nil
}

// consortiumNow is the consortium's time as this node reckons it: the
// lower median of the usable readings, each moved on by the time since it
// arrived, and never before ledger time. With no other node's reading it
// is this node's clock. n is the number of readings used.
func (s *Server) consortiumNow() (now time.Time, n int) {
	local := s.clock()
	s.time.mu.Lock()
	times := []time.Time{local}
	for _, rd := range s.time.readings {
		if age := local.Sub(rd.got); !rd.self && age >= 0 && age <= timeUsable {
			times = append(times, rd.at.Add(age))
		}
	}
	s.time.mu.Unlock()
	now = ledger.MedianTime(times).UTC()
	if lt := s.l.LedgerTime(); now.Before(lt) {
		now = lt
	}
	return now, len(times)
}

// checkTime is the time a question without one is answered for.
func (s *Server) checkTime() time.Time {
	now, _ := s.consortiumNow()
	return now
}

// judgeClock compares this node's clock with the consortium's. With at
// least three readings (so that there is a median to be off from) and a
// majority of the timekeepers, an offset beyond --max-clock-offset raises
// the "clock" alarm, and a leader hands leadership to a node whose clock
// agrees.
func (s *Server) judgeClock() {
	local := s.clock()
	now, n := s.consortiumNow()
	var keepers []string
	s.l.View(func(v *ledger.View) error { keepers = v.TimeKeepers(); return nil })
	judged := n >= 3 && n >= ledger.TimeQuorum(len(keepers))
	offset := local.Sub(now)
	if now.Equal(s.l.LedgerTime()) && offset < 0 {
		offset = 0 // clamped to ledger time: the median is not known to be ahead
	}
	skewed := judged && (offset > s.cfg.MaxClockOffset || -offset > s.cfg.MaxClockOffset)
	s.time.mu.Lock()
	was := s.time.skewed
	s.time.offset, s.time.judged, s.time.skewed = offset, judged, skewed
	var agreeing []string
	for m, rd := range s.time.readings {
		if d := rd.at.Add(local.Sub(rd.got)).Sub(now); !rd.self && d <= s.cfg.MaxClockOffset && -d <= s.cfg.MaxClockOffset {
			agreeing = append(agreeing, m)
		}
	}
	s.time.mu.Unlock()
	switch {
	case skewed && !was:
		s.log.Error("this node's clock disagrees with the consortium's; it gives up leadership until it agrees (alarm \"clock\")",
			"offset", offset.Round(time.Millisecond), "limit", s.cfg.MaxClockOffset, "readings", n)
	case !skewed && was:
		s.log.Info("this node's clock agrees with the consortium's again", "offset", offset.Round(time.Millisecond))
	}
	if skewed && s.c.IsLeader() {
		var avoid []string
		for _, m := range keepers {
			if m != s.c.ID() && !slices.Contains(agreeing, m) {
				avoid = append(avoid, m)
			}
		}
		if err := s.c.TransferLeadership(avoid...); err != nil {
			s.log.Warn("no node whose clock agrees took over leadership", "err", err)
		}
	}
}

// clockSkewed reports whether the "clock" alarm is raised.
func (s *Server) clockSkewed() bool {
	s.time.mu.Lock()
	defer s.time.mu.Unlock()
	return s.time.skewed
}

// noteWrite records that a proposal was accepted, so that the leader moves
// ledger time on within timeWriteLag; if ledger time has fallen far behind
// (an idle consortium), it first writes a time entry, so that the proposal
// is judged against the present.
func (s *Server) noteWrite(ctx context.Context) {
	s.time.mu.Lock()
	s.time.wrote = true
	s.time.mu.Unlock()
	if now, _ := s.consortiumNow(); now.Sub(s.l.LedgerTime()) > timeCatchUpLag && s.c.IsLeader() {
		if err := s.advanceTime(ctx, true); err != nil {
			s.log.Debug("no time entry before a proposal", "err", err)
		}
	}
}

// advanceTime writes a time entry on the leader when one is due: a
// deadline has passed, writes have happened while ledger time lagged, or
// force is set. It needs fresh readings from a majority of timekeepers.
func (s *Server) advanceTime(ctx context.Context, force bool) error {
	if !s.c.IsLeader() || s.clockSkewed() {
		return nil
	}
	s.time.advance.Lock()
	defer s.time.advance.Unlock()
	s.ownReading()
	var keepers []string
	var lt time.Time
	var index uint64
	s.l.View(func(v *ledger.View) error {
		keepers, lt, index = v.TimeKeepers(), v.LedgerTime(), v.AppliedIndex()
		return nil
	})
	local := s.clock()
	var raws [][]byte
	var times []time.Time
	s.time.mu.Lock()
	for _, m := range keepers {
		if rd, ok := s.time.readings[m]; ok && local.Sub(rd.got) <= timeFresh && local.Sub(rd.got) >= 0 {
			raws, times = append(raws, rd.raw), append(times, rd.at)
		}
	}
	wrote := s.time.wrote
	s.time.mu.Unlock()
	if len(raws) < ledger.TimeQuorum(len(keepers)) {
		return fmt.Errorf("%d fresh readings of %d timekeepers", len(raws), len(keepers))
	}
	median := ledger.MedianTime(times)
	if !median.After(lt) {
		return nil
	}
	next, ok := s.nextDeadline(index, lt)
	due := ok && !next.After(median)
	if !force && !due && !(wrote && median.Sub(lt) >= timeWriteLag) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeEntryTimeout)
	defer cancel()
	res, err := s.c.ProposeTime(ctx, ledger.EncodeTimeBody(raws))
	if err != nil {
		return err
	}
	s.time.mu.Lock()
	s.time.wrote = false
	s.time.mu.Unlock()
	if res.Outcome.Status != ledger.StatusAccepted {
		return fmt.Errorf("time entry %s: %s", res.Outcome.Code, res.Outcome.Message)
	}
	s.log.Debug("ledger time advanced", "to", median, "seq", res.Seq, "deadline", due)
	return nil
}

// nextDeadline is View.NextDeadline, computed once per applied index and
// ledger time: it scans every record with a deadline.
func (s *Server) nextDeadline(index uint64, lt time.Time) (time.Time, bool) {
	d := &s.time.deadline
	if d.index == index && d.after.Equal(lt) && index != 0 {
		return d.next, d.ok
	}
	s.l.View(func(v *ledger.View) error {
		d.next, d.ok = v.NextDeadline(v.LedgerTime())
		d.index, d.after = v.AppliedIndex(), v.LedgerTime()
		return nil
	})
	return d.next, d.ok
}
