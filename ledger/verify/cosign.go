package verify

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/charta/charta/ledger"
)

// The signed-note signature types of a member node's checkpoint
// signatures (C2SP signed-note and tlog-cosignature).
const (
	// typeEd25519 is a plain Ed25519 note signature over the checkpoint
	// text: the log's own signature, under the origin as its key name.
	typeEd25519 = 0x01
	// typeCosignatureV1 is a C2SP tlog-cosignature Ed25519 cosignature/v1:
	// a timestamp and an Ed25519 signature over "cosignature/v1\ntime
	// <timestamp>\n" and the checkpoint text.
	typeCosignatureV1 = 0x04
)

// pqCosignatureHeader is the first line of the message a post-quantum
// (ML-DSA or composite) cosignature signs: Charta's analogue of
// cosignature/v1 for the schemes C2SP has no Ed25519-style type for.
const pqCosignatureHeader = "charta-cosignature/v1"

// timestampSize is the length of the timestamp that starts a cosignature.
const timestampSize = 8

// PQSignatureType is the signature type of a member key's post-quantum
// cosignature: the reserved byte 0xff followed by
// "charta-cosignature/v1/" and the scheme name, for example
// 0xff "charta-cosignature/v1/ml-dsa-65+ed25519".
func PQSignatureType(s ledger.Scheme) []byte {
	return append([]byte{0xff}, pqCosignatureHeader+"/"+string(s)...)
}

// noteKeyHash is the C2SP signed-note key ID: SHA-256(name ‖ 0x0A ‖
// signature type ‖ public key)[:4], big-endian.
func noteKeyHash(name string, typ, key []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n'})
	h.Write(typ)
	h.Write(key)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// vkey formats a C2SP signed-note verifier key: name+hash+base64(type ‖ key).
func vkey(name string, typ, key []byte) string {
	return fmt.Sprintf("%s+%08x+%s", name, noteKeyHash(name, typ, key), base64.StdEncoding.EncodeToString(append(append([]byte{}, typ...), key...)))
}

// NoteVKey returns the verifier key, in the golang.org/x/mod/sumdb/note
// vkey format, of the plain Ed25519 signature a member node makes on a
// checkpoint as the log, under the origin as its name. ok is false for a
// key with no Ed25519 part (ML-DSA).
func NoteVKey(origin string, pk ledger.PublicKey) (string, bool) {
	ed, ok := pk.Ed25519()
	if !ok {
		return "", false
	}
	return vkey(origin, []byte{typeEd25519}, ed), true
}

// CosignatureVKey returns the C2SP tlog-cosignature verifier key
// (signature type 0x04) of a member node's cosignature/v1, under the name
// "<origin>/<member>". ok is false for a key with no Ed25519 part.
func CosignatureVKey(origin, member string, pk ledger.PublicKey) (string, bool) {
	ed, ok := pk.Ed25519()
	if !ok {
		return "", false
	}
	return vkey(KeyName(origin, member), []byte{typeCosignatureV1}, ed), true
}

// CosignatureMessage is what an Ed25519 cosignature/v1 signs (C2SP
// tlog-cosignature): "cosignature/v1\ntime <timestamp>\n" and the
// checkpoint text.
func CosignatureMessage(text string, timestamp uint64) []byte {
	return []byte("cosignature/v1\ntime " + strconv.FormatUint(timestamp, 10) + "\n" + text)
}

// pqCosignatureMessage is what a post-quantum cosignature signs: the same
// as CosignatureMessage under its own header line.
func pqCosignatureMessage(text string, timestamp uint64) []byte {
	return []byte(pqCosignatureHeader + "\ntime " + strconv.FormatUint(timestamp, 10) + "\n" + text)
}

// Cosign returns the signature lines a member node adds to a checkpoint
// text with its key k, at timestamp (POSIX seconds):
//
//   - for a key with an Ed25519 part (ed25519, the composite), a plain
//     Ed25519 note signature under the origin, which any signed-note
//     verifier checks with NoteVKey, and an Ed25519 cosignature/v1 under
//     "<origin>/<member>", which tlog-cosignature verifiers and witness
//     policies check with CosignatureVKey;
//   - for a key with an ML-DSA part (ML-DSA, the composite), a post-quantum
//     cosignature under "<origin>/<member>": the timestamp and the key's
//     full signature over pqCosignatureMessage, with key ID type
//     PQSignatureType.
func Cosign(text, origin, member string, k *ledger.PrivateKey, timestamp uint64) ([]NoteSignature, error) {
	if timestamp > 1<<63-1 {
		return nil, fmt.Errorf("verify: cosign: timestamp %d is over 2^63-1", timestamp)
	}
	var out []NoteSignature
	pk := k.Public()
	name := KeyName(origin, member)
	if ed, ok := pk.Ed25519(); ok {
		sig, _ := k.SignEd25519([]byte(text))
		out = append(out, NoteSignature{Name: origin, KeyID: noteKeyHash(origin, []byte{typeEd25519}, ed), Sig: sig})
		sig, _ = k.SignEd25519(CosignatureMessage(text, timestamp))
		out = append(out, NoteSignature{Name: name, KeyID: noteKeyHash(name, []byte{typeCosignatureV1}, ed), Sig: binary.BigEndian.AppendUint64(nil, timestamp)})
		out[len(out)-1].Sig = append(out[len(out)-1].Sig, sig...)
	}
	if pk.Scheme != ledger.SchemeEd25519 {
		sig, err := k.Sign(pqCosignatureMessage(text, timestamp))
		if err != nil {
			return nil, fmt.Errorf("verify: cosign: %w", err)
		}
		out = append(out, NoteSignature{Name: name, KeyID: noteKeyHash(name, PQSignatureType(pk.Scheme), pk.Key),
			Sig: append(binary.BigEndian.AppendUint64(nil, timestamp), sig...)})
	}
	return out, nil
}

// CosignCheckpoint returns the checkpoint as a note with member's
// cosignature lines (see Cosign).
func CosignCheckpoint(c *Checkpoint, member string, k *ledger.PrivateKey, timestamp uint64) (*Note, error) {
	sigs, err := Cosign(c.Body(), c.Origin, member, k, timestamp)
	if err != nil {
		return nil, err
	}
	return &Note{Text: c.Body(), Sigs: sigs}, nil
}

// sigForm is one kind of signature line a member key can make on a
// checkpoint: its key name and ID, how to check it, and whether it counts
// towards the threshold.
type sigForm struct {
	name   string
	keyID  uint32
	verify func(text string, sig []byte) bool
	counts bool
}

// sigForms lists the signature lines member's key pk can make on a
// checkpoint of origin. The Ed25519 forms of a composite key are checked
// but do not count, because they would let a forger of Ed25519 alone pass:
// the post-quantum cosignature counts for it. The legacy form is the plain
// note signature by the whole key under "<origin>/<member>" that nodes
// made before cosignature/v1, so that receipts and certificates issued
// then still verify.
func sigForms(origin, member string, pk ledger.PublicKey) []sigForm {
	name := KeyName(origin, member)
	var out []sigForm
	if ed, ok := pk.Ed25519(); ok {
		single := pk.Scheme == ledger.SchemeEd25519
		out = append(out,
			sigForm{origin, noteKeyHash(origin, []byte{typeEd25519}, ed), func(text string, sig []byte) bool {
				return len(sig) == ed25519.SignatureSize && ed25519.Verify(ed, []byte(text), sig)
			}, single},
			sigForm{name, noteKeyHash(name, []byte{typeCosignatureV1}, ed), func(text string, sig []byte) bool {
				ts, ok := timestamp(sig, ed25519.SignatureSize)
				return ok && ed25519.Verify(ed, CosignatureMessage(text, ts), sig[timestampSize:])
			}, single})
	}
	if pk.Scheme != ledger.SchemeEd25519 {
		out = append(out, sigForm{name, noteKeyHash(name, PQSignatureType(pk.Scheme), pk.Key), func(text string, sig []byte) bool {
			ts, ok := timestamp(sig, len(sig)-timestampSize)
			return ok && pk.Verify(pqCosignatureMessage(text, ts), sig[timestampSize:])
		}, true})
	}
	return append(out, sigForm{name, NoteKeyID(name, pk), func(text string, sig []byte) bool { return pk.Verify([]byte(text), sig) }, true})
}

// timestamp reads the timestamp that starts a cosignature of a signature
// of n bytes. ok is false for a cosignature of another length or a
// timestamp over 2^63-1, which C2SP tlog-cosignature forbids.
func timestamp(sig []byte, n int) (uint64, bool) {
	if n <= 0 || len(sig) != timestampSize+n {
		return 0, false
	}
	ts := binary.BigEndian.Uint64(sig)
	return ts, ts <= 1<<63-1
}

// cosignRequestHeader is the first line of the message a node signs to ask
// peers to cosign a checkpoint it cannot cosign itself: one of a snapshot
// it was offered, whose entries its own journal lacks.
const cosignRequestHeader = "charta-cosign-request/v1"

// CosignRequestType is the signature type of a cosign request line: the
// reserved byte 0xff followed by "charta-cosign-request/v1/" and the
// scheme name.
func CosignRequestType(s ledger.Scheme) []byte {
	return append([]byte{0xff}, cosignRequestHeader+"/"+string(s)...)
}

// CosignRequest returns the line with which member's node asks peers to
// cosign a checkpoint text it has not checked against a journal of its
// own: its key's signature over "charta-cosign-request/v1\n" and the text,
// under "<origin>/<member>" with key type CosignRequestType. It
// authenticates the request and is no cosignature: no cosignature form
// signs that message and no verifier counts the line, so a peer that keeps
// the request holds nothing that vouches for the checkpoint in the
// requester's name.
func CosignRequest(text, origin, member string, k *ledger.PrivateKey) (NoteSignature, error) {
	sig, err := k.Sign([]byte(cosignRequestHeader + "\n" + text))
	if err != nil {
		return NoteSignature{}, fmt.Errorf("verify: cosign request: %w", err)
	}
	name := KeyName(origin, member)
	pk := k.Public()
	return NoteSignature{Name: name, KeyID: noteKeyHash(name, CosignRequestType(pk.Scheme), pk.Key), Sig: sig}, nil
}

// Requesters returns the trusted members, sorted, whose cosign request
// lines (CosignRequest) on n verify. A request line by a trusted key that
// does not verify is an ErrSignature; other lines are ignored.
func (t *Trust) Requesters(n *Note) ([]string, error) {
	origin := Origin(t.Consortium)
	var out []string
	for _, s := range n.Sigs {
		for _, m := range slices.Sorted(maps.Keys(t.Keys)) {
			name := KeyName(origin, m)
			for _, pk := range t.Keys[m] {
				if s.Name != name || s.KeyID != noteKeyHash(name, CosignRequestType(pk.Scheme), pk.Key) {
					continue
				}
				if !pk.Verify([]byte(cosignRequestHeader+"\n"+n.Text), s.Sig) {
					return nil, fmt.Errorf("%w: the cosign request of %s (key %08x) does not verify", ErrSignature, m, s.KeyID)
				}
				if !slices.Contains(out, m) {
					out = append(out, m)
				}
			}
		}
	}
	slices.Sort(out)
	return out, nil
}
