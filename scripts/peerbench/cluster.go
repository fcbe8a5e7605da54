package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// members are the etcd members' names, which are also the IDs of their
// certificates.
var members = []string{"etcd-1", "etcd-2", "etcd-3"}

// clientCert is the ID of the certificate the load generator presents.
const clientCert = "client"

// cluster is three etcd server processes on 127.0.0.1.
type cluster struct {
	dir       string
	certs     string
	clientURL []string
	cmds      []*exec.Cmd
	exited    []chan struct{} // closed when the process has exited
	logs      []string
}

// makeCerts has `charta cert` make a CA and a certificate for each member
// and for the client in dir: the same development CA and node certificates
// that Charta's nodes use for their mutual TLS.
func makeCerts(ctx context.Context, charta, dir string) error {
	cmds := [][]string{{"cert", "ca", "--dir", dir, "--name", "peerbench etcd CA"}}
	for _, id := range append(append([]string{}, members...), clientCert) {
		cmds = append(cmds, []string{"cert", "node", "--dir", dir, "--id", id, "--hosts", "127.0.0.1,localhost"})
	}
	for _, args := range cmds {
		out, err := exec.CommandContext(ctx, charta, args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s %s: %v: %s", charta, strings.Join(args, " "), err, bytes.TrimSpace(out))
		}
	}
	return nil
}

// freePorts returns n ports on 127.0.0.1 that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// startCluster starts the three members from the etcd binary with their
// data in dir and the certificates in certs, and waits up to 30 s for a
// leader that every member knows.
func startCluster(ctx context.Context, etcd, dir, certs string) (*cluster, error) {
	ports, err := freePorts(2 * len(members))
	if err != nil {
		return nil, err
	}
	c := &cluster{dir: dir, certs: certs}
	var initial []string
	for i, m := range members {
		initial = append(initial, fmt.Sprintf("%s=https://127.0.0.1:%d", m, ports[2*i+1]))
	}
	for i, m := range members {
		client := fmt.Sprintf("https://127.0.0.1:%d", ports[2*i])
		peer := fmt.Sprintf("https://127.0.0.1:%d", ports[2*i+1])
		cert, key, ca := filepath.Join(certs, m+".crt"), filepath.Join(certs, m+".key"), filepath.Join(certs, "ca.crt")
		args := []string{
			"--name", m, "--data-dir", filepath.Join(dir, m),
			"--listen-client-urls", client, "--advertise-client-urls", client,
			"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "peerbench",
			"--cert-file", cert, "--key-file", key, "--trusted-ca-file", ca, "--client-cert-auth",
			"--peer-cert-file", cert, "--peer-key-file", key, "--peer-trusted-ca-file", ca, "--peer-client-cert-auth",
			"--logger", "zap", "--log-level", "warn", "--log-outputs", "stderr",
		}
		log := filepath.Join(dir, m+".log")
		f, err := os.Create(log)
		if err != nil {
			c.stop()
			return nil, err
		}
		cmd := exec.Command(etcd, args...)
		cmd.Stdout, cmd.Stderr = f, f
		// Its own process group, so that a Ctrl-C reaches peerbench, which
		// stops the members in order; and killed if peerbench dies.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			f.Close()
			c.stop()
			return nil, fmt.Errorf("start %s: %w", etcd, err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); f.Close(); close(exited) }()
		c.cmds, c.exited, c.logs = append(c.cmds, cmd), append(c.exited, exited), append(c.logs, log)
		c.clientURL = append(c.clientURL, client)
	}
	if err := c.waitLeader(ctx, 30*time.Second); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// tlsConfig is the client's mutual TLS configuration.
func (c *cluster) tlsConfig() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(c.certs, clientCert+".crt"), filepath.Join(c.certs, clientCert+".key"))
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(filepath.Join(c.certs, "ca.crt"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("ca.crt holds no certificate")
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// newClient connects to endpoints.
func (c *cluster) newClient(endpoints ...string) (*clientv3.Client, error) {
	tc, err := c.tlsConfig()
	if err != nil {
		return nil, err
	}
	return clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, TLS: tc, Logger: zap.NewNop()})
}

// waitLeader polls every member's status until all of them name the same
// leader, a member exits, or within passes.
func (c *cluster) waitLeader(ctx context.Context, within time.Duration) error {
	cli, err := c.newClient(c.clientURL...)
	if err != nil {
		return err
	}
	defer cli.Close()
	deadline := time.Now().Add(within)
	var last error
	for {
		for i, x := range c.exited {
			select {
			case <-x:
				return fmt.Errorf("etcd member %s exited (%v): %s", members[i], c.cmds[i].ProcessState, c.logTail(i))
			default:
			}
		}
		if _, err := c.leader(ctx, cli); err == nil {
			return nil
		} else {
			last = err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("etcd cluster not ready within %s: %v", within, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// leader returns the index of the member that every member names as its
// leader.
func (c *cluster) leader(ctx context.Context, cli *clientv3.Client) (int, error) {
	ids := make([]uint64, len(c.clientURL))
	var lead uint64
	for i, u := range c.clientURL {
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := cli.Status(sctx, u)
		cancel()
		if err != nil {
			return 0, fmt.Errorf("%s: %w", members[i], err)
		}
		if st.Leader == 0 || lead != 0 && st.Leader != lead {
			return 0, fmt.Errorf("%s: no agreed leader yet", members[i])
		}
		lead, ids[i] = st.Leader, st.Header.MemberId
	}
	for i, id := range ids {
		if id == lead {
			return i, nil
		}
	}
	return 0, errors.New("the leader is not one of the members")
}

// pids are the members' process IDs.
func (c *cluster) pids() []int {
	var out []int
	for _, cmd := range c.cmds {
		out = append(out, cmd.Process.Pid)
	}
	return out
}

// logTail is the end of member i's log, for an error message.
func (c *cluster) logTail(i int) string {
	b, _ := os.ReadFile(c.logs[i])
	b = bytes.TrimSpace(b)
	if len(b) > 600 {
		b = b[len(b)-600:]
	}
	return string(b)
}

// stop ends the members with SIGTERM, and SIGKILL for any still running
// after 10 s.
func (c *cluster) stop() {
	for _, cmd := range c.cmds {
		cmd.Process.Signal(syscall.SIGTERM)
	}
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	late := false
	for i, x := range c.exited {
		if !late {
			select {
			case <-x:
				continue
			case <-deadline.C:
				late = true
			}
		}
		c.cmds[i].Process.Kill()
		<-x
	}
}
