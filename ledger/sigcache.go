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
// Whether a signature verifies is a pure function of the scheme, the public
// key, the message and the signature, and the cache is keyed by a SHA-256 of
// all four; it records only successes. So it can change how long Apply takes,
// never what Apply decides: a miss simply verifies. Which key may sign, and
// at which index, is still decided from the key table on every use.
type sigCache struct {
	mu   sync.Mutex
	seen map[Hash]struct{}
	ring []Hash // insertion order, to evict the oldest
	next int
}

const sigCacheSize = 1 << 16

func newSigCache() *sigCache {
	return &sigCache{seen: make(map[Hash]struct{}, sigCacheSize), ring: make([]Hash, 0, sigCacheSize)}
}

func sigKey(v *VerifyingKey, msgHash *Hash, sig []byte) Hash {
	h := sha256.New()
	h.Write([]byte(v.pub.Scheme))
	h.Write([]byte{0})
	h.Write(v.pub.Key)
	h.Write(msgHash[:])
	h.Write(sig)
	var k Hash
	h.Sum(k[:0])
	return k
}

// verify is v.Verify with the cache in front.
func (c *sigCache) verify(v *VerifyingKey, msgHash *Hash, msg, sig []byte) bool {
	if v == nil {
		return false
	}
	k := sigKey(v, msgHash, sig)
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

// VerifyEnvelope verifies an envelope's signatures against keys from
// lookup, as Apply will, and remembers the ones that verify so that Apply
// does not repeat the work. It returns the key IDs that signed.
func (l *Ledger) VerifyEnvelope(env *Envelope, lookup func(keyID string) (PublicKey, bool)) ([]string, error) {
	var msgHash Hash
	return env.verifyWith(func(id string) (*VerifyingKey, bool, error) {
		pk, ok := lookup(id)
		if !ok {
			return nil, false, nil
		}
		v, ok := l.verifyingKey(id, pk)
		if !ok {
			return nil, true, Errorf(CodeInvalid, "key %s does not parse", id)
		}
		return v, true, nil
	}, func(v *VerifyingKey, msg, sig []byte) bool {
		if msgHash == (Hash{}) {
			msgHash = sha256.Sum256(msg)
		}
		return l.sigs.verify(v, &msgHash, msg, sig)
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
	envs := make([]*Envelope, 0, len(entries))
	for i, e := range entries {
		rec, err := DecodeRecord(e.Data)
		if err != nil {
			continue
		}
		if env, err := DecodeEnvelope(rec.Envelope); err == nil {
			envs = append(envs, env)
			entries[i].env = env // for Apply, which would decode it again
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
	next := make(chan *Envelope)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for env := range next {
				l.VerifyEnvelope(env, lookup)
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
// lookup and the signature cache in front of the cryptography. A
// signature with no key ID is tried against anon, in order.
func (l *Ledger) verifyAdmitted(env *Envelope, lookup func(id string) (*VerifyingKey, bool), anon []string) ([]string, error) {
	var msgHash Hash
	return env.verifyWith(func(id string) (*VerifyingKey, bool, error) {
		v, ok := lookup(id)
		return v, ok, nil
	}, func(v *VerifyingKey, msg, sig []byte) bool {
		if msgHash == (Hash{}) {
			msgHash = sha256.Sum256(msg)
		}
		return l.sigs.verify(v, &msgHash, msg, sig)
	}, anon)
}
