package webhookauth_test

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/novamed/bridge/pkg/webhookauth"
)

// The Standard Webhooks specification's published test vector, from
// standard-webhooks/standard-webhooks, libraries/go/webhook_test.go
// (TestWebhookSign) and libraries/python/tests/test_webhooks.py
// (test_sign_function); the same values appear in every library of that
// repository. Independently reproduced with
//
//	printf %s 'msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}' |
//	  openssl dgst -sha256 -mac HMAC -macopt hexkey:31f290f6...2da4b0 -binary | base64
const (
	vectorSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorRawSecret = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTimestamp = 1614265330
	vectorPayload   = `{"test": 2432232314}`
	vectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	// Signatures the same libraries use as "invalid": one is the vector with
	// its last character changed (test_invalid_signature_raises_error), the
	// other an unrelated MAC (the multi-signature tests).
	vectorTampered  = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="
	vectorUnrelated = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
)

// otherSecret is a second, unrelated Standard Webhooks secret (24 bytes).
const otherSecret = "whsec_c2Vjb25kLXNlY3JldC1mb3Itcm90YXRpb24="

func TestStandardWebhooksVector(t *testing.T) {
	vectorTime := time.Unix(vectorTimestamp, 0)
	tests := []struct {
		name      string
		secret    string
		id        string
		timestamp string
		payload   string
		signature string
		wantErr   error
	}{
		{"spec vector", vectorSecret, vectorID, "1614265330", vectorPayload, vectorSignature, nil},
		{"spec vector, bare base64 secret", vectorRawSecret, vectorID, "1614265330", vectorPayload, vectorSignature, nil},
		{"last character changed", vectorSecret, vectorID, "1614265330", vectorPayload, vectorTampered, webhookauth.ErrNoMatchingSignature},
		{"unrelated signature", vectorSecret, vectorID, "1614265330", vectorPayload, vectorUnrelated, webhookauth.ErrNoMatchingSignature},
		{"payload changed", vectorSecret, vectorID, "1614265330", `{"test": 2432232315}`, vectorSignature, webhookauth.ErrNoMatchingSignature},
		{"id changed", vectorSecret, "msg_other", "1614265330", vectorPayload, vectorSignature, webhookauth.ErrNoMatchingSignature},
		{"timestamp changed", vectorSecret, vectorID, "1614265331", vectorPayload, vectorSignature, webhookauth.ErrNoMatchingSignature},
		{"other secret", otherSecret, vectorID, "1614265330", vectorPayload, vectorSignature, webhookauth.ErrNoMatchingSignature},
		{"vector as v2 is not v1", vectorSecret, vectorID, "1614265330", vectorPayload, strings.Replace(vectorSignature, "v1,", "v2,", 1), webhookauth.ErrNoMatchingSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := webhookauth.NewStandardWebhooks([]string{tt.secret})
			if err != nil {
				t.Fatalf("NewStandardWebhooks: %v", err)
			}
			h := http.Header{}
			h.Set("webhook-id", tt.id)
			h.Set("webhook-timestamp", tt.timestamp)
			h.Set("webhook-signature", tt.signature)
			got, err := v.Verify(h, []byte(tt.payload), vectorTime)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify error = %v, want %v", err, tt.wantErr)
			}
			if err == nil && got.EventID != tt.id {
				t.Errorf("EventID is not the webhook-id header")
			}
		})
	}

	for _, secret := range []string{vectorSecret, vectorRawSecret} {
		sig, err := webhookauth.SignStandardWebhooks(secret, vectorID, vectorTime, []byte(vectorPayload))
		if err != nil {
			t.Fatalf("SignStandardWebhooks: %v", err)
		}
		if sig != vectorSignature {
			t.Errorf("SignStandardWebhooks does not reproduce the specification's vector")
		}
	}
}

// swRequest is a request signed with secret at ts; tweak edits it.
type swRequest struct {
	header http.Header
	body   []byte
}

func signedSW(t *testing.T, secret string, ts time.Time, body string) swRequest {
	t.Helper()
	h, err := webhookauth.StandardWebhooksHeader(secret, "evt_123", ts, []byte(body))
	if err != nil {
		t.Fatalf("StandardWebhooksHeader: %v", err)
	}
	return swRequest{header: h, body: []byte(body)}
}

func TestStandardWebhooksVerify(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const body = `{"resourceType":"Bundle"}`
	tol := webhookauth.DefaultTolerance
	sign := func(secret string, ts time.Time) string {
		s, err := webhookauth.SignStandardWebhooks(secret, "evt_123", ts, []byte(body))
		if err != nil {
			t.Fatalf("SignStandardWebhooks: %v", err)
		}
		return s
	}
	good := sign(vectorSecret, now)
	v1, v2 := good[:3], good[3:] // "v1," and the MAC
	junk := make([]string, 10)
	for i := range junk {
		junk[i] = vectorUnrelated
	}

	tests := []struct {
		name    string
		secrets []string
		opts    []webhookauth.Option
		req     func() swRequest
		wantErr error
	}{
		{"valid", []string{vectorSecret}, nil, func() swRequest { return signedSW(t, vectorSecret, now, body) }, nil},
		{"wrong secret", []string{otherSecret}, nil, func() swRequest { return signedSW(t, vectorSecret, now, body) }, webhookauth.ErrNoMatchingSignature},
		{"rotated: signed with the second secret", []string{otherSecret, vectorSecret}, nil,
			func() swRequest { return signedSW(t, vectorSecret, now, body) }, nil},
		{"rotated: sender signs with both", []string{vectorSecret}, nil, func() swRequest {
			r := signedSW(t, vectorSecret, now, body)
			r.header.Set("webhook-signature", sign(otherSecret, now)+" "+good)
			return r
		}, nil},
		{"several signatures, other versions among them", []string{vectorSecret}, nil, func() swRequest {
			r := signedSW(t, vectorSecret, now, body)
			r.header.Set("webhook-signature", strings.Join([]string{vectorUnrelated, "v2," + v2, "v1a,abc", good, vectorUnrelated}, " "))
			return r
		}, nil},
		{"several header lines", []string{vectorSecret}, nil, func() swRequest {
			r := signedSW(t, vectorSecret, now, body)
			r.header.Set("webhook-signature", vectorUnrelated)
			r.header.Add("webhook-signature", good)
			return r
		}, nil},
		{"tampered body", []string{vectorSecret}, nil, func() swRequest {
			r := signedSW(t, vectorSecret, now, body)
			r.body = []byte(`{"resourceType":"Bundle" }`)
			return r
		}, webhookauth.ErrNoMatchingSignature},
		{"empty body, signed", []string{vectorSecret}, nil, func() swRequest { return signedSW(t, vectorSecret, now, "") }, nil},
		{"valid MAC under another version is ignored", []string{vectorSecret}, nil, func() swRequest {
			r := signedSW(t, vectorSecret, now, body)
			r.header.Set("webhook-signature", "v2,"+v2+" v1a,"+v2+" V1,"+v2)
			return r
		}, webhookauth.ErrNoMatchingSignature},
		{"missing id", []string{vectorSecret}, nil, func() swRequest {
			r := signedSW(t, vectorSecret, now, body)
			r.header.Del("webhook-id")
			return r
		}, webhookauth.ErrMissingEventID},
		{"missing timestamp", []string{vectorSecret}, nil, func() swRequest {
			r := signedSW(t, vectorSecret, now, body)
			r.header.Del("webhook-timestamp")
			return r
		}, webhookauth.ErrMissingTimestamp},
		{"missing signature", []string{vectorSecret}, nil, func() swRequest {
			r := signedSW(t, vectorSecret, now, body)
			r.header.Del("webhook-signature")
			return r
		}, webhookauth.ErrMissingSignature},
		{"blank signature", []string{vectorSecret}, nil, func() swRequest {
			r := signedSW(t, vectorSecret, now, body)
			r.header.Set("webhook-signature", "   ")
			return r
		}, webhookauth.ErrMissingSignature},
		{"signature without version", []string{vectorSecret}, nil, func() swRequest {
			r := signedSW(t, vectorSecret, now, body)
			r.header.Set("webhook-signature", v2)
			return r
		}, webhookauth.ErrMalformedSignature},
		{"signature not base64", []string{vectorSecret}, nil, func() swRequest {
			r := signedSW(t, vectorSecret, now, body)
			r.header.Set("webhook-signature", v1+strings.Repeat("!", len(v2)))
			return r
		}, webhookauth.ErrMalformedSignature},
		{"signature too short", []string{vectorSecret}, nil, func() swRequest {
			r := signedSW(t, vectorSecret, now, body)
			r.header.Set("webhook-signature", v1+v2[:20])
			return r
		}, webhookauth.ErrMalformedSignature},
		{"signature unpadded and longer", []string{vectorSecret}, nil, func() swRequest {
			r := signedSW(t, vectorSecret, now, body)
			r.header.Set("webhook-signature", v1+strings.Repeat("A", 44))
			return r
		}, webhookauth.ErrMalformedSignature},
		{"malformed entries beside a well-formed wrong one", []string{vectorSecret}, nil, func() swRequest {
			r := signedSW(t, vectorSecret, now, body)
			r.header.Set("webhook-signature", "garbage "+vectorUnrelated)
			return r
		}, webhookauth.ErrNoMatchingSignature},
		{"malformed entry before the good one", []string{vectorSecret}, nil, func() swRequest {
			r := signedSW(t, vectorSecret, now, body)
			r.header.Set("webhook-signature", "garbage v1,@@ "+good)
			return r
		}, nil},
		{"timestamp at the stale edge", []string{vectorSecret}, nil, func() swRequest { return signedSW(t, vectorSecret, now.Add(-tol), body) }, nil},
		{"timestamp a second past the stale edge", []string{vectorSecret}, nil,
			func() swRequest { return signedSW(t, vectorSecret, now.Add(-tol-time.Second), body) }, webhookauth.ErrTimestampOutOfTolerance},
		{"timestamp at the future edge", []string{vectorSecret}, nil, func() swRequest { return signedSW(t, vectorSecret, now.Add(tol), body) }, nil},
		{"timestamp a second past the future edge", []string{vectorSecret}, nil,
			func() swRequest { return signedSW(t, vectorSecret, now.Add(tol+time.Second), body) }, webhookauth.ErrTimestampOutOfTolerance},
		{"custom tolerance: inside", []string{vectorSecret}, []webhookauth.Option{webhookauth.WithTolerance(time.Minute)},
			func() swRequest { return signedSW(t, vectorSecret, now.Add(-time.Minute), body) }, nil},
		{"custom tolerance: outside", []string{vectorSecret}, []webhookauth.Option{webhookauth.WithTolerance(time.Minute)},
			func() swRequest { return signedSW(t, vectorSecret, now.Add(-time.Minute-time.Second), body) }, webhookauth.ErrTimestampOutOfTolerance},
		{"stale timestamp with a valid signature is still refused", []string{vectorSecret}, nil,
			func() swRequest { return signedSW(t, vectorSecret, now.Add(-24*time.Hour), body) }, webhookauth.ErrTimestampOutOfTolerance},
		{"timestamp not a number", []string{vectorSecret}, nil, func() swRequest {
			r := signedSW(t, vectorSecret, now, body)
			r.header.Set("webhook-timestamp", "yesterday")
			return r
		}, webhookauth.ErrMalformedTimestamp},
		{"timestamp with a sign", []string{vectorSecret}, nil, func() swRequest {
			r := signedSW(t, vectorSecret, now, body)
			r.header.Set("webhook-timestamp", "+"+strconv.FormatInt(now.Unix(), 10))
			return r
		}, webhookauth.ErrMalformedTimestamp},
		{"timestamp with a leading zero", []string{vectorSecret}, nil, func() swRequest {
			r := signedSW(t, vectorSecret, now, body)
			r.header.Set("webhook-timestamp", "0"+strconv.FormatInt(now.Unix(), 10))
			return r
		}, webhookauth.ErrMalformedTimestamp},
		{"timestamp in milliseconds", []string{vectorSecret}, nil, func() swRequest {
			r := signedSW(t, vectorSecret, now, body)
			r.header.Set("webhook-timestamp", strconv.FormatInt(now.UnixMilli(), 10))
			return r
		}, webhookauth.ErrTimestampOutOfTolerance},
		{"timestamp huge", []string{vectorSecret}, nil, func() swRequest {
			r := signedSW(t, vectorSecret, now, body)
			r.header.Set("webhook-timestamp", strings.Repeat("9", 40))
			return r
		}, webhookauth.ErrMalformedTimestamp},
		{"event id with a space", []string{vectorSecret}, nil, func() swRequest {
			r := signedSW(t, vectorSecret, now, body)
			r.header.Set("webhook-id", "evt 123")
			return r
		}, webhookauth.ErrMalformedEventID},
		{"event id too long", []string{vectorSecret}, nil, func() swRequest {
			r := signedSW(t, vectorSecret, now, body)
			r.header.Set("webhook-id", strings.Repeat("e", webhookauth.MaxEventIDLen+1))
			return r
		}, webhookauth.ErrMalformedEventID},
		{"lower-case header keys, as from API Gateway", []string{vectorSecret}, nil, func() swRequest {
			r := signedSW(t, vectorSecret, now, body)
			lower := http.Header{}
			for k, v := range r.header {
				lower[strings.ToLower(k)] = v
			}
			r.header = lower
			return r
		}, nil},
		{"valid signature within the examined limit", []string{vectorSecret}, nil, func() swRequest {
			r := signedSW(t, vectorSecret, now, body)
			r.header.Set("webhook-signature", strings.Join(append(junk[:9:9], good), " "))
			return r
		}, nil},
		{"valid signature beyond the examined limit", []string{vectorSecret}, nil, func() swRequest {
			r := signedSW(t, vectorSecret, now, body)
			r.header.Set("webhook-signature", strings.Join(append(junk[:10:10], good), " "))
			return r
		}, webhookauth.ErrNoMatchingSignature},
		{"limit counts across header lines", []string{vectorSecret}, []webhookauth.Option{webhookauth.WithMaxSignatures(2)}, func() swRequest {
			r := signedSW(t, vectorSecret, now, body)
			r.header.Set("webhook-signature", vectorUnrelated+" "+vectorUnrelated)
			r.header.Add("webhook-signature", good)
			return r
		}, webhookauth.ErrNoMatchingSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := webhookauth.NewStandardWebhooks(tt.secrets, tt.opts...)
			if err != nil {
				t.Fatalf("NewStandardWebhooks: %v", err)
			}
			r := tt.req()
			got, err := v.Verify(r.header, r.body, now)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify error = %v, want %v", err, tt.wantErr)
			}
			if err == nil && got.EventID != "evt_123" {
				t.Errorf("EventID is not the webhook-id header")
			}
			if err != nil {
				assertNoLeak(t, err.Error(), r.header)
				if got != (webhookauth.Verified{}) {
					t.Errorf("a failed verification returned an event id")
				}
			}
		})
	}
}

// assertNoLeak fails if msg contains a header value (any non-trivial one).
func assertNoLeak(t *testing.T, msg string, h http.Header) {
	t.Helper()
	for name, values := range h {
		for _, v := range values {
			for part := range strings.FieldsSeq(v) {
				if len(part) >= 6 && strings.Contains(msg, part) {
					t.Errorf("error message contains a value of header %s", name)
				}
			}
		}
	}
}

func TestNewStandardWebhooksRejects(t *testing.T) {
	tests := []struct {
		name    string
		secrets []string
		opts    []webhookauth.Option
		wantErr error
		index   int // of the *SecretError, or -1
	}{
		{"no secrets", nil, nil, webhookauth.ErrNoSecrets, -1},
		{"too many secrets", repeat(vectorSecret, webhookauth.MaxSecrets+1), nil, webhookauth.ErrTooManySecrets, -1},
		{"not base64", []string{"whsec_not*base64*at*all"}, nil, webhookauth.ErrInvalidSecret, 0},
		{"second secret bad", []string{vectorSecret, "whsec_%%%"}, nil, webhookauth.ErrInvalidSecret, 1},
		{"empty", []string{""}, nil, webhookauth.ErrInvalidSecret, 0},
		{"prefix only", []string{"whsec_"}, nil, webhookauth.ErrWeakSecret, 0},
		{"trailing newline", []string{vectorSecret + "\n"}, nil, webhookauth.ErrInvalidSecret, 0},
		{"too short", []string{"whsec_c2hvcnQ="}, nil, webhookauth.ErrWeakSecret, 0},
		{"zero tolerance", []string{vectorSecret}, []webhookauth.Option{webhookauth.WithTolerance(0)}, webhookauth.ErrInvalidOption, -1},
		{"tolerance over the maximum", []string{vectorSecret}, []webhookauth.Option{webhookauth.WithTolerance(2 * time.Hour)}, webhookauth.ErrInvalidOption, -1},
		{"no signatures examined", []string{vectorSecret}, []webhookauth.Option{webhookauth.WithMaxSignatures(0)}, webhookauth.ErrInvalidOption, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := webhookauth.NewStandardWebhooks(tt.secrets, tt.opts...)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			var se *webhookauth.SecretError
			if got := errors.As(err, &se); got != (tt.index >= 0) || (got && se.Index != tt.index) {
				t.Errorf("SecretError index mismatch (want %d)", tt.index)
			}
			for _, s := range tt.secrets {
				if len(s) > 6 && strings.Contains(err.Error(), strings.TrimSpace(s)) {
					t.Errorf("error message contains a secret")
				}
			}
		})
	}
}

func TestSignStandardWebhooksRejectsBadSecret(t *testing.T) {
	if _, err := webhookauth.SignStandardWebhooks("whsec_***", "id", time.Now(), nil); !errors.Is(err, webhookauth.ErrInvalidSecret) {
		t.Errorf("error = %v, want ErrInvalidSecret", err)
	}
	if _, err := webhookauth.StandardWebhooksHeader("", "id", time.Now(), nil); !errors.Is(err, webhookauth.ErrInvalidSecret) {
		t.Errorf("error = %v, want ErrInvalidSecret", err)
	}
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}
