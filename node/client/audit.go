package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/verify"
)

// SignedCheckpoint returns the newest checkpoint's signed note, with every
// cosignature the node gathered, and the genesis document (journal entry
// 0) from which a verifier derives the members' keys. Verify it with
// VerifiedCheckpoint or verify.Trust.
func (c *Client) SignedCheckpoint(ctx context.Context, opts ...ReadOption) (note string, genesis json.RawMessage, err error) {
	var cp struct {
		Note string `json:"note"`
	}
	if _, err := c.get(ctx, "/v1/checkpoint", nil, opts, &cp); err != nil {
		return "", nil, err
	}
	if cp.Note == "" {
		return "", nil, fmt.Errorf("client: GET /v1/checkpoint: the node sent no signed note")
	}
	g, err := c.JournalEntry(ctx, 0, opts...)
	if err != nil {
		return "", nil, err
	}
	return cp.Note, json.RawMessage(g.Envelope), nil
}

// VerifiedCheckpoint returns the newest checkpoint after checking that at
// least threshold members of the pinned consortium cosigned it (0: the
// charter's voting threshold over the founders). It returns the checkpoint,
// its signed note and the members whose cosignatures verified.
func (c *Client) VerifiedCheckpoint(ctx context.Context, consortium string, threshold int, opts ...ReadOption) (*verify.Checkpoint, string, []string, error) {
	note, g, err := c.SignedCheckpoint(ctx, opts...)
	if err != nil {
		return nil, "", nil, err
	}
	t, err := verify.TrustRawGenesis(g, consortium)
	if err != nil {
		return nil, "", nil, err
	}
	cp, signers, err := t.VerifyCheckpoint(note, threshold)
	if err != nil {
		return nil, "", signers, err
	}
	return cp, note, signers, nil
}

// Receipt builds the receipt of journal entry seq: the entry, its
// inclusion proof at the newest checkpoint's size, and that checkpoint's
// signed note.
func (c *Client) Receipt(ctx context.Context, seq uint64, opts ...ReadOption) (*verify.Receipt, error) {
	note, g, err := c.SignedCheckpoint(ctx, opts...)
	if err != nil {
		return nil, err
	}
	n, err := verify.ParseNote(note)
	if err != nil {
		return nil, err
	}
	cp, err := verify.ParseCheckpoint(n.Text)
	if err != nil {
		return nil, err
	}
	o := append(opts, MinIndex(c.LastIndex()))
	e, err := c.JournalEntry(ctx, seq, o...)
	if err != nil {
		return nil, err
	}
	var p verify.InclusionProof
	q := url.Values{"index": {strconv.FormatUint(seq, 10)}, "size": {strconv.FormatUint(cp.Size, 10)}}
	if _, err := c.get(ctx, "/v1/proofs/inclusion", q, o, &p); err != nil {
		return nil, err
	}
	return &verify.Receipt{Format: verify.ReceiptFormat, Genesis: g, Entry: verify.ProvenEntry{Entry: *e, Proof: p}, Checkpoint: note}, nil
}

// CheckProof asks a question with proof=true: the decision with the
// journal entries it rests on, their inclusion proofs and the cosigned
// checkpoint. Verify it offline with verify.CheckProof.Verify.
func (c *Client) CheckProof(ctx context.Context, r ledger.CheckRequest, opts ...ReadOption) (*verify.CheckProof, error) {
	q, ok, err := checkQuery(r)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("client: CheckProof: the question has fields the query cannot carry")
	}
	q.Set("proof", "true")
	var p verify.CheckProof
	if _, err := c.get(ctx, "/v1/check", q, opts, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// GrantEvidence fetches the evidence for a licence certificate of grant
// id to licensee: the journal entries that rebuild the grant and the
// licensee's keys, their inclusion proofs and the cosigned checkpoint.
func (c *Client) GrantEvidence(ctx context.Context, id, licensee string, opts ...ReadOption) (*verify.Evidence, error) {
	var ev verify.Evidence
	if _, err := c.get(ctx, "/v1/grants/"+escape(id)+"/evidence", url.Values{"licensee": {licensee}}, opts, &ev); err != nil {
		return nil, err
	}
	return &ev, nil
}

// CheckAsOf asks a question as the ledger stood at Raft index index.
func (c *Client) CheckAsOf(ctx context.Context, r ledger.CheckRequest, index uint64, opts ...ReadOption) (*ledger.Decision, error) {
	q, ok, err := checkQuery(r)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("client: CheckAsOf: the question has fields the query cannot carry")
	}
	q.Set("as_of_index", strconv.FormatUint(index, 10))
	var d ledger.Decision
	if _, err := c.get(ctx, "/v1/check", q, opts, &d); err != nil {
		return nil, err
	}
	return &d, nil
}
