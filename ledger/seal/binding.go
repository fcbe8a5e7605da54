package seal

import (
	"crypto/sha256"
	"encoding/binary"
	"unicode/utf8"
)

// MaxBindingField is the longest Consortium, Kind or ID of a Binding, in
// bytes.
const MaxBindingField = 256

// Binding names the object a sealed payload belongs to. It is not stored in
// the Sealed object: whoever opens one supplies it from the context (the
// grant that carries it), and it enters both the HPKE info and the AEAD
// additional data, so a sealed object copied into another grant or another
// consortium does not open there.
type Binding struct {
	Consortium string `json:"consortium"` // the consortium ID
	Kind       string `json:"kind"`       // the kind of object, for example "grant"
	ID         string `json:"id"`         // the object's ID
}

// Validate checks that each field is 1 to MaxBindingField bytes of UTF-8.
func (b Binding) Validate() error {
	for _, f := range []struct{ name, value string }{
		{"consortium", b.Consortium}, {"kind", b.Kind}, {"id", b.ID},
	} {
		switch {
		case f.value == "":
			return fail(ErrMalformed, "binding: %s: missing", f.name)
		case len(f.value) > MaxBindingField:
			return fail(ErrMalformed, "binding: %s: longer than %d bytes", f.name, MaxBindingField)
		case !utf8.ValidString(f.value):
			return fail(ErrMalformed, "binding: %s: invalid UTF-8", f.name)
		}
	}
	return nil
}

// Labels separate the hashes and the HPKE and AEAD inputs of format
// version 1 from each other and from anything else.
const (
	labelBinding    = "charta-seal-v1 binding"
	labelCommitment = "charta-seal-v1 commitment"
	labelInfo       = "charta-seal-v1 info"
	labelPayload    = "charta-seal-v1 payload"
	labelWrap       = "charta-seal-v1 wrap"
)

// digest returns the binding digest
//
//	B = SHA-256("charta-seal-v1 binding" ‖ 0x00 ‖ len16(consortium) ‖ consortium ‖ len16(kind) ‖ kind ‖ len16(id) ‖ id)
//
// where len16 is a 2-byte big-endian length. The lengths make the encoding
// unambiguous; hashing keeps the HPKE info within 64 bytes, the length
// RFC 9180's input length restrictions (§7.2.1) ask every implementation
// to accept.
func (b Binding) digest() [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte(labelBinding))
	h.Write([]byte{0})
	for _, f := range []string{b.Consortium, b.Kind, b.ID} {
		h.Write(binary.BigEndian.AppendUint16(nil, uint16(len(f))))
		h.Write([]byte(f))
	}
	var d [sha256.Size]byte
	h.Sum(d[:0])
	return d
}

// info returns the HPKE info of every wrap: "charta-seal-v1 info" ‖ 0x00 ‖ B
// (52 bytes).
func info(bd *[sha256.Size]byte) []byte {
	out := make([]byte, 0, len(labelInfo)+1+sha256.Size)
	out = append(out, labelInfo...)
	out = append(out, 0)
	return append(out, bd[:]...)
}

// payloadAAD returns the additional data of the payload's AEAD:
// "charta-seal-v1 payload" ‖ 0x00 ‖ B ‖ C, where C is the commitment.
func payloadAAD(bd, commitment *[sha256.Size]byte) []byte {
	out := make([]byte, 0, len(labelPayload)+1+2*sha256.Size)
	out = append(out, labelPayload...)
	out = append(out, 0)
	out = append(out, bd[:]...)
	return append(out, commitment[:]...)
}

// wrapAAD returns the additional data of one recipient's HPKE Seal of the
// content key: "charta-seal-v1 wrap" ‖ 0x00 ‖ C ‖ F ‖ len8(member) ‖ member,
// where F is the 32-byte SHA-256 behind the recipient key's fingerprint.
// It ties the wrap to its object and its recipient, so a wrap cannot be
// relabelled to another member or moved into another object.
func wrapAAD(commitment, fp *[sha256.Size]byte, member string) []byte {
	out := make([]byte, 0, len(labelWrap)+1+2*sha256.Size+1+len(member))
	out = append(out, labelWrap...)
	out = append(out, 0)
	out = append(out, commitment[:]...)
	out = append(out, fp[:]...)
	out = append(out, byte(len(member)))
	return append(out, member...)
}
