package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/pkg/novamed"
	"github.com/novamed/bridge/pkg/queue"
	"github.com/novamed/bridge/pkg/samples"
)

// fuzzSources are the local sources the fuzz target posts to, by the
// selector byte.
var fuzzSources = []string{"ehr-fhir", "ehr-subscription", "intake-form", "formstack", "typeform-intake"}

// fuzzNow is the handler's clock in FuzzHandler and TestHandlerSeedsKumo:
// signatures are made and checked at this time.
var fuzzNow = time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)

// handlerInput is one input of FuzzHandler: the source (by selector),
// whether to sign the body validly, raw "name: value" header lines and the
// body.
type handlerInput struct {
	which   uint8
	sign    bool
	headers string
	body    []byte
}

// handlerSeeds are the seeds FuzzHandler adds: every sample template, as
// its sender would post it, and a few hostile requests. The files in
// testdata/fuzz/FuzzHandler are seeds too (go test reads them; see
// corpusSeeds).
func handlerSeeds(t testing.TB) []handlerInput {
	t.Helper()
	tmpls, err := samples.Templates()
	require.NoError(t, err)
	var seeds []handlerInput
	for i, tm := range tmpls {
		body, err := tm.RawBody()
		require.NoError(t, err)
		var hdr strings.Builder
		for k, v := range tm.Headers {
			hdr.WriteString(k + ": " + v + "\n")
		}
		seeds = append(seeds, handlerInput{uint8(i), tm.Signature == samples.SignatureValid, hdr.String(), body})
	}
	return append(seeds,
		handlerInput{0, false, "webhook-id: x\nwebhook-timestamp: 1768471200\nwebhook-signature: v1,AAAA\n", []byte(`{}`)},
		handlerInput{1, false, "authorization: Bearer \x00\n", []byte(`{"resourceType":"Patient"}`)},
		handlerInput{2, true, "content-type: application/json; charset=\"\n", []byte(`{"type":"patient","fields":{"given_name":1}}`)},
	)
}

// request builds the POST to the input's source, signed at now when
// in.sign is set (the signature headers replace the input's own).
func (in handlerInput) request(t testing.TB, srcs []samples.Source, now time.Time) events.APIGatewayV2HTTPRequest {
	name := fuzzSources[int(in.which)%len(fuzzSources)]
	headers := parseHeaders(in.headers)
	if in.sign {
		src, _ := samples.Find(srcs, name)
		signed, err := samples.Sign(src, in.body, now)
		require.NoError(t, err)
		for k, v := range signed {
			headers[k] = v
		}
	}
	return events.APIGatewayV2HTTPRequest{
		RawPath:        "/webhooks/" + name,
		Headers:        headers,
		PathParameters: map[string]string{"source": name},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST"},
		},
		Body: string(in.body),
	}
}

// checkAnswer is what the handler owes any request while its dependencies
// work: no error, no 5xx (a 5xx would blame the bridge for bad input), an
// answer that is JSON, and no 401 for a validly signed request.
func (in handlerInput) checkAnswer(t testing.TB, resp events.APIGatewayV2HTTPResponse, err error) {
	t.Helper()
	require.NoError(t, err)
	require.Less(t, resp.StatusCode, 500, "a 5xx for bad input: %s", resp.Body)
	require.True(t, json.Valid([]byte(resp.Body)), "answer is JSON")
	if in.sign && resp.StatusCode == http.StatusUnauthorized {
		t.Fatal("a validly signed request was refused")
	}
}

// FuzzHandler posts arbitrary headers and bodies to the handler. When sign
// is set the request is signed validly for the chosen source, so the
// parsers and the guard see the body too. Whatever the input: no panic and
// checkAnswer's rules; every queued message encodes (fakeQueue encodes as
// the real sender does) and is what dispatch can take (deliverable).
//
// The parameters, ledger and queue are the in-memory fakes of
// fakes_test.go: through kumo an execution costs SQS, DynamoDB and SSM
// round trips, which measure the network, not the handler.
// TestHandlerSeedsKumo runs the same seeds through kumo.
func FuzzHandler(f *testing.F) {
	for _, s := range handlerSeeds(f) {
		f.Add(s.which, s.sign, s.headers, s.body)
	}
	srcs := loadSources(f)
	q := &fakeQueue{discard: true, check: deliverable}
	h, err := New(Config{
		Params: localParams(f), Queue: q, DeadLetters: q, Ledger: &fakeLedger{alwaysNew: true},
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), Now: func() time.Time { return fuzzNow },
	})
	require.NoError(f, err)

	f.Fuzz(func(t *testing.T, which uint8, sign bool, rawHeaders string, body []byte) {
		in := handlerInput{which, sign, rawHeaders, body}
		resp, err := h.Handle(context.Background(), in.request(t, srcs, fuzzNow))
		in.checkAnswer(t, resp, err)
		if q.bad.Load() != 0 {
			t.Fatal("queued a record that is not de-identified, or not a valid NovaMed record")
		}
	})
}

// deliverable: outside production every record is de-identified, and a
// record that is not held (a dead letter from the start) decodes strictly
// and passes NovaMed's validation. A reference carries no record.
func deliverable(m queue.Message) bool {
	if len(m.Record) == 0 {
		return true
	}
	if !m.Deidentified {
		return false
	}
	if m.DeadLetter != nil {
		return true
	}
	rec, dec, err := novamed.DecodeRecord(m.Kind, m.Record)
	return err == nil && dec.Dropped == 0 && rec.Validate() == nil
}

// parseHeaders reads "name: value" lines; what does not parse is skipped.
func parseHeaders(raw string) map[string]string {
	h := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(raw))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok {
			h[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
		}
	}
	return h
}

// TestFuzzQueuedMessagesValid runs the seed corpus through a handler whose
// queue keeps what it gets, and checks each message as dispatch would.
func TestFuzzQueuedMessagesValid(t *testing.T) {
	q := &fakeQueue{}
	now := time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)
	h, err := New(Config{
		Params: localParams(t), Queue: q, DeadLetters: q, Ledger: &fakeLedger{},
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), Now: func() time.Time { return now },
	})
	require.NoError(t, err)
	for _, name := range []string{"fhir-bundle", "form-patient", "typeform-patient", "fhir-practitioner"} {
		ev := loadEvent(t, name)
		now = samples.EventTime(ev)
		resp, err := h.Handle(context.Background(), ev)
		require.NoError(t, err)
		require.Equal(t, http.StatusAccepted, resp.StatusCode)
	}
	require.Len(t, q.sent, 6)
	for _, m := range q.sent {
		body, err := m.Encode()
		require.NoError(t, err)
		back, err := queue.Decode(body)
		require.NoError(t, err)
		require.True(t, back.Deidentified)
		require.NoError(t, decodeRecord(t, back).Validate())
	}
}
