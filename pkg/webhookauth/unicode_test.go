package webhookauth_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/novamed/bridge/pkg/webhookauth"
)

// TestUnicodeLookalikesRefused: a credential with a zero-width character
// or a full-width look-alike in it is not the credential. (A different
// case of the scheme word and extra spaces are accepted: RFC 9110 makes
// the scheme case-insensitive.)
func TestUnicodeLookalikesRefused(t *testing.T) {
	const tok = "fhir-subscription-token-AAAAAAAA"
	bearer, err := webhookauth.NewBearer([]string{tok})
	if err != nil {
		t.Fatal(err)
	}
	typeform, err := webhookauth.NewTypeform([]string{hmacVectorSecret})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(hmacVectorBody)
	sig := webhookauth.SignTypeform(hmacVectorSecret, body)
	tests := []struct {
		name   string
		v      webhookauth.Verifier
		header string
		value  string
	}{
		{"bearer, zero-width space before", bearer, "Authorization", "Bearer \u200b" + tok},
		{"bearer, zero-width space after", bearer, "Authorization", "Bearer " + tok + "\u200b"},
		{"bearer, full-width letter", bearer, "Authorization", "Bearer \uff46hir-subscription-token-AAAAAAAA"},
		{"bearer, Cyrillic a", bearer, "Authorization", "Bearer fhir-subscription-token-\u0430AAAAAAA"},
		{"typeform, zero-width joiner in the prefix", typeform, webhookauth.HeaderTypeformSignature, "sha\u200d256=" + sig[len("sha256="):]},
		{"typeform, full-width equals", typeform, webhookauth.HeaderTypeformSignature, "sha256\uff1d" + sig[len("sha256="):]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			h.Set(tt.header, tt.value)
			if _, err := tt.v.Verify(h, body, time.Now()); err == nil {
				t.Fatal("a look-alike credential was accepted")
			}
		})
	}
	for _, ok := range []string{"bearer " + tok, "Bearer  " + tok} {
		h := http.Header{}
		h.Set("Authorization", ok)
		if _, err := bearer.Verify(h, nil, time.Now()); err != nil {
			t.Errorf("control %q refused: %v", ok, err)
		}
	}
	h := http.Header{}
	h.Set(webhookauth.HeaderTypeformSignature, sig)
	if _, err := typeform.Verify(h, body, time.Now()); err != nil {
		t.Errorf("control signature refused: %v", err)
	}
}
