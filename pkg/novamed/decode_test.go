package novamed

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecodeRecordIsStrict(t *testing.T) {
	cases := []struct {
		name    string
		kind    Kind
		body    string
		err     error
		dropped int
		check   func(t *testing.T, r Record)
	}{
		{name: "patient", kind: KindPatient, body: `{"first_name":"Ada","last_name":"Lovelace","clinic_id":"c","date_of_birth":"1815-12-10","email":"a@b.co"}`,
			check: func(t *testing.T, r Record) {
				assert.Equal(t, "Ada", r.Patient.FirstName)
				assert.Nil(t, r.Practitioner)
			}},
		{name: "practitioner", kind: KindPractitioner, body: `{"npi_number":"1234567893","dea_number":"AB1234563"}`,
			check: func(t *testing.T, r Record) { assert.Equal(t, "1234567893", r.Practitioner.NPINumber) }},
		{name: "unknown keys are dropped and counted", kind: KindPatient, body: `{"first_name":"Ada","ssn":"123-45-6789","notes":{"a":1}}`, dropped: 2,
			check: func(t *testing.T, r Record) { assert.Equal(t, "Ada", r.Patient.FirstName) }},
		{name: "keys match exactly: case", kind: KindPatient, body: `{"First_Name":"Ada"}`, dropped: 1,
			check: func(t *testing.T, r Record) {
				assert.Empty(t, r.Patient.FirstName, "encoding/json would have folded the case")
			}},
		{name: "keys match exactly: ligature", kind: KindPatient, body: `{"ﬁrst_name":"Ada"}`, dropped: 1,
			check: func(t *testing.T, r Record) { assert.Empty(t, r.Patient.FirstName) }},
		{name: "keys match exactly: Kelvin sign", kind: KindPractitioner, body: `{"dea_number":"x","liCense_number":"y","licen\u212ae_state":"NY"}`, dropped: 2,
			check: func(t *testing.T, r Record) { assert.Empty(t, r.Practitioner.LicenseState) }},
		{name: "duplicate key", kind: KindPatient, body: `{"first_name":"Ada","first_name":"Eve"}`, err: ErrDuplicateKey},
		{name: "duplicate unknown key", kind: KindPatient, body: `{"x":1,"x":2}`, err: ErrDuplicateKey},
		{name: "number for a string", kind: KindPatient, body: `{"zip":12345}`, err: ErrNotString},
		{name: "null for a string", kind: KindPatient, body: `{"zip":null}`, err: ErrNotString},
		{name: "object for a string", kind: KindPatient, body: `{"first_name":{"text":"Ada"}}`, err: ErrNotString},
		{name: "array", kind: KindPatient, body: `[{"first_name":"Ada"}]`, err: ErrNotObject},
		{name: "trailing data", kind: KindPatient, body: `{"first_name":"Ada"}{"first_name":"Eve"}`, err: ErrNotObject},
		{name: "truncated", kind: KindPatient, body: `{"first_name":"Ada"`, err: ErrNotObject},
		{name: "not JSON", kind: KindPatient, body: `first_name=Ada`, err: ErrNotObject},
		{name: "unknown kind", kind: "nurse", body: `{}`, err: ErrUnknownKind},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, d, err := DecodeRecord(c.kind, []byte(c.body))
			if c.err != nil {
				require.ErrorIs(t, err, c.err)
				assert.NotContains(t, err.Error(), "Ada")
				assert.NotContains(t, err.Error(), "12345")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.kind, r.Kind)
			assert.Equal(t, c.dropped, d.Dropped)
			c.check(t, r)
		})
	}
}

func TestDecodeRecordRoundTripsBody(t *testing.T) {
	p := validPatient()
	body, err := Record{Kind: KindPatient, Patient: &p}.Body()
	require.NoError(t, err)
	r, d, err := DecodeRecord(KindPatient, body)
	require.NoError(t, err)
	assert.Zero(t, d.Dropped)
	assert.Equal(t, p, *r.Patient)

	_, err = Record{Kind: KindPatient}.Body()
	assert.ErrorIs(t, err, ErrUnknownKind)
}

// FuzzDecodeRecord: never panics; a decoded record marshals back to JSON that
// decodes to the same record.
func FuzzDecodeRecord(f *testing.F) {
	for _, s := range []string{`{"first_name":"Ada"}`, `{"First_Name":"x","first_name":"y"}`, `{"zip":1}`, `[]`, `{"a":{"b":[1,2,{"c":"d"}]}}`, "{\"\u212a\":\"\"}"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, body string, patient bool) {
		kind := KindPractitioner
		if patient {
			kind = KindPatient
		}
		r, _, err := DecodeRecord(kind, []byte(body))
		if err != nil {
			return
		}
		out, err := r.Body()
		require.NoError(t, err)
		require.True(t, json.Valid(out))
		again, d, err := DecodeRecord(kind, out)
		require.NoError(t, err)
		require.Zero(t, d.Dropped)
		require.Equal(t, r, again)
	})
}
