package queue

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/novamed/bridge/pkg/novamed"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files")

// phiMarker is planted in test records; it must never show up in errors,
// logs or rendered messages.
const phiMarker = "Zelphinora"

func testMessage(t testing.TB) Message {
	t.Helper()
	eventID := EventID("ehr-a", "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", nil)
	return Message{
		Version:      Version,
		ID:           RecordID(eventID, 0),
		Source:       "ehr-a",
		Kind:         novamed.KindPatient,
		ReceivedAt:   time.Date(2026, 3, 1, 12, 30, 45, 123000000, time.UTC),
		Stage:        StageDev,
		Deidentified: true,
		Record: json.RawMessage(`{"clinic_id":"0b5e4b8e-2f4a-4c57-9d7e-1f0d9e2c3a4b","first_name":"` + phiMarker +
			`","last_name":"Doe","date_of_birth":"1980-01-01","email":"p-1a2b@example.com"}`),
	}
}

func TestEncodeGolden(t *testing.T) {
	body, err := testMessage(t).Encode()
	require.NoError(t, err)

	golden := filepath.Join("testdata", "message.golden.json")
	if *update {
		require.NoError(t, os.WriteFile(golden, []byte(body+"\n"), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	if body != strings.TrimSuffix(string(want), "\n") {
		t.Fatalf("encoded message differs from %s (run with -update to accept; bodies not printed)", golden)
	}
	// The key order is the documented one.
	require.True(t, strings.HasPrefix(body, `{"v":1,"id":"ehr-a:`), "body starts with v then id")
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	m := testMessage(t)
	body, err := m.Encode()
	require.NoError(t, err)
	got, err := Decode(body)
	require.NoError(t, err)
	require.Equal(t, m.ID, got.ID)
	require.Equal(t, m.Source, got.Source)
	require.Equal(t, m.Kind, got.Kind)
	require.True(t, m.ReceivedAt.Equal(got.ReceivedAt))
	require.Equal(t, m.Stage, got.Stage)
	require.Equal(t, m.Deidentified, got.Deidentified)
	require.True(t, bytes.Equal(m.Record, got.Record), "record bytes differ")

	// The record decodes as a NovaMed request.
	rec, _, err := novamed.DecodeRecord(got.Kind, got.Record)
	require.NoError(t, err)
	require.Equal(t, novamed.KindPatient, rec.Kind)
}

func TestEncodeDefaultsVersion(t *testing.T) {
	m := testMessage(t)
	m.Version = 0
	body, err := m.Encode()
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(body, `{"v":1,`))
	require.Equal(t, "1", aws.ToString(m.Attributes()[AttrVersion].StringValue))
}

func TestEncodeRejectsInvalid(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Message)
		field  string
	}{
		{"future version", func(m *Message) { m.Version = 2 }, "v"},
		{"no id", func(m *Message) { m.ID = "" }, "id"},
		{"id of another source", func(m *Message) { m.ID = RecordID(EventID("ehr-b", "x", nil), 0) }, "id"},
		{"free-text id", func(m *Message) { m.ID = "Jane Doe" }, "id"},
		{"no source", func(m *Message) { m.Source = "" }, "source"},
		{"bad source", func(m *Message) { m.Source = "ehr a" }, "source"},
		{"no kind", func(m *Message) { m.Kind = "" }, "kind"},
		{"unknown kind", func(m *Message) { m.Kind = "appointment" }, "kind"},
		{"zero time", func(m *Message) { m.ReceivedAt = time.Time{} }, "received_at"},
		{"no stage", func(m *Message) { m.Stage = "" }, "stage"},
		{"bad stage", func(m *Message) { m.Stage = "production" }, "stage"},
		{"no record", func(m *Message) { m.Record = nil }, "record"},
		{"record array", func(m *Message) { m.Record = json.RawMessage(`["` + phiMarker + `"]`) }, "record"},
		{"record broken", func(m *Message) { m.Record = json.RawMessage(`{"a":"` + phiMarker) }, "record"},
		{"too large", func(m *Message) {
			m.Record = json.RawMessage(`{"a":"` + strings.Repeat("x", MaxBodySize) + `"}`)
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testMessage(t)
			tt.mutate(&m)
			_, err := m.Encode()
			requireMalformed(t, err, tt.field)
		})
	}
}

func requireMalformed(t *testing.T, err error, field string) {
	t.Helper()
	require.ErrorIs(t, err, ErrMalformed)
	var me *MalformedError
	require.ErrorAs(t, err, &me)
	require.Equal(t, field, me.Field, "reason: %s", me.Reason)
	if strings.Contains(err.Error(), phiMarker) {
		t.Fatal("error quotes a record value")
	}
}

func TestDecodeTable(t *testing.T) {
	valid := func(t *testing.T) map[string]any {
		body, err := testMessage(t).Encode()
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(body), &m))
		return m
	}
	with := func(key string, v any) func(map[string]any) {
		return func(m map[string]any) { m[key] = v }
	}
	without := func(key string) func(map[string]any) {
		return func(m map[string]any) { delete(m, key) }
	}
	tests := []struct {
		name   string
		mutate func(map[string]any)
		raw    string // used instead of the mutated valid message when set
		field  string
		reason string
	}{
		{name: "not JSON", raw: "first_name=" + phiMarker, reason: ReasonNotJSON},
		{name: "truncated", raw: `{"v":1,"id":"` + phiMarker, field: "id", reason: ReasonNotJSON},
		{name: "array", raw: `["` + phiMarker + `"]`, reason: ReasonNotObject},
		{name: "string", raw: `"` + phiMarker + `"`, reason: ReasonNotObject},
		{name: "empty", raw: ``, reason: ReasonNotJSON},
		{name: "trailing data", raw: `{"v":1} {"v":1}`, reason: ReasonNotJSON},
		{name: "missing v", mutate: without("v"), field: "v", reason: ReasonRequired},
		{name: "version 2", mutate: with("v", 2), field: "v", reason: ReasonUnsupportedVersion},
		{name: "version 0", mutate: with("v", 0), field: "v", reason: ReasonUnsupportedVersion},
		{name: "version 1.5", mutate: with("v", 1.5), field: "v", reason: ReasonUnsupportedVersion},
		{name: "version string", mutate: with("v", "1"), field: "v", reason: ReasonWrongType},
		{name: "missing id", mutate: without("id"), field: "id", reason: ReasonRequired},
		{name: "empty id", mutate: with("id", ""), field: "id", reason: ReasonRequired},
		{name: "id not a record id", mutate: with("id", phiMarker), field: "id", reason: ReasonInvalid},
		{name: "id number", mutate: with("id", 7), field: "id", reason: ReasonWrongType},
		{name: "id null", mutate: with("id", nil), field: "id", reason: ReasonWrongType},
		{name: "missing source", mutate: without("source"), field: "source", reason: ReasonRequired},
		{name: "source with spaces", mutate: with("source", "John Smith"), field: "source", reason: ReasonInvalid},
		{name: "missing kind", mutate: without("kind"), field: "kind", reason: ReasonRequired},
		{name: "unknown kind", mutate: with("kind", "Patient"), field: "kind", reason: ReasonInvalid},
		{name: "missing received_at", mutate: without("received_at"), field: "received_at", reason: ReasonRequired},
		{name: "received_at not RFC 3339", mutate: with("received_at", "01/03/2026"), field: "received_at", reason: ReasonInvalid},
		{name: "missing stage", mutate: without("stage"), field: "stage", reason: ReasonRequired},
		{name: "stage PROD", mutate: with("stage", "PROD"), field: "stage", reason: ReasonInvalid},
		{name: "deidentified string", mutate: with("deidentified", "true"), field: "deidentified", reason: ReasonWrongType},
		{name: "missing record", mutate: without("record"), field: "record", reason: ReasonRequired},
		{name: "record string", mutate: with("record", phiMarker), field: "record", reason: ReasonNotObject},
		{name: "record array", mutate: with("record", []any{phiMarker}), field: "record", reason: ReasonNotObject},
		{name: "record null", mutate: with("record", nil), field: "record", reason: ReasonNotObject},
		{name: "unknown key", mutate: with(phiMarker, "x"), field: "", reason: ReasonUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := tt.raw
			if tt.mutate != nil {
				m := valid(t)
				tt.mutate(m)
				b, err := json.Marshal(m)
				require.NoError(t, err)
				body = string(b)
			}
			_, err := Decode(body)
			requireMalformed(t, err, tt.field)
			var me *MalformedError
			require.ErrorAs(t, err, &me)
			require.Equal(t, tt.reason, me.Reason)
		})
	}
}

func TestDecodeDuplicateKey(t *testing.T) {
	body, err := testMessage(t).Encode()
	require.NoError(t, err)
	// A second kind after the first: encoding/json would keep the last.
	dup := strings.Replace(body, `"kind":"patient"`, `"kind":"patient","kind":"practitioner"`, 1)
	_, err = Decode(dup)
	requireMalformed(t, err, "kind")
}

func TestDecodeTooLarge(t *testing.T) {
	_, err := Decode(strings.Repeat(" ", MaxBodySize+1))
	requireMalformed(t, err, "")
}

func TestAttributesExactlyThree(t *testing.T) {
	m := testMessage(t)
	attrs := m.Attributes()
	require.Len(t, attrs, 3)
	want := map[string][2]string{
		AttrKind:    {"String", "patient"},
		AttrSource:  {"String", "ehr-a"},
		AttrVersion: {"Number", "1"},
	}
	for name, w := range want {
		a, ok := attrs[name]
		require.True(t, ok, name)
		require.Equal(t, w[0], aws.ToString(a.DataType), name)
		require.Equal(t, w[1], aws.ToString(a.StringValue), name)
	}
}

func TestMessageRendersWithoutRecord(t *testing.T) {
	m := testMessage(t)
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("queued", "msg", m, "ptr", &m)
	out := fmt.Sprintf("%v %+v %#v %s %q %v", m, m, m, m, m, &m) + logs.String()
	if strings.Contains(out, phiMarker) {
		t.Fatal("a record value was rendered")
	}
	require.Contains(t, logs.String(), `"msg":{"id":"`+m.ID+`","source":"ehr-a","kind":"patient"}`)

	// A message built with free text in its fields renders placeholders.
	bad := Message{ID: phiMarker, Source: phiMarker + " x", Kind: phiMarker}
	require.NotContains(t, bad.String(), phiMarker)
}

func TestSubjectAndReference(t *testing.T) {
	base := Message{
		ID: RecordID(EventID("ehr", "", []byte("b")), 0), Source: "ehr", Kind: "patient",
		ReceivedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Stage: StageDev, Record: json.RawMessage(`{"first_name":"x"}`),
	}
	key := []byte("0123456789abcdef0123456789abcdef")
	sub := SubjectKey(key, "source", "ehr", "Patient/123")
	require.True(t, ValidSubject(sub))
	assert.Equal(t, sub, SubjectKey(key, "source", "ehr", "Patient/123"), "stable")
	assert.NotEqual(t, sub, SubjectKey(key, "source", "ehr2", "Patient/123"), "scoped to the source")
	assert.NotEqual(t, sub, SubjectKey(key, "source", "ehrPatient/123"), "parts are length-prefixed")
	assert.NotEqual(t, sub, SubjectKey([]byte("another key of thirty-two bytes!"), "source", "ehr", "Patient/123"), "keyed")

	m := base
	m.Subject = sub
	body, err := m.Encode()
	require.NoError(t, err)
	got, err := Decode(body)
	require.NoError(t, err)
	assert.Equal(t, sub, got.Subject)

	ref := base
	ref.Kind, ref.Record, ref.Reference = KindReference, nil, "Encounter/86009987-eabe"
	body, err = ref.Encode()
	require.NoError(t, err)
	assert.NotContains(t, body, `"record"`)
	got, err = Decode(body)
	require.NoError(t, err)
	assert.Equal(t, "Encounter/86009987-eabe", got.Reference)
	assert.Equal(t, KindReference, got.Kind)

	for name, bad := range map[string]func(*Message){
		"subject not a key":       func(m *Message) { m.Subject = "Patient/123" },
		"reference with a record": func(m *Message) { m.Kind = KindReference; m.Reference = "Patient/1" },
		"absolute reference": func(m *Message) {
			m.Kind, m.Record, m.Reference = KindReference, nil, "http://169.254.169.254/Patient/1"
		},
		"reference on a record": func(m *Message) { m.Reference = "Patient/1" },
		"reference without one": func(m *Message) { m.Kind, m.Record = KindReference, nil },
	} {
		m := base
		bad(&m)
		_, err := m.Encode()
		assert.ErrorIs(t, err, ErrMalformed, name)
	}
}
