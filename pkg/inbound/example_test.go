package inbound_test

import (
	"errors"
	"fmt"

	"github.com/novamed/bridge/pkg/inbound"
)

func ExampleParse() {
	opts := inbound.Options{ClinicID: "6f1c3a52-8e0b-4c1e-9a57-2d4b8e7f1a90"}
	body := []byte(`{"resourceType":"Patient","text":{"div":"narrative is never read"},
		"name":[{"use":"official","family":"Doe","given":["Jane"]}],
		"telecom":[{"system":"email","value":"jane@example.com"}],"birthDate":"1984"}`)

	res, err := inbound.Parse(inbound.FormatFHIR, body, opts)
	if err == nil && res.Records[0].Hold != nil {
		// Held, not refused: paths, never values.
		fmt.Println("held:", res.Records[0].Hold.Reason, res.Records[0].Hold.Fields)
	}

	_, err = inbound.Parse(inbound.FormatFHIR, []byte(`{"resourceType":"Observation"}`), opts)
	var pe *inbound.PayloadError
	if errors.As(err, &pe) {
		fmt.Println("400, fields:", pe.Fields) // not a format the source takes
	}

	res, err = inbound.Parse(inbound.FormatFHIR, []byte(`{"resourceType":"Bundle","id":"b-1","type":"batch","entry":[
		{"resource":{"resourceType":"Patient","name":[{"family":"Doe","given":["Jane"]}],
		 "telecom":[{"system":"email","value":"jane@example.com"}],"birthDate":"1984-05-06"}},
		{"resource":{"resourceType":"Observation","status":"final"}}]}`), opts)
	if err == nil {
		fmt.Println("event", res.EventID, "records", len(res.Records), "kind", res.Records[0].Kind, "skipped", res.Skipped)
	}
	// Output:
	// held: partial_birth_date [birthDate]
	// 400, fields: [resourceType]
	// event b-1 records 1 kind patient skipped 1
}
