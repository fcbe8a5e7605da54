package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/charta/charta/node/api"
)

// The disk-full fault runs one node on a small file system of its own (a
// tmpfs mounted over its data directory) and fills that file system while
// the workload runs. The node must degrade, not break: refuse writes with
// 507 and raise the nospace alarm while it can, or, if a commit fails
// anyway, exit with status 74 rather than crash; either way, once space
// is freed (and the node restarted if it stopped), it rejoins with nothing
// acknowledged lost, which the scenario's standard checks establish.

const (
	smallDisk      = 96 << 20 // the tmpfs a filled node runs on
	smallDiskSlack = 6 << 20  // what filling leaves free: under the reserve, so the guard trips first
	diskReserveMiB = "16"     // the filled node's --min-free-mib
	exitNoSpace    = 74       // charta node's exit status when its store cannot commit
)

// CanMountTmpfs reports whether this process may mount a tmpfs, which the
// disk-full fault needs (root, or CAP_SYS_ADMIN).
func CanMountTmpfs() error {
	dir, err := os.MkdirTemp("", "chaos-mount-")
	if err != nil {
		return err
	}
	defer os.Remove(dir)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir).CombinedOutput(); err != nil {
		return fmt.Errorf("mount tmpfs: %v: %s", err, out)
	}
	return exec.Command("umount", dir).Run()
}

// FillDisk moves a follower onto a small file system, fills it, holds it
// full for hold, and frees it again. (A leader on a full disk hands
// leadership over within 2 s and is then such a follower; filling the
// leader outright mostly adds ambiguous writes, which the models then
// take minutes to check.)
func FillDisk(hold time.Duration) Fault {
	return func(ctx context.Context, c *Cluster, rng *rand.Rand) error {
		l, err := c.leader(ctx)
		if err != nil {
			return err
		}
		n := c.Nodes[(l+1+rng.IntN(len(c.Nodes)-1))%len(c.Nodes)]
		if err := c.moveToSmallDisk(ctx, n); err != nil {
			return err
		}
		if _, err := c.WaitLeader(ctx, 10*time.Second); err != nil {
			return err
		}
		sleep(ctx, time.Second) // writes flow again through the moved node
		ballast := filepath.Join(n.DataDir, "ballast")
		if err := fill(ballast, smallDiskSlack); err != nil {
			return err
		}
		c.log.Info("disk filled", "node", n.ID)
		seen, err := c.watchFull(ctx, n, hold)
		if err != nil {
			return err
		}
		if err := os.Remove(ballast); err != nil {
			return err
		}
		c.log.Info("disk freed", "node", n.ID, "observed", seen)
		if !n.Running() {
			if code := n.exitCode(); code != exitNoSpace {
				return fmt.Errorf("chaos: %s stopped on a full disk with status %d, want %d (a clean stop)", n.ID, code, exitNoSpace)
			}
			return c.start(n, "--bootstrap", "--min-free-mib", diskReserveMiB)
		}
		return nil
	}
}

// watchFull polls n for hold while its disk is full and returns what it
// saw: "nospace" once the alarm is up and a write to n got 507, or
// "exited" once it stopped. Anything else fails the run.
func (c *Cluster) watchFull(ctx context.Context, n *Node, hold time.Duration) (string, error) {
	deadline := time.Now().Add(hold)
	seen := ""
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if !n.Running() {
			return "exited", nil
		}
		if alarmed(ctx, n) && refusesWrites(ctx, n) {
			seen = "nospace"
		}
		sleep(ctx, 250*time.Millisecond)
	}
	if seen == "" && n.Running() {
		return "", fmt.Errorf("chaos: %s ran %v on a full disk without the nospace alarm and 507 on writes", n.ID, hold)
	}
	return seen, nil
}

// alarmed reports whether n's /healthz lists the nospace alarm.
func alarmed(ctx context.Context, n *Node) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.API+"/healthz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var h api.Health
	return json.NewDecoder(resp.Body).Decode(&h) == nil && slices.Contains(h.Alarms, "nospace")
}

// refusesWrites reports whether n answers a proposal with 507 no_space.
// The body need not be a valid envelope: the disk guard answers first.
func refusesWrites(ctx context.Context, n *Node) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, n.API+"/v1/proposals", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusInsufficientStorage
}

// moveToSmallDisk stops n, mounts a small tmpfs over its data directory
// with the directory's contents, and starts n again with a reserve that
// fits the small disk.
func (c *Cluster) moveToSmallDisk(ctx context.Context, n *Node) error {
	c.kill(n)
	aside := n.DataDir + ".moving"
	if err := os.Rename(n.DataDir, aside); err != nil {
		return err
	}
	if err := os.MkdirAll(n.DataDir, 0o700); err != nil {
		return err
	}
	if out, err := exec.CommandContext(ctx, "mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0700", smallDisk), "tmpfs", n.DataDir).CombinedOutput(); err != nil {
		return fmt.Errorf("chaos: mount tmpfs on %s: %v: %s", n.DataDir, err, out)
	}
	c.mounts = append(c.mounts, n.DataDir)
	if out, err := exec.CommandContext(ctx, "cp", "-a", aside+"/.", n.DataDir).CombinedOutput(); err != nil {
		return fmt.Errorf("chaos: copy %s onto the tmpfs: %v: %s", n.ID, err, out)
	}
	if err := os.RemoveAll(aside); err != nil {
		return err
	}
	c.log.Info("node moved to a small disk", "node", n.ID, "size_mib", smallDisk>>20)
	return c.start(n, "--bootstrap", "--min-free-mib", diskReserveMiB)
}

// fill writes path until the file system has at most slack bytes free.
func fill(path string, slack uint64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		var st syscall.Statfs_t
		if err := syscall.Statfs(filepath.Dir(path), &st); err != nil {
			return err
		}
		free := st.Bavail * uint64(st.Bsize)
		if free <= slack {
			return nil
		}
		chunk := min(uint64(len(buf)), free-slack)
		if _, err := f.Write(buf[:chunk]); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return nil
			}
			return err
		}
	}
}

// unmount copies each small disk's contents beside it, for the kept run
// directory, and unmounts it. The nodes must have stopped.
func (c *Cluster) unmount() {
	for _, dir := range c.mounts {
		exec.Command("cp", "-a", dir, dir+".small-disk").Run()
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			c.log.Warn("umount", "dir", dir, "err", err, "out", string(out))
			exec.Command("umount", "-l", dir).Run()
		}
	}
	c.mounts = nil
}

// exitCode is the exit status of n's last process, or -1 while it runs
// or if it was killed by a signal.
func (n *Node) exitCode() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return -1
	}
	select {
	case <-n.exited: // Wait has set ProcessState
		return n.cmd.ProcessState.ExitCode()
	default:
		return -1
	}
}
