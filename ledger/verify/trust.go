package verify

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/charta/charta/ledger"
)

// Trust is what a verifier trusts: one consortium and its members' keys.
// A checkpoint is accepted when at least Threshold distinct members among
// Keys cosigned it.
type Trust struct {
	Consortium string                        // the pinned consortium ID
	Keys       map[string][]ledger.PublicKey // member → keys whose cosignatures count
	Threshold  int                           // distinct members required; see DefaultThreshold
	Genesis    *ledger.Genesis               // the genesis the trust was derived from, if any
}

// TrustGenesis trusts the founders' keys of a genesis document whose ID is
// consortium, with the charter's voting threshold over the founders. It
// verifies the founders' signatures on the genesis.
func TrustGenesis(g *ledger.Genesis, consortium string) (*Trust, error) {
	if err := g.Verify(); err != nil {
		return nil, fmt.Errorf("%w: genesis: %v", ErrMalformed, err)
	}
	if id := g.ID(); id != consortium {
		return nil, fmt.Errorf("%w: the document's genesis is consortium %s, the verifier trusts %s", ErrConsortium, short(id), short(consortium))
	}
	t := &Trust{Consortium: consortium, Keys: map[string][]ledger.PublicKey{}, Genesis: g}
	for _, m := range g.Members {
		t.Keys[m.ID] = append(t.Keys[m.ID], m.Keys...)
	}
	t.Threshold = DefaultThreshold(g.Charter.Threshold, len(t.Keys))
	return t, nil
}

// TrustRawGenesis decodes a genesis document (as journal entry 0 holds it)
// and trusts it if its ID is consortium.
func TrustRawGenesis(raw json.RawMessage, consortium string) (*Trust, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("%w: the document carries no genesis", ErrMalformed)
	}
	g, err := ledger.DecodeGenesis(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: genesis: %v", ErrMalformed, err)
	}
	return TrustGenesis(g, consortium)
}

// DefaultThreshold is the smallest number of members n of voters that
// meets the charter's fraction: n × Den ≥ Num × voters, and at least one.
func DefaultThreshold(f ledger.Fraction, voters int) int {
	if f.Den == 0 {
		return max(voters, 1)
	}
	n := (int(f.Num)*voters + int(f.Den) - 1) / int(f.Den)
	return max(n, 1)
}

// AddKey trusts one more key of a member (a key rotated in after genesis,
// learned out of band).
func (t *Trust) AddKey(member string, pk ledger.PublicKey) {
	if !slices.ContainsFunc(t.Keys[member], func(k ledger.PublicKey) bool { return k.Scheme == pk.Scheme && string(k.Key) == string(pk.Key) }) {
		t.Keys[member] = append(t.Keys[member], pk)
	}
}

// VerifyCheckpoint parses a signed checkpoint note and checks it: the
// origin names the trusted consortium, every signature by a trusted key
// verifies, and at least threshold distinct members signed (threshold 0
// means t.Threshold). Signatures by unknown keys are ignored, as the note
// format requires. It returns the checkpoint and the members that signed
// it, sorted.
func (t *Trust) VerifyCheckpoint(note string, threshold int) (*Checkpoint, []string, error) {
	if threshold <= 0 {
		threshold = t.Threshold
	}
	n, err := ParseNote(note)
	if err != nil {
		return nil, nil, err
	}
	cp, err := ParseCheckpoint(n.Text)
	if err != nil {
		return nil, nil, err
	}
	if cp.Origin != Origin(t.Consortium) {
		return nil, nil, fmt.Errorf("%w: the checkpoint is for %q, the verifier trusts %q", ErrConsortium, truncate(cp.Origin), Origin(short(t.Consortium)))
	}
	members, _, err := t.Cosigners(n)
	if err != nil {
		return nil, nil, fmt.Errorf("%w on checkpoint %d", err, cp.Size)
	}
	if len(members) < threshold {
		return nil, members, fmt.Errorf("%w: checkpoint %d has valid cosignatures from %d member(s) %v, the threshold is %d of %d",
			ErrThreshold, cp.Size, len(members), members, threshold, len(t.Keys))
	}
	return cp, members, nil
}

// Cosigners checks a note's signature lines against the trusted keys, in
// every form a member node signs (see Cosign and sigForms). Lines by keys
// it does not trust are ignored, as the note format requires; a line by a
// trusted key that does not verify is an ErrSignature. It returns the
// members with at least one valid line that counts, sorted, and the valid
// lines by trusted keys.
func (t *Trust) Cosigners(n *Note) (members []string, valid []NoteSignature, err error) {
	origin := Origin(t.Consortium)
	type owned struct {
		member string
		sigForm
	}
	var forms []owned
	for _, m := range slices.Sorted(maps.Keys(t.Keys)) {
		for _, pk := range t.Keys[m] {
			for _, f := range sigForms(origin, m, pk) {
				forms = append(forms, owned{m, f})
			}
		}
	}
	signed := map[string]bool{}
	for _, s := range n.Sigs {
		for _, f := range forms {
			if f.name != s.Name || f.keyID != s.KeyID {
				continue
			}
			if !f.verify(n.Text, s.Sig) {
				return nil, nil, fmt.Errorf("%w: the signature of %s (key %08x, name %s) does not verify", ErrSignature, f.member, s.KeyID, truncate(s.Name))
			}
			valid = append(valid, s)
			signed[f.member] = signed[f.member] || f.counts
			break
		}
	}
	for m, ok := range signed {
		if ok {
			members = append(members, m)
		}
	}
	sort.Strings(members)
	return members, valid, nil
}

func short(id string) string {
	if len(id) > 16 {
		return id[:16] + "…"
	}
	return id
}
