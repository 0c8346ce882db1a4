//go:build !nokumo

package main

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/pkg/novamed"
	"github.com/novamed/bridge/pkg/queue"
	"github.com/novamed/bridge/pkg/samples"
	"github.com/novamed/bridge/pkg/webhookauth"
)

// The form tools against kumo: Tally, Formstack (HMAC and handshake),
// Jotform (URL token, multipart) and Typeform without refs.

// sampleHeaders returns a sample template's own headers (its content type).
func sampleHeaders(t testing.TB, name string) map[string]string {
	t.Helper()
	ts, err := samples.Templates()
	require.NoError(t, err)
	for _, tmpl := range ts {
		if tmpl.Name == name {
			return tmpl.Headers
		}
	}
	t.Fatalf("no template %s", name)
	return nil
}

// withQuery sets the event's query string, as API Gateway passes it.
func withQuery(ev events.APIGatewayV2HTTPRequest, q string) events.APIGatewayV2HTTPRequest {
	ev.RawQueryString = q
	return ev
}

// lastLog decodes the handler's last log line.
func lastLog(t *testing.T, f *fixture) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(f.logs.String()), "\n")
	var l map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &l))
	return l
}

func TestFormToolsSignatures(t *testing.T) {
	for _, tt := range []struct{ source, sample string }{
		{"tally-intake", "tally-patient"},         // Tally-Signature, base64
		{"formstack-intake", "formstack-patient"}, // X-FS-Signature: sha256=<hex>, URL-encoded body
		{"typeform-legacy", "typeform-noref-patient"},
	} {
		t.Run(tt.source, func(t *testing.T) {
			f := newFixture(t)
			body, hdr := sampleBody(t, tt.sample), sampleHeaders(t, tt.sample)
			secrets := f.source(tt.source).Definition.Auth.Secrets

			resp := f.post(tt.source, body, hdr, samples.WithSecret("not-the-right-secret-at-all-0000"))
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
			assert.Equal(t, `{"error":"unauthorized"}`, resp.Body)

			unsigned := map[string]string{"tally-signature": "", "x-fs-signature": "", "typeform-signature": ""}
			for k, v := range hdr {
				unsigned[k] = v
			}
			resp = f.post(tt.source, body, unsigned)
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
			assert.Empty(t, f.messages())

			// The last secret (the one rotated in or out) still verifies.
			resp = f.post(tt.source, body, hdr, samples.WithSecret(secrets[len(secrets)-1]))
			require.Equal(t, http.StatusAccepted, resp.StatusCode, lastErrorCode(f))
			assert.Len(t, f.messages(), 1)
		})
	}
}

func TestFormstackHandshake(t *testing.T) {
	const src = "formstack-handshake"
	secret := func(f *fixture) string { return f.source(src).Definition.Auth.Secrets[0] }
	body := func(key string) []byte {
		return []byte(`{"FormID":"1","UniqueID":"77","HandshakeKey":"` + key + `","first_name":"Ada","last_name":"Byron",` +
			`"email":"ada.byron@example.org","npi":"1234567893"}`)
	}
	t.Run("the shared secret in the body is accepted, and never mapped", func(t *testing.T) {
		f := newFixture(t)
		resp := f.post(src, body(secret(f)), nil)
		require.Equal(t, http.StatusAccepted, resp.StatusCode, lastErrorCode(f))
		msgs := f.messages()
		require.Len(t, msgs, 1)
		assert.NotContains(t, string(msgs[0].msg.Record), secret(f))
		assert.NotContains(t, f.logs.String(), secret(f))
	})
	for name, b := range map[string][]byte{
		"wrong key":         body("not-this-sources-handshake-0000"),
		"no key":            []byte(`{"UniqueID":"77","first_name":"Ada"}`),
		"key in the header": []byte(`{"UniqueID":"77","first_name":"Ada"}`),
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			resp := f.post(src, b, map[string]string{"authorization": "Bearer " + secret(f), "x-fs-signature": secret(f)})
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
			assert.Empty(t, f.messages())
		})
	}
	t.Run("url-encoded", func(t *testing.T) {
		f := newFixture(t)
		b := "UniqueID=78&HandshakeKey=" + secret(f) + "&first_name=Ada&last_name=Byron&email=ada.byron%40example.org&npi=1234567893"
		resp := f.post(src, []byte(b), map[string]string{"content-type": "application/x-www-form-urlencoded"})
		require.Equal(t, http.StatusAccepted, resp.StatusCode, lastErrorCode(f))
		assert.Equal(t, queue.EventID(src, "", []byte(b)), decodeAnswer(t, resp.Body).ID, "the body, not UniqueID, decides the event id")
	})
}

func TestJotformURLToken(t *testing.T) {
	const src = "jotform-intake"
	body, hdr := sampleBody(t, "jotform-patient"), sampleHeaders(t, "jotform-patient")
	tokens := func(f *fixture) []string { return f.source(src).Definition.Auth.Secrets }
	t.Run("every configured token (rotation)", func(t *testing.T) {
		f := newFixture(t)
		for i, tok := range tokens(f) {
			resp := f.call(withQuery(f.request(src, body, hdr), webhookauth.URLTokenQuery(tok)))
			require.Equal(t, http.StatusAccepted, resp.StatusCode, "token %d: %s", i, lastErrorCode(f))
		}
		assert.Len(t, f.messages(), 1, "the second post is the same submission: a duplicate")
	})
	const wrongToken = "wrongTokenWrongTokenWrongToken0123456789"
	for name, q := range map[string]string{
		"wrong token":    webhookauth.URLTokenQuery(wrongToken),
		"no token":       "",
		"token repeated": "token=" + wrongToken + "&token=" + wrongToken,
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			resp := f.call(withQuery(f.request(src, body, hdr), q))
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
			assert.Equal(t, `{"error":"unauthorized"}`, resp.Body)
			assert.Empty(t, f.messages())
			if q != "" {
				assert.NotContains(t, f.logs.String(), wrongToken, "a token never reaches the log")
			}
		})
	}
	t.Run("base64-encoded, as API Gateway passes multipart bodies", func(t *testing.T) {
		f := newFixture(t)
		ev := withQuery(f.request(src, body, hdr), webhookauth.URLTokenQuery(tokens(f)[0]))
		ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		resp := f.call(ev)
		require.Equal(t, http.StatusAccepted, resp.StatusCode, lastErrorCode(f))
		assert.Len(t, f.messages(), 1)
	})
	t.Run("the token in a header is not the URL token", func(t *testing.T) {
		f := newFixture(t)
		h := map[string]string{"authorization": "Bearer " + tokens(f)[0], "x-token": tokens(f)[0]}
		for k, v := range hdr {
			h[k] = v
		}
		resp := f.call(f.request(src, body, h))
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	})
	t.Run("multipart only, with a boundary", func(t *testing.T) {
		f := newFixture(t)
		q := webhookauth.URLTokenQuery(tokens(f)[0])
		for _, ct := range []string{"application/json", "multipart/form-data", "application/x-www-form-urlencoded", ""} {
			resp := f.call(withQuery(f.request(src, body, map[string]string{"content-type": ct}), q))
			assert.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode, "content type %q", ct)
		}
		assert.Empty(t, f.messages())
	})
	t.Run("the event id is the submissionID; no query or token in the log", func(t *testing.T) {
		f := newFixture(t)
		tok := tokens(f)[0]
		resp := f.call(withQuery(f.request(src, body, hdr), webhookauth.URLTokenQuery(tok)))
		require.Equal(t, http.StatusAccepted, resp.StatusCode, lastErrorCode(f))
		assert.Equal(t, queue.EventID(src, "", body), decodeAnswer(t, resp.Body).ID)
		l := lastLog(t, f)
		assert.EqualValues(t, 2, l["skipped"], "q9_reason and q7_address.country map to nothing")
		assert.NotContains(t, f.logs.String(), tok)
		assert.NotContains(t, f.logs.String(), "token=")
	})
}

// Multipart is Jotform's alone: another form tool's source answers 415.
func TestMultipartOnlyForJotform(t *testing.T) {
	f := newFixture(t)
	body, hdr := sampleBody(t, "jotform-patient"), sampleHeaders(t, "jotform-patient")
	for _, src := range []string{"tally-intake", "formstack-intake", "typeform-intake", "intake-form", "ehr-fhir"} {
		resp := f.post(src, body, hdr) // signed: the content type, not the signature, refuses it
		assert.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode, src)
	}
	// URL-encoded is Formstack's alone.
	resp := f.post("tally-intake", []byte("a=b"), map[string]string{"content-type": "application/x-www-form-urlencoded"})
	assert.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode)
	assert.Empty(t, f.messages())
}

// The samples of the form tools: the event id (the body's hash; the tool's
// own id is only information) and the answers mapped to nothing, as intake
// logs them.
func TestFormToolsEventIDs(t *testing.T) {
	for _, tt := range []struct {
		sample, senderID string
		skipped          float64
		mapped           string // a value of an answer the source maps
		unmapped         string // a value of an answer mapped to nothing
	}{
		{"tally-patient", "5f9a2c1e-8b3d-4e6f-a7c2-1d0e9f8a7b6c", 2, "Penhallow", "migraines"},        // the free text, the symptoms
		{"formstack-patient", "1144790377", 1, "Abernathy-Voss", "knee surgery"},                      // Reason for visit
		{"formstack-handshake-practitioner", "1144790412", 1, "Oyelaran", "Dermatology"},              // specialty
		{"typeform-noref-patient", "01JC0Q4M7R2S5T8V1W3X6Y9Z0A", 2, "Quayle-Nakamura", "clinic-site"}, // visits, consent (utm_source is not mapped)
		{"jotform-patient", "5938172630041128844", 2, "Marchetti-Onwu", "Persistent cough"},           // q9_reason, the address's country
	} {
		t.Run(tt.sample, func(t *testing.T) {
			// Production: the guard leaves the mapped record as it is, so
			// an unmapped answer that were queued would show.
			f := newFixture(t, withStage("prod", novamed.ProductionURL))
			ev := loadEvent(t, tt.sample)
			resp := f.invoke(ev)
			require.Equal(t, http.StatusAccepted, resp.StatusCode, lastErrorCode(f))
			// The tool's own id (eventId, UniqueID, submissionID) is in
			// the body but never stands for it: the body's hash is the id.
			body := []byte(ev.Body)
			if ev.IsBase64Encoded {
				var err error
				body, err = base64.StdEncoding.DecodeString(ev.Body)
				require.NoError(t, err)
			}
			src := ev.PathParameters["source"]
			require.Contains(t, string(body), tt.senderID)
			id := decodeAnswer(t, resp.Body).ID
			assert.Equal(t, queue.EventID(src, "", body), id)
			assert.NotEqual(t, queue.EventID(src, tt.senderID, body), id)
			assert.Equal(t, tt.skipped, lastLog(t, f)["skipped"])
			msgs := f.messages()
			require.Len(t, msgs, 1)
			record := strings.ToLower(string(msgs[0].msg.Record))
			require.Contains(t, record, strings.ToLower(tt.mapped), "the mapped answers are queued as sent")
			assert.NotContains(t, record, strings.ToLower(tt.unmapped))
		})
	}
}

// A practitioner's public identity passes the dev guard, so the Formstack
// handshake sample shows its mapping end to end: dotted compound parts
// (license.number, license.state), the state's case normalised.
func TestFormstackPractitionerMapping(t *testing.T) {
	f := newFixture(t)
	resp := f.invoke(loadEvent(t, "formstack-handshake-practitioner"))
	require.Equal(t, http.StatusAccepted, resp.StatusCode, lastErrorCode(f))
	msgs := f.messages()
	require.Len(t, msgs, 1)
	rec := decodeRecord(t, msgs[0].msg)
	require.NotNil(t, rec.Practitioner)
	assert.Equal(t, "Hildegard", rec.Practitioner.FirstName)
	assert.Equal(t, "Oyelaran", rec.Practitioner.LastName)
	assert.Equal(t, "1457389025", rec.Practitioner.NPINumber)
	assert.NotContains(t, string(msgs[0].msg.Record), "Dermatology", "an unmapped answer is not queued")
}
