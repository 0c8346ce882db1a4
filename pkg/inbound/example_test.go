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

	_, err := inbound.Parse(inbound.FormatFHIR, body, opts)
	var pe *inbound.PayloadError
	if errors.As(err, &pe) {
		fmt.Println("400, fields:", pe.Fields) // paths, never values
	}

	res, err := inbound.Parse(inbound.FormatFHIR, []byte(`{"resourceType":"Bundle","id":"b-1","type":"batch","entry":[
		{"resource":{"resourceType":"Patient","name":[{"family":"Doe","given":["Jane"]}],
		 "telecom":[{"system":"email","value":"jane@example.com"}],"birthDate":"1984-05-06"}},
		{"resource":{"resourceType":"Observation","status":"final"}}]}`), opts)
	if err == nil {
		fmt.Println("event", res.EventID, "records", len(res.Records), "kind", res.Records[0].Kind, "skipped", res.Skipped)
	}
	// Output:
	// 400, fields: [birthDate]
	// event b-1 records 1 kind patient skipped 1
}
