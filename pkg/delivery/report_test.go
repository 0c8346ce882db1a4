package delivery

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/novamed/bridge/pkg/novamed"
)

func TestScrubbedLogsOnlyDocumentedMessages(t *testing.T) {
	rec := novamed.Record{Kind: novamed.KindPatient, Patient: &novamed.PatientRequest{
		ClinicID: "0b5e4b8e-2f4a-4c57-9d7e-1f0d9e2c3a4b", FirstName: "Christopher", LastName: "Quarterfield",
		DateOfBirth: "1984-07-19", Email: "sunflower77@mailbox.example", Gender: "male",
	}}
	for _, tc := range []struct{ msg, want string }{
		// Partial echoes the value scrubber let through (issue 14, item 7).
		{"Account sunflower already exists", MessageWithheld},
		{"Christophe", MessageWithheld},
		{"Patient already exists", MessageWithheld},
		{"Clinic not found", novamed.MsgClinicNotFound},
		{" validation ERROR ", novamed.MsgValidation},
		{"", ""},
	} {
		assert.Equal(t, tc.want, scrubbed(tc.msg, rec, rec), "message of %d bytes", len(tc.msg))
	}
}
