package ledger

import (
	"crypto/sha256"
	"runtime"
	"sync"
)

// sigCache remembers signatures that verified, so that a signature checked
// when a proposal arrived (the API's precheck) or ahead of Apply (Preverify,
// in parallel) is not verified again inside Apply, one entry after another.
//
// An entry says that signature i of the envelope whose bytes hash to env
// verifies under the key whose scheme and bytes hash to key. The envelope's
// bytes fix its payload and every signature, so whether that holds is a
// pure function of the entry; and both hashes are computed anyway (the
// envelope's for its journal entry, the key's once when it is parsed), so a
// lookup hashes nothing. It records only successes, so it can change how
// long Apply takes, never what Apply decides: a miss simply verifies. Which
// key may sign, and at which index, is still decided from the key table on
// every use.
type sigCache struct {
	mu   sync.Mutex
	seen map[sigKey]struct{}
	ring []sigKey // insertion order, to evict the oldest
	next int
}

// sigKey names one verified signature: a key, an envelope and the
// signature's position in it.
type sigKey struct {
	key, env Hash
	sig      int
}

const sigCacheSize = 1 << 16

func newSigCache() *sigCache {
	return &sigCache{seen: make(map[sigKey]struct{}, sigCacheSize), ring: make([]sigKey, 0, sigCacheSize)}
}

// verify is v.Verify of signature i of the envelope that hashes to env,
// with the cache in front.
func (c *sigCache) verify(v *VerifyingKey, env *Hash, i int, msg, sig []byte) bool {
	if v == nil {
		return false
	}
	k := sigKey{key: v.id, env: *env, sig: i}
	c.mu.Lock()
	_, ok := c.seen[k]
	c.mu.Unlock()
	if ok {
		return true
	}
	if !v.Verify(msg, sig) {
		return false
	}
	c.mu.Lock()
	if _, ok := c.seen[k]; !ok {
		if len(c.ring) < sigCacheSize {
			c.ring = append(c.ring, k)
		} else {
			delete(c.seen, c.ring[c.next])
			c.ring[c.next] = k
			c.next = (c.next + 1) % sigCacheSize
		}
		c.seen[k] = struct{}{}
	}
	c.mu.Unlock()
	return true
}

// VerifyEnvelope verifies the signatures of raw, an encoded envelope
// that decoded to env, against keys from lookup, as Apply will, and
// remembers the ones that verify so that Apply does not repeat the work.
// It returns the key IDs that signed.
func (l *Ledger) VerifyEnvelope(raw []byte, env *Envelope, lookup func(keyID string) (PublicKey, bool)) ([]string, error) {
	return l.verifyDecoded(&Decoded{raw: raw, env: env, hash: sha256.Sum256(raw)}, lookup)
}

func (l *Ledger) verifyDecoded(d *Decoded, lookup func(keyID string) (PublicKey, bool)) ([]string, error) {
	return d.env.verifyWith(func(id string) (*VerifyingKey, bool, error) {
		pk, ok := lookup(id)
		if !ok {
			return nil, false, nil
		}
		v, ok := l.verifyingKey(id, pk)
		if !ok {
			return nil, true, Errorf(CodeInvalid, "key %s does not parse", id)
		}
		return v, true, nil
	}, func(v *VerifyingKey, i int, msg, sig []byte) bool {
		return l.sigs.verify(v, &d.hash, i, msg, sig)
	}, nil)
}

// Preverify checks the signatures of committed records before they are
// applied, on every core, against the current key table, and remembers the
// ones that verify; Apply then finds them in the cache instead of
// verifying one entry after another. Records it cannot decode, and keys it
// does not know yet (a rotation earlier in the same batch), are left to
// Apply, which remains the authority. The envelopes it decodes are left in
// entries, so that Apply on the same slice does not decode them again. A
// batch of one entry gains nothing from it (Apply verifies it as fast), and
// is the common case of a lightly loaded node.
func (l *Ledger) Preverify(entries []LogEntry) {
	if l.opts.SkipVerify || len(entries) < 2 {
		return
	}
	envs := make([]*Decoded, 0, len(entries))
	for i, e := range entries {
		rec, err := DecodeRecord(e.Data)
		if err != nil {
			continue
		}
		if d := e.Decoded.decodedFrom(rec.Envelope); d != nil {
			envs = append(envs, d)
			continue
		}
		if env, err := DecodeEnvelope(rec.Envelope); err == nil {
			d := &Decoded{raw: rec.Envelope, env: env, hash: sha256.Sum256(rec.Envelope)}
			envs = append(envs, d)
			entries[i].Decoded = d // for Apply, which would decode it again
		}
	}
	if len(envs) == 0 {
		return
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	btx, err := l.db.Begin(false)
	if err != nil {
		return
	}
	defer btx.Rollback()
	t := newTx(btx, l.memos)
	var keyMu sync.Mutex
	lookup := func(id string) (PublicKey, bool) {
		keyMu.Lock() // a bbolt read transaction is not for concurrent use
		defer keyMu.Unlock()
		k, ok := t.getKey(id)
		return k.Public, ok
	}
	workers := min(runtime.GOMAXPROCS(0), len(envs))
	next := make(chan *Decoded)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range next {
				l.verifyDecoded(d, lookup)
			}
		}()
	}
	for _, env := range envs {
		next <- env
	}
	close(next)
	wg.Wait()
}

// verifyAdmitted verifies an envelope inside Apply, with parsed keys from
// lookup and the signature cache in front of the cryptography; envHash is
// the SHA-256 of the envelope's bytes. A signature with no key ID is tried
// against anon, in order.
func (l *Ledger) verifyAdmitted(env *Envelope, envHash *Hash, lookup func(id string) (*VerifyingKey, bool), anon []string) ([]string, error) {
	return env.verifyWith(func(id string) (*VerifyingKey, bool, error) {
		v, ok := lookup(id)
		return v, ok, nil
	}, func(v *VerifyingKey, i int, msg, sig []byte) bool {
		return l.sigs.verify(v, envHash, i, msg, sig)
	}, anon)
}
