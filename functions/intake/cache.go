package main

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/novamed/bridge/pkg/phi"
	"github.com/novamed/bridge/pkg/queue"
	"github.com/novamed/bridge/pkg/source"
)

// sourceCache keeps parsed source definitions, keyed by name and by a
// digest of the definition text: the parameter cache decides when the text
// is re-read from SSM (its TTL), and a changed text is parsed again on the
// next request. A definition that fails to parse is remembered too, so a
// broken source costs one parse per change, not one per request. Only
// digests are kept, never the text (it holds secrets).
type sourceCache struct {
	mu      sync.Mutex
	entries map[string]sourceEntry
}

type sourceEntry struct {
	digest [sha256.Size]byte
	src    *source.Source
	err    error
}

// get returns the parsed definition of name, whose text is raw.
func (c *sourceCache) get(name, raw string) (*source.Source, error) {
	d := sha256.Sum256([]byte(raw))
	c.mu.Lock()
	e, ok := c.entries[name]
	c.mu.Unlock()
	if ok && e.digest == d {
		return e.src, e.err
	}
	src, err := source.Parse(name, []byte(raw))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = make(map[string]sourceEntry)
	}
	// Names come only from parameters that exist under sources/, so the
	// map is bounded by what the operators stored.
	c.entries[name] = sourceEntry{digest: d, src: src, err: err}
	return src, err
}

// guardCache keeps the environment guard for the current pseudonym key and
// clinic, rebuilt when either changes (a rotated key is picked up with the
// parameter cache's TTL). It keeps a digest of the key, not the key.
type guardCache struct {
	mu     sync.Mutex
	digest [sha256.Size]byte
	guard  *phi.Guard
}

func (c *guardCache) get(key, clinic string, now func() time.Time) (*phi.Guard, error) {
	h := sha256.New()
	h.Write([]byte(key))
	h.Write([]byte{0})
	h.Write([]byte(clinic))
	var d [sha256.Size]byte
	h.Sum(d[:0])

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.guard != nil && c.digest == d {
		return c.guard, nil
	}
	// The one parser dispatch and redrive use too (base64), so all three
	// derive the same pseudonyms.
	g, err := phi.NewGuardFromParameters(key, clinic, phi.WithClock(now))
	if err != nil {
		return nil, err
	}
	c.digest, c.guard = d, g
	return g, nil
}

// keyerCache keeps the subject keyer for the current pseudonym key,
// rebuilt when the parameter changes: the key is parsed and keyed once,
// not per request. Like guardCache, it keeps a digest of the parameter,
// not the parameter.
type keyerCache struct {
	mu     sync.Mutex
	digest [sha256.Size]byte
	keyer  *queue.Keyer
}

func (c *keyerCache) get(param string) (*queue.Keyer, error) {
	d := sha256.Sum256([]byte(param))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keyer != nil && c.digest == d {
		return c.keyer, nil
	}
	key, err := phi.ParsePseudonymKey(param)
	if err != nil {
		return nil, err
	}
	c.digest, c.keyer = d, queue.NewKeyer(key)
	return c.keyer, nil
}
