package seal_test

import (
	"strconv"
	"testing"

	"github.com/charta/charta/ledger/seal"
)

// BenchmarkSeal seals a grant's terms to two parties, and to two parties
// and an auditor: one X-Wing encapsulation per recipient dominates.
func BenchmarkSeal(b *testing.B) {
	for _, n := range []int{2, 3} {
		rs := recipients(b, members[:n]...)
		b.Run("recipients="+strconv.Itoa(n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(testTerms)))
			for b.Loop() {
				if _, _, err := seal.Seal(testTerms, rs, testBinding); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOpen opens the terms as one of three recipients: validation,
// one X-Wing decapsulation, two AES-GCM openings and the commitment.
func BenchmarkOpen(b *testing.B) {
	s, _ := mustSeal(b, testTerms, "alpha", "beta", "gamma")
	k := testKey(b, "beta")
	b.ReportAllocs()
	b.SetBytes(int64(len(testTerms)))
	for b.Loop() {
		if _, _, err := seal.Open(s, "beta", k, testBinding); err != nil {
			b.Fatal(err)
		}
	}
}
