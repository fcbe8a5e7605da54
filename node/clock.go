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
	timePoll         = time.Second      // how often readings are collected
	timeFresh        = 3 * time.Second  // a reading older than this is not used for a time entry
	timeUsable       = 8 * time.Second  // a reading older than this is not used at all
	timeWriteLag     = time.Second      // after writes, ledger time may lag consortium time by this much
	timeCatchUpLag   = 10 * time.Second // before a proposal, ledger time may lag by this much; more, and a time entry goes first
	timeEntryTimeout = 3 * time.Second  // longest a time entry may take to commit
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
	keepers  int                // timekeepers at the last collection (at least 1)
	skewed   bool               // offset is over the limit: the "clock" alarm
	wrote    bool               // a proposal was accepted since the last time entry
	deadline struct {           // NextDeadline memo, guarded by advance
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
	keepers := 0
	s.l.View(func(v *ledger.View) error { peers, keepers = s.peers(v, ""), len(v.TimeKeepers()); return nil })
	s.time.mu.Lock()
	s.time.keepers = max(keepers, 1)
	s.time.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range peers {
		wg.Go(func() {
			rd, err := s.fetchReading(ctx, p)
			if err != nil {
				s.log.Debug("no clock reading", "member", p.member, "err", err)
				return
			}
			// The newest received, not the latest attested: a clock put
			// right must count again at once.
			s.time.mu.Lock()
			s.time.readings[p.member] = rd
			s.time.mu.Unlock()
		})
	}
	wg.Wait()
}

// fetchReading gets one peer's reading and checks it as the ledger would
// in the next entry.
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
		return reading{}, fmt.Errorf("node: GET /v1/time: %s", resp.Status)
	}
	var t api.Time
	if err := json.Unmarshal(b, &t); err != nil {
		return reading{}, err
	}
	if len(t.Attestation) == 0 {
		return reading{}, fmt.Errorf("node: %s's node signs no clock readings (started without --key)", p.member)
	}
	var a ledger.TimeAttestation
	err = s.l.View(func(v *ledger.View) error { a, err = v.CheckReading(t.Attestation); return err })
	if err != nil {
		return reading{}, fmt.Errorf("node: %s's clock reading: %w", p.member, err)
	}
	if a.Member != p.member {
		return reading{}, fmt.Errorf("node: %s's node serves %s's clock reading", p.member, a.Member)
	}
	return reading{raw: t.Attestation, at: a.Time, got: s.clock()}, nil
}

// consortiumNow is the consortium's time as this node reckons it: the
// lower median of the usable readings, this node's clock among them, each
// moved on by the time since it arrived, and never before ledger time.
// With readings from fewer than a majority of the timekeepers, which one
// wrong clock could then decide, it is ledger time. n is the number of
// readings used.
func (s *Server) consortiumNow() (now time.Time, n int) {
	local := s.clock()
	lt := s.l.LedgerTime()
	s.time.mu.Lock()
	times := []time.Time{local}
	for _, rd := range s.time.readings {
		if age := local.Sub(rd.got); !rd.self && age >= 0 && age <= timeUsable {
			times = append(times, rd.at.Add(age))
		}
	}
	keepers := s.time.keepers
	s.time.mu.Unlock()
	if len(times) < ledger.TimeQuorum(keepers) {
		return lt, len(times)
	}
	now = ledger.MedianTime(times).UTC()
	if now.Before(lt) {
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

// noteWrite records that a proposal is about to be proposed, so that the
// leader moves ledger time on within timeWriteLag; if ledger time has
// fallen far behind (an idle consortium), it first writes a time entry, so
// that the proposal is judged against the present.
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
// force is set. It needs fresh readings, which the ledger accepts, from a
// majority of the timekeepers. A leader whose own clock is off may write
// one too: the ledger's median keeps its reading from deciding.
func (s *Server) advanceTime(ctx context.Context, force bool) error {
	if !s.c.IsLeader() {
		return nil
	}
	s.time.advance.Lock()
	defer s.time.advance.Unlock()
	s.ownReading()
	local := s.clock()
	s.time.mu.Lock()
	candidates := map[string]reading{}
	for m, rd := range s.time.readings {
		if age := local.Sub(rd.got); age >= 0 && age <= timeFresh {
			candidates[m] = rd
		}
	}
	wrote := s.time.wrote
	s.time.mu.Unlock()
	var (
		attested bool
		keepers  []string
		lt       time.Time
		next     time.Time
		due      bool
		raws     [][]byte
		times    []time.Time
	)
	s.l.View(func(v *ledger.View) error {
		attested, keepers, lt = v.Charter().AttestedTime, v.TimeKeepers(), v.LedgerTime()
		for _, m := range keepers {
			rd, ok := candidates[m]
			if !ok || len(raws) == ledger.MaxReadings {
				continue
			}
			if _, err := v.CheckReading(rd.raw); err != nil {
				s.log.Debug("a clock reading the ledger would refuse", "member", m, "err", err)
				continue
			}
			raws, times = append(raws, rd.raw), append(times, rd.at)
		}
		next, due = s.nextDeadline(v)
		return nil
	})
	if !attested {
		return nil
	}
	if len(raws) < ledger.TimeQuorum(len(keepers)) {
		return fmt.Errorf("node: %d fresh clock readings of %d timekeepers", len(raws), len(keepers))
	}
	at := ledger.AttestedTime(times, len(keepers), lt)
	if !at.After(lt) {
		return nil
	}
	due = due && !next.After(at)
	if !force && !due && !(wrote && at.Sub(lt) >= timeWriteLag) {
		return nil
	}
	s.time.mu.Lock()
	s.time.wrote = false // writes from here on call for the next entry
	s.time.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, timeEntryTimeout)
	defer cancel()
	res, err := s.c.ProposeTime(ctx, ledger.EncodeTimeBody(raws))
	if err != nil {
		return err
	}
	if res.Outcome.Status != ledger.StatusAccepted {
		return fmt.Errorf("node: time entry %s: %s", res.Outcome.Code, res.Outcome.Message)
	}
	s.log.Debug("ledger time advanced", "to", at, "seq", res.Seq, "deadline", due)
	return nil
}

// nextDeadline is v.NextDeadline after v's ledger time, remembered per
// applied index and ledger time, since it decodes every record with a
// deadline. The caller holds s.time.advance, which guards the memo.
func (s *Server) nextDeadline(v *ledger.View) (time.Time, bool) {
	d := &s.time.deadline
	if d.index != v.AppliedIndex() || !d.after.Equal(v.LedgerTime()) || d.index == 0 {
		d.next, d.ok = v.NextDeadline(v.LedgerTime())
		d.index, d.after = v.AppliedIndex(), v.LedgerTime()
	}
	return d.next, d.ok
}
