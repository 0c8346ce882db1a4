package novamed

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var today = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func TestPatientValidation(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*PatientRequest)
		want   []FieldError
	}{
		{"valid", func(*PatientRequest) {}, nil},
		{"only the required fields", func(p *PatientRequest) {
			*p = PatientRequest{ClinicID: p.ClinicID, FirstName: "A", LastName: "B", DateOfBirth: "2000-02-29", Email: "a@b.co"}
		}, nil},
		{"everything missing", func(p *PatientRequest) { *p = PatientRequest{} }, []FieldError{
			{"clinic_id", ReasonRequired}, {"first_name", ReasonRequired}, {"last_name", ReasonRequired},
			{"date_of_birth", ReasonRequired}, {"email", ReasonRequired},
		}},
		{"clinic not a UUID", func(p *PatientRequest) { p.ClinicID = "clinic-42" }, []FieldError{{"clinic_id", ReasonInvalid}}},
		{"clinic UUID without dashes", func(p *PatientRequest) { p.ClinicID = "7d3c1f0a111142228333444455556666" }, []FieldError{{"clinic_id", ReasonInvalid}}},
		{"date in another layout", func(p *PatientRequest) { p.DateOfBirth = "04/02/1980" }, []FieldError{{"date_of_birth", ReasonInvalid}}},
		{"date that does not exist", func(p *PatientRequest) { p.DateOfBirth = "2023-02-29" }, []FieldError{{"date_of_birth", ReasonInvalid}}},
		{"date without zero padding", func(p *PatientRequest) { p.DateOfBirth = "1980-4-2" }, []FieldError{{"date_of_birth", ReasonInvalid}}},
		{"date with a time", func(p *PatientRequest) { p.DateOfBirth = "1980-04-02T00:00:00Z" }, []FieldError{{"date_of_birth", ReasonInvalid}}},
		{"date in the future", func(p *PatientRequest) { p.DateOfBirth = "2026-11-28" }, []FieldError{{"date_of_birth", ReasonFuture}}},
		{"born today", func(p *PatientRequest) { p.DateOfBirth = "2026-11-27" }, nil},
		{"date before 1900", func(p *PatientRequest) { p.DateOfBirth = "1899-12-31" }, []FieldError{{"date_of_birth", ReasonOutOfRange}}},
		{"email with display name", func(p *PatientRequest) { p.Email = "Marguerite <m@mail.test>" }, []FieldError{{"email", ReasonInvalid}}},
		{"email without domain dot", func(p *PatientRequest) { p.Email = "m@localhost" }, []FieldError{{"email", ReasonInvalid}}},
		{"email without @", func(p *PatientRequest) { p.Email = "m.mail.test" }, []FieldError{{"email", ReasonInvalid}}},
		{"gender outside the list", func(p *PatientRequest) { p.Gender = "F" }, []FieldError{{"gender", ReasonInvalid}}},
		{"phone with letters", func(p *PatientRequest) { p.Phone = "555-CALL-NOW" }, []FieldError{{"phone", ReasonInvalid}}},
		{"phone too short", func(p *PatientRequest) { p.Phone = "555-01" }, []FieldError{{"phone", ReasonInvalid}}},
		{"state lower case", func(p *PatientRequest) { p.State = "ma" }, []FieldError{{"state", ReasonInvalid}}},
		{"state spelled out", func(p *PatientRequest) { p.State = "Massachusetts" }, []FieldError{{"state", ReasonInvalid}}},
		{"state not a state", func(p *PatientRequest) { p.State = "ZZ" }, []FieldError{{"state", ReasonInvalid}}},
		{"zip+4", func(p *PatientRequest) { p.Zip = "01109-1234" }, nil},
		{"zip too short", func(p *PatientRequest) { p.Zip = "0110" }, []FieldError{{"zip", ReasonInvalid}}},
		{"full-width zip", func(p *PatientRequest) { p.Zip = "０１１０９" }, []FieldError{{"zip", ReasonInvalid}}},
		{"control character", func(p *PatientRequest) { p.FirstName = "Mar\x00guerite" }, []FieldError{{"first_name", ReasonInvalid}}},
		{"U+FFFF, which SQS refuses", func(p *PatientRequest) { p.LastName = "Okon\uffffkwo" }, []FieldError{{"last_name", ReasonInvalid}}},
		{"U+FFFE", func(p *PatientRequest) { p.City = "\ufffe" }, []FieldError{{"city", ReasonInvalid}}},
		{"only spaces", func(p *PatientRequest) { p.LastName = "   " }, []FieldError{{"last_name", ReasonInvalid}}},
		{"invalid UTF-8", func(p *PatientRequest) { p.City = "Spring\xfffield" }, []FieldError{{"city", ReasonInvalid}}},
		{"too long", func(p *PatientRequest) { p.AddressLine1 = strings.Repeat("a", maxFieldLen+1) }, []FieldError{{"address_line1", ReasonTooLong}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := validPatient()
			c.mutate(&p)
			err := p.validateAt(today)
			if c.want == nil {
				require.NoError(t, err)
				return
			}
			var v *ValidationError
			require.ErrorAs(t, err, &v)
			assert.Equal(t, c.want, v.Fields)
			assertNoValues(t, err.Error(), p.FirstName, p.LastName, p.Email, p.DateOfBirth, p.Phone, p.State, p.Zip, p.ClinicID, p.Gender)
		})
	}
}

func TestPractitionerValidation(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*PractitionerRequest)
		want   []FieldError
	}{
		{"valid", func(*PractitionerRequest) {}, nil},
		{"another valid NPI", func(p *PractitionerRequest) { p.NPINumber = "1987654328" }, nil},
		{"NPI check digit wrong", func(p *PractitionerRequest) { p.NPINumber = "1234567890" }, []FieldError{{"npi_number", ReasonChecksum}}},
		{"NPI too short", func(p *PractitionerRequest) { p.NPINumber = "123456789" }, []FieldError{{"npi_number", ReasonInvalid}}},
		{"NPI with letters", func(p *PractitionerRequest) { p.NPINumber = "12345678a3" }, []FieldError{{"npi_number", ReasonInvalid}}},
		{"NPI missing", func(p *PractitionerRequest) { p.NPINumber = "" }, []FieldError{{"npi_number", ReasonRequired}}},
		{"clinic not a UUID", func(p *PractitionerRequest) { p.AssignedClinic = "x" }, []FieldError{{"assigned_clinic", ReasonInvalid}}},
		{"license state invalid", func(p *PractitionerRequest) { p.LicenseState = "New York" }, []FieldError{{"license_state", ReasonInvalid}}},
		{"signature image base64", func(p *PractitionerRequest) { p.SignatureImage = "iVBORw0KGgo=" }, nil},
		{"signature image not base64", func(p *PractitionerRequest) { p.SignatureImage = "<svg/>" }, []FieldError{{"signature_image", ReasonInvalid}}},
		{"signature image too large", func(p *PractitionerRequest) { p.SignatureImage = strings.Repeat("A", maxSignatureImage+1) }, []FieldError{{"signature_image", ReasonTooLong}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := validPractitioner()
			c.mutate(&p)
			err := p.Validate()
			if c.want == nil {
				require.NoError(t, err)
				return
			}
			var v *ValidationError
			require.ErrorAs(t, err, &v)
			assert.Equal(t, c.want, v.Fields)
			assertNoValues(t, err.Error(), p.NPINumber, p.AssignedClinic, p.LicenseState, p.Email)
		})
	}
}

func TestNPICheckDigitCompletesValidNPIs(t *testing.T) {
	for _, stem := range []string{"123456789", "198765432", "000000000", "999999999"} {
		npi := stem + string(NPICheckDigit(stem))
		assert.True(t, IsNPI(npi), "stem %s", stem)
	}
}

func TestRecordValidateNeedsOneMatchingBody(t *testing.T) {
	p, d := validPatient(), validPractitioner()
	assert.NoError(t, Record{Kind: KindPatient, Patient: &p}.Validate())
	assert.NoError(t, Record{Kind: KindPractitioner, Practitioner: &d}.Validate())
	for _, r := range []Record{
		{Kind: KindPatient, Practitioner: &d},
		{Kind: KindPatient, Patient: &p, Practitioner: &d},
		{Kind: "nurse", Patient: &p},
		{},
	} {
		var v *ValidationError
		require.ErrorAs(t, r.Validate(), &v)
		assert.Equal(t, []string{"kind"}, v.FieldNames())
	}
}

// TestRecordsNeverPrintTheirValues: a record handed to fmt or slog by
// mistake prints [PHI].
func TestRecordsNeverPrintTheirValues(t *testing.T) {
	p, d := validPatient(), validPractitioner()
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	log.Info("patient", "record", p, "ptr", &p, "practitioner", d, "rec", Record{Kind: KindPatient, Patient: &p})
	outputs := []string{logs.String()}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		outputs = append(outputs, fmt.Sprintf(verb, p), fmt.Sprintf(verb, &p), fmt.Sprintf(verb, d))
	}
	for _, out := range outputs {
		assertNoValues(t, out, p.FirstName, p.LastName, p.Email, p.DateOfBirth, d.Email, d.FirstName)
	}
	assert.Contains(t, fmt.Sprintf("%+v", p), "[PHI]")
}

func assertNoValues(t *testing.T, s string, values ...string) {
	t.Helper()
	for i, v := range values {
		if len(v) >= 2 && strings.Contains(s, v) {
			t.Errorf("value #%d appears in the output", i)
		}
	}
}
