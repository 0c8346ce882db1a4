package keyedmac

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"hash"
	"log/slog"
	"sync"
)

// Pool gives HMAC-SHA256 instances keyed with one key. It is safe for
// concurrent use.
type Pool struct {
	key   []byte
	keyed hash.Cloner // nil when crypto/hmac cannot clone (then Get keys anew)
	macs  sync.Pool   // reset MACs between uses
}

// New returns a Pool for key (copied).
func New(key []byte) *Pool {
	p := &Pool{key: bytes.Clone(key)}
	m := hmac.New(sha256.New, p.key)
	m.Reset() // makes crypto/hmac store the padded key's states, which clones share
	if c, ok := m.(hash.Cloner); ok {
		if _, err := c.Clone(); err == nil {
			p.keyed = c
		}
	}
	return p
}

// Get returns a MAC keyed with the pool's key, in its initial state.
// Cloning only reads the keyed state, so concurrent calls are safe.
func (p *Pool) Get() hash.Hash {
	if m, ok := p.macs.Get().(hash.Hash); ok {
		return m
	}
	if p.keyed != nil {
		if c, err := p.keyed.Clone(); err == nil {
			if m, ok := c.(hash.Hash); ok {
				return m
			}
		}
	}
	return hmac.New(sha256.New, p.key)
}

// Put resets m and pools it. m must have come from Get, and the caller
// must not use it afterwards.
func (p *Pool) Put(m hash.Hash) {
	m.Reset()
	p.macs.Put(m)
}

const placeholder = "keyedmac.Pool{[REDACTED]}"

// String, GoString, Format and LogValue keep the key out of every printout.
func (p *Pool) String() string             { return placeholder }
func (p *Pool) GoString() string           { return placeholder }
func (p *Pool) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(placeholder)) }
func (p *Pool) LogValue() slog.Value       { return slog.StringValue(placeholder) }
