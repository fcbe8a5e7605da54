package api

import "github.com/charta/charta/ledger"

// Grant is a grant as GET /v1/grants and GET /v1/grants/{id} serve it: the
// ledger's record, with the sealed part of a confidential grant replaced
// by what this node may show of it. The ledger's ciphertext never travels
// in a grant read; it is in the journal.
type Grant struct {
	ledger.Grant
	// Confidential is set for a confidential grant; it hides the ledger's
	// own field of the same name.
	Confidential *GrantConfidential `json:"confidential,omitempty"`
}

// ClassificationConfidential marks terms that only a grant's parties may
// read.
const ClassificationConfidential = "confidential"

// GrantConfidential is what a node shows of a confidential grant's sealed
// terms. A party's node that opened them shows Terms and PrivateDigest;
// any other node, or a party's node that could not open them, shows
// Sealed (and Refused says why a party's node could not).
type GrantConfidential struct {
	// Classification is always "confidential": the terms are for the
	// parties only.
	Classification string      `json:"classification"`
	Commitment     ledger.Hash `json:"commitment"` // the commitment the acceptance signs
	// Recipients are the members the terms are sealed to: the parties and
	// the seal auditors the charter named when the grant was offered. Its
	// reports are sealed to them too, but for auditors removed since.
	Recipients []string `json:"recipients"`
	// Sealed is true when this node does not show the terms.
	Sealed bool `json:"sealed,omitempty"`
	// Terms are the opened confidential terms.
	Terms *ledger.ConfidentialTerms `json:"terms,omitempty"`
	// PrivateDigest is SHA-256 of the canonical terms; the parties'
	// nodes compare it to know they hold the same terms.
	PrivateDigest *ledger.Hash `json:"private_digest,omitempty"`
	// UsageDigest is SHA-256 of this party's node's account of the
	// grant's sealed usage reports (ledger.PrivateUsage): equal on both
	// parties' nodes.
	UsageDigest *ledger.Hash `json:"usage_digest,omitempty"`
	// Infractions are the cap infractions the parties' nodes found in
	// the sealed usage reports.
	Infractions []ledger.Infraction `json:"infractions,omitempty"`
	// Refused says why this party's node could not open the terms: a
	// wrap it cannot decrypt, or a plaintext that does not match the
	// commitment.
	Refused string `json:"refused,omitempty"`
}
