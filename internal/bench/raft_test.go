package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/charta/charta/consensus"
)

// TestServeRaftBaseline runs the raw-Raft baseline's three servers, as the
// three processes of charta bench do, and drives them through the control
// API: one leader, a run on it that commits entries, and refusals for a
// follower and for malformed requests.
func TestServeRaftBaseline(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Raft cluster")
	}
	dir := t.TempDir()
	caCert, caKey, err := consensus.NewCA("bench-test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ca := write("ca.crt", caCert)
	var nodes []RaftNode
	for _, id := range []string{"a", "b", "c"} {
		cert, key, err := consensus.IssueNodeCert(caCert, caKey, id, []string{"127.0.0.1"}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, RaftNode{ID: id, Addr: freeAddr(t),
			TLS: consensus.TLSFiles{CAFile: ca, CertFile: write(id+".crt", cert), KeyFile: write(id+".key", key)}})
	}
	ctx, cancel := context.WithCancel(context.Background())
	var controls []string
	done := make(chan error, len(nodes))
	for _, n := range nodes {
		spec := RaftSpec{Dir: filepath.Join(dir, "raft"), Self: n.ID, Nodes: nodes, Control: freeAddr(t)}
		controls = append(controls, "http://"+spec.Control)
		go func() { done <- ServeRaftBaseline(ctx, spec, io.Discard) }()
	}
	defer func() {
		cancel()
		for range nodes {
			if err := <-done; err != nil {
				t.Errorf("server: %v", err)
			}
		}
	}()

	status := func(method, url string, body []byte) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, url, bytes.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	leader, follower := "", ""
	for deadline := time.Now().Add(30 * time.Second); leader == "" || follower == ""; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no leader within 30 s")
		}
		leader, follower = "", ""
		for _, u := range controls {
			switch code, _ := status(http.MethodGet, u+"/leader", nil); code {
			case http.StatusOK:
				leader = u
			case http.StatusConflict:
				follower = u
			}
		}
	}

	req, _ := json.Marshal(RaftRunRequest{Name: "raft test 2c", Clients: 2, Size: 512, Duration: 300 * time.Millisecond})
	code, body := status(http.MethodPost, leader+"/run", req)
	if code != http.StatusOK {
		t.Fatalf("run on the leader: %d %s", code, body)
	}
	var res Result
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatal(err)
	}
	if res.Name != "raft test 2c" || res.Clients != 2 || res.Ops == 0 || res.Errors != 0 || res.Latency.P50 <= 0 {
		t.Fatalf("result %+v, want committed entries from 2 clients and no errors", res)
	}
	if code, body := status(http.MethodPost, follower+"/run", req); code != http.StatusConflict {
		t.Errorf("run on a follower: %d %s, want 409", code, body)
	}
	for _, bad := range []string{`{"clients":1,"duration":1000000}`, `{"clients":0,"size":10,"duration":1000000}`, `{"clients":`} {
		if code, body := status(http.MethodPost, leader+"/run", []byte(bad)); code != http.StatusBadRequest {
			t.Errorf("run %s: %d %s, want 400", bad, code, body)
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return fmt.Sprintf("127.0.0.1:%d", ln.Addr().(*net.TCPAddr).Port)
}
