package inbound

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"golang.org/x/text/unicode/norm"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/novamed/bridge/pkg/novamed"
)

var fuzzFormats = []struct {
	format Format
	opts   Options
}{
	{FormatFHIR, fhirOpts},
	{FormatForm, formOpts},
	{FormatTypeform, typeformOpts},
	{FormatForm, Options{ClinicID: testClinic}},
}

// safePath is what an error path may look like: our own element names,
// indices, and configured field names. Never free text.
var safePath = regexp.MustCompile(`^(\$|[A-Za-z_][A-Za-z0-9_]*(\[[0-9]+\])?(\.[A-Za-z_][A-Za-z0-9_]*(\[[0-9]+\])?)*)$`)

var safeEventID = regexp.MustCompile(`^[A-Za-z0-9._~:/#,@+=-]{1,128}$`)
var safeSlug = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

func FuzzParse(f *testing.F) {
	for i, file := range []string{
		"fhir/patient.json", "fhir/practitioner.json", "fhir/bundle-transaction.json",
		"fhir/bundle-collection.json", "fhir/notification-handshake.json", "fhir/notification-event.json",
		"fhir/notification-event-r4b.json", "form/patient.json", "typeform/patient.json",
	} {
		body, err := os.ReadFile(filepath.Join("testdata", file))
		require.NoError(f, err)
		f.Add(byte(i), body)
	}
	f.Add(byte(0), []byte(okPatient))
	f.Add(byte(0), []byte(`{"resourceType":"Bundle","type":"batch","entry":[{"resource":"x"},{"resource":null}]}`))
	f.Add(byte(1), []byte(`{"type":"practitioner","fields":{"npi":12}}`))
	f.Add(byte(1), []byte(`{"fields":{"given_name":"Jo","surname":"Smith","email_address":"jo@example.com","npi":"1234567893"}}`))
	f.Add(byte(2), []byte(`{"event_type":"form_response","form_response":{"answers":[{"type":"choices","choices":{"labels":[1]},"field":{"ref":"gender"}}]}}`))
	f.Add(byte(0), []byte(strings.Repeat("[", 33)))
	f.Add(byte(0), []byte("\xef\xbb\xbf{}"))

	f.Fuzz(func(t *testing.T, sel byte, body []byte) {
		fo := fuzzFormats[int(sel)%len(fuzzFormats)]
		res, err := Parse(fo.format, body, fo.opts)
		if !checkParse(t, res, err) {
			return
		}
		if fo.format == FormatForm {
			checkFixedKind(t, body, fo.opts, res)
		}
	})
}

// checkParse checks what every Parse result must be, whatever the body:
// an error of a declared kind naming plain paths, with an empty result; or
// records each either valid or held with a reason slug and plain paths,
// dropped fields as plain paths, a safe event id. It reports whether Parse
// succeeded.
func checkParse(t *testing.T, res Result, err error) bool {
	t.Helper()
	if err != nil {
		var pe *PayloadError
		switch {
		case errors.Is(err, ErrNotJSON), errors.Is(err, ErrMalformedJSON), errors.Is(err, ErrTooDeep):
		case errors.As(err, &pe):
			if len(pe.Fields) == 0 {
				t.Fatal("PayloadError without fields")
			}
			for i, p := range pe.Fields {
				if !safePath.MatchString(p) {
					t.Fatalf("field %d is not a plain path", i)
				}
			}
		default:
			t.Fatalf("undeclared error kind %T", err)
		}
		if len(res.Records) != 0 || res.EventID != "" {
			t.Fatal("result not empty on error")
		}
		return false
	}
	for i, r := range res.Records {
		if r.Hold != nil {
			// Held: never sent, but always explained, by paths only.
			if !safeSlug.MatchString(r.Hold.Reason) || len(r.Hold.Fields) == 0 {
				t.Fatalf("record %d is held without a reason slug or fields", i)
			}
			for _, p := range r.Hold.Fields {
				if !safePath.MatchString(p) {
					t.Fatalf("record %d: hold field is not a plain path", i)
				}
			}
		} else if verr := r.Validate(); verr != nil {
			t.Fatalf("record %d is neither held nor valid: %v", i, verr) // field names only
		}
		for _, p := range r.Dropped {
			if !safePath.MatchString(p) {
				t.Fatalf("record %d: dropped field is not a plain path", i)
			}
		}
	}
	if res.EventID != "" && !safeEventID.MatchString(res.EventID) {
		t.Fatal("event id has unsafe characters")
	}
	if res.Skipped < 0 {
		t.Fatal("negative skipped count")
	}
	return true
}

// checkFixedKind: a form payload that parses without a fixed kind carries a
// valid type. Fixing that kind must change nothing; fixing the other kind
// must refuse the payload at "type" alone.
func checkFixedKind(t *testing.T, body []byte, opts Options, want Result) {
	t.Helper()
	if len(want.Records) != 1 {
		t.Fatalf("a form maps to %d records", len(want.Records))
	}
	kind := want.Records[0].Kind
	opts.Kind = kind
	got, err := Parse(FormatForm, body, opts)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatal("fixing the payload's own kind changed the result")
	}
	opts.Kind = novamed.KindPatient
	if kind == novamed.KindPatient {
		opts.Kind = novamed.KindPractitioner
	}
	_, err = Parse(FormatForm, body, opts)
	var pe *PayloadError
	if !errors.As(err, &pe) || !slices.Equal(pe.Fields, []string{"type"}) {
		t.Fatal("a fixed kind other than the payload's type is not refused at type")
	}
}

// The same patient, written as FHIR by encoding/json with whatever escaping
// it chooses, maps back to the same values.
func TestFHIRPatientRoundTrip(t *testing.T) {
	// Names already in NFKC: normalisation rewrites compatibility
	// characters (full-width letters, ligatures), which is not a change of
	// name but is not the same bytes either.
	name := rapid.StringOfN(rapid.RuneFrom(nil, unicode.Letter, unicode.Mark, unicode.Punct, unicode.Symbol), 1, 40, -1).
		Filter(func(s string) bool { return strings.TrimSpace(s) == s && s != "" && norm.NFKC.IsNormalString(s) })
	rapid.Check(t, func(t *rapid.T) {
		want := novamed.PatientRequest{
			ClinicID:    testClinic,
			FirstName:   name.Draw(t, "first"),
			LastName:    name.Draw(t, "last"),
			DateOfBirth: rapid.SampledFrom([]string{"1950-01-31", "1988-02-29", "2010-12-01"}).Draw(t, "dob"),
			Email:       rapid.StringMatching(`[a-z]{1,10}(\.[a-z]{1,5})?@example\.(com|org)`).Draw(t, "email"),
			Gender:      rapid.SampledFrom([]string{"", "male", "female", "other"}).Draw(t, "gender"),
			State:       rapid.SampledFrom([]string{"", "MA", "CA", "PR"}).Draw(t, "state"),
		}
		pt := map[string]any{
			"resourceType": "Patient",
			"text":         map[string]any{"div": "<div>" + want.FirstName + "</div>"},
			"name": []any{
				map[string]any{"use": "old", "family": "Old", "given": []string{"Name"}},
				map[string]any{"use": "usual", "family": want.LastName, "given": []string{want.FirstName, "Middle"}},
			},
			"telecom":   []any{map[string]any{"system": "email", "value": want.Email}},
			"birthDate": want.DateOfBirth,
		}
		if want.Gender != "" {
			pt["gender"] = want.Gender
		}
		if want.State != "" {
			pt["address"] = []any{map[string]any{"state": want.State}}
		}
		body, err := json.Marshal(pt)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Parse(FormatFHIR, body, fhirOpts)
		if err != nil {
			t.Fatalf("parse: %v", err) // paths only
		}
		if len(res.Records) != 1 || *res.Records[0].Patient != want {
			t.Fatal("round trip changed the patient")
		}
	})
}

func BenchmarkParseFHIRPatient(b *testing.B) {
	body, err := os.ReadFile(filepath.Join("testdata", "fhir", "patient.json"))
	require.NoError(b, err)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(FormatFHIR, body, fhirOpts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseFHIRBundle(b *testing.B) {
	body, err := os.ReadFile(filepath.Join("testdata", "fhir", "bundle-transaction.json"))
	require.NoError(b, err)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(FormatFHIR, body, fhirOpts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBaselineHMACMapUnmarshal is the yardstick of the intake budget:
// verify an HMAC over the body and decode it into map[string]any.
func BenchmarkBaselineHMACMapUnmarshal(b *testing.B) {
	body, err := os.ReadFile(filepath.Join("testdata", "fhir", "patient.json"))
	require.NoError(b, err)
	key := []byte("benchmark-key-not-a-secret-0123456789")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		m := hmac.New(sha256.New, key)
		m.Write(body)
		_ = m.Sum(nil)
		var v map[string]any
		if err := json.Unmarshal(body, &v); err != nil {
			b.Fatal(err)
		}
	}
}

// emptyPatients is a bundle of n Patients with nothing in them: three
// problem paths per 40 bytes, the worst ratio of work to body a signed
// sender can post.
func emptyPatients(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"resourceType":"Bundle","type":"collection","entry":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"resource":{"resourceType":"Patient"}}`)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// BenchmarkParseGrowth parses a small and a 16 times larger bundle of empty
// Patients in the same run and reports x-per-byte: the larger body's time
// per byte over the smaller's. Work linear in the body is about 1; the
// quadratic problem collection this guards against was about 16.
func BenchmarkParseGrowth(b *testing.B) {
	small, large := emptyPatients(1<<10), emptyPatients(16<<10)
	var tSmall, tLarge time.Duration
	b.SetBytes(int64(len(small) + len(large)))
	for b.Loop() {
		start := time.Now()
		if _, err := Parse(FormatFHIR, small, fhirOpts); err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		if _, err := Parse(FormatFHIR, large, fhirOpts); err != nil {
			b.Fatal(err)
		}
		tSmall += mid.Sub(start)
		tLarge += time.Since(mid)
	}
	perSmall := float64(tSmall) / float64(len(small))
	perLarge := float64(tLarge) / float64(len(large))
	b.ReportMetric(perLarge/perSmall, "x-per-byte")
}
