package ledger_test

import (
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// dsseKey adapts a Charta key to go-securesystemslib's dsse.SignerVerifier,
// naming the key by keyid (which may be empty).
type dsseKey struct {
	key   *ledger.PrivateKey
	keyid string
}

func (k dsseKey) Sign(_ context.Context, data []byte) ([]byte, error) { return k.key.Sign(data) }
func (k dsseKey) Verify(_ context.Context, data, sig []byte) error {
	if !k.key.Public().Verify(data, sig) {
		return dsse.ErrNoSignature
	}
	return nil
}
func (k dsseKey) KeyID() (string, error)   { return k.keyid, nil }
func (k dsseKey) Public() crypto.PublicKey { return k.key.Public() }

// signDSSE signs a proposal with go-securesystemslib's dsse and returns the
// envelope's JSON with its base64 rewritten by enc.
func signDSSE(t *testing.T, p *ledger.Proposal, enc *base64.Encoding, keys ...dsseKey) []byte {
	t.Helper()
	payload, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var svs []dsse.Signer
	for _, k := range keys {
		svs = append(svs, k)
	}
	s, err := dsse.NewEnvelopeSigner(svs...)
	if err != nil {
		t.Fatal(err)
	}
	env, err := s.SignPayload(context.Background(), ledger.PayloadType, payload)
	if err != nil {
		t.Fatal(err)
	}
	recode := func(b64 string) string {
		b, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			t.Fatal(err)
		}
		return enc.EncodeToString(b)
	}
	env.Payload = recode(env.Payload)
	for i := range env.Signatures {
		env.Signatures[i].Sig = recode(env.Signatures[i].Sig)
	}
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDSSE_EdgesOfTheSpec: envelopes that go-securesystemslib's dsse
// makes, with URL-safe or unpadded base64 and with empty key IDs, as DSSE
// allows, are admitted and applied; an empty key ID resolves to the
// signer's valid key that verifies the signature.
func TestDSSE_EdgesOfTheSpec(t *testing.T) {
	encodings := map[string]*base64.Encoding{
		"standard": base64.StdEncoding, "url-safe": base64.URLEncoding,
		"url-safe unpadded": base64.RawURLEncoding, "standard unpadded": base64.RawStdEncoding,
	}
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range encodings {
			if !yield(k) {
				return
			}
		}
	}) {
		for _, keyid := range []string{"", ledgertest.KeyID("alpha", scheme)} {
			t.Run(name+" keyid="+keyid, func(t *testing.T) {
				f := newFixture(t)
				p := ledgertest.Proposal(f.g.ID(), "alpha", "token.register", "tok-1", f.now,
					ledger.TokenRegister{Hash: ledger.HashToken("x"), Scopes: []string{"read"}, ExpiresAt: t0.Add(48 * 3600e9)})
				raw := signDSSE(t, p, encodings[name], dsseKey{ledgertest.Key("alpha", scheme), keyid})
				if name == "url-safe unpadded" && !strings.ContainsAny(string(raw), "-_") && strings.Contains(string(raw), "=\"") {
					t.Fatalf("not url-safe unpadded: %s", raw)
				}
				f.view(func(v *ledger.View) {
					adm, err := v.Admit(raw, f.now)
					if err != nil {
						t.Fatalf("admit: %v", err)
					}
					if want := ledgertest.KeyID("alpha", scheme); len(adm.SignedBy) != 1 || adm.SignedBy[0] != want {
						t.Fatalf("signed by %v, want %s", adm.SignedBy, want)
					}
				})
				if r := f.raw(raw); r.Outcome.Status != ledger.StatusAccepted {
					t.Fatalf("apply: %s: %s", r.Outcome.Code, r.Outcome.Message)
				}
			})
		}
	}
}

// TestDSSE_EmptyKeyIDRotation: a key rotation signed by the old and the
// new key, neither named, resolves both; an empty key ID that no key of
// the signer verifies is refused.
func TestDSSE_EmptyKeyIDRotation(t *testing.T) {
	f := newFixture(t)
	old, next := ledgertest.Key("alpha", scheme), ledgertest.Key("alpha-next", scheme)
	p := ledgertest.Proposal(f.g.ID(), "alpha", "key.rotate", "rot-1", f.now,
		ledger.KeyRotate{Old: ledgertest.KeyID("alpha", scheme), New: next.Public()})
	raw := signDSSE(t, p, base64.URLEncoding, dsseKey{next, ""}, dsseKey{old, ""})
	f.view(func(v *ledger.View) {
		adm, err := v.Admit(raw, f.now)
		if err != nil {
			t.Fatalf("admit: %v", err)
		}
		want := []string{ledger.KeyID("alpha", next.Public()), ledgertest.KeyID("alpha", scheme)}
		if !slices.Equal(adm.SignedBy, want) {
			t.Fatalf("signed by %v, want %v", adm.SignedBy, want)
		}
	})
	if r := f.raw(raw); r.Outcome.Status != ledger.StatusAccepted {
		t.Fatalf("apply: %s: %s", r.Outcome.Code, r.Outcome.Message)
	}

	// Signed by beta's key but proposed as alpha, with no key ID: alpha's
	// keys do not verify it.
	forged := ledgertest.Proposal(f.g.ID(), "alpha", "token.register", "tok-1", f.now,
		ledger.TokenRegister{Hash: ledger.HashToken("y"), Scopes: []string{"read"}, ExpiresAt: t0.Add(48 * 3600e9)})
	raw = signDSSE(t, forged, base64.StdEncoding, dsseKey{ledgertest.Key("beta", scheme), ""})
	r := f.raw(raw)
	if r.Outcome.Status != ledger.StatusRejected || r.Outcome.Code != ledger.CodeUnauthorized || !strings.Contains(r.Outcome.Message, "no keyid") {
		t.Fatalf("forged: %s %s: %s", r.Outcome.Status, r.Outcome.Code, r.Outcome.Message)
	}
}

// TestDSSE_ThirdPartyVerifiesChartaEnvelopes: an envelope Charta signs
// verifies with go-securesystemslib's dsse verifier.
func TestDSSE_ThirdPartyVerifiesChartaEnvelopes(t *testing.T) {
	f := newFixture(t)
	env := ledgertest.Propose(f.g.ID(), "alpha", "token.register", "tok-1", f.now,
		ledger.TokenRegister{Hash: ledger.HashToken("x"), Scopes: []string{"read"}, ExpiresAt: t0.Add(48 * 3600e9)}, ledgertest.Signer("alpha", scheme))
	var theirs dsse.Envelope
	if err := json.Unmarshal(env.Encode(), &theirs); err != nil {
		t.Fatal(err)
	}
	v, err := dsse.NewEnvelopeVerifier(dsseKey{ledgertest.Key("alpha", scheme), ledgertest.KeyID("alpha", scheme)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), &theirs); err != nil {
		t.Fatalf("dsse verify: %v", err)
	}
}
