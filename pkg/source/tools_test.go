package source_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/novamed/bridge/pkg/novamed"
	"github.com/novamed/bridge/pkg/source"
	"github.com/novamed/bridge/pkg/webhookauth"
)

const (
	toolToken     = "jotformUrlTokenForTestsOnly0123456789abcdef"
	toolToken2    = "jotformUrlTokenForTestsOnly0123456789abcdeg"
	toolHandshake = "formstack-handshake-test-0001"
)

// The form tools' sources: each verifies what its tool sends, with every
// secret (rotation), and refuses an unsigned request.
func TestParseToolSources(t *testing.T) {
	now := time.Now()
	for _, tt := range []struct {
		name, def, format string
		kind              novamed.Kind
		// request returns the query, headers and body a sender holding
		// secret posts.
		request func(secret string) (string, http.Header, []byte)
		secrets []string
	}{
		{
			name: "tally", format: source.FormatTally, kind: novamed.KindPatient, secrets: []string{"tally-secret-for-tests-01"},
			def: `{"format":"tally","kind":"patient","field_map":{"question_3EKz4n":"first_name","Last name":"last_name"},
				"auth":{"scheme":"hmac-sha256","header":"Tally-Signature","encoding":"base64","secrets":["tally-secret-for-tests-01"]}}`,
			request: func(secret string) (string, http.Header, []byte) {
				body := []byte(`{"eventType":"FORM_RESPONSE"}`)
				sig, _ := webhookauth.SignHMAC(secret, webhookauth.HMACConfig{Header: "Tally-Signature", Encoding: webhookauth.EncodingBase64}, body)
				return "", http.Header{"Tally-Signature": {sig}}, body
			},
		},
		{
			name: "formstack-hmac", format: source.FormatFormstack, kind: novamed.KindPatient, secrets: []string{"formstack-hmac-for-tests-1"},
			def: `{"format":"formstack","kind":"patient","field_map":{"Name.first":"first_name","Address.zip":"zip"},
				"auth":{"scheme":"hmac-sha256","header":"X-FS-Signature","encoding":"hex","prefix":"sha256=","secrets":["formstack-hmac-for-tests-1"]}}`,
			request: func(secret string) (string, http.Header, []byte) {
				body := []byte("FormID=1&UniqueID=2")
				sig, _ := webhookauth.SignHMAC(secret, webhookauth.HMACConfig{Header: "X-FS-Signature", Encoding: webhookauth.EncodingHex, Prefix: "sha256="}, body)
				return "", http.Header{"X-Fs-Signature": {sig}, "Content-Type": {"application/x-www-form-urlencoded"}}, body
			},
		},
		{
			name: "formstack-handshake", format: source.FormatFormstack, kind: novamed.KindPractitioner,
			secrets: []string{toolHandshake, toolHandshake + "-next"},
			def: `{"format":"formstack","kind":"practitioner","field_map":{"NPI":"npi_number"},
				"auth":{"scheme":"formstack-handshake","secrets":["` + toolHandshake + `","` + toolHandshake + `-next"]}}`,
			request: func(secret string) (string, http.Header, []byte) {
				return "", http.Header{"Content-Type": {"application/json"}}, []byte(`{"UniqueID":"2","HandshakeKey":"` + secret + `"}`)
			},
		},
		{
			name: "jotform", format: source.FormatJotform, kind: novamed.KindPatient, secrets: []string{toolToken, toolToken2},
			def: `{"format":"jotform","kind":"patient","field_map":{"q3_fullName.first":"first_name","title:x":"last_name"},
				"auth":{"scheme":"url-token","secrets":["` + toolToken + `","` + toolToken2 + `"]}}`,
			request: func(secret string) (string, http.Header, []byte) {
				return webhookauth.URLTokenQuery(secret), http.Header{}, []byte("--x--")
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src, err := source.Parse(tt.name, []byte(tt.def))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if src.Format != tt.format || src.Kind != tt.kind {
				t.Errorf("Parse = %v", src)
			}
			for i, secret := range tt.secrets {
				q, h, body := tt.request(secret)
				if _, err := webhookauth.VerifyRequest(src.Verifier, q, h, body, now); err != nil {
					t.Errorf("request with secret %d refused: %v", i, err)
				}
			}
			q, h, body := tt.request("not-the-secret-of-this-source-0000000")
			if _, err := webhookauth.VerifyRequest(src.Verifier, q, h, body, now); err == nil {
				t.Error("a request with another secret was accepted")
			}
			if _, err := webhookauth.VerifyRequest(src.Verifier, "", http.Header{}, []byte("{}"), now); err == nil {
				t.Error("unsigned request accepted")
			}
			if s := src.String(); strings.Contains(s, tt.secrets[0]) {
				t.Error("the source prints a secret")
			}
		})
	}
}

func TestParseToolSourcesInvalid(t *testing.T) {
	auth := `"auth":{"scheme":"hmac-sha256","header":"Tally-Signature","encoding":"base64","secrets":["tally-secret-for-tests-01"]}`
	token := `"auth":{"scheme":"url-token","secrets":["` + toolToken + `"]}`
	for _, tt := range []struct {
		name, def, field, reason string
		is                       error
	}{
		{"tally without kind", `{"format":"tally","field_map":{"a":"email"},` + auth + `}`, "kind", "required for format tally", nil},
		{"jotform without field map", `{"format":"jotform","kind":"patient",` + token + `}`, "field_map", "required for format jotform", nil},
		{"jotform with a signature scheme", `{"format":"jotform","kind":"patient","field_map":{"q4_email":"email"},` + auth + `}`,
			"auth.scheme", "use url-token", nil},
		{"url-token for a form", `{"format":"form",` + token + `}`, "auth.scheme", "only for format jotform", nil},
		{"handshake for tally", `{"format":"tally","kind":"patient","field_map":{"a":"email"},"auth":{"scheme":"formstack-handshake","secrets":["` + toolHandshake + `"]}}`,
			"auth.scheme", "only for format formstack", nil},
		{"formstack maps its handshake key", `{"format":"formstack","kind":"patient","field_map":{"HandshakeKey":"email"},"auth":{"scheme":"formstack-handshake","secrets":["` + toolHandshake + `"]}}`,
			`field_map["HandshakeKey"]`, "Formstack's own fields", nil},
		{"formstack maps UniqueID", `{"format":"formstack","kind":"patient","field_map":{"UniqueID":"email"},"auth":{"scheme":"formstack-handshake","secrets":["` + toolHandshake + `"]}}`,
			`field_map["UniqueID"]`, "Formstack's own fields", nil},
		{"url token too short", `{"format":"jotform","kind":"patient","field_map":{"q4_email":"email"},"auth":{"scheme":"url-token","secrets":["` + toolToken + `","jotformTokenOnly31Characters123"]}}`,
			"auth.secrets[1]", "too short", webhookauth.ErrWeakSecret},
		{"url token with characters a URL escapes", `{"format":"jotform","kind":"patient","field_map":{"q4_email":"email"},"auth":{"scheme":"url-token","secrets":["jotform+token/with=base64+padding0123=="]}}`,
			"auth.secrets[0]", "not a valid secret", webhookauth.ErrInvalidSecret},
		{"a control character in a key", `{"format":"tally","kind":"patient","field_map":{"Nom\u0007":"email"},` + auth + `}`,
			"field_map (key 1 in sorted order)", "key must be", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := source.Parse("forms", []byte(tt.def))
			var se *source.Error
			if !errors.As(err, &se) {
				t.Fatalf("error is %T (%v), not *source.Error", err, err)
			}
			if se.Field != tt.field || !strings.Contains(se.Reason, tt.reason) {
				t.Errorf("error = %v; want field %q, reason containing %q", err, tt.field, tt.reason)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error does not wrap %v", tt.is)
			}
			if strings.Contains(err.Error(), "jotform+token") || strings.Contains(err.Error(), toolHandshake) {
				t.Error("the error quotes a secret")
			}
		})
	}
	t.Run("accented labels and titles are keys", func(t *testing.T) {
		def := `{"format":"typeform","kind":"patient","field_map":{"title:¿Cuál es tu nombre?":"first_name","Prénom":"last_name"},"auth":{"scheme":"typeform","secrets":["typeform-secret-tests-01"]}}`
		if _, err := source.Parse("forms", []byte(def)); err != nil {
			t.Fatalf("Parse: %v", err)
		}
	})
}
