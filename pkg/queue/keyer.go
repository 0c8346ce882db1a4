package queue

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"hash"
	"log/slog"
	"sync"

	"github.com/novamed/bridge/pkg/novamed"
)

// Keyer makes subject keys and field digests under one key, keyed once:
// SubjectKey and RecordDigests key a new HMAC (two SHA-256 blocks and a
// handful of allocations) on every call, and intake makes both for every
// record. Its results are exactly theirs. It is safe for concurrent use.
//
// It holds the key (and MACs keyed with it, which are as secret), so it
// renders in fmt and slog as a placeholder.
type Keyer struct {
	key   []byte
	keyed hash.Cloner // nil when crypto/hmac cannot clone
	macs  sync.Pool   // keyed MACs between calls, reset when released (and by each use)
}

// NewKeyer returns a Keyer for key (copied).
func NewKeyer(key []byte) *Keyer {
	k := &Keyer{key: bytes.Clone(key)}
	m := hmac.New(sha256.New, k.key)
	m.Reset() // makes crypto/hmac store the padded key's states, which clones share
	if c, ok := m.(hash.Cloner); ok {
		k.keyed = c
	}
	return k
}

// SubjectKey is SubjectKey(key, parts...).
func (k *Keyer) SubjectKey(parts ...string) string {
	m := k.mac()
	defer k.release(m)
	return subjectKey(m, parts)
}

// RecordDigests is RecordDigests(key, rec).
func (k *Keyer) RecordDigests(rec novamed.Record) (map[string]string, error) {
	m := k.mac()
	defer k.release(m)
	return recordDigests(m, k.key, rec)
}

// mac returns a MAC keyed with k.key, in any state: its users reset it.
func (k *Keyer) mac() hash.Hash {
	if m, ok := k.macs.Get().(hash.Hash); ok {
		return m
	}
	if k.keyed != nil {
		if c, err := k.keyed.Clone(); err == nil {
			if m, ok := c.(hash.Hash); ok {
				return m
			}
		}
	}
	return hmac.New(sha256.New, k.key)
}

// release resets m (its hash state holds the end of the last input, a
// field value) and pools it.
func (k *Keyer) release(m hash.Hash) {
	m.Reset()
	k.macs.Put(m)
}

const keyerString = "queue.Keyer{[REDACTED]}"

// String, GoString, Format and LogValue keep the key out of every printout.
func (k *Keyer) String() string             { return keyerString }
func (k *Keyer) GoString() string           { return keyerString }
func (k *Keyer) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(keyerString)) }
func (k *Keyer) LogValue() slog.Value       { return slog.StringValue(keyerString) }
