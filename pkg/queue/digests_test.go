package queue

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/novamed/bridge/pkg/novamed"
)

// RecordDigests gives what FieldDigests gives for the record's body, for
// any values: empty, escaped, non-ASCII and invalid UTF-8 ones included.
func TestRecordDigestsMatchFieldDigestsOfTheBody(t *testing.T) {
	require.NotNil(t, patientDigestLayout, "the patient body is predictable")
	require.NotNil(t, practitionerDigestLayout, "the practitioner body is predictable")
	key := []byte("0123456789abcdef0123456789abcdef")
	value := rapid.OneOf(
		rapid.Just(""),
		rapid.String(),
		rapid.StringMatching(`[a-z"\\<>&\x00-\x1f\x{2028}\x{fffd}é]{0,12}`),
		rapid.Map(rapid.SliceOfN(rapid.Byte(), 0, 12), func(b []byte) string { return string(b) }),
	)
	fill := func(t *rapid.T, p any) {
		v := reflect.ValueOf(p).Elem()
		for i := range v.NumField() {
			v.Field(i).SetString(value.Draw(t, v.Type().Field(i).Name))
		}
	}
	rapid.Check(t, func(t *rapid.T) {
		var rec novamed.Record
		if rapid.Bool().Draw(t, "patient") {
			rec = novamed.Record{Kind: novamed.KindPatient, Patient: &novamed.PatientRequest{}}
			fill(t, rec.Patient)
		} else {
			rec = novamed.Record{Kind: novamed.KindPractitioner, Practitioner: &novamed.PractitionerRequest{}}
			fill(t, rec.Practitioner)
		}
		body, err := rec.Body()
		require.NoError(t, err)
		want, err := FieldDigests(key, body)
		require.NoError(t, err)
		got, err := RecordDigests(key, rec)
		require.NoError(t, err)
		require.Equal(t, want, got)
	})
}

func TestRecordDigestsOfAMalformedRecord(t *testing.T) {
	_, err := RecordDigests([]byte("0123456789abcdef"), novamed.Record{Kind: novamed.KindPatient})
	require.ErrorIs(t, err, novamed.ErrUnknownKind)
}
