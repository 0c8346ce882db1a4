package phi

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"

	"github.com/novamed/bridge/internal/keyedmac"
)

// Pseudonymizer turns a value into a stable pseudonym within a domain (the
// domain keeps a patient's email pseudonym unrelated to their street's).
// The same domain and value must always give the same bytes, and different
// values different bytes. The guard needs at least MinPseudonymLen bytes.
//
// It is the one seam for the known tension in docs/phi-policy.md: an HMAC is
// derived from the person; a random-token vault (non-derived codes kept in
// the ledger) can implement this interface without touching callers.
type Pseudonymizer interface {
	Pseudonym(domain, value string) []byte
}

// MinPseudonymLen is the shortest pseudonym the guard accepts: 16 bytes
// leave room for a 60-bit email code and independent picks.
const MinPseudonymLen = 16

// MinKeyLen is the shortest HMAC key NewHMACPseudonymizer accepts.
const MinKeyLen = 16

// ErrShortKey is returned by NewHMACPseudonymizer for a key under MinKeyLen bytes.
var ErrShortKey = errors.New("phi: pseudonym key is shorter than 16 bytes")

// NewHMACPseudonymizer returns a Pseudonymizer computing
// HMAC-SHA256(key, len(domain) ‖ domain ‖ value). The length prefix keeps
// ("ab", "c") and ("a", "bc") apart. The key is copied.
func NewHMACPseudonymizer(key []byte) (Pseudonymizer, error) {
	if len(key) < MinKeyLen {
		return nil, ErrShortKey
	}
	// An HMAC keyed once and cloned per pseudonym (internal/keyedmac):
	// the guard asks for several pseudonyms per record.
	return &hmacPseudonymizer{macs: keyedmac.New(key)}, nil
}

type hmacPseudonymizer struct {
	macs *keyedmac.Pool // holds the key; renders as a placeholder too
}

func (h *hmacPseudonymizer) Pseudonym(domain, value string) []byte {
	m := h.macs.Get()
	defer h.macs.Put(m)
	// One buffer holds the input, then the sum: one Write, and the only
	// allocation besides what the caller keeps. What is left of the input
	// past the sum is cleared, and the sum's capacity ends with it.
	buf := make([]byte, 0, max(8+len(domain)+len(value), sha256.Size))
	buf = binary.BigEndian.AppendUint64(buf, uint64(len(domain)))
	buf = append(buf, domain...)
	buf = append(buf, value...)
	m.Write(buf)
	sum := m.Sum(buf[:0])
	clear(buf[len(sum):cap(buf)])
	return sum[:len(sum):len(sum)]
}

const redactedKey = "phi.HMACPseudonymizer{key:[REDACTED]}"

// String, GoString, Format and LogValue keep the key out of every printout.
func (h *hmacPseudonymizer) String() string             { return redactedKey }
func (h *hmacPseudonymizer) GoString() string           { return redactedKey }
func (h *hmacPseudonymizer) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redactedKey)) }
func (h *hmacPseudonymizer) LogValue() slog.Value       { return slog.StringValue(redactedKey) }
