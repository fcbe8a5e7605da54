package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// TestRetryNotice_SaysWhyACommandWaits: a command whose node is down says
// so at once, on one line of stderr, instead of staying silent for the
// client's whole retry budget.
func TestRetryNotice_SaysWhyACommandWaits(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now

	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"status", "--server", "http://" + addr, "--token", "t"}, &stdout, &stderr)
	if code == 0 {
		t.Fatalf("exit 0 with no node; stdout %s", stdout.String())
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	want := "charta: http://" + addr + " is unavailable (connection refused); retrying for up to 30s"
	if len(lines) == 0 || !strings.HasPrefix(lines[0], want) || strings.Count(stderr.String(), "retrying") != 1 {
		t.Fatalf("stderr:\n%s\nwant its first line to start %q, once", stderr.String(), want)
	}
}
