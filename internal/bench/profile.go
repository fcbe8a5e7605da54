package bench

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// profile starts fetching a CPU profile of the measured duration from a
// node's pprof listener; the returned function waits for it and saves it.
func (s *suite) profile(addr, name string) func() error {
	done := make(chan error, 1)
	secs := max(1, int(s.cfg.Duration.Seconds()))
	// Halfway through, a goroutine dump shows where requests wait, which a
	// CPU profile does not.
	go func() {
		time.Sleep(s.cfg.Duration / 2)
		resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/goroutine?debug=1", addr))
		if err != nil {
			return
		}
		defer resp.Body.Close()
		if f, err := os.Create(filepath.Join(s.cfg.ProfileDir, name+".goroutines.txt")); err == nil {
			io.Copy(f, resp.Body)
			f.Close()
		}
	}()
	go func() {
		resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs))
		if err != nil {
			done <- err
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			done <- fmt.Errorf("pprof %s: %s", addr, resp.Status)
			return
		}
		f, err := os.Create(filepath.Join(s.cfg.ProfileDir, name+".pprof"))
		if err != nil {
			done <- err
			return
		}
		_, err = io.Copy(f, resp.Body)
		done <- errors.Join(err, f.Close())
	}()
	return func() error { return <-done }
}
