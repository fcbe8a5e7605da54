package ledger

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
)

// KeyFileFormat is the value of the "format" member of a key file. A
// different value means a file this version cannot read.
const KeyFileFormat = "charta-key-v1"

// KeyFileMode is the permission of a key file: readable and writable by its
// owner only.
const KeyFileMode fs.FileMode = 0o600

// maxKeyFileSize bounds how much of a key file is read; a real one is a few
// kilobytes (the composite public key dominates).
const maxKeyFileSize = 64 << 10

// KeyFile is the on-disk form of a member's signing key and, since
// encryption keys exist, of its encryption key, a JSON object:
//
//	{
//	  "format": "charta-key-v1",
//	  "member": "acme",
//	  "key_id": "acme/0123456789abcdef",
//	  "scheme": "ml-dsa-65+ed25519",
//	  "public": "<standard base64 of the public key>",
//	  "seed": "<standard base64 of the 32-byte seed>",
//	  "encryption": {
//	    "scheme": "x-wing",
//	    "fingerprint": "<64 hex digits>",
//	    "public": "<standard base64 of the 1216-byte public key>",
//	    "seed": "<standard base64 of the 32-byte seed>"
//	  }
//	}
//
// The seed alone determines the key (see NewKeyFromSeed); key_id and public
// are stored so that a person can tell which key a file holds without
// loading it, and ReadKeyFile checks that both agree with the seed. The
// same holds for the encryption key, whose seed is the X-Wing decapsulation
// key. A file without "encryption" (every file written before encryption
// keys existed, and a delegated key's) holds a signing key only, and loads
// as before. The file is secret: String, GoString and LogValue omit both
// seeds.
type KeyFile struct {
	Format     string             `json:"format"`
	Member     string             `json:"member"`
	KeyID      string             `json:"key_id"`
	Scheme     Scheme             `json:"scheme"`
	Public     []byte             `json:"public"`
	Seed       []byte             `json:"seed"`
	Encryption *KeyFileEncryption `json:"encryption,omitempty"`
}

// KeyFileEncryption is the encryption key in a key file: an X-Wing seed,
// with its public key and fingerprint for people to read.
type KeyFileEncryption struct {
	Scheme      string `json:"scheme"` // EncryptionScheme
	Fingerprint string `json:"fingerprint"`
	Public      []byte `json:"public"`
	Seed        []byte `json:"seed"`
}

// String identifies the key file's key without revealing its seed.
func (f KeyFile) String() string {
	return fmt.Sprintf("KeyFile(%s %s)", f.KeyID, f.Scheme)
}

// GoString keeps %#v from printing the seed.
func (f KeyFile) GoString() string { return f.String() }

// LogValue keeps structured logs, including JSON ones, from recording the seed.
func (f KeyFile) LogValue() slog.Value { return slog.StringValue(f.String()) }

// WriteKeyFile writes k as member's key to a new file at path with mode
// 0600. It refuses to overwrite an existing file, since that would destroy
// a key: remove the old file first to replace it. On error no partial file
// is left behind.
func WriteKeyFile(path string, member string, k *PrivateKey) error {
	return WriteKeyFileWithEncryption(path, member, k, nil)
}

// WriteKeyFileWithEncryption is WriteKeyFile, and also stores the
// encryption key whose X-Wing seed is encSeed (none when nil).
func WriteKeyFileWithEncryption(path string, member string, k *PrivateKey, encSeed []byte) (err error) {
	if !ValidMemberID(member) {
		return Errorf(CodeInvalid, "member: %q is not a member ID (1..64 of [a-z0-9-], starting with a letter)", truncate(member, 80))
	}
	if k == nil {
		return Errorf(CodeInvalid, "key: missing")
	}
	pub := k.Public()
	kf := KeyFile{
		Format: KeyFileFormat,
		Member: member,
		KeyID:  KeyID(member, pub),
		Scheme: k.scheme,
		Public: pub.Key,
		Seed:   k.seed[:],
	}
	if encSeed != nil {
		ek, err := EncryptionKeyFromSeed(encSeed)
		if err != nil {
			return Errorf(CodeInvalid, "encryption %s", messageOf(err))
		}
		kf.Encryption = &KeyFileEncryption{Scheme: ek.Scheme, Fingerprint: ek.Fingerprint(), Public: ek.Key, Seed: encSeed}
	}
	b, err := json.MarshalIndent(kf, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')

	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, KeyFileMode)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("key file %s already exists; remove it first to replace it: %w", path, err)
		}
		return fmt.Errorf("key file: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("key file: %w", cerr)
		}
		if err != nil {
			_ = os.Remove(path)
		}
	}()
	// The umask can only narrow the mode, but be explicit in case the
	// file system ignored it.
	if err := f.Chmod(KeyFileMode); err != nil {
		return fmt.Errorf("key file: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		return fmt.Errorf("key file: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("key file: %w", err)
	}
	return nil
}

// ReadKeyFile reads a key file written by WriteKeyFile and returns the
// member and the signing key. It checks the format, the member ID, the
// scheme and the seed length, and that the stored public key and key ID are
// the ones the seed derives, so a damaged or hand-edited file fails clearly
// rather than signing with an unexpected key; it checks the encryption key,
// when the file holds one, in the same way. It does not check the file's
// mode; keeping it private is up to the operator (WriteKeyFile creates it
// 0600). Errors never contain a seed.
func ReadKeyFile(path string) (member string, k *PrivateKey, err error) {
	kf, k, err := readKeyFile(path)
	if err != nil {
		return "", nil, err
	}
	return kf.Member, k, nil
}

// ReadEncryptionSeed reads a key file as ReadKeyFile does and returns its
// member and the X-Wing seed of its encryption key (ledger/seal.ReadKeyFile
// turns it into a key). A file without an encryption key is an error that
// says so.
func ReadEncryptionSeed(path string) (member string, seed []byte, err error) {
	kf, _, err := readKeyFile(path)
	if err != nil {
		return "", nil, err
	}
	if kf.Encryption == nil {
		return "", nil, Errorf(CodeInvalid, "key file %s: holds no encryption key (it was written before encryption keys existed, or for a delegated key); create a new one with charta keygen", path)
	}
	return kf.Member, kf.Encryption.Seed, nil
}

// readKeyFile reads and checks a key file; see ReadKeyFile.
func readKeyFile(path string) (*KeyFile, *PrivateKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("key file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("key file: %w", err)
	}
	if len(b) > maxKeyFileSize {
		return nil, nil, Errorf(CodeInvalid, "key file %s: larger than %d bytes", path, maxKeyFileSize)
	}
	var kf KeyFile
	if err := DecodeStrict(b, &kf); err != nil {
		return nil, nil, Errorf(CodeInvalid, "key file %s: %s", path, errorText(err))
	}
	bad := func(format string, args ...any) error {
		return Errorf(CodeInvalid, "key file %s: %s", path, fmt.Sprintf(format, args...))
	}
	switch {
	case kf.Format != KeyFileFormat:
		return nil, nil, bad("format: must be %q, got %q", KeyFileFormat, truncate(kf.Format, 40))
	case !ValidMemberID(kf.Member):
		return nil, nil, bad("member: %q is not a member ID", truncate(kf.Member, 80))
	case !kf.Scheme.Valid():
		return nil, nil, bad("scheme: unknown signature scheme %q", truncate(string(kf.Scheme), 40))
	case len(kf.Seed) != SeedSize:
		return nil, nil, bad("seed: must be %d bytes, got %d", SeedSize, len(kf.Seed))
	}
	k, err := NewKeyFromSeed(kf.Scheme, kf.Seed)
	if err != nil {
		return nil, nil, bad("%s", errorText(err))
	}
	pub := k.Public()
	if string(kf.Public) != string(pub.Key) {
		return nil, nil, bad("public: does not match the key derived from the seed")
	}
	if want := KeyID(kf.Member, pub); kf.KeyID != want {
		return nil, nil, bad("key_id: %q does not match the key, whose ID is %s", truncate(kf.KeyID, 100), want)
	}
	if kf.Encryption != nil {
		if why := kf.Encryption.check(); why != "" {
			return nil, nil, bad("encryption.%s", why)
		}
	}
	return &kf, k, nil
}

// String identifies the encryption key without revealing its seed.
func (e KeyFileEncryption) String() string {
	return fmt.Sprintf("KeyFileEncryption(%s %s)", e.Scheme, e.Fingerprint)
}

// GoString keeps %#v from printing the seed.
func (e KeyFileEncryption) GoString() string { return e.String() }

// LogValue keeps structured logs from recording the seed.
func (e KeyFileEncryption) LogValue() slog.Value { return slog.StringValue(e.String()) }

// check returns what is wrong with a key file's encryption key, or "": the
// scheme, the seed's length, and that the stored public key and
// fingerprint are those the seed derives.
func (e *KeyFileEncryption) check() string {
	if e.Scheme != EncryptionScheme {
		return fmt.Sprintf("scheme: must be %q, got %q", EncryptionScheme, truncate(e.Scheme, 40))
	}
	if len(e.Seed) != EncryptionSeedSize {
		return fmt.Sprintf("seed: must be %d bytes, got %d", EncryptionSeedSize, len(e.Seed))
	}
	pub, err := EncryptionKeyFromSeed(e.Seed)
	if err != nil {
		return messageOf(err)
	}
	if string(e.Public) != string(pub.Key) {
		return "public: does not match the key derived from the seed"
	}
	if want := pub.Fingerprint(); e.Fingerprint != want {
		return fmt.Sprintf("fingerprint: %q does not match the key, whose fingerprint is %s", truncate(e.Fingerprint, 100), want)
	}
	return ""
}

// public returns the encryption key's public half.
func (e *KeyFileEncryption) public() EncryptionKey {
	return EncryptionKey{Scheme: e.Scheme, Key: e.Public}
}

// Signer is a key together with the key ID it signs as; see Sign.
type Signer struct {
	KeyID string
	Key   *PrivateKey
}

// NewSigner returns the Signer for member's key k.
func NewSigner(member string, k *PrivateKey) Signer {
	return Signer{KeyID: KeyID(member, k.Public()), Key: k}
}

// PublicKeyFile is the public half of a key file, written beside it as
// <name>.pub: what a member shares with the founders of a consortium.
// EncryptionKey is absent when the key file holds no encryption key.
type PublicKeyFile struct {
	Member        string         `json:"member"`
	KeyID         string         `json:"key_id"`
	Public        PublicKey      `json:"public_key"`
	EncryptionKey *EncryptionKey `json:"encryption_key,omitempty"`
}

// PublicKeyFile returns the public half of the key file: what
// CreateKeyFiles writes to the .pub companion.
func (f *KeyFile) PublicKeyFile() *PublicKeyFile {
	pk := PublicKey{Scheme: f.Scheme, Key: f.Public}
	pub := &PublicKeyFile{Member: f.Member, KeyID: KeyID(f.Member, pk), Public: pk}
	if f.Encryption != nil {
		ek := f.Encryption.public()
		pub.EncryptionKey = &ek
	}
	return pub
}

// CreateKeyFiles generates a key of scheme for member, and an X-Wing
// encryption key when encryption is set, and writes them to path (see
// WriteKeyFileWithEncryption) and their public halves to path's .pub
// companion. A delegated key, which only signs, is made without one.
func CreateKeyFiles(path, member string, scheme Scheme, encryption bool) (*PublicKeyFile, error) {
	k, err := GenerateKey(scheme, nil)
	if err != nil {
		return nil, err
	}
	var encSeed []byte
	if encryption {
		encSeed = make([]byte, EncryptionSeedSize)
		if _, err := rand.Read(encSeed); err != nil {
			return nil, err
		}
	}
	if err := WriteKeyFileWithEncryption(path, member, k, encSeed); err != nil {
		return nil, err
	}
	pub := &PublicKeyFile{Member: member, KeyID: KeyID(member, k.Public()), Public: k.Public()}
	if encSeed != nil {
		ek, _ := EncryptionKeyFromSeed(encSeed)
		pub.EncryptionKey = &ek
	}
	b, _ := json.MarshalIndent(pub, "", "  ")
	if err := os.WriteFile(strings.TrimSuffix(path, ".key")+".pub", append(b, '\n'), 0o644); err != nil {
		return nil, err
	}
	return pub, nil
}

// ReadSigner reads a key file as the Signer of its member.
func ReadSigner(path string) (Signer, error) {
	member, k, err := ReadKeyFile(path)
	if err != nil {
		return Signer{}, err
	}
	return NewSigner(member, k), nil
}

// ReadKeyFilePublic reads and checks a key file as ReadKeyFile does, and
// returns only its public halves: what its .pub companion holds.
func ReadKeyFilePublic(path string) (*PublicKeyFile, error) {
	kf, _, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	return kf.PublicKeyFile(), nil
}
