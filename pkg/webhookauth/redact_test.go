package webhookauth_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/novamed/bridge/pkg/webhookauth"
)

// holder nests a verifier in unexported fields, where fmt prints without
// calling its methods.
type holder struct {
	sw  webhookauth.StandardWebhooks
	h   webhookauth.HMAC
	b   webhookauth.Bearer
	any webhookauth.Verifier
}

func TestVerifiersNeverPrintSecrets(t *testing.T) {
	const (
		hmacSecret  = "hmac-secret-DO-NOT-PRINT-0123"
		bearerToken = "bearer-token-DO-NOT-PRINT-0123"
	)
	sw, err := webhookauth.NewStandardWebhooks([]string{vectorSecret})
	if err != nil {
		t.Fatal(err)
	}
	tf, err := webhookauth.NewTypeform([]string{hmacSecret})
	if err != nil {
		t.Fatal(err)
	}
	hm, err := webhookauth.NewHMAC(formstackConfig, []string{hmacSecret})
	if err != nil {
		t.Fatal(err)
	}
	br, err := webhookauth.NewBearer([]string{bearerToken})
	if err != nil {
		t.Fatal(err)
	}

	swKey, _ := base64.StdEncoding.DecodeString(vectorRawSecret)
	forbidden := []string{
		vectorSecret, vectorRawSecret, string(swKey), hex.EncodeToString(swKey), fmt.Sprint(swKey[:4]),
		hmacSecret, hex.EncodeToString([]byte(hmacSecret)), fmt.Sprint([]byte(hmacSecret)[:4]),
		bearerToken, hex.EncodeToString([]byte(bearerToken)),
	}

	verifiers := map[string]any{
		"standard-webhooks": sw, "typeform": tf, "hmac": hm, "bearer": br,
		"standard-webhooks value": *sw, "hmac value": *hm, "bearer value": *br,
		"nested":         holder{sw: *sw, h: *hm, b: *br, any: tf},
		"nested pointer": &holder{sw: *sw, h: *tf, b: *br, any: br},
	}
	for name, v := range verifiers {
		var outputs []string
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T"} {
			outputs = append(outputs, fmt.Sprintf(verb, v))
		}
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "verifier", v)
		slog.New(slog.NewTextHandler(&buf, nil)).Info("m", "verifier", v)
		outputs = append(outputs, buf.String())
		if b, err := json.Marshal(v); err == nil {
			outputs = append(outputs, string(b))
		}
		for _, out := range outputs {
			for _, secret := range forbidden {
				if strings.Contains(out, secret) {
					t.Errorf("%s: output contains secret material", name)
				}
			}
		}
	}

	// What they do print is useful.
	if got := fmt.Sprintf("%+v", sw); !strings.Contains(got, "REDACTED") || !strings.Contains(got, "secrets: 1") {
		t.Errorf("StandardWebhooks prints as %q", got)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "verifier", hm)
	if !strings.Contains(buf.String(), `"scheme":"hmac-sha256"`) || !strings.Contains(buf.String(), `"header":"X-FS-Signature"`) {
		t.Errorf("HMAC logs as %s", buf.String())
	}
}

// TestZeroVerifiersDescribeNoSecrets: a zero-value verifier (no keyring)
// prints and logs a count of zero instead of panicking.
func TestZeroVerifiersDescribeNoSecrets(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"standard-webhooks", webhookauth.StandardWebhooks{}, "secrets: 0 [REDACTED]"},
		{"hmac", webhookauth.HMAC{}, "secrets: 0 [REDACTED]"},
		{"bearer", webhookauth.Bearer{}, "tokens: 0 [REDACTED]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fmt.Sprint(tt.v); !strings.Contains(got, tt.want) {
				t.Errorf("prints as %q, want it to contain %q", got, tt.want)
			}
			var buf bytes.Buffer
			slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "verifier", tt.v)
			if !strings.Contains(buf.String(), `"secrets":0`) {
				t.Errorf("logs as %s", buf.String())
			}
		})
	}
}
