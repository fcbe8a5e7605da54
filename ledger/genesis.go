package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// GenesisPayloadType is the DSSE payload type under which founders sign
// the genesis document.
const GenesisPayloadType = "application/vnd.charta.genesis.v1+json"

// GenesisFormat names the version of the genesis document.
const GenesisFormat = "charta-genesis-v1"

// Fraction is a voting threshold: a ballot passes when approvals × Den ≥
// Num × voters.
type Fraction struct {
	Num uint32 `json:"num"`
	Den uint32 `json:"den"`
}

// Charter holds the rules the consortium agreed on. It changes only by a
// charter.amend ballot.
type Charter struct {
	Threshold Fraction `json:"threshold"`
	// SkewBeforeSec and SkewAfterSec bound issued_at around ledger time:
	// a proposal issued more than SkewBeforeSec before or SkewAfterSec
	// after the ledger time is rejected.
	SkewBeforeSec    int64 `json:"skew_before_sec"`
	SkewAfterSec     int64 `json:"skew_after_sec"`
	MaxProposalBytes int   `json:"max_proposal_bytes"` // largest envelope, in bytes
	MaxBatch         int   `json:"max_batch"`          // most grants in a bundle or checks in a batch
	MaxVoters        int   `json:"max_voters"`         // Raft voters; further nodes are non-voters
	BallotMaxDays    int   `json:"ballot_max_days"`    // longest allowed ballot deadline
	// AttestedTime moves ledger time only by time entries that a majority
	// of member nodes sign (see TimeAttestation), never by the leader's
	// clock alone. Consortia founded before it existed keep the leader's
	// stamps until a charter.amend turns it on.
	AttestedTime bool `json:"attested_time,omitempty"`
	// ExportPolicy maps export-control classifications to the territories
	// where grants so classified may not be used, and to the duties they
	// must carry (export.go). Sorted by classification.
	ExportPolicy []ExportRule `json:"export_policy,omitempty"`
	// JournalFormat is how the journal's entry hashes are computed
	// (JournalJSON or JournalBinary). Charters from before the field
	// have none, which means JournalJSON; a charter.amend can move it
	// forward, never back.
	JournalFormat int `json:"journal_format,omitempty"`
	// SealAuditors are the auditors every sealed part is also sealed to:
	// the terms of a confidential grant offered, and its usage reports
	// made, while they are named. Each is a member with role auditor
	// that has an encryption key. Sorted, at most maxSealAuditors.
	SealAuditors []string `json:"seal_auditors,omitempty"`
}

// maxSealAuditors bounds Charter.SealAuditors: with the parties, a sealed
// object has at most 32 recipients.
const maxSealAuditors = 8

// journalFormat returns the format of the entries the charter applies to.
func (c *Charter) journalFormat() int {
	if c.JournalFormat == 0 {
		return JournalJSON
	}
	return c.JournalFormat
}

// DefaultCharter returns the charter a new consortium starts from: a 2/3
// threshold, a window of 10 minutes before and 2 after, 1 MiB proposals.
func DefaultCharter() Charter {
	return Charter{
		Threshold:        Fraction{Num: 2, Den: 3},
		SkewBeforeSec:    600,
		SkewAfterSec:     120,
		MaxProposalBytes: 1 << 20,
		MaxBatch:         1000,
		MaxVoters:        5,
		BallotMaxDays:    90,
		AttestedTime:     true,
		JournalFormat:    JournalBinary,
	}
}

// Validate checks the charter's ranges.
func (c *Charter) Validate() error {
	switch {
	case c.Threshold.Den == 0 || c.Threshold.Num == 0 || c.Threshold.Num > c.Threshold.Den:
		return Errorf(CodeInvalid, "charter.threshold: %d/%d is not a fraction in (0, 1]", c.Threshold.Num, c.Threshold.Den)
	case c.SkewBeforeSec <= 0 || c.SkewAfterSec <= 0 || c.SkewBeforeSec > 86400 || c.SkewAfterSec > 86400:
		return Errorf(CodeInvalid, "charter.skew: both sides must be between 1 s and 1 day")
	case c.MaxProposalBytes < 4096 || c.MaxProposalBytes > 64<<20:
		return Errorf(CodeInvalid, "charter.max_proposal_bytes: %d is outside [4096, 64 MiB]", c.MaxProposalBytes)
	case c.MaxBatch < 1 || c.MaxBatch > 100000:
		return Errorf(CodeInvalid, "charter.max_batch: %d is outside [1, 100000]", c.MaxBatch)
	case c.MaxVoters < 1 || c.MaxVoters > 9:
		return Errorf(CodeInvalid, "charter.max_voters: %d is outside [1, 9]", c.MaxVoters)
	case c.BallotMaxDays < 1 || c.BallotMaxDays > 3660:
		return Errorf(CodeInvalid, "charter.ballot_max_days: %d is outside [1, 3660]", c.BallotMaxDays)
	case c.JournalFormat < 0 || c.JournalFormat > JournalBinary:
		return Errorf(CodeInvalid, "charter.journal_format: %d is not %d (JSON) or %d (binary)", c.JournalFormat, JournalJSON, JournalBinary)
	}
	if len(c.SealAuditors) > maxSealAuditors {
		return Errorf(CodeInvalid, "charter.seal_auditors: at most %d auditors", maxSealAuditors)
	}
	for i, m := range c.SealAuditors {
		if !ValidMemberID(m) || i > 0 && c.SealAuditors[i-1] >= m {
			return Errorf(CodeInvalid, "charter.seal_auditors[%d]: %q: member IDs, sorted, each once", i, m)
		}
	}
	return validateExportPolicy(c.ExportPolicy)
}

// GenesisMember is a founding member as the genesis document names it.
type GenesisMember struct {
	ID   string      `json:"id"`
	Name string      `json:"name,omitempty"`
	Role Role        `json:"role"`
	Keys []PublicKey `json:"keys"`
	// EncryptionKey is the founder's X-Wing encryption key, if it has one.
	// Left out, the document and so the consortium ID are what they were
	// before encryption keys existed.
	EncryptionKey *EncryptionKey `json:"encryption_key,omitempty"`
	Node          NodeInfo       `json:"node"`
}

// Genesis is the document every node boots from. Its ID, the SHA-256 of
// its unsigned content, is the consortium ID.
type Genesis struct {
	Format     string          `json:"format"`
	Name       string          `json:"name"`
	CreatedAt  time.Time       `json:"created_at"` // the first ledger time
	Charter    Charter         `json:"charter"`
	Members    []GenesisMember `json:"members"`
	Signatures []Signature     `json:"signatures,omitempty"`
}

// NewGenesis returns the unsigned genesis document of a new consortium:
// the default charter with at most maxVoters Raft voters, created at
// createdAt to the second, and members in ID order, as Validate wants
// them. It fails with the document's first problem.
func NewGenesis(name string, createdAt time.Time, maxVoters int, members []GenesisMember) (*Genesis, error) {
	g := &Genesis{Format: GenesisFormat, Name: name, CreatedAt: createdAt.UTC().Truncate(time.Second), Charter: DefaultCharter(),
		Members: slices.Clone(members)}
	g.Charter.MaxVoters = maxVoters
	slices.SortFunc(g.Members, func(a, b GenesisMember) int { return strings.Compare(a.ID, b.ID) })
	if err := g.Validate(); err != nil {
		return nil, err
	}
	return g, nil
}

// unsigned returns the canonical bytes that the consortium ID hashes and
// the founders sign: the document without its signatures.
func (g *Genesis) unsigned() []byte {
	c := *g
	c.Signatures = nil
	c.CreatedAt = c.CreatedAt.UTC()
	return mustMarshal(c)
}

// ID returns the consortium ID: hex SHA-256 of the unsigned document.
func (g *Genesis) ID() string {
	h := sha256.Sum256(g.unsigned())
	return hex.EncodeToString(h[:])
}

// Sign adds a founder's signature.
func (g *Genesis) Sign(s Signer) error {
	sig, err := s.Key.Sign(PAE(GenesisPayloadType, g.unsigned()))
	if err != nil {
		return err
	}
	g.Signatures = slices.DeleteFunc(g.Signatures, func(x Signature) bool { return x.KeyID == s.KeyID })
	g.Signatures = append(g.Signatures, Signature{KeyID: s.KeyID, Sig: sig})
	slices.SortFunc(g.Signatures, func(a, b Signature) int { return strings.Compare(a.KeyID, b.KeyID) })
	return nil
}

// Validate checks the document's shape, without its signatures.
func (g *Genesis) Validate() error {
	if g.Format != GenesisFormat {
		return Errorf(CodeInvalid, "genesis.format: want %q, got %q", GenesisFormat, g.Format)
	}
	if g.Name == "" || len(g.Name) > 200 {
		return Errorf(CodeInvalid, "genesis.name: must be 1 to 200 characters")
	}
	if g.CreatedAt.IsZero() {
		return Errorf(CodeInvalid, "genesis.created_at: required")
	}
	if err := g.Charter.Validate(); err != nil {
		return err
	}
	if len(g.Members) == 0 {
		return Errorf(CodeInvalid, "genesis.members: at least one founder is required")
	}
	voters := 0
	for i, m := range g.Members {
		if !ValidMemberID(m.ID) {
			return Errorf(CodeInvalid, "genesis.members[%d].id: %q is not a member ID (a-z, 0-9, -, starting with a letter)", i, m.ID)
		}
		if i > 0 && g.Members[i-1].ID >= m.ID {
			return Errorf(CodeInvalid, "genesis.members[%d].id: members must be sorted by ID without duplicates", i)
		}
		if m.Role != RoleMember && m.Role != RoleAuditor {
			return Errorf(CodeInvalid, "genesis.members[%d].role: %q is not member or auditor", i, m.Role)
		}
		if m.Role == RoleMember {
			voters++
		}
		if len(m.Keys) == 0 {
			return Errorf(CodeInvalid, "genesis.members[%d].keys: at least one key is required", i)
		}
		if err := m.Node.Validate(fmt.Sprintf("genesis.members[%d].node", i)); err != nil {
			return err
		}
		for j, k := range m.Keys {
			if err := k.Validate(); err != nil {
				return Errorf(CodeInvalid, "genesis.members[%d].keys[%d]: %s", i, j, messageOf(err))
			}
		}
	}
	if voters == 0 {
		return Errorf(CodeInvalid, "genesis.members: at least one founder must have role member")
	}
	for i, a := range g.Charter.SealAuditors {
		j := slices.IndexFunc(g.Members, func(m GenesisMember) bool { return m.ID == a })
		if j < 0 || g.Members[j].Role != RoleAuditor || g.Members[j].EncryptionKey == nil {
			return Errorf(CodeInvalid, "genesis.charter.seal_auditors[%d]: %s must be a founder with role auditor and an encryption key", i, a)
		}
	}
	return validateGenesisEncryptionKeys(g.Members)
}

// Verify checks the document and that every founder signed it with one of
// its keys, and that every signature present is valid.
func (g *Genesis) Verify() error {
	if err := g.Validate(); err != nil {
		return err
	}
	keys := map[string]PublicKey{}
	for _, m := range g.Members {
		for _, k := range m.Keys {
			keys[KeyID(m.ID, k)] = k
		}
	}
	msg := PAE(GenesisPayloadType, g.unsigned())
	signed := map[string]bool{}
	for i, s := range g.Signatures {
		k, ok := keys[s.KeyID]
		if !ok {
			return Errorf(CodeUnauthorized, "genesis.signatures[%d]: %s is not a founder's key", i, s.KeyID)
		}
		if !k.Verify(msg, s.Sig) {
			return Errorf(CodeUnauthorized, "genesis.signatures[%d]: bad signature by %s", i, s.KeyID)
		}
		m, _, _ := SplitKeyID(s.KeyID)
		signed[m] = true
	}
	for _, m := range g.Members {
		if !signed[m.ID] {
			return Errorf(CodeUnauthorized, "genesis: founder %s has not signed", m.ID)
		}
	}
	return nil
}

// DecodeGenesis decodes a genesis document strictly.
func DecodeGenesis(b []byte) (*Genesis, error) {
	var g Genesis
	if err := DecodeStrict(b, &g); err != nil {
		return nil, err
	}
	g.CreatedAt = g.CreatedAt.UTC()
	// A time with a zone offset can fall outside the years JSON can encode
	// once in UTC; the consortium ID hashes the encoding, so refuse it here.
	if y := g.CreatedAt.Year(); y < 0 || y > 9999 {
		return nil, Errorf(CodeInvalid, "genesis.created_at: year %d in UTC is outside 0 to 9999", y)
	}
	return &g, nil
}

// Encode returns the document as indented JSON, for writing to a file.
func (g *Genesis) Encode() []byte {
	b, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}

// messageOf returns the message of a *Error, or the error's text.
func messageOf(err error) string {
	if e, ok := err.(*Error); ok {
		return e.Message
	}
	return err.Error()
}
