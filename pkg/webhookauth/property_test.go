package webhookauth_test

import (
	"encoding/base64"
	"errors"
	"net/http"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/novamed/bridge/pkg/webhookauth"
)

// TestSignVerifyRoundTrip: for any secret and body, what a Sign helper
// produces verifies, and flipping any one bit of the body makes it fail.
func TestSignVerifyRoundTrip(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	rapid.Check(t, func(t *rapid.T) {
		key := rapid.SliceOfN(rapid.Byte(), webhookauth.MinSecretBytes, 64).Draw(t, "key")
		text := rapid.StringMatching(`[!-~]{16,64}`).Draw(t, "text")
		body := rapid.SliceOfN(rapid.Byte(), 1, 512).Draw(t, "body")
		bit := rapid.IntRange(0, len(body)*8-1).Draw(t, "bit")
		tampered := append([]byte(nil), body...)
		tampered[bit/8] ^= 1 << (bit % 8)

		swSecret := "whsec_" + base64.StdEncoding.EncodeToString(key)
		sw, err := webhookauth.NewStandardWebhooks([]string{swSecret})
		if err != nil {
			t.Fatal(err)
		}
		h, err := webhookauth.StandardWebhooksHeader(swSecret, "evt_1", now, body)
		if err != nil {
			t.Fatal(err)
		}
		check(t, "standard-webhooks", sw, h, body, tampered, now)

		tf, err := webhookauth.NewTypeform([]string{text})
		if err != nil {
			t.Fatal(err)
		}
		h = http.Header{}
		h.Set("Typeform-Signature", webhookauth.SignTypeform(text, body))
		check(t, "typeform", tf, h, body, tampered, now)

		for _, cfg := range []webhookauth.HMACConfig{tallyConfig, formstackConfig} {
			hm, err := webhookauth.NewHMAC(cfg, []string{text})
			if err != nil {
				t.Fatal(err)
			}
			sig, err := webhookauth.SignHMAC(text, cfg, body)
			if err != nil {
				t.Fatal(err)
			}
			h = http.Header{}
			h.Set(cfg.Header, sig)
			check(t, cfg.Header, hm, h, body, tampered, now)
		}
	})
}

func check(t *rapid.T, name string, v webhookauth.Verifier, h http.Header, body, tampered []byte, now time.Time) {
	if _, err := v.Verify(h, body, now); err != nil {
		t.Fatalf("%s: signed body refused: %v", name, err)
	}
	if _, err := v.Verify(h, tampered, now); !errors.Is(err, webhookauth.ErrNoMatchingSignature) {
		t.Fatalf("%s: tampered body: error = %v, want ErrNoMatchingSignature", name, err)
	}
}
