package devnet

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// proc is one run of a member's node process.
type proc struct {
	cmd        *exec.Cmd
	done       chan struct{} // closed when the process has exited
	started    time.Time
	intended   bool // stopped on request, not crashed; guarded by Cluster.mu
	restarting bool // stopped to be started again; guarded by Cluster.mu
}

// Exit reports on the exit channel that a member's node process ended.
type Exit struct {
	Member     string
	Err        error // from Wait; nil for a clean exit
	Intended   bool  // Stop or StopNode stopped it
	Restarting bool  // it was stopped to be started again
}

func (e *Exit) Error() string {
	if e.Err == nil {
		return e.Member + " exited"
	}
	return fmt.Sprintf("%s: %v", e.Member, e.Err)
}

// Start starts member i's node from binary bin with NodeArgs and extra
// flags, logging to <member>.log in the directory and writing its PID to
// <member>.pid, and reports its end on exited as an *Exit.
func (c *Cluster) Start(bin string, i int, exited chan<- error, extra ...string) error {
	m := Members[i]
	logf, err := os.OpenFile(c.Path(m+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, append(c.NodeArgs(i), extra...)...)
	if c.Env != nil {
		cmd.Env = append(os.Environ(), c.Env...)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group: Ctrl-C reaches only the supervisor, which stops
	// the nodes in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	if err := os.WriteFile(c.Path(m+".pid"), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
		return err
	}
	p := &proc{cmd: cmd, done: make(chan struct{}), started: time.Now()}
	c.mu.Lock()
	for len(c.procs) <= i {
		c.procs = append(c.procs, nil)
	}
	c.procs[i] = p
	c.mu.Unlock()
	go func() {
		err := cmd.Wait()
		logf.Close()
		os.Remove(c.Path(m + ".pid")) // before done: a restart writes the next
		c.mu.Lock()
		intended, restarting := p.intended, p.restarting
		c.mu.Unlock()
		close(p.done)
		exited <- &Exit{Member: m, Err: err, Intended: intended, Restarting: restarting}
	}()
	return nil
}

// Stop stops every running node as StopNode does, concurrently, and
// forgets them.
func (c *Cluster) Stop() {
	c.mu.Lock()
	n := len(c.procs)
	c.mu.Unlock()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { c.StopNode(i) })
	}
	wg.Wait()
	c.mu.Lock()
	c.procs = nil
	c.mu.Unlock()
}

// StopNode sends SIGTERM to member i's node, so that it hands over
// leadership and closes its stores, and SIGKILL if it still runs after
// 15 s. It reports whether the node was running.
func (c *Cluster) StopNode(i int) bool { return c.stopNode(i, false) }

// stopNode is StopNode; restarting marks the stop as part of a restart.
func (c *Cluster) stopNode(i int, restarting bool) bool {
	c.mu.Lock()
	var p *proc
	if i < len(c.procs) {
		p = c.procs[i]
	}
	if p != nil {
		p.intended, p.restarting = true, restarting
	}
	c.mu.Unlock()
	if p == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
	return true
}

// Running reports whether member i's node process is running, and since
// when.
func (c *Cluster) Running(i int) (bool, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i >= len(c.procs) || c.procs[i] == nil {
		return false, time.Time{}
	}
	p := c.procs[i]
	select {
	case <-p.done:
		return false, time.Time{}
	default:
		return true, p.started
	}
}

// PIDs are the process IDs of the nodes last started, by member index.
func (c *Cluster) PIDs() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var pids []int
	for _, p := range c.procs {
		if p != nil {
			pids = append(pids, p.cmd.Process.Pid)
		}
	}
	return pids
}
