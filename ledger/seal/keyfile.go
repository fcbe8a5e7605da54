package seal

import "github.com/charta/charta/ledger"

// ReadKeyFile reads the encryption key of a member's key file (the format
// is ledger.KeyFile's), checked as ledger.ReadKeyFile checks the whole
// file, and returns the member and the key. A key file without an
// encryption key is an error that says so. Errors never contain the seed.
func ReadKeyFile(path string) (member string, k *PrivateKey, err error) {
	member, seed, err := ledger.ReadEncryptionSeed(path)
	if err != nil {
		return "", nil, err
	}
	k, err = NewKeyFromSeed(seed)
	if err != nil {
		return "", nil, err
	}
	return member, k, nil
}
