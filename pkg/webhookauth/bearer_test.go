package webhookauth_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/novamed/bridge/pkg/webhookauth"
)

func TestBearerVerify(t *testing.T) {
	const (
		tokenA = "fhir-subscription-token-AAAAAAAA"
		tokenB = "fhir-subscription-token-BBBBBBBB"
	)
	tests := []struct {
		name    string
		tokens  []string
		opts    []webhookauth.Option
		values  []string // Authorization values; nil: absent
		wantErr error
	}{
		{"valid", []string{tokenA}, nil, []string{webhookauth.SignBearer(tokenA)}, nil},
		{"scheme in lower case", []string{tokenA}, nil, []string{"bearer " + tokenA}, nil},
		{"extra spaces", []string{tokenA}, nil, []string{"  Bearer   " + tokenA + " "}, nil},
		{"rotated: second token", []string{tokenB, tokenA}, nil, []string{"Bearer " + tokenA}, nil},
		{"wrong token", []string{tokenB}, nil, []string{"Bearer " + tokenA}, webhookauth.ErrNoMatchingSignature},
		{"prefix of the token", []string{tokenA}, nil, []string{"Bearer " + tokenA[:20]}, webhookauth.ErrNoMatchingSignature},
		{"token with more after it", []string{tokenA}, nil, []string{"Bearer " + tokenA + "x"}, webhookauth.ErrNoMatchingSignature},
		{"missing", []string{tokenA}, nil, nil, webhookauth.ErrMissingSignature},
		{"empty", []string{tokenA}, nil, []string{""}, webhookauth.ErrMissingSignature},
		{"scheme only", []string{tokenA}, nil, []string{"Bearer"}, webhookauth.ErrMalformedSignature},
		{"token without scheme", []string{tokenA}, nil, []string{tokenA}, webhookauth.ErrMalformedSignature},
		{"basic scheme", []string{tokenA}, nil, []string{"Basic " + tokenA}, webhookauth.ErrMalformedSignature},
		{"second value matches", []string{tokenA}, nil, []string{"Bearer " + tokenB, "Bearer " + tokenA}, nil},
		{"match beyond the examined limit", []string{tokenA}, []webhookauth.Option{webhookauth.WithMaxSignatures(1)},
			[]string{"Bearer " + tokenB, "Bearer " + tokenA}, webhookauth.ErrNoMatchingSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := webhookauth.NewBearer(tt.tokens, tt.opts...)
			if err != nil {
				t.Fatalf("NewBearer: %v", err)
			}
			h := http.Header{}
			for _, val := range tt.values {
				h.Add("Authorization", val)
			}
			got, err := v.Verify(h, []byte(`{}`), time.Time{})
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

func TestNewBearerRejects(t *testing.T) {
	tests := []struct {
		name    string
		tokens  []string
		wantErr error
	}{
		{"none", nil, webhookauth.ErrNoSecrets},
		{"empty", []string{""}, webhookauth.ErrInvalidSecret},
		{"short", []string{"abc"}, webhookauth.ErrWeakSecret},
		{"with a space", []string{"token with a space inside"}, webhookauth.ErrInvalidSecret},
		{"with a newline", []string{"fhir-subscription-token\n"}, webhookauth.ErrInvalidSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := webhookauth.NewBearer(tt.tokens); !errors.Is(err, tt.wantErr) {
				t.Errorf("error = %v, want %v", err, tt.wantErr)
			}
		})
	}
}
