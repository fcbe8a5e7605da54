package ledger

import (
	"strings"
	"testing"
)

func TestNodeInfo_Validate(t *testing.T) {
	for _, c := range []struct {
		addr string
		why  string // "" when valid
	}{
		{"10.0.0.7:7000", ""},
		{"node-a.example.org:443", ""},
		{"[2001:db8::1]:7000", ""},
		{"localhost:8080", ""},
		{"http://evil.example/x:80", "not a DNS name"},
		{"user@host:80", "not a DNS name"},
		{"host:80/path", "numeric port"},
		{"host", "not host:port"},
		{":80", "no host"},
		{"host:", "numeric port"},
		{"host:0", "outside 1-65535"},
		{"host:65536", "outside 1-65535"},
		{"host:+80", "numeric port"},
		{"[::1]", "not [ipv6]:port"},
		{"[evil.example]:80", "IPv6 address"},
		{"a:b:80", "not a DNS name"},
		{strings.Repeat("a", 300) + ":80", "longer than 261"},
	} {
		for _, n := range []NodeInfo{{RaftAddr: c.addr}, {APIAddr: c.addr}, {APIAddr: "https://" + c.addr}} {
			err := n.Validate("node")
			switch {
			case c.why == "" && err != nil:
				t.Errorf("%q: %v", c.addr, err)
			case c.why != "" && (err == nil || !strings.Contains(err.Error(), c.why)):
				t.Errorf("%q: got %v, want an error saying %q", c.addr, err, c.why)
			}
		}
	}
	for _, api := range []string{"http://10.0.0.7:8080", "https://node-a.example.org:443/"} {
		if err := (NodeInfo{APIAddr: api}).Validate("node"); err != nil {
			t.Errorf("%q: %v", api, err)
		}
	}
	for _, bad := range []string{"https://node-a.example.org:443/admin", "ftp://host:21", "http://user@host:80", "https://host:80?x=1", "http://10.0.0.7:8080//", "http://https://h:1"} {
		if err := (NodeInfo{APIAddr: bad}).Validate("node"); err == nil {
			t.Errorf("%q passed", bad)
		}
	}
	if err := (NodeInfo{RaftAddr: "http://10.0.0.7:7000"}).Validate("node"); err == nil {
		t.Error("a URL passed as a Raft address")
	}
}
