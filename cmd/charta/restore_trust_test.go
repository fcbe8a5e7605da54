package main

import (
	"strings"
	"testing"
)

// --trust-journal-head takes SIZE:ROOT as charta restore prints it, and
// nothing else.
func TestParseJournalHead(t *testing.T) {
	root := strings.Repeat("ab", 32)
	h, err := parseJournalHead("42:" + root)
	if err != nil || h.Size != 42 || h.Root.String() != root {
		t.Fatalf("42:%s: %+v %v", root, h, err)
	}
	for _, bad := range []string{"", "42", "0:" + root, "x:" + root, "42:" + root[:62], "42:" + strings.Repeat("zz", 32)} {
		if _, err := parseJournalHead(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
