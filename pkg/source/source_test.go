package source_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/novamed/bridge/pkg/novamed"
	"github.com/novamed/bridge/pkg/source"
	"github.com/novamed/bridge/pkg/webhookauth"
)

func TestValidName(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"tally", true},
		{"epic-prod_2", true},
		{"0", true},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"", false},
		{"-tally", false},
		{"_tally", false},
		{"Tally", false},
		{"tal ly", false},
		{"tally/../api-key", false},
		{"..", false},
		{"tally\n", false},
		{"tallý", false},
	}
	for _, tt := range tests {
		if got := source.ValidName(tt.name); got != tt.want {
			t.Errorf("ValidName(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestParamName(t *testing.T) {
	for _, prefix := range []string{"/novamed-bridge/dev", "/novamed-bridge/dev/"} {
		if got := source.ParamName(prefix, "tally"); got != "/novamed-bridge/dev/sources/tally" {
			t.Errorf("ParamName(%q) = %q", prefix, got)
		}
	}
}

func readFixture(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// fixtureSecrets digs the secrets out of a fixture, whatever shape it has.
func fixtureSecrets(data []byte) []string {
	var def struct {
		Auth struct {
			Secrets []string `json:"secrets"`
		} `json:"auth"`
	}
	_ = json.Unmarshal(data, &def)
	return def.Auth.Secrets
}

func TestParseValid(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	body := []byte(`{"type":"patient","fields":{}}`)
	tests := []struct {
		file     string
		format   string
		kind     novamed.Kind
		scheme   string
		maxBody  int64
		fieldMap map[string]string
		// sign makes headers that the source's verifier must accept.
		sign func(t *testing.T, secret string) http.Header
	}{
		{
			file: "fhir-standard-webhooks", format: source.FormatFHIRR4, scheme: webhookauth.SchemeStandardWebhooks,
			maxBody: source.DefaultFHIRMaxBodyBytes, fieldMap: map[string]string{},
			sign: func(t *testing.T, secret string) http.Header {
				h, err := webhookauth.StandardWebhooksHeader(secret, "evt_1", now, body)
				if err != nil {
					t.Fatal(err)
				}
				return h
			},
		},
		{
			file: "fhir-bearer", format: source.FormatFHIRR4, scheme: webhookauth.SchemeBearer,
			maxBody: 1 << 20, fieldMap: map[string]string{},
			sign: func(t *testing.T, secret string) http.Header {
				return http.Header{"Authorization": {webhookauth.SignBearer(secret)}}
			},
		},
		{
			file: "typeform-intake", format: source.FormatTypeform, kind: novamed.KindPatient, scheme: webhookauth.SchemeTypeform,
			maxBody: source.DefaultMaxBodyBytes,
			fieldMap: map[string]string{
				"first_name_ref": "first_name", "last_name_ref": "last_name", "dob": "date_of_birth",
				"email_ref": "email", "phone_ref": "phone", "state_ref": "state",
			},
			sign: func(t *testing.T, secret string) http.Header {
				return http.Header{"Typeform-Signature": {webhookauth.SignTypeform(secret, body)}}
			},
		},
		{
			file: "tally-form", format: source.FormatForm, kind: novamed.KindPractitioner, scheme: webhookauth.SchemeHMACSHA256,
			maxBody:  source.DefaultMaxBodyBytes,
			fieldMap: map[string]string{"First Name": "first_name", "Last Name": "last_name", "Email": "email", "NPI": "npi_number"},
			sign: func(t *testing.T, secret string) http.Header {
				cfg := webhookauth.HMACConfig{Header: "Tally-Signature", Encoding: webhookauth.EncodingBase64}
				sig, err := webhookauth.SignHMAC(secret, cfg, body)
				if err != nil {
					t.Fatal(err)
				}
				return http.Header{"Tally-Signature": {sig}}
			},
		},
		{
			file: "formstack-form", format: source.FormatForm, scheme: webhookauth.SchemeHMACSHA256,
			maxBody:  source.DefaultMaxBodyBytes,
			fieldMap: map[string]string{"first": "first_name", "last": "last_name", "dob": "date_of_birth", "npi": "npi_number"},
			sign: func(t *testing.T, secret string) http.Header {
				cfg := webhookauth.HMACConfig{Header: "X-FS-Signature", Encoding: webhookauth.EncodingHex, Prefix: "sha256="}
				sig, err := webhookauth.SignHMAC(secret, cfg, body)
				if err != nil {
					t.Fatal(err)
				}
				return http.Header{"X-Fs-Signature": {sig}}
			},
		},
		{
			file: "form-no-map", format: source.FormatForm, scheme: webhookauth.SchemeStandardWebhooks,
			maxBody: source.DefaultMaxBodyBytes, fieldMap: map[string]string{},
			sign: func(t *testing.T, secret string) http.Header {
				// 60 s tolerance: a minute old passes.
				h, err := webhookauth.StandardWebhooksHeader(secret, "evt_1", now.Add(-time.Minute), body)
				if err != nil {
					t.Fatal(err)
				}
				return h
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data := readFixture(t, filepath.Join("testdata", "valid", tt.file+".json"))
			src, err := source.Parse(tt.file, data)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if src.Name != tt.file || src.Format != tt.format || src.Kind != tt.kind || src.Scheme != tt.scheme || src.MaxBodyBytes != tt.maxBody {
				t.Errorf("Parse = %v", src)
			}
			if fmt.Sprint(src.FieldMap) != fmt.Sprint(tt.fieldMap) {
				t.Errorf("FieldMap = %v, want %v", src.FieldMap, tt.fieldMap)
			}
			// Every secret verifies (rotation), and an unsigned request does not.
			for i, secret := range fixtureSecrets(data) {
				if _, err := src.Verifier.Verify(tt.sign(t, secret), body, now); err != nil {
					t.Errorf("request signed with secret %d refused: %v", i, err)
				}
			}
			if _, err := src.Verifier.Verify(http.Header{}, body, now); err == nil {
				t.Error("unsigned request accepted")
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		file   string
		field  string
		reason string // a substring of Reason
		is     error  // when set, errors.Is must hold
	}{
		{"not-json", "", "not valid JSON", nil},
		{"truncated", "", "not valid JSON", nil},
		{"empty", "", "not valid JSON", nil},
		{"array", "", "wrong type (want an object)", nil},
		{"trailing-data", "", "data after the definition", nil},
		{"duplicate-key", "format", "repeated key", nil},
		{"duplicate-secrets-key", "auth.secrets", "repeated key", nil},
		{"unknown-key", "colour", "unknown key", nil},
		{"unknown-auth-key", "auth.secret", "unknown key", nil},
		{"case-folded-key", "Format", "unknown key", nil},
		{"secret-as-key", "auth", "unknown key", nil},
		{"no-format", "format", "required", nil},
		{"unknown-format", "format", "unknown", nil},
		{"no-auth", "auth.scheme", "no auth scheme is refused", nil},
		{"no-scheme", "auth.scheme", "no auth scheme is refused", nil},
		{"unknown-scheme", "auth.scheme", "unknown", nil},
		{"no-secrets", "auth.secrets", "required", webhookauth.ErrNoSecrets},
		{"secrets-missing", "auth.secrets", "required", webhookauth.ErrNoSecrets},
		{"secrets-not-array", "auth.secrets", "wrong type (want an array of strings)", nil},
		{"too-many-secrets", "auth.secrets", "too many", webhookauth.ErrTooManySecrets},
		{"weak-secret", "auth.secrets[1]", "too short", webhookauth.ErrWeakSecret},
		{"bad-whsec", "auth.secrets[1]", "not a valid secret", webhookauth.ErrInvalidSecret},
		{"secret-with-newline", "auth.secrets[0]", "not a valid secret", webhookauth.ErrInvalidSecret},
		{"fhir-with-kind", "kind", "not used with format fhir-r4", nil},
		{"fhir-with-field-map", "field_map", "not used with format fhir-r4", nil},
		{"typeform-no-kind", "kind", "required for format typeform", nil},
		{"typeform-no-field-map", "field_map", "required for format typeform", nil},
		{"unknown-kind", "kind", "unknown", nil},
		{"field-map-bad-target", `field_map["first"]`, "not a NovaMed patient field", nil},
		{"field-map-practitioner-target-on-patient", `field_map["npi"]`, "not a NovaMed patient field", nil},
		{"field-map-clinic", `field_map["clinic"]`, "clinic-id parameter", nil},
		{"field-map-assigned-clinic", `field_map["clinic"]`, "clinic-id parameter", nil},
		{"field-map-duplicate-target", `field_map["email"]`, "a second sender field maps to email", nil},
		{"field-map-target-not-string", "field_map", "wrong type (want a string)", nil},
		{"field-map-empty-key", "field_map (key 1 in sorted order)", "key must be", nil},
		{"field-map-key-control", "field_map (key 1 in sorted order)", "key must be", nil},
		{"hmac-no-header", "auth.header", "required for scheme hmac-sha256", nil},
		{"hmac-no-encoding", "auth.encoding", "required for scheme hmac-sha256", nil},
		{"hmac-bad-encoding", "auth.encoding", "unknown", webhookauth.ErrInvalidEncoding},
		{"hmac-bad-header", "auth.header", "not a valid header name", webhookauth.ErrInvalidHeaderName},
		{"hmac-bad-prefix", "auth.prefix", "visible ASCII", webhookauth.ErrInvalidPrefix},
		{"header-on-typeform", "auth.header", "only used with scheme hmac-sha256", nil},
		{"encoding-on-bearer", "auth.encoding", "only used with scheme hmac-sha256", nil},
		{"tolerance-on-bearer", "auth.tolerance_seconds", "only used with scheme standard-webhooks", nil},
		{"tolerance-out-of-range", "auth.tolerance_seconds", "out of range", nil},
		{"max-body-too-small", "max_body_bytes", "out of range", nil},
		{"max-body-too-large", "max_body_bytes", "out of range", nil},
		{"max-body-negative", "max_body_bytes", "out of range", nil},
		{"max-body-fraction", "max_body_bytes", "wrong type (want an integer)", nil},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.file+".json"] = true
		t.Run(tt.file, func(t *testing.T) {
			data := readFixture(t, filepath.Join("testdata", "invalid", tt.file+".json"))
			src, err := source.Parse("intake-form", data)
			if err == nil {
				t.Fatalf("Parse accepted it: %v", src)
			}
			var se *source.Error
			if !errors.As(err, &se) {
				t.Fatalf("error is %T, not *source.Error", err)
			}
			if se.Source != "intake-form" || se.Field != tt.field || !strings.Contains(se.Reason, tt.reason) {
				t.Errorf("error = %v; want field %q, reason containing %q", err, tt.field, tt.reason)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error does not wrap %v", tt.is)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, `source "intake-form": `) {
				t.Errorf("error does not name the source: %v", err)
			}
			// Fixtures mark every value that must not be echoed with LEAK.
			if strings.Contains(msg, "LEAK") {
				t.Errorf("error message quotes a value of the definition")
			}
			for _, s := range fixtureSecrets(data) {
				if len(s) >= 4 && strings.Contains(msg, s) {
					t.Errorf("error message contains a secret")
				}
			}
		})
	}
	// Every fixture has a row.
	files, _ := filepath.Glob(filepath.Join("testdata", "invalid", "*.json"))
	for _, f := range files {
		if !seen[filepath.Base(f)] {
			t.Errorf("fixture %s has no test row", f)
		}
	}
}

func TestParseInvalidName(t *testing.T) {
	data := readFixture(t, filepath.Join("testdata", "valid", "fhir-bearer.json"))
	for _, name := range []string{"", "Tally", "../api-key", "x LEAK"} {
		_, err := source.Parse(name, data)
		if !errors.Is(err, source.ErrInvalidName) {
			t.Errorf("Parse with an invalid name: error = %v, want ErrInvalidName", err)
			continue
		}
		if name != "" && strings.Contains(err.Error(), name) {
			t.Errorf("error repeats the invalid name")
		}
	}
}

func TestSourceNeverPrintsSecrets(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "valid", "*.json"))
	if len(files) == 0 {
		t.Fatal("no valid fixtures")
	}
	for _, f := range files {
		data := readFixture(t, f)
		src, err := source.Parse("s", data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var def source.Definition
		if err := json.Unmarshal(data, &def); err != nil {
			t.Fatal(err)
		}
		var outputs []string
		for _, v := range []any{src, *src, def, def.Auth, def.Auth.Secrets, []any{src}, map[string]any{"s": *src}} {
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
				outputs = append(outputs, fmt.Sprintf(verb, v))
			}
			var buf bytes.Buffer
			slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "v", v)
			slog.New(slog.NewTextHandler(&buf, nil)).Info("m", "v", v)
			outputs = append(outputs, buf.String())
		}
		for _, out := range outputs {
			for _, s := range fixtureSecrets(data) {
				if strings.Contains(out, s) || strings.Contains(out, fmt.Sprintf("%x", s)) {
					t.Errorf("%s: printed output contains a secret", filepath.Base(f))
				}
			}
		}
	}
}

// TestDefinitionRoundTrip: a Definition marshalled for SSM parses back to the
// same source; its secrets marshal even though they never print.
func TestDefinitionRoundTrip(t *testing.T) {
	const secret = "tally-signing-secret-0123456789"
	def := source.Definition{
		Format: source.FormatForm,
		Kind:   novamed.KindPatient,
		Auth: source.Auth{
			Scheme: webhookauth.SchemeHMACSHA256, Secrets: source.Secrets{secret},
			Header: "Tally-Signature", Encoding: string(webhookauth.EncodingBase64),
		},
		FieldMap: map[string]string{"First": "first_name"},
	}
	data, err := json.Marshal(def)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte(secret)) {
		t.Fatal("marshalled definition lacks its secret")
	}
	src, err := source.Parse("tally", data)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if src.Kind != novamed.KindPatient || src.FieldMap["First"] != "first_name" || src.MaxBodyBytes != source.DefaultMaxBodyBytes {
		t.Errorf("round trip lost something: %v", src)
	}
	if strings.Contains(fmt.Sprintf("%+v %v %#v", def, def, def), secret) {
		t.Error("Definition prints its secret")
	}
}

func TestParseOnInvalid(t *testing.T) {
	base := `{"format":"fhir-r4","auth":{"scheme":"bearer","secrets":["0123456789abcdef0123"]}%s}`
	for _, tt := range []struct {
		extra, want string
	}{
		{"", source.OnInvalidHold},
		{`,"on_invalid":"hold"`, source.OnInvalidHold},
		{`,"on_invalid":"reject"`, source.OnInvalidReject},
	} {
		src, err := source.Parse("ehr", []byte(fmt.Sprintf(base, tt.extra)))
		if err != nil {
			t.Fatalf("%q: %v", tt.extra, err)
		}
		if src.OnInvalid != tt.want {
			t.Errorf("%q: OnInvalid = %q, want %q", tt.extra, src.OnInvalid, tt.want)
		}
	}
	_, err := source.Parse("ehr", []byte(fmt.Sprintf(base, `,"on_invalid":"drop"`)))
	var se *source.Error
	if !errors.As(err, &se) || se.Field != "on_invalid" {
		t.Errorf("unknown on_invalid: err = %v, want a source.Error at on_invalid", err)
	}
}
