package ledger

import (
	"slices"
	"strings"
	"time"
)

// StatementAttestBody is the body of statement.attest: a party of a
// confidential grant attests the tag of the grant's statement for a
// period, as its node computed it: an HMAC of the statement's canonical
// bytes (Statement.Encode) under a key only the parties hold
// (ledger/seal.StatementTag). When every party has attested the same tag,
// the statement is agreed: the whole consortium sees that the parties
// agree on the period's amounts, and nothing of them, not even by hashing
// guesses.
type StatementAttestBody struct {
	Grant  string `json:"grant"`
	Period string `json:"period"`
	Tag    Hash   `json:"tag"`
}

// StatementAttestation is where the attestations of one period of a
// grant stand: each party's latest attested tag, and whether they agree.
type StatementAttestation struct {
	Grant  string              `json:"grant"`
	Period string              `json:"period"`
	By     []StatementAttested `json:"by"` // by member
	// Agreed is the tag of the latest agreement: the last time every
	// party's latest attestation was of the same tag.
	Agreed *Hash `json:"agreed,omitempty"`
	// AgreedIndex is the log index of the attestation that completed that
	// agreement.
	AgreedIndex uint64 `json:"agreed_index,omitempty"`
}

// StatementAttested is one party's latest attestation of a period.
type StatementAttested struct {
	Member string    `json:"member"`
	Tag    Hash      `json:"tag"`
	Index  uint64    `json:"index"`
	At     time.Time `json:"at"`
}

func init() {
	register("statement.attest", handler{apply: applyStatementAttest})
}

// applyStatementAttest records a party's attestation of a confidential
// grant's statement in the grant's history. A party's latest attestation
// replaces its earlier ones; the same tag again changes nothing. The
// statement is agreed whenever every party's latest tag is the same, and
// a later agreement supersedes an earlier one: the parties may agree on a
// provisional statement while the period's grace is open, and then on the
// final one, whose status the tag covers.
func applyStatementAttest(a *applyCtx) error {
	var b StatementAttestBody
	if err := a.body(&b); err != nil {
		return err
	}
	g, err := a.grant("body.grant", b.Grant)
	if err != nil {
		return err
	}
	if g.Confidential == nil {
		return Errorf(CodeInvalid, "body.grant: grant %s is not confidential; its statements are computed by every node and need no attestation", g.ID)
	}
	if !g.IsParty(a.p.Signer) {
		return Errorf(CodeForbidden, "signer: %s is not a party to grant %s", a.p.Signer, g.ID)
	}
	pStart, _, err := periodAnyKind(b.Period)
	if err != nil {
		return prefixed("body.period", err)
	}
	if pStart.After(a.ahead()) {
		return Errorf(CodeInvalid, "body.period: period %s has not begun by %s", b.Period, a.ahead().Format(time.RFC3339))
	}
	if b.Tag == (Hash{}) {
		return Errorf(CodeInvalid, "body.tag: the statement's tag is required")
	}
	cur := statementAttestation(a.tx, g, b.Period)
	if i := slices.IndexFunc(cur.By, func(s StatementAttested) bool { return s.Member == a.p.Signer }); i >= 0 && cur.By[i].Tag == b.Tag {
		return nil
	}
	a.putHistory(GrantEvent{
		Grant: g.ID, Index: a.index, At: a.now, Kind: "statement_attested", By: a.p.Signer, Version: g.Version, Status: g.Status,
		Statement: &b,
	})
	a.event("statement.attested", g.ID)
	if statementAttestation(a.tx, g, b.Period).AgreedIndex == a.index {
		a.event("statement.agreed", g.ID)
	}
	return nil
}

// statementAttestation reads g's attestations of period from its history.
func statementAttestation(t *tx, g *Grant, period string) StatementAttestation {
	out := StatementAttestation{Grant: g.ID, Period: period, By: []StatementAttested{}}
	t.scan(bucketHistory, append([]byte(g.ID), 0), func(k, v []byte) bool {
		var e GrantEvent
		mustUnmarshal(bucketHistory, k, v, &e)
		if e.Kind != "statement_attested" || e.Statement == nil || e.Statement.Period != period {
			return true
		}
		s := StatementAttested{Member: e.By, Tag: e.Statement.Tag, Index: e.Index, At: e.At}
		i, found := slices.BinarySearchFunc(out.By, s.Member, func(x StatementAttested, m string) int { return strings.Compare(x.Member, m) })
		if found {
			out.By[i] = s
		} else {
			out.By = slices.Insert(out.By, i, s)
		}
		if agreed(g, out.By) {
			h := s.Tag
			out.Agreed, out.AgreedIndex = &h, e.Index
		}
		return true
	})
	return out
}

// agreed reports whether every party of g has attested the same tag.
func agreed(g *Grant, by []StatementAttested) bool {
	parties := g.Parties()
	if len(by) != len(parties) {
		return false
	}
	for i, s := range by {
		if s.Member != parties[i] || s.Tag != by[0].Tag {
			return false
		}
	}
	return true
}

// StatementAttestations lists where the attestations of grant's periods
// stand, oldest period first.
func (v *View) StatementAttestations(grant string) []StatementAttestation {
	g, ok := v.Grant(grant)
	if !ok {
		return nil
	}
	var periods []string
	v.t.scan(bucketHistory, append([]byte(g.ID), 0), func(k, val []byte) bool {
		var e GrantEvent
		mustUnmarshal(bucketHistory, k, val, &e)
		if e.Kind == "statement_attested" && e.Statement != nil {
			if i, found := slices.BinarySearch(periods, e.Statement.Period); !found {
				periods = slices.Insert(periods, i, e.Statement.Period)
			}
		}
		return true
	})
	out := make([]StatementAttestation, 0, len(periods))
	for _, p := range periods {
		out = append(out, statementAttestation(v.t, g, p))
	}
	return out
}
