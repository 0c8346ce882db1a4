package phi

import (
	"maps"
	"reflect"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/novamed/bridge/internal/jsonscan"
	"github.com/novamed/bridge/pkg/novamed"
)

// The struct path must be taken for both request types (a nil layout would
// silently fall back to marshalling), and must cover every field.
func TestWireLayoutCoversEveryField(t *testing.T) {
	for name, tc := range map[string]struct {
		layout []jsonscan.StringField
		typ    reflect.Type
	}{
		"patient":      {patientWire, reflect.TypeFor[novamed.PatientRequest]()},
		"practitioner": {practitionerWire, reflect.TypeFor[novamed.PractitionerRequest]()},
	} {
		if len(tc.layout) == 0 || len(tc.layout) != tc.typ.NumField() {
			t.Errorf("%s: layout has %d fields, the type %d", name, len(tc.layout), tc.typ.NumField())
		}
	}
}

// fillStrings sets every string field of the struct p points to: empty,
// ordinary and adversarial text, and raw bytes (invalid UTF-8 included).
func fillStrings(t *rapid.T, p any) {
	text := rapid.OneOf(
		rapid.Just(""),
		anyText(),
		rapid.SampledFrom([]string{"\xff", "a\xc3", "\xed\xa0\x80x", "<&>", "\u2028", "\ufffd", "\"\\\n"}),
		rapid.Map(rapid.SliceOfN(rapid.Byte(), 0, 12), func(b []byte) string { return string(b) }),
	)
	v := reflect.ValueOf(p).Elem()
	for i := range v.NumField() {
		if f := v.Field(i); f.Kind() == reflect.String {
			f.SetString(text.Draw(t, v.Type().Field(i).Name))
		}
	}
}

// recordSecrets must return exactly what collectSecrets finds in the
// record's marshalled body, for any values, any kept set and any policy
// (a policy missing a field turns its key into a secret).
func TestPropertyRecordSecretsMatchBody(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var rec novamed.Record
		var policy map[string]treatment
		if rapid.Bool().Draw(t, "practitioner") {
			p := &novamed.PractitionerRequest{}
			fillStrings(t, p)
			rec, policy = novamed.Record{Kind: novamed.KindPractitioner, Practitioner: p}, practitionerPolicy
		} else {
			p := &novamed.PatientRequest{}
			fillStrings(t, p)
			rec, policy = novamed.Record{Kind: novamed.KindPatient, Patient: p}, patientPolicy
		}
		known := map[string]treatment{}
		kept := map[string]bool{}
		for _, k := range slices.Sorted(maps.Keys(policy)) {
			if rapid.IntRange(0, 4).Draw(t, "unknown "+k) > 0 {
				known[k] = policy[k]
			}
			kept[k] = rapid.Bool().Draw(t, "kept "+k)
		}
		got, err := recordSecrets(rec, known, kept)
		if err != nil {
			t.Fatalf("recordSecrets: %v", err)
		}
		body, err := rec.Body()
		if err != nil {
			t.Fatalf("Body: %v", err)
		}
		want, err := collectSecrets(body, known, kept)
		if err != nil {
			t.Fatalf("collectSecrets: %v", err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("recordSecrets gave %d secrets, the body %d, or they differ", len(got), len(want))
		}
	})
}

func TestRecordSecretsOfAMalformedRecord(t *testing.T) {
	if _, err := recordSecrets(novamed.Record{Kind: "other"}, patientPolicy, nil); err == nil {
		t.Error("a record without a body gave secrets")
	}
}
