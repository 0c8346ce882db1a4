package keyedmac

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

func reference(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

// A MAC from Get is hmac.New's, whether new, cloned or pooled after use:
// Put leaves no trace of the last input.
func TestGetIsHMAC(t *testing.T) {
	key := []byte("keyedmac-test-key-0123456789abcdef")
	p := New(key)
	for i, msg := range []string{"", "a", strings.Repeat("x", 200), "after a long one"} {
		m := p.Get()
		m.Write([]byte(msg))
		if got, want := m.Sum(nil), reference(key, []byte(msg)); !hmac.Equal(got, want) {
			t.Fatalf("message %d: MAC differs from hmac.New's", i)
		}
		m.Write([]byte("left in the state when put back"))
		p.Put(m)
	}
}

// For any key length (keys longer than SHA-256's block are hashed first)
// the keyed MAC clones, so Get never falls back to keying anew.
func TestEveryKeyLengthClones(t *testing.T) {
	for n := range 200 {
		key := make([]byte, n)
		for i := range key {
			key[i] = byte(i*7 + n)
		}
		p := New(key)
		if p.keyed == nil {
			t.Fatalf("a %d-byte key's MAC cannot be cloned: every Get keys anew", n)
		}
		m := p.Get()
		m.Write([]byte("m"))
		if !hmac.Equal(m.Sum(nil), reference(key, []byte("m"))) {
			t.Fatalf("a %d-byte key: MAC differs from hmac.New's", n)
		}
	}
}

// New copies the key: changing the caller's slice changes nothing.
func TestNewCopiesTheKey(t *testing.T) {
	key := []byte("keyedmac-test-key-0123456789abcdef")
	p := New(key)
	want := reference(key, []byte("m"))
	key[0] ^= 0xff
	m := p.Get()
	m.Write([]byte("m"))
	if !hmac.Equal(m.Sum(nil), want) {
		t.Fatal("the pool uses the caller's slice, not a copy")
	}
}

func TestConcurrentUse(t *testing.T) {
	key := []byte("keyedmac-test-key-0123456789abcdef")
	p := New(key)
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				msg := []byte(fmt.Sprintf("goroutine %d message %d", g, i))
				m := p.Get()
				m.Write(msg)
				ok := hmac.Equal(m.Sum(nil), reference(key, msg))
				p.Put(m)
				if !ok {
					errs <- string(msg)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Errorf("wrong MAC for %q", msg)
	}
}

func TestNeverPrintsTheKey(t *testing.T) {
	const secret = "keyedmac-SECRET-never-printed-7f3a9c"
	p := New([]byte(secret))
	var log strings.Builder
	slog.New(slog.NewTextHandler(&log, nil)).Info("pool", "p", p)
	for _, out := range []string{fmt.Sprint(p), fmt.Sprintf("%v %+v %#v %s %x %q", p, p, p, p, p, p), p.String(), log.String()} {
		if strings.Contains(out, secret) || strings.Contains(out, fmt.Sprintf("%x", secret)) {
			t.Fatalf("the key is printed: %s", out)
		}
		if !strings.Contains(out, placeholder) {
			t.Fatalf("no placeholder in %q", out)
		}
	}
}
