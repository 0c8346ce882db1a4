package novamed

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// Body writes exactly what json.Marshal writes, for any values; the plain
// path takes records of plain text.
func TestBodyMatchesMarshal(t *testing.T) {
	require.NotNil(t, patientBody, "the patient body is predictable")
	require.NotNil(t, practitionerBody, "the practitioner body is predictable")
	value := rapid.OneOf(
		rapid.Just(""),
		rapid.StringMatching(`[ -~]{0,10}`),
		rapid.StringMatching(`[a-zA-Z0-9 .@-]{0,10}`),
		rapid.StringMatching(`[a-z<>&"\\\x00-\x1f\x7f\x{2028}é]{0,6}`),
		rapid.String(),
		rapid.Map(rapid.SliceOfN(rapid.Byte(), 0, 8), func(b []byte) string { return string(b) }),
	)
	plainValue := rapid.StringMatching(`[a-zA-Z0-9 .@'-]{0,10}`)
	fill := func(t *rapid.T, p any) {
		gen := value
		if rapid.Bool().Draw(t, "plain values") {
			gen = plainValue
		}
		v := reflect.ValueOf(p).Elem()
		for i := range v.NumField() {
			v.Field(i).SetString(gen.Draw(t, v.Type().Field(i).Name))
		}
	}
	// A patient of plain values takes the plain path (the property below
	// checks both paths against encoding/json whichever one a record takes).
	_, ok := plainBody(reflect.ValueOf(&PatientRequest{FirstName: "Ada", LastName: "O'Hara", Email: "ada@example.com"}).Elem(), patientBody)
	require.True(t, ok, "a patient of plain values takes the plain path")
	rapid.Check(t, func(t *rapid.T) {
		var rec Record
		var want []byte
		var err error
		if rapid.Bool().Draw(t, "patient") {
			rec = Record{Kind: KindPatient, Patient: &PatientRequest{}}
			fill(t, rec.Patient)
			want, err = json.Marshal(rec.Patient)
		} else {
			rec = Record{Kind: KindPractitioner, Practitioner: &PractitionerRequest{}}
			fill(t, rec.Practitioner)
			want, err = json.Marshal(rec.Practitioner)
		}
		require.NoError(t, err)
		got, err := rec.Body()
		require.NoError(t, err)
		require.Equal(t, string(want), string(got))
	})
}
