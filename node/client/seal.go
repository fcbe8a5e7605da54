package client

import (
	"context"
	"fmt"
	"net/http"
	"slices"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/ledger/seal"
	"github.com/charta/charta/node/api"
)

// SealKeyError is a member whose encryption key cannot be sealed to: it
// has none (None), or the node lists a key that does not parse or is not
// the one its fingerprint names (Reason, which follows "<member>'s
// encryption key").
type SealKeyError struct {
	Member string
	None   bool
	Reason string
}

func (e *SealKeyError) Error() string {
	if e.None {
		return "client: " + e.Member + " has no encryption key to seal to"
	}
	return "client: " + e.Member + "'s encryption key " + e.Reason
}

// SealRecipients returns members' current encryption keys as the node
// lists them (GET /v1/members/{id}), in the order given, to seal to: the
// keys the ledger requires a sealed part to be wrapped to. A member with no
// encryption key, or whose key does not hash to the fingerprint the node
// lists it under, is a *SealKeyError; nothing is sealed to a key the node
// misnames.
func (c *Client) SealRecipients(ctx context.Context, members []string, opts ...ReadOption) ([]seal.Recipient, error) {
	rs := make([]seal.Recipient, 0, len(members))
	for _, m := range members {
		mem, err := c.Member(ctx, m, opts...)
		if err != nil {
			return nil, err
		}
		cur, ok := mem.CurrentEncryptionKey()
		if !ok {
			return nil, &SealKeyError{Member: m, None: true}
		}
		pk, err := seal.PublicKeyFrom(cur.Public)
		if err != nil {
			return nil, &SealKeyError{Member: m, Reason: "does not parse: " + err.Error()}
		}
		if pk.Fingerprint() != cur.Fingerprint {
			return nil, &SealKeyError{Member: m, Reason: fmt.Sprintf("has fingerprint %s, not the %s it is listed under",
				pk.Fingerprint(), cur.Fingerprint)}
		}
		rs = append(rs, seal.Recipient{Member: m, Key: pk})
	}
	return rs, nil
}

// SealMembers returns the members a sealed part of a grant between
// parties is sealed to now: the parties and the auditors the charter names
// (GET /v1/status, seal_auditors), sorted, each once, as the ledger
// requires (ledger.View.SealRecipients).
func (c *Client) SealMembers(ctx context.Context, parties []string) ([]string, error) {
	var st api.Status
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/status", retry: true}, &st); err != nil {
		return nil, fmt.Errorf("client: fetch the charter's seal auditors: %w", err)
	}
	ms := append(slices.Clone(parties), st.SealAuditors...)
	slices.Sort(ms)
	return slices.Compact(ms), nil
}

// SealReportRecipients returns the current encryption keys of the members
// a report of confidential grant g is sealed to: the recipients of its
// terms (g.Confidential.Recipients), but for seal auditors removed from
// the consortium since, as the ledger requires
// (ledger.View.ReportRecipients). Errors as SealRecipients.
func (c *Client) SealReportRecipients(ctx context.Context, g *api.Grant, opts ...ReadOption) ([]seal.Recipient, error) {
	var members []string
	for _, m := range g.Confidential.Recipients {
		if !g.IsParty(m) {
			mem, err := c.Member(ctx, m, opts...)
			if err != nil {
				return nil, err
			}
			if mem.Status == ledger.MemberRemoved {
				continue
			}
		}
		members = append(members, m)
	}
	return c.SealRecipients(ctx, members, opts...)
}

// SealTo seals plaintext to recipients under the binding {consortium,
// kind, id}, as a proposal carries it: the sealed object and its
// commitment.
func SealTo(consortium string, recipients []seal.Recipient, plaintext []byte, kind, id string) (*ledger.Confidential, error) {
	s, _, err := seal.Seal(plaintext, recipients, seal.Binding{Consortium: consortium, Kind: kind, ID: id})
	if err != nil {
		return nil, err
	}
	return &ledger.Confidential{Commitment: s.Commitment, Sealed: s.Ledger()}, nil
}

// SealUsage moves the metrics of b, a usage report of a confidential
// grant, into its sealed part: ledger.SealedUsage in canonical JSON,
// sealed to recipients (the grant's parties, from SealRecipients) under
// the report's binding {consortium, ledger.SealedUsageKind,
// ledger.SealedUsageID(grant, report)}. The rest of b stays public.
// Sealing is randomized: two calls on the same report give different
// sealed parts.
func SealUsage(consortium string, recipients []seal.Recipient, b *ledger.UsageReportBody) error {
	su := ledger.SealedUsage{Metrics: b.Metrics}
	s, err := SealTo(consortium, recipients, su.Canonical(), ledger.SealedUsageKind, ledger.SealedUsageID(b.Grant, b.ReportID))
	if err != nil {
		return err
	}
	b.Metrics, b.Confidential = nil, s
	return nil
}

// SealSLA moves the measurements of b, an SLA report of a confidential
// grant, into its sealed part: ledger.SealedSLA in canonical JSON, sealed
// to recipients (the grant's parties, from SealRecipients) under the
// report's binding {consortium, ledger.SealedSLAKind,
// ledger.SealedSLAID(grant, report)}. The rest of b stays public.
func SealSLA(consortium string, recipients []seal.Recipient, b *ledger.SLAReportBody) error {
	sm := ledger.SealedSLA{Measurements: b.Measurements}
	s, err := SealTo(consortium, recipients, sm.Canonical(), ledger.SealedSLAKind, ledger.SealedSLAID(b.Grant, b.ReportID))
	if err != nil {
		return err
	}
	b.Measurements, b.Confidential = nil, s
	return nil
}
