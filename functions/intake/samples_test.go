//go:build !nokumo

package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/internal/logtest"
	"github.com/novamed/bridge/pkg/devstack"
	"github.com/novamed/bridge/pkg/queue"
	"github.com/novamed/bridge/pkg/samples"
)

// answer is the union of the answer bodies.
type answer struct {
	ID           string   `json:"id"`
	Records      *int     `json:"records"`
	Duplicate    bool     `json:"duplicate"`
	Notification string   `json:"notification"`
	Error        string   `json:"error"`
	Fields       []string `json:"fields"`
	MaxBytes     int64    `json:"max_bytes"`
}

func decodeAnswer(t testing.TB, body string) answer {
	t.Helper()
	var a answer
	require.NoError(t, json.Unmarshal([]byte(body), &a), "answer is JSON")
	return a
}

// TestSamples replays every committed sample event (events/intake) against
// the handler on kumo, with the clock at the event's time, and checks the
// answer and exactly what reached the queue.
func TestSamples(t *testing.T) {
	templates, err := samples.Templates()
	require.NoError(t, err)
	for _, tmpl := range templates {
		t.Run(tmpl.Name, func(t *testing.T) {
			f := newFixture(t)
			ev := loadEvent(t, tmpl.Name)
			resp := f.invoke(ev)
			want := tmpl.Expect
			require.Equal(t, want.Status, resp.StatusCode, "status (error code in log: %s)", lastErrorCode(f))
			a := decodeAnswer(t, resp.Body)
			msgs := f.messages()

			switch {
			case want.Status == http.StatusAccepted:
				require.NotNil(t, a.Records)
				assert.Equal(t, want.Records, *a.Records)
				assert.False(t, a.Duplicate)
				require.Len(t, msgs, want.Delivered())
				held := f.deadLetters()
				require.Len(t, held, len(want.Held))
				for i, h := range held {
					dl, err := queue.ParseDLQAttributes(h.attrs)
					require.NoError(t, err)
					assert.Equal(t, queue.ClassHeld, dl.ErrorClass)
					assert.Equal(t, want.Held[i], dl.ErrorCode)
					assert.True(t, h.msg.Deidentified, "held records are de-identified outside production")
				}
				assertNoSampleValues(t, tmpl, held)
				for i, m := range msgs {
					if len(want.Held) == 0 {
						assert.Equal(t, queue.RecordID(a.ID, i), m.msg.ID)
					}
					assert.Equal(t, tmpl.Source, m.msg.Source)
					assert.Equal(t, want.Kinds[i], string(m.msg.Kind))
					assert.Equal(t, queue.StageDev, m.msg.Stage)
					assert.Equal(t, samples.EventTime(ev), m.msg.ReceivedAt)
					assertAttributes(t, m)
					if m.msg.Kind == queue.KindReference {
						// An id-only notification: a reference for dispatch
						// to fetch, no record and nothing to de-identify.
						assert.True(t, queue.ValidReference(m.msg.Reference))
						assert.Empty(t, m.msg.Record)
						continue
					}
					assert.True(t, m.msg.Deidentified, "dev queues hold de-identified records only")
					rec := decodeRecord(t, m.msg)
					require.NoError(t, rec.Validate(), "queued record is a valid NovaMed request")
				}
				assertNoSampleValues(t, tmpl, msgs)
			case want.Status == http.StatusOK:
				assert.NotEmpty(t, a.Notification)
				assert.Empty(t, msgs, "a status notification queues nothing")
			default:
				assert.NotEmpty(t, a.Error)
				assert.Empty(t, msgs, "a refused webhook queues nothing")
				if want.Status == http.StatusBadRequest {
					assert.NotNil(t, a.Fields, "a 400 lists fields, possibly none")
				}
				if want.Fields != nil {
					assert.Equal(t, want.Fields, a.Fields)
				}
				if want.Status == http.StatusUnauthorized {
					assert.Equal(t, `{"error":"unauthorized"}`, resp.Body, "no detail beyond unauthorized")
				}
				if want.Status == http.StatusMethodNotAllowed {
					assert.Equal(t, "POST", resp.Headers["Allow"])
				}
			}
			assertNoBodyInLogs(t, f, tmpl, ev.Body)
		})
	}
}

// TestSamplesDuplicate replays each accepted sample a second time: the same
// event is answered as a duplicate and nothing more is queued (a Standard
// Webhooks replay of the same webhook-id included).
func TestSamplesDuplicate(t *testing.T) {
	templates, err := samples.Templates()
	require.NoError(t, err)
	for _, tmpl := range templates {
		if tmpl.Expect.Status != http.StatusAccepted {
			continue
		}
		t.Run(tmpl.Name, func(t *testing.T) {
			f := newFixture(t)
			ev := loadEvent(t, tmpl.Name)
			first := f.invoke(ev)
			require.Equal(t, http.StatusAccepted, first.StatusCode)
			second := f.invoke(ev)
			require.Equal(t, http.StatusAccepted, second.StatusCode)
			a1, a2 := decodeAnswer(t, first.Body), decodeAnswer(t, second.Body)
			assert.Equal(t, a1.ID, a2.ID)
			assert.True(t, a2.Duplicate)
			assert.Len(t, f.messages(), tmpl.Expect.Delivered())
			assert.Len(t, f.deadLetters(), len(tmpl.Expect.Held), "a held record is dead-lettered once")
			assert.Contains(t, f.metrics.String(), `"Duplicates":1`)
		})
	}
}

// TestSampleEventsInSync checks that every committed event is what the
// templates and local sources produce at the event's own time, so `make
// sign-events` changes only times and signatures.
func TestSampleEventsInSync(t *testing.T) {
	templates, err := samples.Templates()
	require.NoError(t, err)
	srcs := loadSources(t)
	for _, tmpl := range templates {
		ev := loadEvent(t, tmpl.Name)
		want, err := tmpl.Event(srcs, samples.EventTime(ev))
		require.NoError(t, err)
		assert.Equal(t, want, ev, "%s is out of date: run make sign-events", tmpl.Name)
	}
}

func assertAttributes(t *testing.T, m received) {
	t.Helper()
	names := make([]string, 0, len(m.attrs))
	for k := range m.attrs {
		names = append(names, k)
	}
	assert.ElementsMatch(t, []string{queue.AttrKind, queue.AttrSource, queue.AttrVersion}, names,
		"message attributes are kind, source and v only")
	assert.Equal(t, string(m.msg.Kind), *m.attrs[queue.AttrKind].StringValue)
	assert.Equal(t, m.msg.Source, *m.attrs[queue.AttrSource].StringValue)
}

// assertNoSampleValues checks that no identifying string of the sample
// payload reached the dev queue. It names the marker, never the value.
func assertNoSampleValues(t *testing.T, tmpl samples.Template, msgs []received) {
	t.Helper()
	var all strings.Builder
	for _, m := range msgs {
		all.Write(m.msg.Record)
	}
	queued := strings.ToLower(all.String())
	for what, marker := range sampleMarkers {
		if strings.Contains(queued, marker) {
			t.Errorf("%s: %s reached the dev queue", tmpl.Name, what)
		}
	}
}

// sampleMarkers are identifying strings of the samples, lower case. Each
// must be a value the samples carry (TestSampleMarkersAreSampleValues): a
// stale marker such as a synthetic first name ("katherine") would turn up
// in a de-identified record now and then.
var sampleMarkers = map[string]string{
	"patient family name":       "lovelace",
	"form given name":           "katriona",
	"form email":                "k.jorgensen@example.com",
	"typeform name":             "grace.kelly",
	"practitioner email":        "d.vaughan",
	"bundle patient":            "turing",
	"notification patient":      "franklin",
	"narrative":                 "narrative-only-marker",
	"extension":                 "extension-only-marker",
	"contact":                   "contact-only-marker",
	"free-text typeform field":  "headaches",
	"form field mapped nowhere": "a friend told me",
	"practitioner DEA number":   "ah1234563",
}

func TestSampleMarkersAreSampleValues(t *testing.T) {
	templates, err := samples.Templates()
	require.NoError(t, err)
	var bodies strings.Builder
	for _, tmpl := range templates {
		if tmpl.Expect.Status != http.StatusAccepted {
			continue
		}
		body, err := tmpl.RawBody()
		require.NoError(t, err)
		bodies.Write(body)
	}
	all := strings.ToLower(bodies.String())
	for what, marker := range sampleMarkers {
		assert.True(t, strings.Contains(all, marker), "the %s marker is no value of an accepted sample", what)
	}
}

// assertNoBodyInLogs checks that no value of the payload reached the log:
// the log holds ids, names, codes and counts only. The values are the
// sample's own patient values (devstack.Canaries: names, emails, birth
// dates, addresses, as the source maps them), looked for so that they
// cannot be found by chance (logtest.ContainsValue), and a few known
// values of every sample, practitioners' included.
func assertNoBodyInLogs(t *testing.T, f *fixture, tmpl samples.Template, body string) {
	t.Helper()
	logs := f.logs.String() + f.metrics.String()
	for i, v := range devstack.Canaries([]samples.Template{tmpl}, f.sources) {
		if logtest.ContainsValue(logs, v) {
			t.Errorf("value #%d of the payload (%d bytes) reached the logs", i, len(v))
		}
	}
	for _, s := range []string{"Lovelace", "Katriona", "Vaughan", "Grace", "Turing", "Franklin", "example.com", "1985-12-10"} {
		if strings.Contains(body, s) && strings.Contains(logs, s) {
			t.Errorf("a value of the payload (%d bytes) reached the logs", len(s))
		}
	}
	for _, s := range f.sources {
		for i, secret := range s.Definition.Auth.Secrets {
			if strings.Contains(logs, secret) {
				t.Errorf("secret %d of source %s reached the logs", i, s.Name)
			}
		}
	}
	if strings.Contains(logs, testPseudonymKey) {
		t.Error("the pseudonym key reached the logs")
	}
}

// lastErrorCode returns the error_code of the last log line, for failure
// messages.
func lastErrorCode(f *fixture) string {
	lines := strings.Split(strings.TrimSpace(f.logs.String()), "\n")
	var l struct {
		Code  string `json:"error_code"`
		Error string `json:"error"`
	}
	_ = json.Unmarshal([]byte(lines[len(lines)-1]), &l)
	return l.Code + " " + l.Error
}
