package verify

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/charta/charta/ledger"
)

// OriginPrefix starts the origin line of every Charta checkpoint; the
// consortium ID follows it.
const OriginPrefix = "charta/"

// ledgerTimeExt is the keyword of the checkpoint's extension line that
// carries the ledger time of the last entry.
const ledgerTimeExt = "ledger-time "

// maxSignatures bounds the signature lines of a note a verifier reads.
const maxSignatures = 64

// Origin returns the checkpoint origin of a consortium.
func Origin(consortium string) string { return OriginPrefix + consortium }

// Checkpoint is the content of a journal checkpoint: the body of a C2SP
// tlog-checkpoint note.
//
//	charta/<consortium ID>
//	<tree size, decimal>
//	<root hash, standard base64>
//	ledger-time <ledger time of the last entry, RFC 3339 UTC>
type Checkpoint struct {
	Origin     string      `json:"origin"`
	Size       uint64      `json:"size"`
	Root       ledger.Hash `json:"root"`
	LedgerTime time.Time   `json:"ledger_time"`
}

// Consortium returns the consortium ID named by the origin, or "".
func (c *Checkpoint) Consortium() string {
	s, ok := strings.CutPrefix(c.Origin, OriginPrefix)
	if !ok {
		return ""
	}
	return s
}

// Body returns the note text of the checkpoint, ending in a newline.
func (c *Checkpoint) Body() string {
	return fmt.Sprintf("%s\n%d\n%s\n%s%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root[:]),
		ledgerTimeExt, c.LedgerTime.UTC().Format(time.RFC3339Nano))
}

// ParseCheckpoint parses a checkpoint note text (without signatures).
func ParseCheckpoint(text string) (*Checkpoint, error) {
	if !strings.HasSuffix(text, "\n") {
		return nil, fmt.Errorf("%w: checkpoint does not end in a newline", ErrMalformed)
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return nil, fmt.Errorf("%w: checkpoint has %d lines, want at least 3", ErrMalformed, len(lines))
	}
	c := &Checkpoint{Origin: lines[0]}
	if c.Origin == "" {
		return nil, fmt.Errorf("%w: checkpoint origin is empty", ErrMalformed)
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || strconv.FormatUint(size, 10) != lines[1] {
		return nil, fmt.Errorf("%w: checkpoint size %q is not a decimal number", ErrMalformed, lines[1])
	}
	c.Size = size
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != len(c.Root) {
		return nil, fmt.Errorf("%w: checkpoint root %q is not a base64 SHA-256 hash", ErrMalformed, lines[2])
	}
	copy(c.Root[:], root)
	for _, l := range lines[3:] {
		if l == "" {
			return nil, fmt.Errorf("%w: checkpoint has an empty extension line", ErrMalformed)
		}
		if t, ok := strings.CutPrefix(l, ledgerTimeExt); ok {
			lt, err := time.Parse(time.RFC3339Nano, t)
			if err != nil {
				return nil, fmt.Errorf("%w: checkpoint ledger time %q: %v", ErrMalformed, t, err)
			}
			c.LedgerTime = lt.UTC()
		}
	}
	return c, nil
}

// NoteSignature is one signature line of a signed note.
type NoteSignature struct {
	Name  string // the key name
	KeyID uint32 // the first four bytes of the key hash
	Sig   []byte // the signature proper
}

// Line formats the signature line, with its newline.
func (s NoteSignature) Line() string {
	b := make([]byte, 4, 4+len(s.Sig))
	binary.BigEndian.PutUint32(b, s.KeyID)
	b = append(b, s.Sig...)
	return "— " + s.Name + " " + base64.StdEncoding.EncodeToString(b) + "\n"
}

// Note is a C2SP signed note: a text ending in a newline, a blank line and
// signature lines.
type Note struct {
	Text string
	Sigs []NoteSignature
}

// String formats the note.
func (n *Note) String() string {
	var b strings.Builder
	b.WriteString(n.Text)
	b.WriteString("\n")
	for _, s := range n.Sigs {
		b.WriteString(s.Line())
	}
	return b.String()
}

// Add appends a signature unless one with the same key name and ID is
// there already.
func (n *Note) Add(sigs ...NoteSignature) {
	for _, s := range sigs {
		if !slices.ContainsFunc(n.Sigs, func(x NoteSignature) bool { return x.Name == s.Name && x.KeyID == s.KeyID }) {
			n.Sigs = append(n.Sigs, s)
		}
	}
}

// ParseNote parses a signed note. A note with no signatures is accepted
// here (Verify then fails it); a note without the blank line is not.
func ParseNote(s string) (*Note, error) {
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("%w: note is not UTF-8", ErrMalformed)
	}
	for _, r := range s {
		if r < 0x20 && r != '\n' {
			return nil, fmt.Errorf("%w: note contains control character %U", ErrMalformed, r)
		}
	}
	i := strings.LastIndex(s, "\n\n")
	if i < 0 {
		return nil, fmt.Errorf("%w: note has no blank line before its signatures", ErrMalformed)
	}
	n := &Note{Text: s[:i+1]}
	rest := s[i+2:]
	if rest != "" && !strings.HasSuffix(rest, "\n") {
		return nil, fmt.Errorf("%w: note does not end in a newline", ErrMalformed)
	}
	for l := range strings.SplitSeq(strings.TrimSuffix(rest, "\n"), "\n") {
		if l == "" {
			continue
		}
		if len(n.Sigs) == maxSignatures {
			return nil, fmt.Errorf("%w: note has more than %d signatures", ErrMalformed, maxSignatures)
		}
		body, ok := strings.CutPrefix(l, "— ")
		if !ok {
			return nil, fmt.Errorf("%w: signature line %q does not start with an em dash", ErrMalformed, truncate(l))
		}
		name, b64, ok := strings.Cut(body, " ")
		if !ok || name == "" || strings.Contains(b64, " ") || strings.Contains(name, "+") {
			return nil, fmt.Errorf("%w: signature line %q is not \"— name signature\"", ErrMalformed, truncate(l))
		}
		raw, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(raw) < 5 {
			return nil, fmt.Errorf("%w: signature of %s is not base64 of a key ID and a signature", ErrMalformed, truncate(name))
		}
		n.Sigs = append(n.Sigs, NoteSignature{Name: name, KeyID: binary.BigEndian.Uint32(raw), Sig: raw[4:]})
	}
	return n, nil
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// KeyName is the note key name of a member's checkpoint key:
// "<origin>/<member>".
func KeyName(origin, member string) string { return origin + "/" + member }

// SignatureType is the signature type of a legacy checkpoint signature
// (see SignNote): the byte 0x01 for Ed25519, and for the schemes the note
// specification has no identifier for (ML-DSA, composite), the reserved
// byte 0xff followed by "charta/" and the scheme name, for example 0xff
// "charta/ml-dsa-65+ed25519".
func SignatureType(s ledger.Scheme) []byte {
	if s == ledger.SchemeEd25519 {
		return []byte{typeEd25519}
	}
	return append([]byte{0xff}, "charta/"+string(s)...)
}

// NoteKeyID is the key ID of a legacy checkpoint signature by a public key
// under a key name: SHA-256(name ‖ 0x0A ‖ SignatureType ‖ public key)[:4],
// big-endian.
func NoteKeyID(name string, pk ledger.PublicKey) uint32 {
	return noteKeyHash(name, SignatureType(pk.Scheme), pk.Key)
}

// SignNote makes a legacy checkpoint signature: the whole key's signature
// over the note text, under "<origin>/<member>", as nodes signed before
// they made C2SP cosignatures (Cosign). Verifiers still accept it, so that
// receipts and certificates from then keep verifying; nodes no longer make
// it.
func SignNote(text, origin, member string, k *ledger.PrivateKey) (NoteSignature, error) {
	sig, err := k.Sign([]byte(text))
	if err != nil {
		return NoteSignature{}, fmt.Errorf("verify: sign note: %w", err)
	}
	name := KeyName(origin, member)
	return NoteSignature{Name: name, KeyID: NoteKeyID(name, k.Public()), Sig: sig}, nil
}
