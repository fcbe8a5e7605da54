package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/ledgertest"
)

var issuedAt = time.Date(2026, 3, 1, 12, 30, 0, 0, time.FixedZone("CET", 3600))

// proposalServer is a fake node that serves its consortium ID and accepts
// proposals, verifying them as the node would against keys.
func proposalServer(t *testing.T, keys ...ledger.Signer) (*fake, *atomic.Int32) {
	t.Helper()
	f := newFake(t)
	var statusCalls atomic.Int32
	f.handle("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		statusCalls.Add(1)
		writeJSON(w, 3, map[string]any{"id": "n1", "role": "leader", "consortium": ledgertest.Consortium})
	})
	f.handle("POST /v1/proposals", func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(r.Body)
		e, err := ledger.DecodeEnvelope(buf.Bytes())
		if err != nil {
			writeProblem(w, 400, string(ledger.CodeOf(err)), err.Error(), nil)
			return
		}
		if _, err := e.Verify(ledgertest.Lookup(keys...)); err != nil {
			writeProblem(w, 401, string(ledger.CodeOf(err)), err.Error(), nil)
			return
		}
		p, err := ledger.DecodePayload(e.Payload)
		if err != nil {
			writeProblem(w, 400, string(ledger.CodeOf(err)), err.Error(), nil)
			return
		}
		writeJSON(w, 10, ledger.Result{Index: 10, Seq: 4, EntryHash: e.Hash(), Outcome: ledger.Outcome{Status: ledger.StatusAccepted, Type: p.Type, ID: p.ID, Signer: p.Signer}})
	})
	return f, &statusCalls
}

func TestPropose_EnvelopeVerifies(t *testing.T) {
	acme := ledgertest.Signer("acme", ledger.SchemeEd25519)
	f, statusCalls := proposalServer(t, acme)
	c := f.client(WithSigner(acme), WithClock(func() time.Time { return issuedAt }))
	ctx := ctxT(t)

	res, err := c.Propose(ctx, "grant.accept", "acme-accept-1", ledger.GrantRef{Grant: "g1"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Index != 10 || res.Seq != 4 || res.Outcome.Status != ledger.StatusAccepted || res.Outcome.Signer != "acme" {
		t.Errorf("result = %+v", res)
	}
	if c.LastIndex() != 10 {
		t.Errorf("LastIndex = %d, want 10", c.LastIndex())
	}

	// The envelope is what the ledger accepts, signed over the payload we
	// meant to send.
	body := f.requests("/v1/proposals")[0].Body
	e, err := ledger.DecodeEnvelope(body)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(e.Encode(), body) {
		t.Error("the client did not send the canonical envelope encoding")
	}
	ids, err := e.Verify(ledgertest.Lookup(acme))
	if err != nil || !slices.Equal(ids, []string{acme.KeyID}) {
		t.Fatalf("Verify = %v, %v", ids, err)
	}
	p, err := ledger.DecodePayload(e.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if p.V != 1 || p.Consortium != ledgertest.Consortium || p.ID != "acme-accept-1" || p.Type != "grant.accept" ||
		p.Signer != "acme" || !p.IssuedAt.Equal(issuedAt) || p.IssuedAt.Location() != time.UTC {
		t.Errorf("payload = %+v", p)
	}
	var ref ledger.GrantRef
	if err := p.DecodeBody(&ref); err != nil || ref.Grant != "g1" {
		t.Errorf("body = %s (%v)", p.Body, err)
	}

	// The consortium ID is fetched once.
	if _, err := c.Propose(ctx, "grant.accept", "", json.RawMessage(`{"grant":"g2"}`)); err != nil {
		t.Fatal(err)
	}
	if n := statusCalls.Load(); n != 1 {
		t.Errorf("GET /v1/status called %d times, want 1", n)
	}
	e2, _ := ledger.DecodeEnvelope(f.requests("/v1/proposals")[1].Body)
	p2, _ := ledger.DecodePayload(e2.Payload)
	if len(p2.ID) != 32 || string(p2.Body) != `{"grant":"g2"}` {
		t.Errorf("generated ID %q, body %s", p2.ID, p2.Body)
	}
}

func TestPropose_WithConsortiumSkipsStatus(t *testing.T) {
	acme := ledgertest.Signer("acme", ledger.SchemeEd25519)
	f, statusCalls := proposalServer(t, acme)
	c := f.client(WithSigner(acme), WithConsortium(ledgertest.Consortium))
	if _, err := c.Propose(ctxT(t), "grant.accept", "a1", ledger.GrantRef{Grant: "g1"}); err != nil {
		t.Fatal(err)
	}
	if n := statusCalls.Load(); n != 0 {
		t.Errorf("GET /v1/status called %d times with WithConsortium", n)
	}
}

func TestPropose_NoSigner(t *testing.T) {
	f, _ := proposalServer(t)
	_, err := f.client().Propose(ctxT(t), "grant.accept", "a1", ledger.GrantRef{Grant: "g1"})
	if err == nil {
		t.Fatal("Propose without a signer: no error")
	}
	if n := len(f.requests("/v1/proposals")); n != 0 {
		t.Errorf("sent %d proposals", n)
	}
}

func TestPropose_KeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "acme.key")
	k := ledgertest.Key("acme", ledger.SchemeEd25519)
	if err := ledger.WriteKeyFile(path, "acme", k); err != nil {
		t.Fatal(err)
	}
	acme := ledger.NewSigner("acme", k)
	f, _ := proposalServer(t, acme)
	c := f.client(WithKeyFile(path))
	if _, err := c.Propose(ctxT(t), "grant.accept", "a1", ledger.GrantRef{Grant: "g1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(f.srv.URL, WithKeyFile(filepath.Join(t.TempDir(), "missing.key"))); err == nil {
		t.Error("WithKeyFile(missing): no error")
	}
}

func TestProposeMulti_OneEnvelopeSeveralSignatures(t *testing.T) {
	acme := ledgertest.Signer("acme", ledger.SchemeEd25519)
	beta := ledgertest.Signer("beta", ledger.DefaultScheme) // the composite scheme
	f, _ := proposalServer(t, acme, beta)
	c := f.client(WithClock(func() time.Time { return issuedAt }))
	body := map[string]any{"id": "m1", "kind": "model"}
	if _, err := c.ProposeMulti(ctxT(t), "asset.register", "reg-m1", body, beta, acme); err != nil {
		t.Fatal(err)
	}
	e, _ := ledger.DecodeEnvelope(f.requests("/v1/proposals")[0].Body)
	ids, err := e.Verify(ledgertest.Lookup(acme, beta))
	if err != nil || !slices.Equal(ids, []string{beta.KeyID, acme.KeyID}) {
		t.Fatalf("Verify = %v, %v", ids, err)
	}
	p, _ := ledger.DecodePayload(e.Payload)
	if p.Signer != "beta" {
		t.Errorf("signer = %q, want the first signer's member", p.Signer)
	}
}

func TestCosign_OfflineMultiParty(t *testing.T) {
	acme := ledgertest.Signer("acme", ledger.SchemeEd25519)
	beta := ledgertest.Signer("beta", ledger.SchemeEd25519)
	f, _ := proposalServer(t, acme, beta)
	c := f.client(WithSigner(acme), WithConsortium(ledgertest.Consortium))
	ctx := ctxT(t)

	e, err := c.Sign(ctx, "bundle.offer", "b1", map[string]any{"id": "b1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.requests("/v1/proposals")) != 0 {
		t.Fatal("Sign submitted")
	}
	signed, err := Cosign(e.Encode(), beta)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Cosign(signed, beta); err == nil {
		t.Error("Cosign by a key that already signed: no error")
	}
	forged := ledger.Signer{KeyID: acme.KeyID, Key: beta.Key}
	if _, err := Cosign(e.Encode(), forged); err == nil {
		t.Error("Cosign with a key ID that does not match the key: no error")
	}
	if _, err := Cosign([]byte(`{}`), beta); !errors.Is(err, ErrInvalid) && !errors.Is(err, ledger.Errorf(ledger.CodeInvalid, "")) {
		t.Errorf("Cosign of a malformed envelope: %v", err)
	}

	d, err := ledger.DecodeEnvelope(signed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(d.Payload, e.Payload) {
		t.Error("Cosign changed the payload")
	}
	if ids, err := d.Verify(ledgertest.Lookup(acme, beta)); err != nil || !slices.Equal(ids, []string{acme.KeyID, beta.KeyID}) {
		t.Fatalf("Verify = %v, %v", ids, err)
	}
	if _, err := c.Submit(ctx, signed); err != nil {
		t.Fatal(err)
	}
	if got := f.requests("/v1/proposals")[0].Body; !bytes.Equal(got, signed) {
		t.Error("Submit did not send the envelope as given")
	}
}

func TestSubmit_ResubmitsIdenticalEnvelope(t *testing.T) {
	acme := ledgertest.Signer("acme", ledger.SchemeEd25519)
	f := newFake(t)
	var calls atomic.Int32
	f.handle("POST /v1/proposals", func(w http.ResponseWriter, r *http.Request) {
		switch calls.Add(1) {
		case 1:
			// The connection breaks before an answer: the outcome is unknown.
			hj, _ := w.(http.Hijacker)
			conn, _, _ := hj.Hijack()
			_ = conn.Close()
		case 2:
			writeProblem(w, 503, "unavailable", "resubmit the same proposal; it is idempotent", map[string]any{"resubmit": true})
		case 3:
			w.Header().Set("Retry-After", "0")
			writeProblem(w, 429, "rate_limited", "too many proposals in flight", nil)
		default:
			writeJSON(w, 21, ledger.Result{Index: 20, Seq: 9, Outcome: ledger.Outcome{Status: ledger.StatusAccepted}, Duplicate: true})
		}
	})
	c := f.client(WithSigner(acme), WithConsortium(ledgertest.Consortium))
	res, err := c.Propose(ctxT(t), "grant.accept", "a1", ledger.GrantRef{Grant: "g1"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Duplicate || res.Index != 20 {
		t.Errorf("result = %+v", res)
	}
	reqs := f.requests("/v1/proposals")
	if len(reqs) != 4 {
		t.Fatalf("sent %d times, want 4", len(reqs))
	}
	for i, r := range reqs[1:] {
		if !bytes.Equal(r.Body, reqs[0].Body) {
			t.Errorf("attempt %d sent a different envelope: the proposal was re-signed", i+2)
		}
	}
	if c.LastIndex() != 21 {
		t.Errorf("LastIndex = %d, want 21", c.LastIndex())
	}
}

func TestSubmit_GivesUpAtDeadline(t *testing.T) {
	f := newFake(t)
	f.handle("POST /v1/proposals", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, 503, "unavailable", "no leader", map[string]any{"resubmit": true})
	})
	c := f.client(WithRetry(RetryPolicy{MaxElapsed: 100 * time.Millisecond, InitialBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}))
	start := time.Now()
	_, err := c.Submit(ctxT(t), []byte(`{"x":1}`))
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("gave up after %v", d)
	}
	if n := len(f.requests("/v1/proposals")); n < 2 {
		t.Errorf("sent %d times, want retries", n)
	}
}

func TestSubmit_RejectedIsNotRetried(t *testing.T) {
	f := newFake(t)
	f.handle("POST /v1/proposals", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, 422, "rejected", "grant g1: not offered", map[string]any{
			"index": 30, "entry_hash": "0000000000000000000000000000000000000000000000000000000000000001",
		})
	})
	c := f.client()
	res, err := c.Submit(ctxT(t), []byte(`{"x":1}`))
	if !errors.Is(err, ErrRejected) {
		t.Fatalf("err = %v", err)
	}
	if res == nil || res.Index != 30 || res.EntryHash[31] != 1 || res.Outcome.Message != "grant g1: not offered" {
		t.Errorf("result = %+v", res)
	}
	if n := len(f.requests("/v1/proposals")); n != 1 {
		t.Errorf("sent %d times, want 1", n)
	}
	if c.LastIndex() != 30 {
		t.Errorf("LastIndex = %d, want 30", c.LastIndex())
	}
}

func TestSubmit_RejectedOutcomeIn200(t *testing.T) {
	f := newFake(t)
	f.handle("POST /v1/proposals", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 8, ledger.Result{Index: 8, Outcome: ledger.Outcome{Status: ledger.StatusRejected, Code: ledger.CodeConflict, Message: "clash"}})
	})
	res, err := f.client().Submit(ctxT(t), []byte(`{"x":1}`))
	var e *Error
	if !errors.As(err, &e) || e.Code != ledger.CodeConflict || e.Status != 409 || res == nil || res.Index != 8 {
		t.Errorf("res = %+v, err = %v", res, err)
	}
}

func TestSubmitEnvelope_SendsCanonicalBytes(t *testing.T) {
	acme := ledgertest.Signer("acme", ledger.SchemeEd25519)
	f, _ := proposalServer(t, acme)
	e := ledgertest.Propose(ledgertest.Consortium, "acme", "grant.accept", "x1", issuedAt, ledger.GrantRef{Grant: "g1"}, acme)
	res, err := f.client().SubmitEnvelope(ctxT(t), e)
	if err != nil {
		t.Fatal(err)
	}
	if res.EntryHash != ledger.Hash(e.Hash()) {
		t.Errorf("entry hash %s, want the envelope's", res.EntryHash)
	}
	if got := f.requests("/v1/proposals")[0].Body; !bytes.Equal(got, e.Encode()) {
		t.Error("sent bytes differ from the canonical encoding")
	}
}
