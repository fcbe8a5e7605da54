package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/charta/charta/node/client"
)

// A running `charta dev` listens on a Unix socket in its directory, so
// that `charta dev stop|start|restart <member>` from another terminal can
// take one node down and bring it back. The socket's file permissions are
// its access control, as with the keys next to it.
const devSocket = "dev.sock"

// listenControl opens the control socket, refusing to start a second
// charta dev on the same directory.
func (d *devCluster) listenControl() (net.Listener, error) {
	path := d.path(devSocket)
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("a charta dev is already running in %s", d.dir)
	}
	os.Remove(path) // left by a charta dev that was killed
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return ln, nil
}

// serveControl answers control requests until ln is closed. Nodes it
// starts report their exit on exited, like the others.
func (d *devCluster) serveControl(ln net.Listener, exited chan<- error) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /nodes/{member}/{action}", func(w http.ResponseWriter, r *http.Request) {
		i := slices.Index(devMembers, r.PathValue("member"))
		if i < 0 {
			http.Error(w, fmt.Sprintf("no member %q in this consortium (members: %s)", r.PathValue("member"), strings.Join(devMembers, ", ")), http.StatusNotFound)
			return
		}
		msg, code := d.control(r.Context(), i, r.PathValue("action"), exited)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(code)
		fmt.Fprintln(w, msg)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	srv.Serve(ln)
}

// control carries out action on member i's node and says what happened.
func (d *devCluster) control(ctx context.Context, i int, action string, exited chan<- error) (string, int) {
	m := devMembers[i]
	running, _ := d.running(i)
	switch action {
	case "stop":
		if !d.stopNode(i) {
			return m + " is not running", http.StatusConflict
		}
		return m + " stopped", http.StatusOK
	case "start":
		if running {
			return m + " is already running", http.StatusConflict
		}
	case "restart":
		d.stopNode(i)
	default:
		return fmt.Sprintf("unknown action %q: want stop, start or restart", action), http.StatusNotFound
	}
	fmt.Fprintf(d.out, "%s starting %s...\n", time.Now().Format("15:04:05"), m)
	if err := d.spawn(d.bin, i, exited, d.extra...); err != nil {
		return fmt.Sprintf("starting %s: %v", m, err), http.StatusInternalServerError
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := d.waitNodeReady(ctx, i); err != nil {
		return fmt.Sprintf("%s started but is not ready: %v; see %s", m, err, d.path(m+".log")), http.StatusServiceUnavailable
	}
	fmt.Fprintf(d.out, "%s %s is running and caught up\n", time.Now().Format("15:04:05"), m)
	return m + " is running and caught up", http.StatusOK
}

// waitNodeReady waits until member i's node answers /readyz and has
// applied what the leader had committed when it started, or its process
// exits.
func (d *devCluster) waitNodeReady(ctx context.Context, i int) error {
	var target uint64
	for {
		if ok, _ := d.running(i); !ok {
			return errors.New("its process exited")
		}
		if d.ready(ctx, i) {
			if target == 0 {
				target = d.leaderCommit(ctx, i)
			}
			if s, err := d.nodeStatus(ctx, i); err == nil && target > 0 && s.AppliedIndex >= target {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ready reports whether member i's node answers /readyz with 200.
func (d *devCluster) ready(ctx context.Context, i int) bool {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.apiURL(i)+"/readyz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// nodeStatus asks member i's node for its status, with that member's token.
func (d *devCluster) nodeStatus(ctx context.Context, i int) (*client.Status, error) {
	m := devMembers[i]
	tok, err := os.ReadFile(d.path(m + ".token"))
	if err != nil {
		return nil, err
	}
	c, err := client.New(d.apiURL(i), client.WithToken(strings.TrimSpace(string(tok))))
	if err != nil {
		return nil, err
	}
	return c.Status(ctx)
}

// leaderCommit is the commit index of the leader as the other nodes see
// it, or 0 while none knows one.
func (d *devCluster) leaderCommit(ctx context.Context, except int) uint64 {
	for j := range devMembers {
		if j == except {
			continue
		}
		if s, err := d.nodeStatus(ctx, j); err == nil && s.Role == "leader" {
			return s.CommitIndex
		}
	}
	return 0
}

// devControl is `charta dev [--dir DIR] stop|start|restart <member>`: it
// asks the charta dev running in DIR to act on one node.
func devControl(e *env, dir string, args []string) error {
	if len(args) != 2 || !slices.Contains([]string{"stop", "start", "restart"}, args[0]) {
		return usagef("want stop, start or restart and a member (%s), or no arguments to run the consortium", strings.Join(devMembers, ", "))
	}
	if !slices.Contains(devMembers, args[1]) {
		return usagef("no member %q in the dev consortium (members: %s)", args[1], strings.Join(devMembers, ", "))
	}
	sock := (&devCluster{dir: dir}).path(devSocket)
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "unix", sock)
	}}}
	req, err := http.NewRequestWithContext(e.ctx, http.MethodPost, "http://charta-dev/nodes/"+args[1]+"/"+args[0], nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("no charta dev is running in %s (start one with make demo or charta dev --dir %s)", dir, dir)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	msg := strings.TrimSpace(string(b))
	if resp.StatusCode != http.StatusOK {
		return errors.New(msg)
	}
	fmt.Fprintln(e.stdout, msg)
	return nil
}
