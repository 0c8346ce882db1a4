package webhookauth_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/novamed/bridge/pkg/webhookauth"
)

// FuzzHMAC feeds arbitrary signature headers and bodies to the three HMAC
// verifiers (Tally's base64, Formstack's prefixed hex, Typeform's). Each
// must never panic, fail only with a sentinel, accept a header only when it
// carries the body's MAC under a configured secret, and accept the body
// once it is signed properly.
func FuzzHMAC(f *testing.F) {
	body := []byte(hmacVectorBody)
	f.Add(uint8(0), hmacVectorB64, body)
	f.Add(uint8(1), "sha256="+hmacVectorHex, body)
	f.Add(uint8(2), "sha256="+hmacVectorB64, body)
	f.Add(uint8(1), "sha256="+hmacVectorHex+", sha256=zz", body)
	f.Add(uint8(0), "", []byte(nil))
	f.Add(uint8(2), "sha256=\u00e9\x00\xff", []byte("\xff\xfe"))

	configs := []webhookauth.HMACConfig{tallyConfig, formstackConfig,
		{Header: webhookauth.HeaderTypeformSignature, Encoding: webhookauth.EncodingBase64, Prefix: webhookauth.TypeformPrefix}}
	verifiers := make([]*webhookauth.HMAC, len(configs))
	for i, cfg := range configs {
		v, err := webhookauth.NewHMAC(cfg, []string{secretA, hmacVectorSecret})
		if err != nil {
			f.Fatal(err)
		}
		verifiers[i] = v
	}
	now := time.Unix(1_700_000_000, 0)
	f.Fuzz(func(t *testing.T, which uint8, sig string, body []byte) {
		i := int(which) % len(configs)
		cfg, v := configs[i], verifiers[i]
		h := http.Header{}
		h.Set(cfg.Header, sig)
		if _, err := v.Verify(h, body, now); err != nil {
			if !isVerifyError(err) {
				t.Fatal("Verify returned a non-sentinel error")
			}
		} else if !signedBy(t, cfg, body, sig, secretA, hmacVectorSecret) {
			t.Fatal("accepted a signature that is no configured secret's MAC of the body")
		}
		good, err := webhookauth.SignHMAC(secretA, cfg, body)
		if err != nil {
			t.Fatal(err)
		}
		h.Set(cfg.Header, good)
		if _, err := v.Verify(h, body, now); err != nil {
			t.Fatalf("a properly signed body was refused: %v", err)
		}
		other, err := webhookauth.SignHMAC(secretB, cfg, body)
		if err != nil {
			t.Fatal(err)
		}
		h.Set(cfg.Header, other)
		if _, err := v.Verify(h, body, now); err == nil {
			t.Fatal("a body signed with an unconfigured secret was accepted")
		}
	})
}

// signedBy reports whether one comma- or space-separated element of sig is
// the MAC of body under one of secrets (hex compared case-insensitively).
func signedBy(t *testing.T, cfg webhookauth.HMACConfig, body []byte, sig string, secrets ...string) bool {
	t.Helper()
	for _, s := range secrets {
		want, err := webhookauth.SignHMAC(s, cfg, body)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(sig, want) || (cfg.Encoding == webhookauth.EncodingHex && strings.Contains(strings.ToLower(sig), want)) {
			return true
		}
	}
	return false
}

// FuzzBearer: the Authorization parser never panics, fails only with a
// sentinel and accepts only a header naming a configured token.
func FuzzBearer(f *testing.F) {
	const tokA, tokB = "fhir-subscription-token-AAAAAAAA", "fhir-subscription-token-BBBBBBBB"
	f.Add("Bearer " + tokA)
	f.Add("bearer  " + tokB)
	f.Add("Bearer " + tokA + ", Bearer x")
	f.Add("Basic Zm9vOmJhcg==")
	f.Add("Bearer \u200b" + tokA)
	v, err := webhookauth.NewBearer([]string{tokA, tokB})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, auth string) {
		h := http.Header{}
		h.Set(webhookauth.HeaderAuthorization, auth)
		if _, err := v.Verify(h, nil, time.Now()); err != nil {
			if !isVerifyError(err) {
				t.Fatal("Verify returned a non-sentinel error")
			}
			return
		}
		if !strings.Contains(auth, tokA) && !strings.Contains(auth, tokB) {
			t.Fatal("accepted an Authorization header naming no configured token")
		}
	})
}
