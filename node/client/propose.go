package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/api"
)

// Submit posts a signed envelope (its JSON bytes) to POST /v1/proposals and
// returns the ledger's result.
//
// When the node is unavailable or busy, or the connection fails, Submit
// sends the identical envelope again under the retry policy: proposals are
// idempotent, so a resubmission of one that was already applied returns its
// original result (Result.Duplicate) and has no second effect. It never
// re-signs.
//
// A proposal that was journaled but rejected returns an *Error (code
// rejected, conflict, forbidden, ...) together with a non-nil Result that
// identifies the journal entry, when the server named it.
func (c *Client) Submit(ctx context.Context, envelope []byte) (*ledger.Result, error) {
	if len(envelope) == 0 {
		return nil, errors.New("client: Submit: empty envelope")
	}
	var pr api.ProposalResponse
	_, err := c.do(ctx, request{
		method:      http.MethodPost,
		path:        "/v1/proposals",
		body:        envelope,
		contentType: "application/json",
		retry:       true,
	}, &pr)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && (e.Index > 0 || e.Outcome != nil) {
			r := &ledger.Result{Index: e.Index, Seq: e.Seq, EntryHash: e.EntryHash}
			if e.Outcome != nil {
				r.Outcome = *e.Outcome
			} else {
				r.Outcome = ledger.Outcome{Status: ledger.StatusRejected, Code: e.Code, Message: e.Detail}
			}
			c.noteIndex(e.Index)
			return r, err
		}
		return nil, err
	}
	res := ledger.Result{Index: pr.Index, Seq: pr.Seq, EntryHash: pr.EntryHash, Outcome: pr.Outcome, Duplicate: pr.Duplicate}
	c.noteIndex(res.Index)
	if res.Outcome.Status == ledger.StatusRejected {
		// The contract answers rejections with a problem; treat a 2xx
		// that carries one the same way, so that callers see an error.
		status := http.StatusUnprocessableEntity
		if res.Outcome.Code == ledger.CodeConflict {
			status = http.StatusConflict
		}
		o := res.Outcome
		return &res, &Error{
			Status: status, Code: o.Code, Title: "proposal rejected", Detail: o.Message,
			Index: res.Index, Seq: res.Seq, EntryHash: res.EntryHash, Outcome: &o,
		}
	}
	return &res, nil
}

// SubmitEnvelope is Submit for an envelope in memory.
func (c *Client) SubmitEnvelope(ctx context.Context, e *ledger.Envelope) (*ledger.Result, error) {
	return c.Submit(ctx, e.Encode())
}

// Propose builds a proposal of type typ with the client-chosen id (a random
// one if id is empty) and body (marshalled with encoding/json; a
// json.RawMessage is used as is), signs it with the client's signers (see
// WithSigner and WithKeyFile) and submits it as Submit does.
func (c *Client) Propose(ctx context.Context, typ, id string, body any) (*ledger.Result, error) {
	return c.ProposeMulti(ctx, typ, id, body, c.signers...)
}

// ProposeMulti is Propose with one envelope signed by every signer, for
// proposals that several members must sign together (an asset with several
// owners, a bundle). The first signer's member is the proposal's signer.
func (c *Client) ProposeMulti(ctx context.Context, typ, id string, body any, signers ...ledger.Signer) (*ledger.Result, error) {
	e, err := c.Sign(ctx, typ, id, body, signers...)
	if err != nil {
		return nil, err
	}
	return c.Submit(ctx, e.Encode())
}

// Sign builds and signs a proposal without submitting it, for offline
// multi-party flows: pass the envelope's Encode() to the other parties,
// who add their signatures with Cosign, then Submit it. With no signers the
// client's own sign. The consortium ID comes from WithConsortium or, once,
// from the node's GET /v1/status; issued_at is the client's clock in UTC.
func (c *Client) Sign(ctx context.Context, typ, id string, body any, signers ...ledger.Signer) (*ledger.Envelope, error) {
	if len(signers) == 0 {
		signers = c.signers
	}
	p, err := c.NewProposal(ctx, typ, id, body, signers...)
	if err != nil {
		return nil, err
	}
	e, err := ledger.Sign(p, signers...)
	if err != nil {
		return nil, fmt.Errorf("client: sign %s %s: %w", typ, p.ID, err)
	}
	return e, nil
}

// NewProposal returns the proposal that Sign would sign, for callers that
// sign elsewhere. Its signer is the member of the first of signers, or of
// the client's first signer if there are none.
func (c *Client) NewProposal(ctx context.Context, typ, id string, body any, signers ...ledger.Signer) (*ledger.Proposal, error) {
	if len(signers) == 0 {
		signers = c.signers
	}
	if len(signers) == 0 {
		return nil, errors.New("client: no signer: use WithSigner or WithKeyFile, or pass signers")
	}
	member, _, ok := ledger.SplitKeyID(signers[0].KeyID)
	if !ok {
		return nil, fmt.Errorf("client: signer key ID %q is not <member>/<fingerprint>", signers[0].KeyID)
	}
	raw, err := marshalBody(body)
	if err != nil {
		return nil, err
	}
	if id == "" {
		id = NewProposalID()
	}
	consortium, err := c.Consortium(ctx)
	if err != nil {
		return nil, err
	}
	return &ledger.Proposal{
		V:          1,
		Consortium: consortium,
		ID:         id,
		Type:       typ,
		Signer:     member,
		IssuedAt:   c.now().UTC(),
		Body:       raw,
	}, nil
}

// marshalBody returns body as JSON.
func marshalBody(body any) (json.RawMessage, error) {
	switch b := body.(type) {
	case nil:
		return json.RawMessage("{}"), nil
	case json.RawMessage:
		return b, nil
	case []byte:
		return json.RawMessage(b), nil
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("client: proposal body: %w", err)
	}
	return raw, nil
}

// NewProposalID returns a random proposal ID: 32 hex digits.
func NewProposalID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails
	return hex.EncodeToString(b[:])
}

// NewToken returns a new API bearer token: "charta_" and 64 hex digits
// of randomness. Register its hash (ledger.HashToken) with token.register.
func NewToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails
	return "charta_" + hex.EncodeToString(b[:])
}

// Consortium returns the consortium ID that proposals carry: the one set
// with WithConsortium, or the consortium field of the node's GET /v1/status,
// fetched once.
func (c *Client) Consortium(ctx context.Context) (string, error) {
	c.mu.Lock()
	id := c.consortium
	c.mu.Unlock()
	if id != "" {
		return id, nil
	}
	var st api.Status
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/status", retry: true}, &st); err != nil {
		return "", fmt.Errorf("client: fetch consortium ID: %w", err)
	}
	if !ledger.ValidConsortiumID(st.Consortium) {
		return "", fmt.Errorf("client: the node's status has no valid consortium ID (got %q); use WithConsortium", st.Consortium)
	}
	c.mu.Lock()
	c.consortium = st.Consortium
	c.mu.Unlock()
	return st.Consortium, nil
}

// Cosign adds signer's signature to an encoded envelope and returns the
// re-encoded envelope, for proposals that parties sign one after another
// offline. The payload is unchanged, so the existing signatures stay valid.
// A key that already signed is refused.
func Cosign(envelope []byte, signer ledger.Signer) ([]byte, error) {
	e, err := ledger.DecodeEnvelope(envelope)
	if err != nil {
		return nil, fmt.Errorf("client: cosign: %w", err)
	}
	if err := CosignEnvelope(e, signer); err != nil {
		return nil, err
	}
	return e.Encode(), nil
}

// CosignEnvelope is Cosign for an envelope in memory; it appends the
// signature to e.
func CosignEnvelope(e *ledger.Envelope, signer ledger.Signer) error {
	if signer.Key == nil {
		return errors.New("client: cosign: signer has no key")
	}
	_, fp, ok := ledger.SplitKeyID(signer.KeyID)
	if !ok {
		return fmt.Errorf("client: cosign: key ID %q is not <member>/<fingerprint>", signer.KeyID)
	}
	if fp != signer.Key.Public().Fingerprint() {
		return fmt.Errorf("client: cosign: key ID %s does not match its key", signer.KeyID)
	}
	for _, s := range e.Signatures {
		if s.KeyID == signer.KeyID {
			return fmt.Errorf("client: cosign: %s already signed", signer.KeyID)
		}
	}
	sig, err := signer.Key.Sign(ledger.PAE(e.PayloadType, e.Payload))
	if err != nil {
		return fmt.Errorf("client: cosign: %w", err)
	}
	e.Signatures = append(e.Signatures, ledger.Signature{KeyID: signer.KeyID, Sig: sig})
	return nil
}
