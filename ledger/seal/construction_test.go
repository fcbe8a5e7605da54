package seal_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"testing"

	"github.com/cloudflare/circl/hpke"
	"github.com/cloudflare/circl/kem/xwing"
)

// TestVectors_Construction opens the first valid vector the way a
// third-party implementation would, from docs/confidentiality.md alone:
// plain HPKE and AES-GCM, with every derived input rebuilt from its
// formula, none taken from package seal.
func TestVectors_Construction(t *testing.T) {
	v, _ := readVectors(t)
	c := v.Valid[0]
	var s struct {
		Commitment string `json:"commitment"`
		Nonce      []byte `json:"nonce"`
		Ciphertext []byte `json:"ciphertext"`
		Wraps      []struct {
			Member         string `json:"member"`
			KeyFingerprint string `json:"key_fingerprint"`
			Enc            []byte `json:"enc"`
			WrappedKey     []byte `json:"wrapped_key"`
		} `json:"wraps"`
	}
	if err := json.Unmarshal(c.Sealed, &s); err != nil {
		t.Fatal(err)
	}
	seeds := map[string][]byte{}
	for _, k := range v.Keys {
		seeds[k.Name] = k.Seed
	}

	// B = SHA-256("charta-seal-v1 binding" ‖ 0x00 ‖ len16 ‖ consortium ‖ len16 ‖ kind ‖ len16 ‖ id)
	b := []byte("charta-seal-v1 binding\x00")
	for _, f := range []string{c.Binding.Consortium, c.Binding.Kind, c.Binding.ID} {
		b = binary.BigEndian.AppendUint16(b, uint16(len(f)))
		b = append(b, f...)
	}
	bd := sha256.Sum256(b)
	commitment, _ := hex.DecodeString(s.Commitment)
	info := append([]byte("charta-seal-v1 info\x00"), bd[:]...)
	payloadAAD := append(append([]byte("charta-seal-v1 payload\x00"), bd[:]...), commitment...)

	suite := hpke.NewSuite(hpke.KEM_XWING, hpke.KDF_HKDF_SHA256, hpke.AEAD_AES256GCM)
	for i, w := range s.Wraps {
		seed := seeds[c.Recipients[i].Key]
		sk, pk := xwing.DeriveKeyPair(seed)
		var pkb [xwing.PublicKeySize]byte
		pk.Pack(pkb[:])
		fp := sha256.Sum256(append([]byte("x-wing"), pkb[:]...))
		if hex.EncodeToString(fp[:]) != w.KeyFingerprint {
			t.Fatalf("%s: fingerprint", w.Member)
		}
		wrapAAD := append(append(append([]byte("charta-seal-v1 wrap\x00"), commitment...), fp[:]...), byte(len(w.Member)))
		wrapAAD = append(wrapAAD, w.Member...)

		receiver, err := suite.NewReceiver(sk, info)
		if err != nil {
			t.Fatal(err)
		}
		opener, err := receiver.Setup(w.Enc)
		if err != nil {
			t.Fatal(err)
		}
		key, err := opener.Open(w.WrappedKey, wrapAAD)
		if err != nil {
			t.Fatalf("%s: unwrap: %v", w.Member, err)
		}
		block, _ := aes.NewCipher(key)
		gcm, _ := cipher.NewGCM(block)
		pt, err := gcm.Open(nil, s.Nonce, s.Ciphertext, payloadAAD)
		if err != nil {
			t.Fatalf("%s: payload: %v", w.Member, err)
		}
		salt, plaintext := pt[:32], pt[32:]
		// C = SHA-256("charta-seal-v1 commitment" ‖ 0x00 ‖ salt ‖ len64(plaintext) ‖ plaintext)
		h := sha256.New()
		h.Write([]byte("charta-seal-v1 commitment\x00"))
		h.Write(salt)
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(plaintext))))
		h.Write(plaintext)
		if !bytes.Equal(h.Sum(nil), commitment) || !bytes.Equal(plaintext, c.Plaintext) {
			t.Fatalf("%s: plaintext or commitment differs", w.Member)
		}
	}
}
