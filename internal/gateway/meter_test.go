package gateway

import (
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/charta/charta/ledger"
)

func TestParseQuantity(t *testing.T) {
	for _, c := range []struct {
		in string
		q  int64
		ok bool
	}{
		{"0", 0, true},
		{"42", 42, true},
		{" 17 ", 17, true},
		{strconv.FormatInt(ledger.MaxQuantity, 10), ledger.MaxQuantity, true},
		{strconv.FormatInt(ledger.MaxQuantity+1, 10), 0, false},
		{"", 0, false},
		{"-3", 0, false},
		{"+3", 0, false},
		{"1.5", 0, false},
		{"1e3", 0, false},
		{"12, 13", 0, false},
		{"0x10", 0, false},
		{"99999999999999999999", 0, false},
		{"٣", 0, false},       // a non-ASCII digit
		{"\u00850", 0, false}, // Unicode whitespace is not HTTP's
		{"\t9\t", 9, true},
	} {
		q, ok := ParseQuantity(c.in)
		if q != c.q || ok != c.ok {
			t.Errorf("ParseQuantity(%q) = %d, %t; want %d, %t", c.in, q, ok, c.q, c.ok)
		}
	}
}

// FuzzParseQuantity: a metering header never panics, never counts a
// negative or oversized quantity, and what it accepts is the decimal it
// reads.
func FuzzParseQuantity(f *testing.F) {
	for _, s := range []string{"0", "12", " 7", "-1", "1e9", "18446744073709551616", "\x00", "  "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, ok := ParseQuantity(s)
		if q < 0 || q > ledger.MaxQuantity || (!ok && q != 0) {
			t.Fatalf("ParseQuantity(%q) = %d, %t", s, q, ok)
		}
		if ok {
			if n, err := strconv.ParseInt(strings.Trim(s, " \t"), 10, 64); err != nil || n != q {
				t.Fatalf("ParseQuantity(%q) = %d, strconv says %d, %v", s, q, n, err)
			}
		}
	})
}
func TestCountKey_Parts(t *testing.T) {
	kind, f := usageKey("g-1", "2026-01", "tokens").parts()
	if kind != "u" || len(f) != 3 || f[0] != "g-1" || f[1] != "2026-01" || f[2] != "tokens" {
		t.Errorf("usage key: %s %q", kind, f)
	}
	kind, f = poolKey("gpu", "beta").parts()
	if kind != "p" || len(f) != 2 || f[0] != "gpu" || f[1] != "beta" {
		t.Errorf("pool key: %s %q", kind, f)
	}
}

// TestPending_ReserveNeverOvercommits has 64 goroutines reserve one unit
// each of 10 left, with 3 already pending: exactly 7 succeed.
func TestPending_ReserveNeverOvercommits(t *testing.T) {
	var p pending
	k := poolKey("gpu", "beta")
	p.add(k, 3)
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if p.reserve(k, 10, 1) {
				mu.Lock()
				won++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if won != 7 || p.get(k) != 10 {
		t.Fatalf("%d reservations, pending %d; want 7 and 10", won, p.get(k))
	}
	p.add(k, -10)
	if p.get(k) != 0 || !p.reserve(k, 1, 1) || p.reserve(k, 1, 1) {
		t.Fatalf("after release: pending %d", p.get(k))
	}
}
