package devstack

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/pkg/queue"
	"github.com/novamed/bridge/pkg/samples"
)

// postBody signs body as the source's sender would and posts it through
// the front.
func (e *e2e) postBody(sourceName string, body any, contentType string) Response {
	e.t.Helper()
	raw, err := json.Marshal(body)
	require.NoError(e.t, err)
	tpl := samples.Template{Name: "custom", Source: sourceName, Body: raw,
		Headers: map[string]string{"content-type": contentType}}
	ev, err := tpl.Event(e.sources, time.Now())
	require.NoError(e.t, err)
	resp, err := e.Send(context.Background(), ev)
	require.NoError(e.t, err)
	return resp
}

// deadLetterAttrs receives what waits in the DLQ, with its attributes.
func (e *e2e) deadLetterAttrs() []queue.DLQAttributes {
	e.t.Helper()
	var out []queue.DLQAttributes
	for range 3 {
		res, err := e.SQS.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(e.DLQURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
			MessageAttributeNames: []string{"All"}, VisibilityTimeout: 60,
		})
		require.NoError(e.t, err)
		for _, m := range res.Messages {
			a, err := queue.ParseDLQAttributes(m.MessageAttributes)
			require.NoError(e.t, err)
			out = append(out, a)
		}
	}
	return out
}

// person is one patient as FHIR: the same id from the same EHR is the same
// person, whatever else changes.
func person(id, phone, version string) map[string]any {
	return map[string]any{
		"resourceType": "Patient", "id": id, "meta": map[string]any{"versionId": version},
		"name":      []any{map[string]any{"use": "official", "family": "Thistlewaite", "given": []any{"Ondine"}}},
		"telecom":   []any{map[string]any{"system": "email", "value": "ondine.thistle@mailbox.example"}, map[string]any{"system": "phone", "value": phone, "use": "mobile"}},
		"birthDate": "1979-10-04", "gender": "female",
	}
}

// TestEndToEndOnePersonOneChart: one person arriving many ways is one
// NovaMed patient (issue "One person, one NovaMed chart"): a Patient
// resource, a PUT of it in a transaction, a form whose hidden field holds
// the EHR's patient id, five concurrent updates; a changed phone is one
// update dead letter naming phone with the chart's NovaMed id; two
// practitioners with one NPI from two sources are one.
func TestEndToEndOnePersonOneChart(t *testing.T) {
	mine := []string{"Thistlewaite", "ondine.thistle@mailbox.example", "1979-10-04", "Ondine", "867 4410", "867 9902",
		"Marchbanks", "ilse.marchbanks@mailbox.example"}
	e := startE2E(t, func(o *Options) { o.Canaries = append(o.Canaries, mine...) })
	e.canaries = append(e.canaries, mine...)

	require.Equal(t, 202, e.postBody("ehr-fhir", person("pt-three-ways", "+1 617 867 4410", "1"), "application/fhir+json").Status)
	e.drain()
	require.Len(t, e.Sandbox.Patients(), 1)

	put := map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": []any{map[string]any{
		"resource": person("pt-three-ways", "+1 617 867 4410", "2"), "request": map[string]any{"method": "PUT", "url": "Patient/pt-three-ways"}}}}
	require.Equal(t, 202, e.postBody("ehr-fhir", put, "application/fhir+json").Status)
	form := map[string]any{"type": "patient", "fields": map[string]any{
		"given_name": "Ondine", "surname": "Thistlewaite", "dob": "1979-10-04", "email_address": "ondine.thistle@mailbox.example",
		"sex": "female", "mobile": "+1 617 867 4410", "ehr_patient_id": "pt-three-ways"}}
	require.Equal(t, 202, e.postBody("intake-form", form, "application/json").Status)
	e.drain()
	assert.Len(t, e.Sandbox.Patients(), 1, "a PUT and a form of the same person create no second chart")

	var wg sync.WaitGroup
	for i := range 5 {
		wg.Go(func() {
			resp := e.postBody("ehr-fhir", person("pt-three-ways", "+1 617 867 4410", fmt.Sprint(10+i)), "application/fhir+json")
			assert.Equal(t, 202, resp.Status)
		})
	}
	wg.Wait()
	e.drain()
	assert.Len(t, e.Sandbox.Patients(), 1, "five concurrent events of one person: one chart")
	assert.Empty(t, e.deadLetterAttrs(), "unchanged records are acknowledged, not dead-lettered")

	require.Equal(t, 202, e.postBody("ehr-fhir", person("pt-three-ways", "+1 617 867 9902", "20"), "application/fhir+json").Status)
	e.drain()
	assert.Len(t, e.Sandbox.Patients(), 1)
	dls := e.deadLetterAttrs()
	require.Len(t, dls, 1)
	assert.Equal(t, queue.ClassUpdate, dls[0].ErrorClass)
	assert.Equal(t, []string{"phone"}, dls[0].Fields)
	assert.Equal(t, e.Sandbox.Patients()[0].ID, dls[0].NovaMedID, "the update names the chart it changes")

	doctor := func(id string) map[string]any {
		return map[string]any{"resourceType": "Practitioner", "id": id,
			"name":       []any{map[string]any{"family": "Lindqvist", "given": []any{"Runa"}}},
			"telecom":    []any{map[string]any{"system": "email", "value": "r.lindqvist@clinic.example"}},
			"identifier": []any{map[string]any{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1245319599"}}}
	}
	require.Equal(t, 202, e.postBody("ehr-fhir", doctor("dr-a"), "application/fhir+json").Status)
	require.Equal(t, 202, e.postBody("ehr-subscription", doctor("someone-else-7"), "application/fhir+json").Status)
	e.drain()
	assert.Len(t, e.Sandbox.Practitioners(), 1, "one NPI is one practitioner across sources")

	// Held first (no email), then complete: created then, once.
	other := func(version string) map[string]any {
		p := person("pt-held-first", "+1 617 867 4410", version)
		p["name"] = []any{map[string]any{"use": "official", "family": "Marchbanks", "given": []any{"Ilse"}}}
		p["telecom"] = []any{map[string]any{"system": "email", "value": "ilse.marchbanks@mailbox.example"}}
		return p
	}
	incomplete := other("1")
	incomplete["telecom"] = []any{}
	resp := e.postBody("ehr-fhir", incomplete, "application/fhir+json")
	require.Equal(t, 202, resp.Status)
	assert.Contains(t, string(resp.Body), `"reason":"missing_email"`)
	require.Equal(t, 202, e.postBody("ehr-fhir", other("2"), "application/fhir+json").Status)
	e.drain()
	assert.Len(t, e.Sandbox.Patients(), 2, "the held person's complete record creates their chart")
	assert.Zero(t, e.Sandbox.Duplicates())
}

// athenaNotification is an id-only notification as athenaOne sends them:
// a SubscriptionStatus, then the AuditEvent of the event, never the
// resource. focus is what the event points at.
func athenaNotification(id, focus string) map[string]any {
	return map[string]any{
		"resourceType": "Bundle", "id": id, "type": "history", "timestamp": time.Now().UTC().Format(time.RFC3339Nano),
		"entry": []any{
			map[string]any{"fullUrl": "urn:uuid:" + id, "resource": map[string]any{
				"resourceType": "SubscriptionStatus", "status": "active", "type": "event-notification",
				"notificationEvent": []any{map[string]any{"eventNumber": "1", "focus": map[string]any{"reference": focus}}},
				"subscription":      map[string]any{"reference": "Subscription/athena-demo"}}},
			map[string]any{"fullUrl": focus, "request": map[string]any{"method": "POST", "url": "AuditEvent"}},
		},
	}
}

// TestEndToEndIDOnlyNotification: an athenaOne-style notification is
// fetched from the EHR with SMART Backend Services and delivered once,
// de-identified; the same notification again is a duplicate; another
// notification about the same person fetches again and creates nothing;
// an expired token is replaced; references to other hosts are never
// fetched.
func TestEndToEndIDOnlyNotification(t *testing.T) {
	e := startE2E(t, nil)

	resp := e.post("fhir-athena-notification", "")
	require.Equal(t, 202, resp.Status, string(resp.Body))
	e.drain()
	require.Len(t, e.Sandbox.Patients(), 1, "fetched and delivered")
	assert.Equal(t, 1, e.EHR.Fetches("Patient"))
	assert.Equal(t, 1, e.EHR.Fetches("AuditEvent"))

	again := e.post("fhir-athena-notification", "")
	assert.Contains(t, string(again.Body), `"duplicate":true`, "the same notification retried")
	e.drain()
	assert.Equal(t, 1, e.EHR.Fetches("Patient"), "a duplicate is not fetched again")

	tokens := e.EHR.TokensIssued()
	e.EHR.ExpireTokens()
	require.Equal(t, 202, e.postBody("ehr-athena", athenaNotification("second-event", "AuditEvent/ae-demo-1"), "application/fhir+json").Status)
	e.drain()
	assert.Equal(t, 2, e.EHR.Fetches("Patient"), "a new notification fetches again")
	assert.Greater(t, e.EHR.TokensIssued(), tokens, "the expired token was replaced")
	assert.Len(t, e.Sandbox.Patients(), 1, "the same person: no second chart")

	for _, foreign := range []string{
		"http://169.254.169.254/latest/meta-data/AuditEvent/ae-demo-1",
		"http://127.0.0.1:9/fhir/r4/AuditEvent/ae-demo-1", // another loopback port
	} {
		fetches := e.EHR.TotalFetches()
		resp := e.postBody("ehr-athena", athenaNotification("ssrf-"+fmt.Sprint(len(foreign)), foreign), "application/fhir+json")
		require.Equal(t, 202, resp.Status)
		assert.Contains(t, string(resp.Body), `"records":0`, "a reference to another host is never queued")
		e.drain()
		assert.Equal(t, fetches, e.EHR.TotalFetches())
	}
	assert.Empty(t, e.deadLetterAttrs())
}

// TestEndToEndEHRTokenEndpointDown: with the EHR's token endpoint down the
// reference is retried with backoff and, on the queue's last receive,
// dead-lettered as exhausted; nothing reaches NovaMed and nothing is lost.
func TestEndToEndEHRTokenEndpointDown(t *testing.T) {
	e := startE2E(t, func(o *Options) { o.MaxReceiveCount = 3 })
	e.EHR.FailTokenNext(1000, 503, 0)
	resp := e.post("fhir-athena-notification", "")
	require.Equal(t, 202, resp.Status, string(resp.Body))
	e.drain()
	assert.Zero(t, e.delivered(), "nothing reaches NovaMed without the patient")
	assert.Zero(t, e.EHR.TotalFetches(), "no token, no read")
	assert.GreaterOrEqual(t, e.EHR.TokenRequests(), 3, "one token request per attempt")
	dls := e.deadLetterAttrs()
	require.Len(t, dls, 1)
	assert.Equal(t, queue.ClassExhausted, dls[0].ErrorClass)
	assert.Equal(t, 3, dls[0].Attempts)
}
