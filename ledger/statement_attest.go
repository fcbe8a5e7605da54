package ledger

import (
	"slices"
	"strings"
	"time"
)

// StatementAttestBody is the body of statement.attest: a party of a
// confidential grant attests the SHA-256 of the canonical bytes
// (Statement.Encode) of the grant's statement for a period, as its
// node computed it. When every party has attested the same hash, the
// statement is agreed: the whole consortium sees that the parties agree
// on the period's amounts, and nothing of them.
type StatementAttestBody struct {
	Grant     string `json:"grant"`
	Period    string `json:"period"`
	Statement Hash   `json:"statement"`
}

// StatementAttestation is where the attestations of one period of a
// grant stand: each party's latest attested hash, and whether they agree.
type StatementAttestation struct {
	Grant  string              `json:"grant"`
	Period string              `json:"period"`
	By     []StatementAttested `json:"by"` // by member
	// Agreed is the hash every party attested, once they all have.
	Agreed *Hash `json:"agreed,omitempty"`
	// AgreedIndex is the log index of the attestation that completed the
	// agreement.
	AgreedIndex uint64 `json:"agreed_index,omitempty"`
}

// StatementAttested is one party's latest attestation of a period.
type StatementAttested struct {
	Member    string    `json:"member"`
	Statement Hash      `json:"statement"`
	Index     uint64    `json:"index"`
	At        time.Time `json:"at"`
}

func init() {
	register("statement.attest", handler{apply: applyStatementAttest})
}

// applyStatementAttest records a party's attestation of a confidential
// grant's statement in the grant's history. A party may attest again,
// replacing its hash, until every party has attested the same one; the
// agreement is then final, and an attestation of another hash is a
// conflict. The same hash again changes nothing.
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
	if b.Statement == (Hash{}) {
		return Errorf(CodeInvalid, "body.statement: the statement's SHA-256 is required")
	}
	cur := statementAttestation(a.tx, g, b.Period)
	if cur.Agreed != nil {
		if *cur.Agreed == b.Statement {
			return nil
		}
		return Errorf(CodeConflict, "body.statement: the parties agreed on statement %s for period %s at index %d", cur.Agreed, b.Period, cur.AgreedIndex)
	}
	if i := slices.IndexFunc(cur.By, func(s StatementAttested) bool { return s.Member == a.p.Signer }); i >= 0 && cur.By[i].Statement == b.Statement {
		return nil
	}
	a.putHistory(GrantEvent{
		Grant: g.ID, Index: a.index, At: a.now, Kind: "statement_attested", By: a.p.Signer, Version: g.Version, Status: g.Status,
		Statement: &b,
	})
	a.event("statement.attested", g.ID)
	if statementAttestation(a.tx, g, b.Period).Agreed != nil {
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
		s := StatementAttested{Member: e.By, Statement: e.Statement.Statement, Index: e.Index, At: e.At}
		i, found := slices.BinarySearchFunc(out.By, s.Member, func(x StatementAttested, m string) int { return strings.Compare(x.Member, m) })
		if found {
			out.By[i] = s
		} else {
			out.By = slices.Insert(out.By, i, s)
		}
		if out.Agreed == nil && agreed(g, out.By) {
			h := s.Statement
			out.Agreed, out.AgreedIndex = &h, e.Index
		}
		return true
	})
	return out
}

// agreed reports whether every party of g has attested the same hash.
func agreed(g *Grant, by []StatementAttested) bool {
	parties := g.Parties()
	if len(by) != len(parties) {
		return false
	}
	for i, s := range by {
		if s.Member != parties[i] || s.Statement != by[0].Statement {
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
