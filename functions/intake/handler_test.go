//go:build !nokumo

package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/internal/awstest"
	"github.com/novamed/bridge/internal/nettest"
	"github.com/novamed/bridge/pkg/ledger"
	"github.com/novamed/bridge/pkg/novamed"
	"github.com/novamed/bridge/pkg/params"
	"github.com/novamed/bridge/pkg/queue"
	"github.com/novamed/bridge/pkg/samples"
	"github.com/novamed/bridge/pkg/source"
)

// sampleBody returns the raw body of a sample template.
func sampleBody(t testing.TB, name string) []byte {
	t.Helper()
	ts, err := samples.Templates()
	require.NoError(t, err)
	for _, tmpl := range ts {
		if tmpl.Name == name {
			b, err := tmpl.RawBody()
			require.NoError(t, err)
			return b
		}
	}
	t.Fatalf("no template %s", name)
	return nil
}

// fhirPatient builds a valid FHIR Patient with the given family name.
func fhirPatient(family string) map[string]any {
	return map[string]any{
		"resourceType": "Patient",
		"name":         []any{map[string]any{"use": "official", "family": family, "given": []any{"Test"}}},
		"telecom":      []any{map[string]any{"system": "email", "value": strings.ToLower(family) + "@example.org"}},
		"birthDate":    "1970-02-03",
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// TestSchemes posts a valid request and a wrongly signed one for each
// authentication scheme of the local sources; a request signed with a
// source's second (rotated-in) secret is accepted too.
func TestSchemes(t *testing.T) {
	tests := []struct {
		source string
		sample string
	}{
		{"ehr-fhir", "fhir-patient"},            // standard-webhooks
		{"ehr-subscription", "fhir-patient"},    // bearer
		{"intake-form", "form-patient"},         // hmac-sha256, base64
		{"formstack", "form-practitioner"},      // hmac-sha256, hex, prefix
		{"typeform-intake", "typeform-patient"}, // typeform
	}
	for _, tt := range tests {
		t.Run(tt.source, func(t *testing.T) {
			f := newFixture(t)
			body := sampleBody(t, tt.sample)
			src := f.source(tt.source)

			wrong := "not-the-right-secret-at-all-0000"
			if src.Scheme() == "standard-webhooks" {
				wrong = "whsec_bm90LXRoZS1yaWdodC1rZXktYXQtYWxs"
			}
			resp := f.post(tt.source, body, nil, samples.WithSecret(wrong))
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
			assert.Equal(t, `{"error":"unauthorized"}`, resp.Body)

			secrets := src.Definition.Auth.Secrets
			resp = f.post(tt.source, body, nil, samples.WithSecret(secrets[len(secrets)-1]))
			require.Equal(t, http.StatusAccepted, resp.StatusCode, lastErrorCode(f))
			assert.Len(t, f.messages(), 1)

			resp = f.post(tt.source, body, map[string]string{"authorization": "", "webhook-signature": "",
				"typeform-signature": "", "tally-signature": "", "x-fs-signature": ""})
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		})
	}
}

// TestAuthBeforeParsing: a body that is not even JSON, badly signed, is
// answered 401, not 400 or 415: nothing is parsed before verification.
func TestAuthBeforeParsing(t *testing.T) {
	f := newFixture(t)
	resp := f.post("ehr-fhir", []byte("<Patient/>"), map[string]string{"content-type": "application/xml"},
		samples.WithSecret("whsec_bm90LXRoZS1yaWdodC1rZXktYXQtYWxs"))
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}

func TestStaleAndFutureTimestamps(t *testing.T) {
	f := newFixture(t)
	body := sampleBody(t, "fhir-patient")
	now := f.clock.Now()
	for _, d := range []time.Duration{-6 * time.Minute, 6 * time.Minute} {
		resp := f.post("ehr-fhir", body, nil, samples.WithSignedAt(now.Add(d)))
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "signed %v from now", d)
	}
	resp := f.post("ehr-fhir", body, nil, samples.WithSignedAt(now.Add(-4*time.Minute)))
	assert.Equal(t, http.StatusAccepted, resp.StatusCode, "within the 5-minute tolerance")
}

// TestReplayedWebhookID: Standard Webhooks retries carry the same
// webhook-id; the second delivery is a duplicate even when signed later.
func TestReplayedWebhookID(t *testing.T) {
	f := newFixture(t)
	body := sampleBody(t, "fhir-patient")
	first := f.post("ehr-fhir", body, nil, samples.WithEventID("msg_retry_1"))
	require.Equal(t, http.StatusAccepted, first.StatusCode)
	f.clock.Advance(time.Minute)
	second := f.post("ehr-fhir", body, nil, samples.WithEventID("msg_retry_1"))
	require.Equal(t, http.StatusAccepted, second.StatusCode)
	a1, a2 := decodeAnswer(t, first.Body), decodeAnswer(t, second.Body)
	assert.Equal(t, a1.ID, a2.ID)
	assert.True(t, a2.Duplicate)
	assert.Len(t, f.messages(), 1)

	other := f.post("ehr-fhir", body, nil, samples.WithEventID("msg_retry_2"))
	require.Equal(t, http.StatusAccepted, other.StatusCode)
	assert.False(t, decodeAnswer(t, other.Body).Duplicate, "another webhook-id is another event")
}

// TestEventIDWithoutSenderID: with no webhook-id and no payload id, the
// event id is the body hash: the same body is a duplicate, another body not.
func TestEventIDWithoutSenderID(t *testing.T) {
	f := newFixture(t)
	body := mustJSON(t, fhirPatient("Hashed"))
	a := decodeAnswer(t, f.post("ehr-subscription", body, nil).Body)
	b := decodeAnswer(t, f.post("ehr-subscription", body, nil).Body)
	assert.Equal(t, a.ID, b.ID)
	assert.True(t, b.Duplicate)
	assert.Equal(t, queue.EventID("ehr-subscription", "", body), a.ID)
	c := decodeAnswer(t, f.post("ehr-subscription", mustJSON(t, fhirPatient("Other")), nil).Body)
	assert.NotEqual(t, a.ID, c.ID)
}

func TestMethods(t *testing.T) {
	f := newFixture(t)
	for _, m := range []string{"GET", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "post", ""} {
		ev := f.request("ehr-fhir", sampleBody(t, "fhir-patient"), nil)
		ev.RequestContext.HTTP.Method = m
		resp := f.call(ev)
		assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, "method %q", m)
		assert.Equal(t, "POST", resp.Headers["Allow"])
	}
	assert.Empty(t, f.messages())
}

func TestUnknownSource(t *testing.T) {
	f := newFixture(t)
	for _, name := range []string{"no-such-source", "Ehr-Fhir", "ehr fhir", "../sources/ehr-fhir", "", strings.Repeat("a", 65)} {
		ev := f.request(name, []byte("{}"), nil)
		resp := f.call(ev)
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, "source %q", name)
		assert.Equal(t, `{"error":"unknown source"}`, resp.Body)
	}
	// Without path parameters (a hand-made event), the path decides.
	ev := f.request("ehr-fhir", sampleBody(t, "fhir-patient"), nil)
	ev.PathParameters = nil
	assert.Equal(t, http.StatusAccepted, f.call(ev).StatusCode)
	assert.NotContains(t, f.logs.String(), "no-such-source", "names from the URL of unknown sources are not logged")
}

func TestBodyLimit(t *testing.T) {
	f := newFixture(t)
	limit := int(source.DefaultFHIRMaxBodyBytes)
	pad := func(n int) []byte {
		p := fhirPatient("Padded")
		p["text"] = map[string]any{"div": ""}
		b := mustJSON(t, p)
		p["text"] = map[string]any{"div": strings.Repeat("x", n-len(b))}
		b = mustJSON(t, p)
		require.Len(t, b, n)
		return b
	}
	resp := f.post("ehr-subscription", pad(limit), nil)
	assert.Equal(t, http.StatusAccepted, resp.StatusCode, "exactly the default limit: %s", lastErrorCode(f))
	resp = f.post("ehr-subscription", pad(limit+1), nil)
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	assert.Equal(t, int64(limit), decodeAnswer(t, resp.Body).MaxBytes)

	// The same limit applies to the decoded size of a base64 body.
	ev := f.request("ehr-subscription", pad(limit+1), nil)
	ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString([]byte(ev.Body)), true
	assert.Equal(t, http.StatusRequestEntityTooLarge, f.call(ev).StatusCode)

	// A per-source override (formstack: 1 KiB).
	resp = f.post("formstack", []byte(`{"pad":"`+strings.Repeat("x", 1100)+`"}`), nil)
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	assert.Equal(t, int64(1024), decodeAnswer(t, resp.Body).MaxBytes)
}

func TestBase64Body(t *testing.T) {
	f := newFixture(t)
	body := sampleBody(t, "form-patient")
	ev := f.request("intake-form", body, nil)
	ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
	assert.Equal(t, http.StatusAccepted, f.call(ev).StatusCode, "signature checked over the decoded bytes")

	ev.Body = "not base64 at all!"
	resp := f.call(ev)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Equal(t, `{"error":"body is not valid base64","fields":[]}`, resp.Body)
}

func TestContentType(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		ct   string
		want int
	}{
		{"application/json", http.StatusAccepted},
		{"application/json; charset=utf-8", http.StatusAccepted},
		{"Application/JSON; charset=UTF-8", http.StatusAccepted},
		{"application/fhir+json", http.StatusAccepted},
		{"application/fhir+json;fhirVersion=4.0", http.StatusAccepted},
		{"", http.StatusAccepted}, // no header: the body decides
		{"application/json; charset=iso-8859-1", http.StatusUnsupportedMediaType},
		{"text/plain", http.StatusUnsupportedMediaType},
		{"application/xml", http.StatusUnsupportedMediaType},
		{"application/fhir+xml", http.StatusUnsupportedMediaType},
		{"multipart/form-data; boundary=x", http.StatusUnsupportedMediaType},
		{"application/json; charset", http.StatusUnsupportedMediaType},
	}
	for i, tt := range tests {
		body := mustJSON(t, fhirPatient(fmt.Sprintf("Type%c", 'a'+i)))
		resp := f.post("ehr-subscription", body, map[string]string{"content-type": tt.ct})
		assert.Equal(t, tt.want, resp.StatusCode, "content type %q", tt.ct)
	}
	// Not JSON with no content type or a JSON one: the body is wrong, 400.
	for _, ct := range []string{"", "application/fhir+json"} {
		resp := f.post("ehr-subscription", []byte("<Patient/>"), map[string]string{"content-type": ct})
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "content type %q", ct)
		assert.Equal(t, "not_json", strings.Fields(lastErrorCode(f))[0])
	}
}

func TestInvalidPayloads(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name   string
		source string
		body   string
		fields []string
	}{
		{"array", "ehr-subscription", `[1,2]`, []string{"$"}},
		{"not a resource the source takes", "ehr-subscription", `{"resourceType":"Observation","status":"final"}`, []string{"resourceType"}},
		{"malformed", "intake-form", `{"type":`, []string{}},
		{"too deep", "intake-form", `{"a":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, []string{}},
		{"form kind not the source's", "formstack", `{"type":"patient","fields":{"first_name":"Ann","last_name":"Lee","date_of_birth":"1970-01-01","email":"a@example.org"}}`, []string{"type"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := f.post(tt.source, []byte(tt.body), nil)
			require.Equal(t, http.StatusBadRequest, resp.StatusCode, lastErrorCode(f))
			a := decodeAnswer(t, resp.Body)
			assert.NotEmpty(t, a.Error)
			assert.Equal(t, tt.fields, a.Fields)
		})
	}
	assert.Empty(t, f.messages())
	assert.Empty(t, f.deadLetters())
}

// TestNothingToDeliver: an authenticated, well-formed payload that holds no
// person NovaMed takes is accepted (a sender that keeps getting 4xx turns
// the endpoint off) and queues nothing; an empty POST is a rest-hook ping.
func TestNothingToDeliver(t *testing.T) {
	f := newFixture(t)
	for _, tt := range []struct {
		name    string
		body    string
		skipped int
	}{
		{"bundle of other resources", `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Observation","status":"final"}}]}`, 1},
		{"id-only notification, no FHIR server", string(mustJSON(t, idOnlyNotification())), 1},
		{"empty bundle", `{"resourceType":"Bundle","type":"batch","entry":[]}`, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp := f.post("ehr-subscription", []byte(tt.body), nil)
			require.Equal(t, http.StatusAccepted, resp.StatusCode, lastErrorCode(f))
			var a struct {
				ID      string `json:"id"`
				Records *int   `json:"records"`
				Skipped int    `json:"skipped"`
			}
			require.NoError(t, json.Unmarshal([]byte(resp.Body), &a))
			assert.NotEmpty(t, a.ID)
			require.NotNil(t, a.Records)
			assert.Zero(t, *a.Records)
			assert.Equal(t, tt.skipped, a.Skipped)
		})
	}
	resp := f.post("ehr-subscription", nil, nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "an empty rest-hook POST is a ping")
	assert.Equal(t, "ping", decodeAnswer(t, resp.Body).Notification)
	assert.Empty(t, f.messages())
	assert.Empty(t, f.deadLetters())
}

// TestHeldRecords: a record NovaMed cannot take is held, not refused: the
// sender gets 202 naming it, the others of the payload are queued, and the
// held one waits in the dead-letter queue as class held, de-identified
// (the fixture's stage is dev).
func TestHeldRecords(t *testing.T) {
	f := newFixture(t)
	noEmail := fhirPatient("Quillfeather")
	delete(noEmail, "telecom")
	partial := fhirPatient("Partial")
	partial["birthDate"] = "1974-12"
	badPhone := fhirPatient("Phoneless")
	badPhone["telecom"] = []any{
		map[string]any{"system": "email", "value": "phoneless@example.org"},
		map[string]any{"system": "phone", "value": "call after nine"},
	}
	bundle := map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": []any{
		map[string]any{"resource": fhirPatient("Valid"), "request": map[string]any{"method": "POST", "url": "Patient"}},
		map[string]any{"resource": noEmail, "request": map[string]any{"method": "POST", "url": "Patient"}},
		map[string]any{"resource": partial, "request": map[string]any{"method": "POST", "url": "Patient"}},
		map[string]any{"resource": badPhone, "request": map[string]any{"method": "POST", "url": "Patient"}},
	}}
	resp := f.post("ehr-subscription", mustJSON(t, bundle), nil)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, lastErrorCode(f))
	var a struct {
		ID      string `json:"id"`
		Records int    `json:"records"`
		Held    []struct {
			Index  int      `json:"index"`
			Reason string   `json:"reason"`
			Fields []string `json:"fields"`
		} `json:"held"`
		Dropped []string `json:"dropped"`
	}
	require.NoError(t, json.Unmarshal([]byte(resp.Body), &a))
	assert.Equal(t, 4, a.Records)
	require.Len(t, a.Held, 2)
	assert.Equal(t, 1, a.Held[0].Index)
	assert.Equal(t, "missing_email", a.Held[0].Reason)
	assert.Equal(t, []string{"entry[1].resource.telecom"}, a.Held[0].Fields)
	assert.Equal(t, 2, a.Held[1].Index)
	assert.Equal(t, "partial_birth_date", a.Held[1].Reason)
	assert.Equal(t, []string{"entry[3].resource.telecom[1].value"}, a.Dropped)
	assert.NotContains(t, resp.Body, "call after nine", "an answer names paths, never values")

	queued := f.messages()
	require.Len(t, queued, 2, "the valid record and the one with a dropped phone are queued")
	assert.Equal(t, queue.RecordID(a.ID, 0), queued[0].msg.ID)
	assert.Equal(t, queue.RecordID(a.ID, 3), queued[1].msg.ID)

	held := f.deadLetters()
	require.Len(t, held, 2)
	byID := map[string]received{}
	for _, h := range held {
		byID[h.msg.ID] = h
	}
	h1, ok := byID[queue.RecordID(a.ID, 1)]
	require.True(t, ok)
	dl, err := queue.ParseDLQAttributes(h1.attrs)
	require.NoError(t, err)
	assert.Equal(t, queue.ClassHeld, dl.ErrorClass)
	assert.Equal(t, "missing_email", dl.ErrorCode)
	assert.Equal(t, []string{"entry[1].resource.telecom"}, dl.Fields)
	assert.True(t, h1.msg.Deidentified)
	assert.NotContains(t, string(h1.msg.Record), "Quillfeather", "held records are de-identified outside production")
	h2, ok := byID[queue.RecordID(a.ID, 2)]
	require.True(t, ok)
	dl, err = queue.ParseDLQAttributes(h2.attrs)
	require.NoError(t, err)
	assert.Equal(t, "partial_birth_date", dl.ErrorCode)

	assert.Contains(t, f.metrics.String(), `"Held"`)

	// The same webhook again is a duplicate: nothing is held twice.
	resp = f.post("ehr-subscription", mustJSON(t, bundle), nil)
	require.Equal(t, http.StatusAccepted, resp.StatusCode)
	assert.True(t, decodeAnswer(t, resp.Body).Duplicate)
	assert.Empty(t, f.deadLetters())
}

// TestOnInvalidReject: a source that shows errors to a person refuses the
// payload instead, naming the paths, and queues nothing.
func TestOnInvalidReject(t *testing.T) {
	f := newFixture(t)
	src := f.source("ehr-subscription")
	var def map[string]any
	require.NoError(t, json.Unmarshal(src.JSON, &def))
	def["on_invalid"] = "reject"
	f.putParam(ParamSources+"/ehr-subscription", string(mustJSON(t, def)))
	f.clock.Advance(2 * testParamTTL)
	noEmail := fhirPatient("Rejected")
	delete(noEmail, "telecom")
	resp := f.post("ehr-subscription", mustJSON(t, noEmail), nil)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, lastErrorCode(f))
	assert.Equal(t, []string{"telecom"}, decodeAnswer(t, resp.Body).Fields)
	assert.Empty(t, f.messages())
	assert.Empty(t, f.deadLetters())
}

// TestEventIDsComeFromTheBody: an id inside the payload never decides that
// a different body is a repeat (two bundles sharing a Bundle.id are two
// events); the same body twice is one.
func TestEventIDsComeFromTheBody(t *testing.T) {
	f := newFixture(t)
	mk := func(name string) []byte {
		return mustJSON(t, map[string]any{"resourceType": "Bundle", "id": "same-bundle-id", "type": "collection",
			"entry": []any{map[string]any{"resource": fhirPatient(name)}}})
	}
	first := f.post("ehr-subscription", mk("Firstone"), nil)
	second := f.post("ehr-subscription", mk("Secondone"), nil)
	require.Equal(t, http.StatusAccepted, first.StatusCode)
	require.Equal(t, http.StatusAccepted, second.StatusCode)
	a1, a2 := decodeAnswer(t, first.Body), decodeAnswer(t, second.Body)
	assert.False(t, a2.Duplicate, "a different body with the same Bundle.id is a new event")
	assert.NotEqual(t, a1.ID, a2.ID)
	again := decodeAnswer(t, f.post("ehr-subscription", mk("Firstone"), nil).Body)
	assert.True(t, again.Duplicate)
	assert.Equal(t, a1.ID, again.ID)
	assert.Len(t, f.messages(), 2)
}

// TestFormWithoutTypeFixedKind: a form source that fixes its kind
// (formstack: practitioner) accepts a payload without "type", for senders
// whose form tool cannot add one, and queues a record of the source's kind.
func TestFormWithoutTypeFixedKind(t *testing.T) {
	f := newFixture(t)
	require.Equal(t, novamed.KindPractitioner, f.source("formstack").Definition.Kind)
	body := mustJSON(t, map[string]any{"event_id": "fs-no-type-1", "fields": map[string]any{
		"first_name": "Dorothy", "last_name": "Vaughan", "email": "d.vaughan@example.org", "npi_number": "1987654328"}})
	resp := f.post("formstack", body, nil)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, lastErrorCode(f))
	a := decodeAnswer(t, resp.Body)
	require.NotNil(t, a.Records)
	assert.Equal(t, 1, *a.Records)
	msgs := f.messages()
	require.Len(t, msgs, 1)
	assert.Equal(t, novamed.KindPractitioner, msgs[0].msg.Kind)
	rec := decodeRecord(t, msgs[0].msg)
	assert.Equal(t, novamed.KindPractitioner, rec.Kind)
	assert.NotNil(t, rec.Practitioner, "a practitioner record is queued")
}

// TestStageGuard checks that PHI reaches the queue only with STAGE=prod and
// NovaMed's production URL; every other combination queues de-identified
// records.
func TestStageGuard(t *testing.T) {
	tests := []struct {
		stage, target string
		wantStage     string
		wantDeid      bool
	}{
		{"prod", novamed.ProductionURL, queue.StageProd, false},
		{"prod", "", queue.StageProd, false}, // default URL by stage
		{"PROD", "", queue.StageDev, true},
		{"prod ", novamed.DevelopmentURL, queue.StageDev, true},
		{"production", "http://127.0.0.1:8080", queue.StageDev, true},
		{"", "", queue.StageDev, true},
		{"dev", novamed.DevelopmentURL, queue.StageDev, true},
		// A stage bound to the other environment's host does not start at
		// all: TestStageBindsHost.
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q %q", tt.stage, tt.target), func(t *testing.T) {
			f := newFixture(t, withStage(tt.stage, tt.target))
			resp := f.invoke(loadEvent(t, "fhir-patient"))
			require.Equal(t, http.StatusAccepted, resp.StatusCode, lastErrorCode(f))
			msgs := f.messages()
			require.Len(t, msgs, 1)
			m := msgs[0].msg
			assert.Equal(t, tt.wantStage, m.Stage)
			assert.Equal(t, tt.wantDeid, m.Deidentified)
			rec := decodeRecord(t, m)
			if tt.wantDeid {
				assert.NotEqual(t, "Lovelace", rec.Patient.LastName, "last_name de-identified")
				assert.Equal(t, "1985-01-01", rec.Patient.DateOfBirth, "birth date generalised")
				assert.Contains(t, f.metrics.String(), `"Deidentified":1`)
			} else {
				assert.Equal(t, "Lovelace", rec.Patient.LastName, "production receives the record")
				assert.Equal(t, "1985-12-10", rec.Patient.DateOfBirth)
			}
			assert.Equal(t, testClinicID, rec.Patient.ClinicID)
		})
	}
}

// TestProductionNeedsNoPseudonymKey: production never reads the key.
// TestEveryStageNeedsThePseudonymKey: production does not de-identify, but
// it keys subjects (one chart per person) and field digests with the
// pseudonym key, so without it intake answers 503 (the sender retries)
// instead of queuing records it cannot tell apart.
func TestEveryStageNeedsThePseudonymKey(t *testing.T) {
	f := newFixture(t, withStage("prod", novamed.ProductionURL), withoutParam(ParamPseudonymKey))
	assert.Equal(t, http.StatusServiceUnavailable, f.invoke(loadEvent(t, "fhir-patient")).StatusCode)
	assert.Equal(t, "config_error", strings.Fields(lastErrorCode(f))[0])
	assert.Empty(t, f.messages())
}

// TestManyRecordsBatched: a bundle of 23 patients is 23 messages sent in
// three SendMessageBatch calls.
func TestManyRecordsBatched(t *testing.T) {
	f := newFixture(t)
	var entries []any
	for i := range 23 {
		entries = append(entries, map[string]any{"resource": fhirPatient(fmt.Sprintf("Batch%c", 'a'+i))})
	}
	body := mustJSON(t, map[string]any{"resourceType": "Bundle", "id": "batch-23", "type": "collection", "entry": entries})
	counting := &scriptedSQS{SQSAPI: f.sqs}
	sender, err := queue.NewSender(counting, f.queueURL)
	require.NoError(t, err)
	f.handler = f.newHandler(Config{Params: f.cache, Queue: sender, Ledger: f.ledger})

	resp := f.post("ehr-subscription", body, nil)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, lastErrorCode(f))
	a := decodeAnswer(t, resp.Body)
	assert.Equal(t, 23, *a.Records)
	assert.EqualValues(t, 3, counting.calls.Load())
	msgs := f.messages()
	require.Len(t, msgs, 23)
	ids := map[string]bool{}
	for _, m := range msgs {
		ids[m.msg.ID] = true
	}
	for i := range 23 {
		assert.True(t, ids[queue.RecordID(a.ID, i)], "record %d queued", i)
	}
}

func TestTooManyRecords(t *testing.T) {
	f := newFixture(t)
	var entries []any
	for i := range MaxRecordsPerWebhook + 1 {
		entries = append(entries, map[string]any{"resource": fhirPatient(fmt.Sprintf("Many%c%c", 'a'+i/26, 'a'+i%26))})
	}
	body := mustJSON(t, map[string]any{"resourceType": "Bundle", "type": "collection", "entry": entries})
	resp := f.post("ehr-subscription", body, nil)
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	assert.Contains(t, resp.Body, "at most 100")
	assert.Equal(t, "too_many_records", strings.TrimSpace(lastErrorCode(f)))
	assert.Empty(t, f.messages(), "nothing of the event is queued")
}

// idOnlyNotification is an R4 backport event notification whose entry names
// the Patient by URL only (payload "id-only"): nothing the bridge can send.
func idOnlyNotification() map[string]any {
	return map[string]any{
		"resourceType": "Bundle", "type": "history",
		"entry": []any{
			map[string]any{"fullUrl": "urn:uuid:7f1c", "resource": map[string]any{
				"resourceType": "Parameters",
				"meta":         map[string]any{"profile": []any{"http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-status-r4"}},
				"parameter": []any{
					map[string]any{"name": "subscription", "valueReference": map[string]any{"reference": "Subscription/patients"}},
					map[string]any{"name": "status", "valueCode": "active"},
					map[string]any{"name": "type", "valueCode": "event-notification"},
					map[string]any{"name": "events-since-subscription-start", "valueString": "7"},
					map[string]any{"name": "notification-event", "part": []any{
						map[string]any{"name": "event-number", "valueString": "7"},
						map[string]any{"name": "focus", "valueReference": map[string]any{"reference": "https://ehr.example/fhir/Patient/123"}},
					}},
				},
			}},
			map[string]any{"fullUrl": "https://ehr.example/fhir/Patient/123", "request": map[string]any{"method": "PUT", "url": "Patient/123"}, "response": map[string]any{"status": "200"}},
		},
	}
}

// scriptedSQS passes SendMessageBatch to kumo, except the entries fail
// says fail: those are answered as failed entries without being sent.
type scriptedSQS struct {
	queue.SQSAPI
	calls atomic.Int64
	mu    sync.Mutex
	fail  func(call int, entryID string) bool
}

func (s *scriptedSQS) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, o ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	call := int(s.calls.Add(1))
	s.mu.Lock()
	fail := s.fail
	s.mu.Unlock()
	pass := *in
	pass.Entries = nil
	var failed []sqstypes.BatchResultErrorEntry
	for _, e := range in.Entries {
		if fail != nil && fail(call, aws.ToString(e.Id)) {
			failed = append(failed, sqstypes.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InternalError"), SenderFault: false})
			continue
		}
		pass.Entries = append(pass.Entries, e)
	}
	out := &sqs.SendMessageBatchOutput{}
	if len(pass.Entries) > 0 {
		var err error
		if out, err = s.SQSAPI.SendMessageBatch(ctx, &pass, o...); err != nil {
			return nil, err
		}
	}
	out.Failed = append(out.Failed, failed...)
	return out, nil
}

func (s *scriptedSQS) setFail(f func(call int, entryID string) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = f
}

// TestPartialQueueFailure: failed entries are retried alone; when they keep
// failing the answer is 503, and the sender's retry (after the event's
// claim expires) queues the event again and completes it.
func TestPartialQueueFailure(t *testing.T) {
	f := newFixture(t)
	scripted := &scriptedSQS{SQSAPI: f.sqs}
	noWait := func(_, _ time.Duration, _ int) time.Duration { return 0 }
	sender, err := queue.NewSender(scripted, f.queueURL, queue.WithBackoff(noWait, 0, 0))
	require.NoError(t, err)
	led := ledger.New(f.ddb, f.table, ledger.WithClock(f.clock.Now))
	f.handler = f.newHandler(Config{Params: f.cache, Queue: sender, Ledger: led})
	body := sampleBody(t, "fhir-bundle") // three patients

	// Transient: entry m1 fails on the first call only.
	scripted.setFail(func(call int, id string) bool { return call == 1 && id == "m1" })
	resp := f.post("ehr-fhir", body, nil, samples.WithEventID("msg_partial_1"))
	require.Equal(t, http.StatusAccepted, resp.StatusCode, lastErrorCode(f))
	assert.EqualValues(t, 2, scripted.calls.Load(), "one retry call")
	assert.Len(t, f.messages(), 3, "each record once: only the failed entry was sent again")

	// Persistent: entry m2 always fails.
	scripted.calls.Store(0)
	scripted.setFail(func(_ int, id string) bool { return id == "m2" })
	resp = f.post("ehr-fhir", body, nil, samples.WithEventID("msg_partial_2"))
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.EqualValues(t, queue.DefaultMaxAttempts, scripted.calls.Load())
	first := f.messages()
	assert.Len(t, first, 2)
	assert.Contains(t, f.logs.String(), `"error_code":"queue_unavailable"`)

	// The sender retries within the claim: still in progress.
	resp = f.post("ehr-fhir", body, nil, samples.WithEventID("msg_partial_2"))
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "60", resp.Headers["Retry-After"])

	// After the claim expires and SQS recovers, the retry completes it.
	scripted.setFail(nil)
	f.clock.Advance(2 * time.Minute)
	resp = f.post("ehr-fhir", body, nil, samples.WithEventID("msg_partial_2"))
	require.Equal(t, http.StatusAccepted, resp.StatusCode, lastErrorCode(f))
	again := f.messages()
	assert.Len(t, again, 3, "all records queued again; dispatch deduplicates the two already queued")
	resp = f.post("ehr-fhir", body, nil, samples.WithEventID("msg_partial_2"))
	assert.True(t, decodeAnswer(t, resp.Body).Duplicate)
}

// TestUnavailable produces every 503 with a real broken dependency.
func TestUnavailable(t *testing.T) {
	t.Run("queue deleted", func(t *testing.T) {
		f := newFixture(t)
		_, err := f.sqs.DeleteQueue(f.ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(f.queueURL)})
		require.NoError(t, err)
		resp := f.invoke(loadEvent(t, "fhir-patient"))
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
		assert.Contains(t, f.logs.String(), `"error_code":"queue_unavailable"`)
	})
	t.Run("ledger table missing", func(t *testing.T) {
		f := newFixture(t)
		sender, err := queue.NewSender(f.sqs, f.queueURL)
		require.NoError(t, err)
		f.handler = f.newHandler(Config{Params: f.cache, Queue: sender, Ledger: ledger.New(f.ddb, f.table+"-missing")})
		resp := f.invoke(loadEvent(t, "fhir-patient"))
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
		assert.Contains(t, f.logs.String(), `"error_code":"ledger_unavailable"`)
		assert.Empty(t, f.messages())
	})
	t.Run("ssm down", func(t *testing.T) {
		f := newFixture(t)
		down := awstest.Connect(t, nettest.RefusedURL, config.WithRetryMaxAttempts(1))
		cache, err := params.New(down.SSM(), f.prefix, params.WithNames(ParamClinicID, ParamPseudonymKey),
			params.WithPath(ParamSources), params.WithLogger(slog.New(slog.NewJSONHandler(f.logs, nil))))
		require.NoError(t, err)
		sender, err := queue.NewSender(f.sqs, f.queueURL)
		require.NoError(t, err)
		f.handler = f.newHandler(Config{Params: cache, Queue: sender, Ledger: f.ledger})
		resp := f.invoke(loadEvent(t, "fhir-patient"))
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
		assert.Contains(t, f.logs.String(), `"error_code":"params_unavailable"`)
	})
	t.Run("event in progress", func(t *testing.T) {
		f := newFixture(t)
		ev := loadEvent(t, "fhir-patient")
		id := queue.EventID("ehr-fhir", ev.Headers["webhook-id"], []byte(ev.Body))
		state, err := f.ledger.BeginEvent(f.ctx, id, 1) // another invocation is queuing it
		require.NoError(t, err)
		require.Equal(t, ledger.EventNew, state)
		resp := f.invoke(ev)
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
		assert.Equal(t, "60", resp.Headers["Retry-After"])
		assert.Empty(t, f.messages())
	})
	t.Run("invalid source definition", func(t *testing.T) {
		f := newFixture(t)
		f.putParam(ParamSources+"/broken", `{"format":"fhir-r4","auth":{"scheme":"hmac-sha256","secrets":["a-long-enough-secret-0000"]}}`)
		ev := f.request("broken", []byte(`{}`), map[string]string{"x-signature": "00"})
		resp := f.call(ev)
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
		logs := f.logs.String()
		assert.Contains(t, logs, `"error_code":"invalid_source"`)
		assert.Contains(t, logs, `auth.header`, "the log names the faulty field")
		assert.NotContains(t, logs, "a-long-enough-secret-0000")
		// Other sources are unaffected.
		assert.Equal(t, http.StatusAccepted, f.invoke(loadEvent(t, "fhir-patient")).StatusCode)
	})
	t.Run("source definition not JSON", func(t *testing.T) {
		f := newFixture(t)
		f.putParam(ParamSources+"/garbled", `whsec_c2VjcmV0LXRoYXQtbXVzdC1ub3QtbGVhaw==`)
		resp := f.call(f.request("garbled", []byte(`{}`), nil))
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
		assert.NotContains(t, f.logs.String(), "c2VjcmV0LXRoYXQtbXVzdC1ub3QtbGVhaw")
	})
	t.Run("pseudonym key missing", func(t *testing.T) {
		f := newFixture(t, withoutParam(ParamPseudonymKey))
		resp := f.invoke(loadEvent(t, "fhir-patient"))
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
		assert.Contains(t, f.logs.String(), `"error_code":"config_error"`)
		assert.Empty(t, f.messages())
	})
	t.Run("pseudonym key not base64", func(t *testing.T) {
		f := newFixture(t)
		f.putParam(ParamPseudonymKey, "not base64, and not to be logged")
		resp := f.invoke(loadEvent(t, "fhir-patient"))
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
		assert.Contains(t, f.logs.String(), `"error_code":"config_error"`)
		assert.NotContains(t, f.logs.String(), "not to be logged")
		assert.Empty(t, f.messages())
	})
	t.Run("clinic id missing", func(t *testing.T) {
		f := newFixture(t, withoutParam(ParamClinicID))
		resp := f.invoke(loadEvent(t, "fhir-patient"))
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
		assert.Contains(t, f.logs.String(), `"error_code":"config_error"`)
	})
	t.Run("clinic id not a UUID", func(t *testing.T) {
		f := newFixture(t)
		f.putParam(ParamClinicID, "clinic-one")
		resp := f.invoke(loadEvent(t, "fhir-patient"))
		assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
		assert.Contains(t, f.logs.String(), `"error_code":"config_error"`)
	})
}

// TestParameterCache: sources come from the shared parameter cache, one
// SSM round per TTL, not per request; a rotated secret is used once the
// TTL has passed.
func TestParameterCache(t *testing.T) {
	f := newFixture(t)
	body := sampleBody(t, "form-patient")
	for i := range 5 {
		resp := f.post("intake-form", body, nil, samples.WithEventID(fmt.Sprint(i)))
		require.Equal(t, http.StatusAccepted, resp.StatusCode)
	}
	// One round: one GetParameters, and GetParametersByPath pages of ten
	// source definitions.
	perRound := int64(1 + (len(f.sources)+9)/10)
	assert.EqualValues(t, perRound, f.ssmCalls.calls.Load(), "one SSM round for five requests")

	// Rotate: the source now holds only a new secret.
	const newSecret = "local-test-secret.intake-form.v2"
	src := f.source("intake-form")
	def := src.Definition
	def.Auth.Secrets = []string{newSecret}
	f.putParam(ParamSources+"/intake-form", string(mustJSON(t, def)))
	other := mustJSON(t, map[string]any{"type": "patient", "fields": map[string]any{
		"given_name": "Rota", "surname": "Tion", "dob": "1990-01-01", "email_address": "r@example.org"}})

	f.clock.Advance(testParamTTL / 2)
	assert.Equal(t, http.StatusUnauthorized, f.post("intake-form", other, nil, samples.WithSecret(newSecret)).StatusCode,
		"within the TTL the cached definition stands")
	f.clock.Advance(testParamTTL)
	assert.Equal(t, http.StatusAccepted, f.post("intake-form", other, nil, samples.WithSecret(newSecret)).StatusCode,
		"after the TTL the new secret verifies")
	assert.Equal(t, http.StatusUnauthorized, f.post("intake-form", body, nil).StatusCode, "the removed secret no longer does")
	assert.EqualValues(t, 2*perRound, f.ssmCalls.calls.Load(), "a second round after the TTL, no more")
}

// TestNoValuesInAnswersOrLogs sends records with distinctive values through
// every outcome and checks that none of them reached an answer, a log line
// or a metric.
func TestNoValuesInAnswersOrLogs(t *testing.T) {
	f := newFixture(t)
	const marker = "Zyxwquartz"
	p := fhirPatient(marker)
	p["birthDate"] = "19-" + marker
	var answers strings.Builder
	for _, body := range [][]byte{mustJSON(t, fhirPatient(marker)), mustJSON(t, p), []byte(`{"` + marker + `":`)} {
		answers.WriteString(f.post("ehr-subscription", body, nil).Body)
	}
	all := answers.String() + f.logs.String() + f.metrics.String()
	assert.NotContains(t, strings.ToLower(all), strings.ToLower(marker))
}

func TestNew(t *testing.T) {
	ok := Config{Params: fakeParams{}, Queue: &fakeQueue{}, DeadLetters: &fakeQueue{}, Ledger: &fakeLedger{}}
	_, err := New(ok)
	require.NoError(t, err)
	tests := []struct {
		name string
		edit func(*Config)
	}{
		{"no params", func(c *Config) { c.Params = nil }},
		{"no queue", func(c *Config) { c.Queue = nil }},
		{"no ledger", func(c *Config) { c.Ledger = nil }},
		{"plain http to a remote host", func(c *Config) { c.TargetURL = "http://novamed.example.com" }},
		{"not a URL", func(c *Config) { c.TargetURL = "::" }},
	}
	for _, tt := range tests {
		c := ok
		tt.edit(&c)
		_, err := New(c)
		assert.Error(t, err, tt.name)
	}
}

// TestSetup runs main's wiring against kumo through AWS_ENDPOINT_URL, as
// the local stack does, and posts a sample through it.
func TestSetup(t *testing.T) {
	f := newFixture(t)
	srvURL := aws.ToString(f.awsCfg.BaseEndpoint)
	// awsclients.NewDynamoDB picks the emulator's client by the process's
	// AWS_ENDPOINT_URL.
	t.Setenv("AWS_ENDPOINT_URL", srvURL)
	env := map[string]string{
		"STAGE": "dev", "PARAM_PREFIX": f.prefix, "QUEUE_URL": f.queueURL, "DLQ_URL": f.dlqURL, "LEDGER_TABLE": f.table,
		"AWS_ENDPOINT_URL": srvURL, "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
	}
	h, err := setup(f.ctx, func(k string) string { return env[k] }, slog.New(slog.NewJSONHandler(f.logs, nil)), f.metrics)
	require.NoError(t, err)
	h.now = f.clock.Now
	ev := loadEvent(t, "form-patient")
	f.clock.Set(samples.EventTime(ev))
	resp, err := h.Handle(f.ctx, ev)
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, lastErrorCode(f))
	assert.Len(t, f.messages(), 1)

	for _, missing := range []string{"PARAM_PREFIX", "QUEUE_URL", "LEDGER_TABLE", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		e := map[string]string{}
		for k, v := range env {
			if k != missing {
				e[k] = v
			}
		}
		_, err := setup(f.ctx, func(k string) string { return e[k] }, slog.Default(), io.Discard)
		assert.ErrorContains(t, err, missing)
	}
	env["NOVAMED_BASE_URL"] = "http://novamed.example.com"
	_, err = setup(f.ctx, func(k string) string { return env[k] }, slog.Default(), io.Discard)
	assert.Error(t, err, "plain http to a remote NovaMed is refused at start-up")
}

// TestRealExamples posts every real, third-party example (HL7's R4
// examples, the Subscriptions backport IG's notifications; see
// pkg/inbound/testdata/real/PROVENANCE.md) as a signed webhook and checks
// the answer against the reviewed mapping of each file
// (pkg/inbound/testdata/real-golden): a status notification is answered
// 200, everything else 202 (none is refused), with the records, held
// reasons and dropped paths the mapping says, and nothing held is queued.
func TestRealExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "pkg", "inbound", "testdata", "real", "*", "*.json"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 30)
	f := newFixture(t)
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(file)
			require.NoError(t, err)
			goldenData, err := os.ReadFile(filepath.Join("..", "..", "pkg", "inbound", "testdata", "real-golden", name+".golden.json"))
			require.NoError(t, err)
			var golden struct {
				Notification string `json:"notification"`
				Records      []struct {
					Hold *struct {
						Reason string
					} `json:"hold"`
					Dropped []string `json:"dropped"`
				} `json:"records"`
			}
			require.NoError(t, json.Unmarshal(goldenData, &golden))

			resp := f.post("ehr-subscription", body, map[string]string{"content-type": "application/fhir+json"})
			if golden.Notification == "handshake" || golden.Notification == "heartbeat" {
				assert.Equal(t, http.StatusOK, resp.StatusCode, lastErrorCode(f))
				return
			}
			require.Equal(t, http.StatusAccepted, resp.StatusCode, lastErrorCode(f))
			var a struct {
				Records int `json:"records"`
				Held    []struct {
					Index  int    `json:"index"`
					Reason string `json:"reason"`
				} `json:"held"`
				Dropped []string `json:"dropped"`
			}
			require.NoError(t, json.Unmarshal([]byte(resp.Body), &a))
			assert.Equal(t, len(golden.Records), a.Records)
			var wantHeld, gotHeld []string
			var wantDropped []string
			for i, r := range golden.Records {
				if r.Hold != nil {
					wantHeld = append(wantHeld, fmt.Sprintf("%d:%s", i, r.Hold.Reason))
				}
				wantDropped = append(wantDropped, r.Dropped...)
			}
			for _, h := range a.Held {
				gotHeld = append(gotHeld, fmt.Sprintf("%d:%s", h.Index, h.Reason))
			}
			assert.Equal(t, wantHeld, gotHeld)
			assert.Equal(t, capPaths(wantDropped), a.Dropped)
			assert.Len(t, f.messages(), len(golden.Records)-len(wantHeld))
			assert.Len(t, f.deadLetters(), len(wantHeld))
		})
	}
}

// TestSubjects: every queued record carries the key of the person it
// describes: the same Patient id from one source is one subject however it
// arrives (a resource, a PUT in a transaction), another source's Patient of
// the same id is another person, and a practitioner is their NPI across
// sources. The key and the digests are keyed hashes: no value is in them.
func TestSubjects(t *testing.T) {
	f := newFixture(t)
	withID := func(family, id string) map[string]any {
		p := fhirPatient(family)
		p["id"] = id
		return p
	}
	subjectOf := func(sourceName string, body any) queue.Message {
		t.Helper()
		resp := f.post(sourceName, mustJSON(t, body), nil)
		require.Equal(t, http.StatusAccepted, resp.StatusCode, lastErrorCode(f))
		msgs := f.messages()
		require.Len(t, msgs, 1)
		return msgs[0].msg
	}
	direct := subjectOf("ehr-subscription", withID("Subjectson", "pat-77"))
	put := subjectOf("ehr-subscription", map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": []any{
		map[string]any{"resource": withID("Subjectson", "pat-77"), "request": map[string]any{"method": "PUT", "url": "Patient/pat-77"}},
	}})
	changed := withID("Subjectson", "pat-77")
	changed["telecom"] = []any{map[string]any{"system": "email", "value": "moved.on@example.org"}}
	update := subjectOf("ehr-subscription", changed)
	other := subjectOf("ehr-fhir", withID("Subjectson", "pat-77"))

	require.True(t, queue.ValidSubject(direct.Subject))
	assert.Equal(t, direct.Subject, put.Subject, "a PUT of the same Patient is the same person")
	assert.Equal(t, direct.Subject, update.Subject)
	assert.NotEqual(t, direct.Subject, other.Subject, "ids are scoped to the source")
	assert.Equal(t, direct.Digests, put.Digests)
	assert.NotEqual(t, direct.Digests["email"], update.Digests["email"])
	assert.Equal(t, direct.Digests["last_name"], update.Digests["last_name"], "digests come from the record before de-identification")
	require.NotEmpty(t, direct.Digests)
	for field, d := range direct.Digests {
		assert.Regexp(t, `^[0-9a-f]{16}$`, d, "%s: a keyed digest, never the value", field)
	}

	doctor := func(id string) map[string]any {
		return map[string]any{"resourceType": "Practitioner", "id": id,
			"name":       []any{map[string]any{"family": "Hopper", "given": []any{"Grace"}}},
			"telecom":    []any{map[string]any{"system": "email", "value": "g.hopper@example.org"}},
			"identifier": []any{map[string]any{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1245319599"}}}
	}
	a := subjectOf("ehr-subscription", doctor("d-1"))
	b := subjectOf("ehr-fhir", doctor("another-id"))
	assert.Equal(t, a.Subject, b.Subject, "a practitioner is their NPI, across sources")

	noID := subjectOf("ehr-subscription", fhirPatient("Nobody"))
	assert.Empty(t, noID.Subject, "a resource without an id is its own person")
	assert.Empty(t, noID.Digests)
}
