package queue

import (
	"bytes"
	"fmt"
	"log/slog"

	"github.com/novamed/bridge/internal/keyedmac"
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
	key  []byte
	macs *keyedmac.Pool
}

// NewKeyer returns a Keyer for key (copied).
func NewKeyer(key []byte) *Keyer {
	k := &Keyer{key: bytes.Clone(key)}
	k.macs = keyedmac.New(k.key)
	return k
}

// SubjectKey is SubjectKey(key, parts...).
func (k *Keyer) SubjectKey(parts ...string) string {
	m := k.macs.Get()
	defer k.macs.Put(m)
	return subjectKey(m, parts)
}

// RecordDigests is RecordDigests(key, rec).
func (k *Keyer) RecordDigests(rec novamed.Record) (map[string]string, error) {
	m := k.macs.Get()
	defer k.macs.Put(m)
	return recordDigests(m, k.key, rec)
}

const keyerString = "queue.Keyer{[REDACTED]}"

// String, GoString, Format and LogValue keep the key out of every printout.
func (k *Keyer) String() string             { return keyerString }
func (k *Keyer) GoString() string           { return keyerString }
func (k *Keyer) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(keyerString)) }
func (k *Keyer) LogValue() slog.Value       { return slog.StringValue(keyerString) }
