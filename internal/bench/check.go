package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// checkMember is the member the check runs ask as, with its API token.
const checkMember = "beta"

// checkQuestions are the questions the check runs ask, as checkMember, of
// the demo consortium (Cluster.Seed): allowed and denied ones.
var checkQuestions = []map[string]string{
	{"member": checkMember, "asset": "atlas-7b", "action": "train", "territory": "DE", "purpose": "healthcare"},
	{"member": checkMember, "asset": "atlas-7b", "action": "train", "territory": "US", "purpose": "research"},
	{"member": checkMember, "asset": "atlas-7b", "action": "train", "territory": "DE", "purpose": "military"},
	{"member": checkMember, "asset": "alpha-corpus", "action": "evaluate", "territory": "FR"},
}

// checkRun measures entitlement checks against the first node of c: one
// question per GET (batch 1), or batch questions per POST /v1/check.
func (s *suite) checkRun(c *cluster, label string, batch int, rate float64, pprofAddr string) (Result, error) {
	token, err := c.Token(checkMember)
	if err != nil {
		return Result{}, err
	}
	op, unit := s.checkOp(c.APIURL(0), token, batch)
	name := fmt.Sprintf("%s %dc", label, s.cfg.CheckConns)
	var profs []func() error
	if s.cfg.ProfileDir != "" && pprofAddr != "" {
		profs = append(profs, s.profile(pprofAddr, label))
	}
	return s.measure(c.procs(), profs, RunConfig{Name: name, Clients: s.cfg.CheckConns, Rate: rate, Duration: s.cfg.Duration, Warmup: s.cfg.Warmup,
		PerOp: batch, Unit: unit, Progress: s.out}, op)
}

func (s *suite) checkOp(base, token string, batch int) (Op, string) {
	hc := httpClient(s.cfg.CheckConns)
	if batch == 1 {
		urls := make([]string, len(checkQuestions))
		for i, q := range checkQuestions {
			v := url.Values{}
			for k, x := range q {
				v.Set(k, x)
			}
			urls[i] = base + "/v1/check?" + v.Encode()
		}
		var n atomic.Int64
		return func(ctx context.Context, _ int) error {
			return postOrGet(ctx, hc, http.MethodGet, urls[n.Add(1)%int64(len(urls))], token, nil)
		}, "checks/s"
	}
	qs := make([]map[string]string, batch)
	for i := range qs {
		qs[i] = checkQuestions[i%len(checkQuestions)]
	}
	body, _ := json.Marshal(map[string]any{"requests": qs})
	return func(ctx context.Context, _ int) error {
		return postOrGet(ctx, hc, http.MethodPost, base+"/v1/check", token, body)
	}, "checks/s"
}

// t5CheckShare is the share of the check throughput under writes at which
// T5 offers checks: a load the node sustains while it writes.
const t5CheckShare = 0.5

// checkUnderWrites measures T5. While writers submit signed proposals to
// the leader at rate per second (half the measured maximum), paced
// open-loop from a pre-signed pool, it runs the closed-loop check (its
// latency at saturation is set by its throughput, by Little's law, not by
// the service time), then offers checks at a fixed rate of t5CheckShare
// of that throughput (open loop). The same fixed rate is then offered to
// the idle cluster. T5 compares the two open-loop p99s.
func (s *suite) checkUnderWrites(c *cluster, rate float64) error {
	// The no-op handler takes the same fixed-rate load beside the same
	// writes: what the machine's shared cores alone do to a p99.
	noop, err := s.startNoop()
	if err != nil {
		return err
	}
	defer noop.stop()
	// Three runs under writes; each paced one may drain for up to 5 s
	// after its warm-up and after its measured time.
	total := 3*(s.cfg.Warmup+s.cfg.Duration) + 4*5*time.Second
	n := int(rate*total.Seconds()*1.2) + 100
	fmt.Fprintf(s.out, "checks under a write load of %.0f writes/s: signing %d proposals...\n", rate, n)
	pool, err := s.presign(c, n, "t5")
	if err != nil {
		return err
	}
	const writers = 64
	hc := httpClient(writers)
	u := c.APIURL(c.leader) + "/v1/proposals"
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	var done, failed atomic.Int64
	jobs := make(chan []byte, writers)
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range jobs {
				if err := postOrGet(ctx, hc, http.MethodPost, u, "", b); err != nil {
					if ctx.Err() == nil {
						failed.Add(1)
					}
					continue
				}
				done.Add(1)
			}
		}()
	}
	start := time.Now()
	go func() {
		defer close(jobs)
		for i := 0; i < len(pool); {
			for due := int(time.Since(start).Seconds() * rate); i < due && i < len(pool); i++ {
				select {
				case jobs <- pool[i]:
				case <-ctx.Done():
					return
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	pprofAddr := ""
	if s.cfg.ProfileDir != "" {
		pprofAddr = c.pprof(0)
	}
	saturated, err := s.checkRun(c, "check under writes", 1, 0, pprofAddr)
	checkRate := saturated.Throughput * t5CheckShare
	if err == nil && checkRate <= 0 {
		err = fmt.Errorf("bench: the check run under writes answered nothing (%d errors, first: %s)", saturated.Errors, saturated.FirstError)
	}
	if err == nil {
		_, err = s.checkRun(c, "check paced under writes", 1, checkRate, "")
	}
	if err == nil {
		_, err = s.noopRun(noop, fmt.Sprintf("noop paced under writes %dc", s.cfg.CheckConns), checkRate)
	}
	elapsed := time.Since(start)
	cancel()
	wg.Wait()
	if err != nil {
		return err
	}
	w := Result{Name: "writes during check under writes", Clients: writers, Ops: done.Load(), Units: done.Load(), Errors: failed.Load(),
		Seconds: elapsed.Seconds(), Throughput: float64(done.Load()) / elapsed.Seconds(), Unit: "writes/s"}
	s.rep.Add(w)
	fmt.Fprintf(s.out, "  writes during the check run: %.0f writes/s (wanted %.0f), %d errors\n", w.Throughput, rate, w.Errors)
	if _, err = s.checkRun(c, "check paced idle", 1, checkRate, ""); err != nil {
		return err
	}
	_, err = s.noopRun(noop, fmt.Sprintf("noop paced idle %dc", s.cfg.CheckConns), checkRate)
	return err
}
