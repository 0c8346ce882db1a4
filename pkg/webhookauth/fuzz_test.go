package webhookauth_test

import (
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/novamed/bridge/pkg/webhookauth"
)

// verifyErrors are the only errors Verify may return: sentinels that carry
// no input.
var verifyErrors = []error{
	webhookauth.ErrMissingSignature,
	webhookauth.ErrMalformedSignature,
	webhookauth.ErrNoMatchingSignature,
	webhookauth.ErrMissingTimestamp,
	webhookauth.ErrMalformedTimestamp,
	webhookauth.ErrTimestampOutOfTolerance,
	webhookauth.ErrMissingEventID,
	webhookauth.ErrMalformedEventID,
}

// FuzzStandardWebhooks feeds arbitrary header values and bodies to the
// Standard Webhooks verifier. It must never panic, must fail only with a
// sentinel, must return the signed id when it succeeds, and must accept the
// body once it is signed properly.
func FuzzStandardWebhooks(f *testing.F) {
	f.Add(vectorID, "1614265330", vectorSignature, []byte(vectorPayload))
	f.Add(vectorID, "1614265330", vectorUnrelated+" v2,abc "+vectorSignature, []byte(vectorPayload))
	f.Add("", "", "", []byte(nil))
	f.Add("id", "-1", "v1,", []byte("{}"))
	f.Add("id", "99999999999999999999", "v1,====", []byte("{}"))
	f.Add("id with space", "1614265330", ",,, v1 v1,AAAA", []byte("\x00\xff"))

	v, err := webhookauth.NewStandardWebhooks([]string{vectorSecret})
	if err != nil {
		f.Fatal(err)
	}
	now := time.Unix(vectorTimestamp, 0)
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		h := http.Header{}
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", ts)
		h.Set("webhook-signature", sig)
		got, err := v.Verify(h, body, now)
		if err == nil {
			if got.EventID != h.Get("webhook-id") {
				t.Fatal("EventID differs from the webhook-id header")
			}
		} else if !isVerifyError(err) {
			t.Fatalf("Verify returned a non-sentinel error")
		}

		good, err := webhookauth.SignStandardWebhooks(vectorSecret, "msg_fuzz", now, body)
		if err != nil {
			t.Fatal(err)
		}
		h.Set("webhook-id", "msg_fuzz")
		h.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
		h.Set("webhook-signature", good)
		if _, err := v.Verify(h, body, now); err != nil {
			t.Fatalf("a properly signed body was refused: %v", err)
		}
	})
}

func isVerifyError(err error) bool {
	for _, s := range verifyErrors {
		if err == s || errors.Is(err, s) {
			return true
		}
	}
	return false
}
