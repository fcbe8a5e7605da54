package seal_test

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/seal"
)

var members = []string{"delta", "beta", "alpha", "gamma"}

// TestSeal_RoundTrip: sealed to 1 to 4 recipients given in any order,
// every recipient opens the plaintext and the same opening, which
// verifies against the commitment; the wraps are sorted and name each
// recipient's key.
func TestSeal_RoundTrip(t *testing.T) {
	for n := 1; n <= len(members); n++ {
		rs := members[:n]
		t.Run(strings.Join(rs, ","), func(t *testing.T) {
			s, o := mustSeal(t, testTerms, rs...)
			if err := s.Validate(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(o.Plaintext, testTerms) || len(o.Salt) != seal.SaltSize {
				t.Fatalf("opening %+v", o)
			}
			if got, want := len(s.Ciphertext), seal.SaltSize+len(testTerms)+16; got != want {
				t.Fatalf("ciphertext %d bytes, want %d", got, want)
			}
			if err := seal.VerifyDisclosure(s.Commitment, o); err != nil {
				t.Fatal(err)
			}
			sorted := slices.Sorted(slices.Values(rs))
			if len(s.Wraps) != n {
				t.Fatalf("%d wraps", len(s.Wraps))
			}
			for i, w := range s.Wraps {
				if w.Member != sorted[i] || w.KeyFingerprint != testKey(t, w.Member).Public().Fingerprint() {
					t.Fatalf("wrap %d: %s %s", i, w.Member, w.KeyFingerprint)
				}
			}
			for _, m := range rs {
				pt, got, err := seal.Open(s, m, testKey(t, m), testBinding)
				if err != nil {
					t.Fatalf("%s: %v", m, err)
				}
				if !bytes.Equal(pt, testTerms) || !bytes.Equal(got.Plaintext, testTerms) || !bytes.Equal(got.Salt, o.Salt) {
					t.Fatalf("%s opened %q / %+v", m, pt, got)
				}
				// The plaintext and the opening are separate copies.
				pt[0] ^= 0xff
				if got.Plaintext[0] == pt[0] {
					t.Fatalf("%s: the plaintext and the opening share memory", m)
				}
			}
		})
	}
}

// TestSeal_EmptyPlaintext: an empty plaintext seals, opens and discloses.
func TestSeal_EmptyPlaintext(t *testing.T) {
	s, o := mustSeal(t, nil, "alpha")
	pt, got, err := seal.Open(s, "alpha", testKey(t, "alpha"), testBinding)
	if err != nil || len(pt) != 0 || !bytes.Equal(got.Salt, o.Salt) {
		t.Fatalf("%q %v", pt, err)
	}
	if err := seal.VerifyDisclosure(s.Commitment, o); err != nil {
		t.Fatal(err)
	}
}

// TestSeal_Fresh: sealing the same terms twice gives unrelated objects:
// another salt and commitment, another ciphertext and another
// encapsulation, so nobody can tell from the ledger that two grants carry
// the same terms.
func TestSeal_Fresh(t *testing.T) {
	a, oa := mustSeal(t, testTerms, "alpha")
	b, ob := mustSeal(t, testTerms, "alpha")
	switch {
	case a.Commitment == b.Commitment, bytes.Equal(oa.Salt, ob.Salt):
		t.Fatal("same commitment or salt")
	case bytes.Equal(a.Nonce, b.Nonce), bytes.Equal(a.Ciphertext, b.Ciphertext):
		t.Fatal("same nonce or ciphertext")
	case bytes.Equal(a.Wraps[0].Enc, b.Wraps[0].Enc), bytes.Equal(a.Wraps[0].WrappedKey, b.Wraps[0].WrappedKey):
		t.Fatal("same wrap")
	}
}

// TestSeal_Rejects: bad recipients, bindings and sizes fail with
// ErrMalformed before anything is encrypted.
func TestSeal_Rejects(t *testing.T) {
	alpha := testKey(t, "alpha").Public()
	many := make([]seal.Recipient, seal.MaxRecipients+1)
	for i := range many {
		many[i] = seal.Recipient{Member: "m" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Key: alpha}
	}
	long := strings.Repeat("x", seal.MaxBindingField+1)
	for _, c := range []struct {
		name      string
		plaintext []byte
		rs        []seal.Recipient
		bind      seal.Binding
		want      string
	}{
		{"no recipients", testTerms, nil, testBinding, "recipients: missing"},
		{"too many recipients", testTerms, many, testBinding, "at most 32"},
		{"duplicate member", testTerms, []seal.Recipient{{"alpha", alpha}, {"beta", alpha}, {"alpha", alpha}}, testBinding, "alpha: listed twice"},
		{"invalid member", testTerms, []seal.Recipient{{"Alpha", alpha}}, testBinding, "is not a member ID"},
		{"missing key", testTerms, []seal.Recipient{{"alpha", seal.PublicKey{}}}, testBinding, "alpha: missing key"},
		{"plaintext too large", make([]byte, seal.MaxPlaintextSize+1), []seal.Recipient{{"alpha", alpha}}, testBinding, "longer than 262144"},
		{"no consortium", testTerms, []seal.Recipient{{"alpha", alpha}}, seal.Binding{Kind: "grant", ID: "g"}, "consortium: missing"},
		{"no kind", testTerms, []seal.Recipient{{"alpha", alpha}}, seal.Binding{Consortium: "c", ID: "g"}, "kind: missing"},
		{"no id", testTerms, []seal.Recipient{{"alpha", alpha}}, seal.Binding{Consortium: "c", Kind: "grant"}, "id: missing"},
		{"long id", testTerms, []seal.Recipient{{"alpha", alpha}}, seal.Binding{Consortium: "c", Kind: "grant", ID: long}, "longer than 256"},
		{"invalid UTF-8", testTerms, []seal.Recipient{{"alpha", alpha}}, seal.Binding{Consortium: "c", Kind: "gr\xffant", ID: "g"}, "invalid UTF-8"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, _, err := seal.Seal(c.plaintext, c.rs, c.bind)
			if s != nil {
				t.Fatal("sealed")
			}
			wantErr(t, err, seal.ErrMalformed)
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not say %q", err, c.want)
			}
		})
	}
	// The largest plaintext allowed seals and opens.
	s, _, err := seal.Seal(make([]byte, seal.MaxPlaintextSize), []seal.Recipient{{"alpha", alpha}}, testBinding)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := seal.Open(s, "alpha", testKey(t, "alpha"), testBinding); err != nil {
		t.Fatal(err)
	}
}

// TestOpen_NotRecipient: a member without a wrap, and a recipient holding
// only another key, get ErrNotRecipient (forbidden), and no plaintext.
func TestOpen_NotRecipient(t *testing.T) {
	s, _ := mustSeal(t, testTerms, "alpha", "beta")
	for _, c := range []struct {
		name, member string
		keys         []*seal.PrivateKey
		want         string
	}{
		{"outsider", "gamma", []*seal.PrivateKey{testKey(t, "gamma")}, `member "gamma" is not a recipient`},
		{"outsider with a recipient's key", "gamma", []*seal.PrivateKey{testKey(t, "alpha")}, "not a recipient"},
		{"recipient with another's key", "alpha", []*seal.PrivateKey{testKey(t, "beta")}, "alpha's wrap is for the key " + testKey(t, "alpha").Public().Fingerprint()},
		{"recipient with no key", "alpha", nil, "none of the 0 key(s)"},
		{"recipient with a nil key", "alpha", []*seal.PrivateKey{nil}, "none of the 1 key(s)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			pt, o, err := seal.OpenWith(s, c.member, testBinding, c.keys...)
			wantErr(t, err, seal.ErrNotRecipient)
			if pt != nil || o.Plaintext != nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("%q %v", pt, err)
			}
			if ledger.CodeOf(err) != ledger.CodeForbidden {
				t.Fatalf("code %s", ledger.CodeOf(err))
			}
		})
	}
}

// TestOpen_RetiredKey: an object sealed to a key the member has since
// retired opens with OpenWith given the current and the retired keys, in
// any order, and not with the current key alone.
func TestOpen_RetiredKey(t *testing.T) {
	retired, current := testKey(t, "alpha-2029"), testKey(t, "alpha")
	s, _, err := seal.Seal(testTerms, []seal.Recipient{{"alpha", retired.Public()}, {"beta", testKey(t, "beta").Public()}}, testBinding)
	if err != nil {
		t.Fatal(err)
	}
	for _, keys := range [][]*seal.PrivateKey{{current, retired}, {retired, current}, {nil, current, retired}} {
		pt, _, err := seal.OpenWith(s, "alpha", testBinding, keys...)
		if err != nil || !bytes.Equal(pt, testTerms) {
			t.Fatalf("%q %v", pt, err)
		}
	}
	_, _, err = seal.Open(s, "alpha", current, testBinding)
	wantErr(t, err, seal.ErrNotRecipient)
}

// TestOpen_WrongBinding: an object opened as if it belonged to another
// consortium, kind or object fails with ErrCorrupt, as does one whose
// binding fields were shifted between each other.
func TestOpen_WrongBinding(t *testing.T) {
	s, _ := mustSeal(t, testTerms, "alpha")
	b := testBinding
	for name, other := range map[string]seal.Binding{
		"consortium": {Consortium: b.Consortium[:63] + "f", Kind: b.Kind, ID: b.ID},
		"kind":       {Consortium: b.Consortium, Kind: "bundle", ID: b.ID},
		"id":         {Consortium: b.Consortium, Kind: b.Kind, ID: b.ID + "x"},
		"shifted":    {Consortium: b.Consortium, Kind: b.Kind + b.ID[:1], ID: b.ID[1:]},
	} {
		pt, _, err := seal.Open(s, "alpha", testKey(t, "alpha"), other)
		wantErr(t, err, seal.ErrCorrupt)
		if pt != nil || !strings.Contains(err.Error(), "another binding") {
			t.Fatalf("%s: %q %v", name, pt, err)
		}
	}
	_, _, err := seal.Open(s, "alpha", testKey(t, "alpha"), seal.Binding{})
	wantErr(t, err, seal.ErrMalformed)
}

// TestOpen_ByteFlips: flipping a bit in any byte of the
// ciphertext, the nonce, the commitment, or a wrap's enc or wrapped key is
// detected, for every recipient, and yields no plaintext.
func TestOpen_ByteFlips(t *testing.T) {
	s, _ := mustSeal(t, testTerms, "alpha", "beta")
	fields := map[string]func(c *seal.Sealed) []byte{
		"ciphertext":       func(c *seal.Sealed) []byte { return c.Ciphertext },
		"nonce":            func(c *seal.Sealed) []byte { return c.Nonce },
		"commitment":       func(c *seal.Sealed) []byte { return c.Commitment[:] },
		"wraps[0].enc":     func(c *seal.Sealed) []byte { return c.Wraps[0].Enc },
		"wraps[0].wrapped": func(c *seal.Sealed) []byte { return c.Wraps[0].WrappedKey },
		"wraps[1].enc":     func(c *seal.Sealed) []byte { return c.Wraps[1].Enc },
		"wraps[1].wrapped": func(c *seal.Sealed) []byte { return c.Wraps[1].WrappedKey },
	}
	for name, field := range fields {
		t.Run(name, func(t *testing.T) {
			n := len(field(s))
			for i := range n {
				c := clone(s)
				field(c)[i] ^= byte(1 << (i % 8)) // a different bit in each byte
				// A flipped wrap concerns only its member, who must fail;
				// the other still opens. A shared field fails for both.
				for j, m := range []string{"alpha", "beta"} {
					pt, _, err := seal.Open(c, m, testKey(t, m), testBinding)
					if unaffected := strings.HasPrefix(name, "wraps[") && !strings.HasPrefix(name, "wraps["+strconv.Itoa(j)); unaffected {
						if err != nil {
							t.Fatalf("byte %d of another's wrap, %s: %v", i, m, err)
						}
						continue
					}
					if pt != nil || !isErr(err, seal.ErrCorrupt) {
						t.Fatalf("byte %d, %s: %q %v", i, m, pt, err)
					}
				}
			}
		})
	}
}

// TestOpen_Relabelled: a wrap renamed to another member, a wrap or a
// ciphertext moved in from another object under the same binding, and a
// fingerprint changed to another key's all fail.
func TestOpen_Relabelled(t *testing.T) {
	s, _ := mustSeal(t, testTerms, "alpha", "beta")
	other, _ := mustSeal(t, testTerms, "alpha", "beta")
	alpha := testKey(t, "alpha")

	renamed := clone(s)
	renamed.Wraps[0].Member = "alpha-labs" // still sorted before beta
	_, _, err := seal.Open(renamed, "alpha-labs", alpha, testBinding)
	wantErr(t, err, seal.ErrCorrupt)

	wrapMoved := clone(s)
	wrapMoved.Wraps[0] = other.Wraps[0]
	_, _, err = seal.Open(wrapMoved, "alpha", alpha, testBinding)
	wantErr(t, err, seal.ErrCorrupt)

	payloadMoved := clone(s)
	payloadMoved.Nonce, payloadMoved.Ciphertext = other.Nonce, other.Ciphertext
	_, _, err = seal.Open(payloadMoved, "alpha", alpha, testBinding)
	wantErr(t, err, seal.ErrCorrupt)

	// The commitment moved along with the payload: the wraps, which
	// bind the commitment, no longer match.
	payloadMoved.Commitment = other.Commitment
	_, _, err = seal.Open(payloadMoved, "alpha", alpha, testBinding)
	wantErr(t, err, seal.ErrCorrupt)

	// beta's wrap relabelled with alpha's fingerprint, so that alpha's
	// key is tried on it.
	refingered := clone(s)
	refingered.Wraps[1].KeyFingerprint = alpha.Public().Fingerprint()
	_, _, err = seal.OpenWith(refingered, "beta", testBinding, alpha)
	wantErr(t, err, seal.ErrCorrupt)
}

// TestOpen_Truncation: a ciphertext cut at any length, or extended, fails;
// below the salt and tag it is malformed, above it corrupt. Truncated
// encapsulations and wrapped keys are malformed.
func TestOpen_Truncation(t *testing.T) {
	s, _ := mustSeal(t, testTerms, "alpha")
	alpha := testKey(t, "alpha")
	for n := 0; n < len(s.Ciphertext); n++ {
		c := clone(s)
		c.Ciphertext = c.Ciphertext[:n]
		want := seal.ErrCorrupt
		if n < seal.SaltSize+16 {
			want = seal.ErrMalformed
		}
		pt, _, err := seal.Open(c, "alpha", alpha, testBinding)
		if pt != nil || !isErr(err, want) {
			t.Fatalf("ciphertext cut to %d: %q %v", n, pt, err)
		}
	}
	c := clone(s)
	c.Ciphertext = append(c.Ciphertext, 0)
	_, _, err := seal.Open(c, "alpha", alpha, testBinding)
	wantErr(t, err, seal.ErrCorrupt)

	for _, cut := range []func(c *seal.Sealed){
		func(c *seal.Sealed) { c.Wraps[0].Enc = c.Wraps[0].Enc[:seal.EncSize-1] },
		func(c *seal.Sealed) { c.Wraps[0].WrappedKey = c.Wraps[0].WrappedKey[:seal.WrappedKeySize-1] },
		func(c *seal.Sealed) { c.Nonce = c.Nonce[:seal.NonceSize-1] },
	} {
		c := clone(s)
		cut(c)
		_, _, err := seal.Open(c, "alpha", alpha, testBinding)
		wantErr(t, err, seal.ErrMalformed)
	}
}

// TestOpen_LyingSealer: an object whose sealer committed to other terms
// than it encrypted opens to ErrCommitmentMismatch for every recipient,
// never to the plaintext; this is what a party checks before it accepts.
func TestOpen_LyingSealer(t *testing.T) {
	claimed := bytes.Replace(testTerms, []byte("1250000"), []byte("9990000"), 1)
	s, err := seal.SealLying(bytes.NewReader(stream("lying", 1024)), testTerms, claimed, recipients(t, "alpha", "beta"), testBinding)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(); err != nil {
		t.Fatalf("a lying object is well-formed, and must pass Validate: %v", err)
	}
	for _, m := range []string{"alpha", "beta"} {
		pt, o, err := seal.Open(s, m, testKey(t, m), testBinding)
		wantErr(t, err, seal.ErrCommitmentMismatch)
		if pt != nil || o.Plaintext != nil || ledger.CodeOf(err) != ledger.CodeRejected {
			t.Fatalf("%s: %q %v", m, pt, err)
		}
	}
}

// TestVerifyDisclosure: the opening verifies against its commitment; a
// forged plaintext, a forged salt, an opening of another object and a
// malformed salt do not.
func TestVerifyDisclosure(t *testing.T) {
	s, o := mustSeal(t, testTerms, "alpha")
	other, otherOpening := mustSeal(t, testTerms, "alpha")
	if err := seal.VerifyDisclosure(s.Commitment, o); err != nil {
		t.Fatal(err)
	}
	if want := seal.Commit(o.Salt, o.Plaintext); want != s.Commitment {
		t.Fatal("the commitment is not the documented formula")
	}
	forged := bytes.Replace(testTerms, []byte("1250000"), []byte("1000000"), 1)
	for name, c := range map[string]struct {
		commitment ledger.Hash
		o          seal.Opening
		want       error
	}{
		"forged plaintext":          {s.Commitment, seal.Opening{Salt: o.Salt, Plaintext: forged}, seal.ErrCommitmentMismatch},
		"appended plaintext":        {s.Commitment, seal.Opening{Salt: o.Salt, Plaintext: append(bytes.Clone(testTerms), ' ')}, seal.ErrCommitmentMismatch},
		"forged salt":               {s.Commitment, seal.Opening{Salt: otherOpening.Salt, Plaintext: testTerms}, seal.ErrCommitmentMismatch},
		"other object":              {other.Commitment, o, seal.ErrCommitmentMismatch},
		"salt moved into plaintext": {s.Commitment, seal.Opening{Salt: o.Salt[:31], Plaintext: append(o.Salt[31:], testTerms...)}, seal.ErrMalformed},
		"no salt":                   {s.Commitment, seal.Opening{Plaintext: testTerms}, seal.ErrMalformed},
		"too large":                 {s.Commitment, seal.Opening{Salt: o.Salt, Plaintext: make([]byte, seal.MaxPlaintextSize+1)}, seal.ErrMalformed},
	} {
		if err := seal.VerifyDisclosure(c.commitment, c.o); !isErr(err, c.want) {
			t.Fatalf("%s: %v", name, err)
		}
	}
}
