package verify

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/seal"
)

// RecipientKey is a member's encryption keys: its current key and any
// retired ones, which open what was sealed to it. seal.ReadKeyFile reads
// one from a member key file.
type RecipientKey struct {
	Member string
	Keys   []*seal.PrivateKey
}

// SealedTerms is what a certificate of a confidential grant establishes
// about its sealed terms.
type SealedTerms struct {
	// Commitment is the commitment to the terms that the grant's offer
	// carries and its acceptance signed.
	Commitment ledger.Hash
	// Parties are the members the terms are sealed to.
	Parties []string
	// Terms are the terms opened with Options.Key, which match the
	// commitment; nil without a key.
	Terms *ledger.ConfidentialTerms
	// OpenedBy is the member whose key opened Terms.
	OpenedBy string
}

// sealedTerms opens confidential grant g of view v with k (nil: reports
// the sealed part only).
func (k *RecipientKey) sealedTerms(v *ledger.View, g *ledger.Grant) (*SealedTerms, error) {
	st := &SealedTerms{Commitment: g.Confidential.Commitment, Parties: g.Parties()}
	if k == nil {
		return st, nil
	}
	ct, err := seal.OpenGrant(g, v.Consortium(), k.Member, k.Keys...)
	if err != nil {
		return nil, fmt.Errorf("%w: the terms of confidential grant %s do not open with %s's key: %w", ErrSealed, g.ID, k.Member, err)
	}
	st.Terms, st.OpenedBy = ct, k.Member
	return st, nil
}

// checkSealed re-derives a decision of which public is the one the
// entries give without any sealed terms: it differs from claimed, and
// rests on the confidential grants public.Sealed. Without a key that is
// ErrSealed. With one, the decision is derived again with the terms and
// the sealed usage reports the key opens (seal.Party), as the key's
// member's node derives it, and must equal claimed. It returns the grants
// of public.Sealed the key opened.
func (k *RecipientKey) checkSealed(v *ledger.View, req ledger.CheckRequest, public, claimed ledger.Decision) ([]string, error) {
	sealed := grantList(public.Sealed)
	if k == nil {
		var parties []string
		if g, ok := v.Grant(public.Sealed[0]); ok {
			parties = g.Parties()
		}
		return nil, fmt.Errorf("%w: the decision rests on confidential %s, whose terms are sealed to its parties (%s): verify it with a party's encryption key (charta verify --key <member key file>)",
			ErrSealed, sealed, strings.Join(parties, ", "))
	}
	party := seal.NewParty(v, k.Member, k.Keys...)
	var opened []string
	var closed []error
	for _, id := range public.Sealed {
		g, _ := v.Grant(id)
		if _, err := party.Open(g); err != nil {
			closed = append(closed, fmt.Errorf("grant %s: %w", id, err))
			continue
		}
		opened = append(opened, id)
	}
	if len(opened) == 0 {
		none := "does not open it"
		if len(closed) > 1 {
			none = "opens none of them"
		}
		return nil, fmt.Errorf("%w: the decision rests on confidential %s, and %s's key %s: %w", ErrSealed, sealed, k.Member, none, errors.Join(closed...))
	}
	d, err := ledger.Check(ledger.WithOpened(v, party), req)
	if err != nil {
		return nil, fmt.Errorf("%w: the rebuilt ledger refuses the question: %v", ErrReplay, err)
	}
	if bytes.Equal(mustJSON(d), mustJSON(claimed)) {
		return opened, nil
	}
	err = fmt.Errorf("%w: with the terms and sealed usage %s's key opens, the entries give allowed=%t (%s), the proof claims allowed=%t (%s)%s",
		ErrReplay, k.Member, d.Allowed, d.Reason, claimed.Allowed, claimed.Reason, differ(d, claimed))
	if len(closed) > 0 {
		err = fmt.Errorf("%w; the key did not open %w", err, errors.Join(closed...))
	}
	return nil, err
}

// grantList names grants in words: "grant g-1" or "grants g-1, g-2".
func grantList(ids []string) string {
	if len(ids) == 1 {
		return "grant " + ids[0]
	}
	return "grants " + strings.Join(ids, ", ")
}
