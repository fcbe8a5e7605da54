package main

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
)

// progress shows a bar on a terminal, and nothing otherwise: a log or a
// pipe gets the command's result, not a count of bytes.
type progress struct {
	w     io.Writer
	what  string
	total int64
	tty   bool
	last  int
}

func newProgress(w io.Writer, what string, total int64) *progress {
	p := &progress{w: w, what: what, total: total}
	if f, ok := w.(*os.File); ok {
		p.tty = term.IsTerminal(int(f.Fd()))
	}
	return p
}

func (p *progress) set(n int) {
	switch {
	case p.tty && p.total > 0:
		pct := int(int64(n) * 100 / p.total)
		if pct != p.last {
			p.last = pct
			bar := pct / 4
			fmt.Fprintf(p.w, "\r%s [%-25s] %3d%%", p.what, string(repeat('#', bar)), pct)
		}
	case p.tty:
		if n-p.last >= 100 {
			p.last = n
			fmt.Fprintf(p.w, "\r%s %d", p.what, n)
		}
	}
}

func (p *progress) done(summary string) {
	if p.tty {
		fmt.Fprintf(p.w, "\r%s: done, %s\033[K\n", p.what, summary)
	}
}

func repeat(c byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = c
	}
	return b
}
