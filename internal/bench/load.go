package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// measure runs op as cfg says with the usage of procs sampled around it,
// waits for the profiles started for it, and adds its result to the report
// unless it failed.
func (s *suite) measure(procs ProcSet, profs []func() error, cfg RunConfig, op Op) (Result, error) {
	before := procs.Sample()
	res, err := Run(s.ctx, cfg, op)
	res.Procs = procs.Usage(before, procs.Sample())
	for _, prof := range profs {
		if perr := prof(); perr != nil {
			fmt.Fprintf(s.out, "  profile: %v\n", perr)
		}
	}
	if err != nil {
		return res, err
	}
	s.rep.Add(res)
	return res, nil
}

// httpClient returns a client keeping up to conns connections to a host.
func httpClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns: conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: time.Minute,
			DisableCompression: true, ForceAttemptHTTP2: false,
		},
	}
}

// postOrGet sends one request and fails unless the answer is 200.
func postOrGet(ctx context.Context, hc *http.Client, method, u, token string, body []byte) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s %s: %d %s", method, u, resp.StatusCode, strings.Join(strings.Fields(string(b)), " "))
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}
