package webhookauth_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/novamed/bridge/pkg/webhookauth"
)

// A vector computed outside this package, so that signing and verifying
// cannot merely agree with each other:
//
//	printf %s "$body" | openssl dgst -sha256 -hmac "$secret" -binary | base64
//	printf %s "$body" | openssl dgst -sha256 -hmac "$secret" -r
const (
	hmacVectorSecret = "typeform-test-secret-0123456789"
	hmacVectorBody   = `{"event_id":"01HXYZ","event_type":"form_response"}`
	hmacVectorB64    = "xJXJO1NzQusk3ee7uT71QzYTSfO33gmDt5cxWBXENHE="
	hmacVectorHex    = "c495c93b537342eb24dde7bbb93ef543361349f3b7de0983b797315815c43471"
)

const (
	secretA = "first-secret-0123456789abcdef"
	secretB = "second-secret-0123456789abcdef"
)

var (
	tallyConfig     = webhookauth.HMACConfig{Header: "Tally-Signature", Encoding: webhookauth.EncodingBase64}
	formstackConfig = webhookauth.HMACConfig{Header: "X-FS-Signature", Encoding: webhookauth.EncodingHex, Prefix: "sha256="}
)

func TestHMACVector(t *testing.T) {
	body := []byte(hmacVectorBody)
	if got := webhookauth.SignTypeform(hmacVectorSecret, body); got != "sha256="+hmacVectorB64 {
		t.Errorf("SignTypeform does not match the openssl vector")
	}
	if got, err := webhookauth.SignHMAC(hmacVectorSecret, tallyConfig, body); err != nil || got != hmacVectorB64 {
		t.Errorf("SignHMAC (base64) does not match the openssl vector (err %v)", err)
	}
	if got, err := webhookauth.SignHMAC(hmacVectorSecret, formstackConfig, body); err != nil || got != "sha256="+hmacVectorHex {
		t.Errorf("SignHMAC (hex) does not match the openssl vector (err %v)", err)
	}
	tf, err := webhookauth.NewTypeform([]string{hmacVectorSecret})
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("Typeform-Signature", "sha256="+hmacVectorB64)
	if _, err := tf.Verify(h, body, time.Time{}); err != nil {
		t.Errorf("Typeform verifier refuses the openssl vector: %v", err)
	}
	fs, err := webhookauth.NewHMAC(formstackConfig, []string{hmacVectorSecret})
	if err != nil {
		t.Fatal(err)
	}
	h = http.Header{}
	h.Set("X-FS-Signature", "sha256="+strings.ToUpper(hmacVectorHex))
	if _, err := fs.Verify(h, body, time.Time{}); err != nil {
		t.Errorf("hex verifier refuses the upper-case openssl vector: %v", err)
	}
}

func TestHMACVerify(t *testing.T) {
	const body = `{"eventId":"e1","data":{"fields":[]}}`
	type scheme struct {
		name   string
		build  func(secrets []string, opts ...webhookauth.Option) (webhookauth.Verifier, error)
		sign   func(secret string, body []byte) string
		header string
	}
	schemes := []scheme{
		{
			name: "typeform",
			build: func(s []string, o ...webhookauth.Option) (webhookauth.Verifier, error) {
				return webhookauth.NewTypeform(s, o...)
			},
			sign:   webhookauth.SignTypeform,
			header: "Typeform-Signature",
		},
	}
	for _, c := range []struct {
		name string
		cfg  webhookauth.HMACConfig
	}{{"tally", tallyConfig}, {"formstack", formstackConfig}} {
		schemes = append(schemes, scheme{
			name: c.name,
			build: func(s []string, o ...webhookauth.Option) (webhookauth.Verifier, error) {
				return webhookauth.NewHMAC(c.cfg, s, o...)
			},
			sign: func(secret string, b []byte) string {
				sig, err := webhookauth.SignHMAC(secret, c.cfg, b)
				if err != nil {
					t.Fatalf("SignHMAC: %v", err)
				}
				return sig
			},
			header: c.cfg.Header,
		})
	}

	for _, s := range schemes {
		good := s.sign(secretA, []byte(body))
		other := s.sign(secretB, []byte(body))
		tests := []struct {
			name    string
			secrets []string
			opts    []webhookauth.Option
			values  []string // of the signature header; nil: absent
			body    string
			wantErr error
		}{
			{"valid", []string{secretA}, nil, []string{good}, body, nil},
			{"wrong secret", []string{secretB}, nil, []string{good}, body, webhookauth.ErrNoMatchingSignature},
			{"rotated: signed with the second secret", []string{secretB, secretA}, nil, []string{good}, body, nil},
			{"several header values, valid second", []string{secretA}, nil, []string{other, good}, body, nil},
			{"surrounding spaces", []string{secretA}, nil, []string{" " + good + " "}, body, nil},
			{"tampered body", []string{secretA}, nil, []string{good}, body + " ", webhookauth.ErrNoMatchingSignature},
			{"missing header", []string{secretA}, nil, nil, body, webhookauth.ErrMissingSignature},
			{"empty header", []string{secretA}, nil, []string{""}, body, webhookauth.ErrMissingSignature},
			{"truncated", []string{secretA}, nil, []string{good[:len(good)-2]}, body, webhookauth.ErrMalformedSignature},
			{"extended", []string{secretA}, nil, []string{good + "00"}, body, webhookauth.ErrMalformedSignature},
			{"not encoded", []string{secretA}, nil, []string{good[:len(good)-4] + "!!!!"}, body, webhookauth.ErrMalformedSignature},
			{"valid within the examined limit", []string{secretA}, []webhookauth.Option{webhookauth.WithMaxSignatures(2)}, []string{other, good}, body, nil},
			{"valid beyond the examined limit", []string{secretA}, []webhookauth.Option{webhookauth.WithMaxSignatures(2)}, []string{other, other, good}, body, webhookauth.ErrNoMatchingSignature},
		}
		for _, tt := range tests {
			t.Run(s.name+"/"+tt.name, func(t *testing.T) {
				v, err := s.build(tt.secrets, tt.opts...)
				if err != nil {
					t.Fatalf("constructor: %v", err)
				}
				h := http.Header{}
				for _, val := range tt.values {
					h.Add(s.header, val)
				}
				got, err := v.Verify(h, []byte(tt.body), time.Time{})
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Verify error = %v, want %v", err, tt.wantErr)
				}
				if got.EventID != "" {
					t.Errorf("EventID set by a scheme that signs none")
				}
				if err != nil {
					assertNoLeak(t, err.Error(), h)
				}
			})
		}
	}
}

func TestHMACPrefix(t *testing.T) {
	const body = `{}`
	v, err := webhookauth.NewHMAC(formstackConfig, []string{secretA})
	if err != nil {
		t.Fatal(err)
	}
	sig, _ := webhookauth.SignHMAC(secretA, formstackConfig, []byte(body))
	bare := strings.TrimPrefix(sig, "sha256=")
	for _, tt := range []struct {
		name, value string
		wantErr     error
	}{
		{"with prefix", sig, nil},
		{"without prefix", bare, webhookauth.ErrMalformedSignature},
		{"other algorithm", "sha1=" + bare, webhookauth.ErrMalformedSignature},
		{"prefix in upper case", "SHA256=" + bare, webhookauth.ErrMalformedSignature},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			h.Set("X-Fs-Signature", tt.value)
			if _, err := v.Verify(h, []byte(body), time.Time{}); !errors.Is(err, tt.wantErr) {
				t.Errorf("Verify error = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestNewHMACRejects(t *testing.T) {
	tests := []struct {
		name    string
		cfg     webhookauth.HMACConfig
		secrets []string
		wantErr error
	}{
		{"no header", webhookauth.HMACConfig{Encoding: webhookauth.EncodingHex}, []string{secretA}, webhookauth.ErrInvalidHeaderName},
		{"header with a space", webhookauth.HMACConfig{Header: "X Sig", Encoding: webhookauth.EncodingHex}, []string{secretA}, webhookauth.ErrInvalidHeaderName},
		{"header with a colon", webhookauth.HMACConfig{Header: "X-Sig:", Encoding: webhookauth.EncodingHex}, []string{secretA}, webhookauth.ErrInvalidHeaderName},
		{"no encoding", webhookauth.HMACConfig{Header: "X-Sig"}, []string{secretA}, webhookauth.ErrInvalidEncoding},
		{"unknown encoding", webhookauth.HMACConfig{Header: "X-Sig", Encoding: "base32"}, []string{secretA}, webhookauth.ErrInvalidEncoding},
		{"prefix with a space", webhookauth.HMACConfig{Header: "X-Sig", Encoding: webhookauth.EncodingHex, Prefix: "sha256= "}, []string{secretA}, webhookauth.ErrInvalidPrefix},
		{"no secrets", tallyConfig, nil, webhookauth.ErrNoSecrets},
		{"short secret", tallyConfig, []string{"x7Qz9"}, webhookauth.ErrWeakSecret},
		{"secret with a newline", tallyConfig, []string{secretA + "\n"}, webhookauth.ErrInvalidSecret},
		{"secret with an inner space", tallyConfig, []string{"first secret 0123456789"}, webhookauth.ErrInvalidSecret},
		{"too many secrets", tallyConfig, repeat(secretA, webhookauth.MaxSecrets+1), webhookauth.ErrTooManySecrets},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := webhookauth.NewHMAC(tt.cfg, tt.secrets)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			for _, s := range tt.secrets {
				if strings.Contains(err.Error(), strings.TrimSpace(s)) {
					t.Errorf("error message contains a secret")
				}
			}
		})
	}
	if _, err := webhookauth.NewTypeform([]string{"short"}); !errors.Is(err, webhookauth.ErrWeakSecret) {
		t.Errorf("NewTypeform with a short secret: error = %v, want ErrWeakSecret", err)
	}
	if _, err := webhookauth.SignHMAC(secretA, webhookauth.HMACConfig{Header: "X"}, nil); !errors.Is(err, webhookauth.ErrInvalidEncoding) {
		t.Errorf("SignHMAC with no encoding: error = %v, want ErrInvalidEncoding", err)
	}
}
