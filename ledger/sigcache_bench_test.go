package ledger

import (
	"crypto/rand"
	"crypto/sha256"
	"testing"
)

// BenchmarkSigCacheHit measures the signature cache's hit path for a
// composite (ML-DSA-65 + Ed25519) signature: what Apply pays for each
// signature that the API's precheck or Preverify already verified.
func BenchmarkSigCacheHit(b *testing.B) {
	k, err := GenerateKey(SchemeComposite, rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	v, err := k.Public().Parse()
	if err != nil {
		b.Fatal(err)
	}
	msg := PAE(PayloadType, []byte(`{"v":1,"type":"usage.report"}`))
	sig, err := k.Sign(msg)
	if err != nil {
		b.Fatal(err)
	}
	env := Hash(sha256.Sum256(append(append([]byte(nil), msg...), sig...)))
	c := newSigCache()
	if !c.verify(v, &env, 0, msg, sig) {
		b.Fatal("the signature does not verify")
	}
	b.ReportAllocs()
	for b.Loop() {
		if !c.verify(v, &env, 0, msg, sig) {
			b.Fatal("miss")
		}
	}
}
