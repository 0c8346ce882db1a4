package phi

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/pkg/novamed"
)

// A held record (here: no email, a birth date that is not a date) is
// de-identified under the same policy as any other: no input value
// survives, what is missing stays missing, and the invalid value is
// dropped rather than kept.
func TestDeidentifyHeld(t *testing.T) {
	g := newTestGuard(t)
	in := novamed.PatientRequest{
		ClinicID:     "6f1c3a52-8e0b-4c1e-9a57-2d4b8e7f1a90",
		FirstName:    "Quirinaldo",
		LastName:     "Vandersteenhoven",
		DateOfBirth:  "1974-13",
		Phone:        "+1 617 555 0143",
		AddressLine1: "4417 Zebulon Crescent",
		City:         "Quahogtown",
		State:        "MA",
		Zip:          "02108",
	}
	rec := novamed.Record{Kind: novamed.KindPatient, Patient: &in}
	_, _, err := g.Deidentify(rec)
	require.Error(t, err, "premise: the held record cannot pass the ordinary path")

	out, rep, err := g.DeidentifyHeld(rec)
	require.NoError(t, err)
	require.NotNil(t, out.Patient)
	body, err := out.Body()
	require.NoError(t, err)
	for _, v := range []string{"Quirinaldo", "Vandersteenhoven", "1974-13", "617 555 0143", "Zebulon", "Quahogtown"} {
		assert.False(t, strings.Contains(string(body), v), "an input value survived de-identification")
	}
	assert.Empty(t, out.Patient.Email, "a missing field stays missing")
	assert.Empty(t, out.Patient.DateOfBirth, "an invalid birth date is dropped")
	assert.NotEmpty(t, out.Patient.FirstName)
	assert.Equal(t, "MA", out.Patient.State, "kept as for any record")
	assert.Positive(t, rep.Dropped)

	_, _, err = g.DeidentifyHeld(novamed.Record{Kind: novamed.KindPatient})
	assert.ErrorIs(t, err, ErrMalformedRecord)
}
