package devnet

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
)

// ControlSocket is the name of the Unix socket in the cluster's directory
// that a running supervisor answers on. The socket's file permissions are
// its access control, as with the keys beside it.
const ControlSocket = "dev.sock"

// ListenControl opens the control socket, refusing if a supervisor already
// answers on it.
func (c *Cluster) ListenControl() (net.Listener, error) {
	path := c.Path(ControlSocket)
	if conn, err := net.DialTimeout("unix", path, time.Second); err == nil {
		conn.Close()
		return nil, fmt.Errorf("a charta dev is already running in %s", c.Dir)
	}
	os.Remove(path) // left by a supervisor that was killed
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return ln, nil
}

// ServeControl answers control requests on ln until it is closed. log
// receives a line for each node it starts; nodes it starts report their
// end on exited.
func (c *Cluster) ServeControl(ln net.Listener, exited chan<- error, log io.Writer) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /nodes/{member}/{action}", func(w http.ResponseWriter, r *http.Request) {
		msg, code := c.control(r.Context(), r.PathValue("member"), r.PathValue("action"), exited, log)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(code)
		fmt.Fprintln(w, msg)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	srv.Serve(ln)
}

// control carries out action (stop, start or restart) on member's node
// and says what happened.
func (c *Cluster) control(ctx context.Context, member, action string, exited chan<- error, log io.Writer) (string, int) {
	// One action at a time: two starts of one node must not both run.
	c.ctlMu.Lock()
	defer c.ctlMu.Unlock()
	i := slices.Index(Members, member)
	if i < 0 {
		return fmt.Sprintf("no member %q in this consortium (members: %s)", member, strings.Join(Members, ", ")), http.StatusNotFound
	}
	running, _ := c.Running(i)
	switch action {
	case "stop":
		if !c.StopNode(i) {
			return member + " is not running", http.StatusConflict
		}
		return member + " stopped", http.StatusOK
	case "start":
		if running {
			return member + " is already running", http.StatusConflict
		}
	case "restart":
		c.stopNode(i, true)
	default:
		return fmt.Sprintf("unknown action %q: want stop, start or restart", action), http.StatusNotFound
	}
	fmt.Fprintf(log, "%s starting %s...\n", time.Now().Format("15:04:05"), member)
	if err := c.Start(c.Bin, i, exited, c.Extra...); err != nil {
		return fmt.Sprintf("starting %s: %v", member, err), http.StatusInternalServerError
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := c.WaitNodeReady(ctx, i); err != nil {
		return fmt.Sprintf("%s started but is not ready: %v; see %s", member, err, c.Path(member+".log")), http.StatusServiceUnavailable
	}
	fmt.Fprintf(log, "%s %s is running and caught up\n", time.Now().Format("15:04:05"), member)
	return member + " is running and caught up", http.StatusOK
}

// ErrNotRunning means that no supervisor answers on the control socket of
// the directory.
var ErrNotRunning = errors.New("devnet: no charta dev is running there")

// Control asks the supervisor of the consortium in dir to stop, start or
// restart member's node, and returns what it said. Its refusals are
// errors with its words; ErrNotRunning if none answers.
func Control(ctx context.Context, dir, action, member string) (string, error) {
	sock := (&Cluster{Dir: dir}).Path(ControlSocket)
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://charta-dev/nodes/"+member+"/"+action, nil)
	if err != nil {
		return "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", ErrNotRunning
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	msg := strings.TrimSpace(string(b))
	if resp.StatusCode != http.StatusOK {
		return "", errors.New(msg)
	}
	return msg, nil
}
