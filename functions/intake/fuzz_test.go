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

	"github.com/novamed/bridge/pkg/queue"
	"github.com/novamed/bridge/pkg/samples"
)

// fuzzSources are the local sources the fuzz target posts to, by the
// selector byte.
var fuzzSources = []string{"ehr-fhir", "ehr-subscription", "intake-form", "formstack", "typeform-intake"}

// FuzzHandler posts arbitrary headers and bodies to the handler (with
// in-memory parameters, ledger and queue). When sign is set the request is
// signed validly for the chosen source, so the parsers and the guard see the
// body too. Whatever the input: no panic, no 5xx (every dependency works, so
// a 5xx would blame the bridge for bad input), an answer that is JSON, and
// every queued message valid and de-identified.
func FuzzHandler(f *testing.F) {
	tmpls, err := samples.Templates()
	require.NoError(f, err)
	for i, t := range tmpls {
		body, err := t.RawBody()
		require.NoError(f, err)
		var hdr strings.Builder
		for k, v := range t.Headers {
			hdr.WriteString(k + ": " + v + "\n")
		}
		f.Add(uint8(i), t.Signature == samples.SignatureValid, hdr.String(), body)
	}
	f.Add(uint8(0), false, "webhook-id: x\nwebhook-timestamp: 1768471200\nwebhook-signature: v1,AAAA\n", []byte(`{}`))
	f.Add(uint8(1), false, "authorization: Bearer \x00\n", []byte(`{"resourceType":"Patient"}`))
	f.Add(uint8(2), true, "content-type: application/json; charset=\"\n", []byte(`{"type":"patient","fields":{"given_name":1}}`))

	p := localParams(f)
	srcs := loadSources(f)
	now := time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)
	q := &fakeQueue{discard: true}
	h, err := New(Config{
		Params: p, Queue: q, DeadLetters: q, Ledger: &fakeLedger{alwaysNew: true},
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), Now: func() time.Time { return now },
	})
	require.NoError(f, err)

	f.Fuzz(func(t *testing.T, which uint8, sign bool, rawHeaders string, body []byte) {
		name := fuzzSources[int(which)%len(fuzzSources)]
		headers := parseHeaders(rawHeaders)
		if sign {
			src, _ := samples.Find(srcs, name)
			signed, err := samples.Sign(src, body, now)
			require.NoError(t, err)
			for k, v := range signed {
				headers[k] = v
			}
		}
		ev := events.APIGatewayV2HTTPRequest{
			RawPath:        "/webhooks/" + name,
			Headers:        headers,
			PathParameters: map[string]string{"source": name},
			RequestContext: events.APIGatewayV2HTTPRequestContext{
				HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST"},
			},
			Body: string(body),
		}
		resp, err := h.Handle(context.Background(), ev)
		require.NoError(t, err)
		require.Less(t, resp.StatusCode, 500, "a 5xx for bad input: %s", resp.Body)
		require.True(t, json.Valid([]byte(resp.Body)), "answer is JSON")
		if sign && resp.StatusCode == http.StatusUnauthorized {
			t.Fatal("a validly signed request was refused")
		}
	})
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
