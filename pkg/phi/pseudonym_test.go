package phi

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"sync"
	"testing"

	"pgregory.net/rapid"
)

// referenceHMAC is the documented construction, keyed from scratch.
func referenceHMAC(key []byte, domain, value string) []byte {
	m := hmac.New(sha256.New, key)
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(domain)))
	m.Write(n[:])
	m.Write([]byte(domain))
	m.Write([]byte(value))
	return m.Sum(nil)
}

// The pooled, pre-keyed MAC (internal/keyedmac) must give exactly the HMAC of the documented input,
// for any key length (keys longer than SHA-256's block are hashed first).
func TestPropertyPseudonymIsTheDocumentedHMAC(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		key := rapid.SliceOfN(rapid.Byte(), MinKeyLen, 200).Draw(t, "key")
		p, err := NewHMACPseudonymizer(key)
		if err != nil {
			t.Fatalf("NewHMACPseudonymizer: %v", err)
		}
		for range 3 {
			domain, value := rapid.String().Draw(t, "domain"), rapid.String().Draw(t, "value")
			if !bytes.Equal(p.Pseudonym(domain, value), referenceHMAC(key, domain, value)) {
				t.Fatal("pseudonym differs from HMAC-SHA256(key, len(domain) ‖ domain ‖ value)")
			}
		}
	})
}

// Concurrent callers share the keyed state read-only (run with -race).
func TestPseudonymConcurrent(t *testing.T) {
	key := []byte(testKey)
	p, err := NewHMACPseudonymizer(key)
	if err != nil {
		t.Fatal(err)
	}
	want := referenceHMAC(key, "patient.city", "x")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if !bytes.Equal(p.Pseudonym("patient.city", "x"), want) {
					t.Error("concurrent pseudonym differs")
					return
				}
			}
		})
	}
	wg.Wait()
}
