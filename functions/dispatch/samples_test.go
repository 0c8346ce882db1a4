package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/pkg/novamed"
	"github.com/novamed/bridge/pkg/queue"
)

var update = flag.Bool("update", false, "rewrite the sample events under events/dispatch")

// samplesDir holds the events for `sam local invoke DispatchFunction -e ...`.
var samplesDir = filepath.Join("..", "..", "events", "dispatch")

// sampleRecords are synthetic, already de-identified development records
// (reserved example.com addresses, the fictional 555-01XX phone range):
// the samples sit in version control and must hold no PHI.
func sampleRecords() []json.RawMessage {
	recs := []novamed.PatientRequest{
		{ClinicID: devClinic, FirstName: "Avery", LastName: "Sample", DateOfBirth: "1980-01-01",
			Email: "p-avery0sample01@example.com", Gender: "other", Phone: "+1-555-0101", State: "MA", Zip: "02100"},
		{ClinicID: devClinic, FirstName: "Jordan", LastName: "Example", DateOfBirth: "1975-01-01",
			Email: "p-jordan0example2@example.com", Gender: "female", Phone: "+1-555-0102", State: "NY", Zip: "10000"},
		{ClinicID: devClinic, FirstName: "Riley", LastName: "Fixture", DateOfBirth: "1992-01-01",
			Email: "p-riley0fixture03@example.com", Gender: "male", State: "CA", Zip: "94100"},
	}
	out := make([]json.RawMessage, len(recs))
	for i, r := range recs {
		out[i], _ = json.Marshal(r)
	}
	return out
}

// sampleEvent builds an SQS event as Lambda delivers it to dispatch.
func sampleEvent(t *testing.T, event string, bodies []string) events.SQSEvent {
	t.Helper()
	var ev events.SQSEvent
	for i, body := range bodies {
		ev.Records = append(ev.Records, events.SQSMessage{
			MessageId:     fmt.Sprintf("0d6e1f2a-3b4c-4d5e-8f60-%012d", i+1),
			ReceiptHandle: fmt.Sprintf("sample-receipt-handle-%s-%d", event, i+1),
			Body:          body,
			Attributes: map[string]string{
				"ApproximateReceiveCount":          "1",
				"SentTimestamp":                    "1768471200000",
				"SenderId":                         "AIDAEXAMPLE",
				"ApproximateFirstReceiveTimestamp": "1768471201000",
			},
			MessageAttributes: map[string]events.SQSMessageAttribute{
				"kind":   {StringValue: strPtr("patient"), DataType: "String"},
				"source": {StringValue: strPtr("ehr-fhir"), DataType: "String"},
				"v":      {StringValue: strPtr("1"), DataType: "Number"},
			},
			EventSourceARN: "arn:aws:sqs:us-east-1:123456789012:novamed-bridge-dev-delivery",
			EventSource:    "aws:sqs",
			AWSRegion:      "us-east-1",
		})
	}
	return ev
}

func strPtr(s string) *string { return &s }

func sampleBodies(t *testing.T, event string) []string {
	t.Helper()
	var out []string
	eventID := queue.EventID("ehr-fhir", event, nil)
	for i, rec := range sampleRecords() {
		body, err := queue.Message{
			ID: queue.RecordID(eventID, i), Source: "ehr-fhir", Kind: novamed.KindPatient,
			ReceivedAt: time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC), Stage: queue.StageDev,
			Deidentified: true, Record: rec,
		}.Encode()
		require.NoError(t, err)
		out = append(out, body)
	}
	return out
}

// samples are the files under events/dispatch and what dispatch does with
// each message of them.
func samples(t *testing.T) map[string]events.SQSEvent {
	normal := sampleBodies(t, "msg_sample_batch_001")
	poison := sampleBodies(t, "msg_sample_poison_001")
	// The poison message: cut short, not JSON.
	poison = []string{poison[0], `{"v":1,"id":"ehr-fhir:`, poison[1]}
	return map[string]events.SQSEvent{
		"batch.json":        sampleEvent(t, "batch", normal),
		"batch-poison.json": sampleEvent(t, "poison", poison),
	}
}

func TestSampleEventsUpToDate(t *testing.T) {
	for name, ev := range samples(t) {
		want, err := json.MarshalIndent(ev, "", "  ")
		require.NoError(t, err)
		want = append(want, '\n')
		path := filepath.Join(samplesDir, name)
		if *update {
			require.NoError(t, os.MkdirAll(samplesDir, 0o755))
			require.NoError(t, os.WriteFile(path, want, 0o644))
			continue
		}
		got, err := os.ReadFile(path)
		require.NoError(t, err, "run go test ./functions/dispatch -run TestSampleEvents -update")
		assert.JSONEq(t, string(want), string(got), "%s is stale: rerun with -update", name)
	}
}

func TestSampleEventsDispatch(t *testing.T) {
	for _, tc := range []struct {
		file      string
		delivered int
		malformed int
	}{
		{"batch.json", 3, 0},
		{"batch-poison.json", 2, 1},
	} {
		t.Run(tc.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(samplesDir, tc.file))
			require.NoError(t, err)
			var ev events.SQSEvent
			require.NoError(t, json.Unmarshal(raw, &ev))

			e := newEnv(t, envOptions{})
			nm := newSandbox(t)
			h := e.handler(e.config("dev", nm.URL), nil)
			resp, err := h.Handle(context.Background(), ev)
			require.NoError(t, err)
			assert.Empty(t, resp.BatchItemFailures)
			assert.Len(t, nm.Patients(), tc.delivered)
			dls := e.deadLetters()
			require.Len(t, dls, tc.malformed)
			for _, d := range dls {
				assert.Equal(t, queue.ClassMalformed, d.attrs.ErrorClass)
				assert.Equal(t, map[string]string{"kind": "patient", "source": "ehr-fhir", "v": "1"}, d.base)
			}
		})
	}
}
