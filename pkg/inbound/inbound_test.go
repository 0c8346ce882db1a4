package inbound

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/pkg/novamed"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the current output")

const testClinic = "6f1c3a52-8e0b-4c1e-9a57-2d4b8e7f1a90"

var (
	fhirOpts = Options{ClinicID: testClinic}
	formOpts = Options{ClinicID: testClinic, FieldMap: map[string]string{
		"given_name": "first_name", "surname": "last_name", "dob": "date_of_birth",
		"email_address": "email", "sex": "gender", "mobile": "phone", "street": "address_line1",
		"town": "city", "region": "state", "postcode": "zip", "npi": "npi_number",
		"license": "license_number", "license_state": "license_state",
	}}
	typeformOpts = Options{ClinicID: testClinic, Kind: novamed.KindPatient, FieldMap: map[string]string{
		"first_name": "first_name", "last_name": "last_name", "email": "email", "dob": "date_of_birth",
		"phone": "phone", "gender": "gender",
	}}
)

// golden is the reviewable form of a Result.
type golden struct {
	EventID      string         `json:"event_id"`
	Notification Notification   `json:"notification"`
	Skipped      int            `json:"skipped"`
	SkippedBy    map[string]int `json:"skipped_by,omitempty"`
	References   []string       `json:"references,omitempty"`
	Records      []goldenRecord `json:"records"`
}

type goldenRecord struct {
	Kind    novamed.Kind    `json:"kind"`
	Subject string          `json:"subject,omitempty"`
	Hold    *Hold           `json:"hold,omitempty"`
	Dropped []string        `json:"dropped,omitempty"`
	Body    json.RawMessage `json:"body"`
}

func toGolden(t *testing.T, res Result) []byte {
	t.Helper()
	g := golden{EventID: res.EventID, Notification: res.Notification, Skipped: res.Skipped,
		SkippedBy: res.SkippedBy, References: res.References, Records: []goldenRecord{}}
	for _, r := range res.Records {
		body, err := r.Body()
		require.NoError(t, err)
		g.Records = append(g.Records, goldenRecord{Kind: r.Kind, Subject: r.Subject, Hold: r.Hold, Dropped: r.Dropped, Body: body})
	}
	out, err := json.MarshalIndent(g, "", "  ")
	require.NoError(t, err)
	return append(out, '\n')
}

func TestParseGolden(t *testing.T) {
	tests := []struct {
		file   string
		format Format
		opts   Options
	}{
		{"fhir/patient.json", FormatFHIR, fhirOpts},
		{"fhir/practitioner.json", FormatFHIR, fhirOpts},
		{"fhir/bundle-transaction.json", FormatFHIR, fhirOpts},
		{"fhir/bundle-collection.json", FormatFHIR, fhirOpts},
		{"fhir/notification-handshake.json", FormatFHIR, fhirOpts},
		{"fhir/notification-heartbeat.json", FormatFHIR, fhirOpts},
		{"fhir/notification-event.json", FormatFHIR, fhirOpts},
		{"fhir/notification-event-r4b.json", FormatFHIR, fhirOpts},
		{"form/patient.json", FormatForm, formOpts},
		{"form/practitioner.json", FormatForm, formOpts},
		{"typeform/patient.json", FormatTypeform, typeformOpts},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("testdata", tt.file))
			require.NoError(t, err)
			res, err := Parse(tt.format, body, tt.opts)
			require.NoError(t, err)
			got := toGolden(t, res)
			goldenPath := filepath.Join("testdata", strings.TrimSuffix(tt.file, ".json")+".golden.json")
			if *update {
				require.NoError(t, os.WriteFile(goldenPath, got, 0o644))
			}
			want, err := os.ReadFile(goldenPath)
			require.NoError(t, err, "run go test -update to create the golden file")
			// The bodies are PHI-shaped test data; say which file differs,
			// not what it holds.
			if !bytes.Equal(want, got) {
				t.Errorf("%s: output differs from %s (run go test -update and review the diff)", tt.file, goldenPath)
			}
			for i, r := range res.Records {
				assert.NoError(t, r.Validate(), "record %d", i)
			}
			// Narrative, extensions and unmapped answers never reach a record.
			for _, marker := range []string{"marker", "headaches", "friend", "Observation", "MRN", "Anne"} {
				if bytes.Contains(got, []byte(marker)) {
					t.Errorf("%s: a value that maps to nothing reached the output", tt.file)
				}
			}
		})
	}
}

// TestParseReal pins what every real, third-party example maps to (see
// testdata/real/PROVENANCE.md): records, held reasons, dropped paths,
// skipped entries and references, in a golden file per example.
func TestParseReal(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "real", "*", "*.json"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 30, "the real examples are in testdata/real")
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(file)
			require.NoError(t, err)
			res, err := Parse(FormatFHIR, body, fhirOpts)
			var got []byte
			if err != nil {
				var pe *PayloadError
				require.ErrorAs(t, err, &pe, "a real example is refused only as a payload error")
				got, err = json.MarshalIndent(map[string]any{"error": pe.Fields}, "", "  ")
				require.NoError(t, err)
			} else {
				got = toGolden(t, res)
				for i, r := range res.Records {
					if r.Hold == nil {
						assert.NoError(t, r.Validate(), "record %d", i)
					}
				}
			}
			goldenPath := filepath.Join("testdata", "real-golden", strings.TrimSuffix(name, ".json")+".golden.json")
			if *update {
				require.NoError(t, os.MkdirAll(filepath.Dir(goldenPath), 0o755))
				require.NoError(t, os.WriteFile(goldenPath, got, 0o644))
			}
			want, err := os.ReadFile(goldenPath)
			require.NoError(t, err, "run go test -update to create the golden file")
			if !bytes.Equal(want, got) {
				t.Errorf("%s: output differs from %s (run go test -update and review the diff)", name, goldenPath)
			}
		})
	}
}

func TestParseNotification(t *testing.T) {
	for _, tt := range []struct {
		file  string
		want  Notification
		event string
	}{
		{"notification-handshake.json", NotificationHandshake, "r4-notification-handshake"},
		{"notification-heartbeat.json", NotificationHeartbeat, "r4-notification-heartbeat"},
		{"notification-event.json", NotificationEvent, "https://ehr.example.org/fhir/Subscription/new-patients#42,43"},
		{"notification-event-r4b.json", NotificationEvent, "https://ehr.example.org/fhir/Subscription/new-staff#7"},
	} {
		body, err := os.ReadFile(filepath.Join("testdata", "fhir", tt.file))
		require.NoError(t, err)
		res, err := Parse(FormatFHIR, body, fhirOpts)
		require.NoError(t, err)
		assert.Equal(t, tt.want, res.Notification, tt.file)
		assert.Equal(t, tt.event, res.EventID, tt.file)
		assert.Equal(t, tt.want.StatusOnly(), len(res.Records) == 0, tt.file)
	}
}

// errCase is one body that must fail, and how.
type errCase struct {
	name   string
	format Format
	body   string
	opts   Options
	want   error    // a sentinel, or nil for a *PayloadError
	fields []string // the PayloadError paths, exactly
}

func runErrCases(t *testing.T, cases []errCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			if opts.ClinicID == "" {
				opts = fhirOpts
			}
			res, err := Parse(tt.format, []byte(tt.body), opts)
			require.Error(t, err)
			assert.Empty(t, res.Records)
			if tt.want != nil {
				assert.ErrorIs(t, err, tt.want)
				return
			}
			var pe *PayloadError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tt.fields, pe.Fields)
			assertNoValues(t, tt.body, err)
		})
	}
}

// assertNoValues fails if the error text contains any string value of the
// body of four characters or more. It reports no value itself.
func assertNoValues(t *testing.T, body string, err error) {
	t.Helper()
	var v any
	if json.Unmarshal([]byte(body), &v) != nil {
		return
	}
	msg := err.Error()
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			if len(v) >= 4 && strings.Contains(msg, v) && !pathLike.MatchString(v) {
				t.Errorf("error text quotes a payload value (%d bytes)", len(v))
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(v)
}

// pathLike matches values that are also legitimately part of a path (a
// resource type, a field name): the payload used them as structure.
var pathLike = regexp.MustCompile(`^(Patient|Practitioner|Bundle|patient|practitioner|[a-z_]+)$`)

const okPatient = `{"resourceType":"Patient","name":[{"family":"Smith","given":["Jo"]}],
	"telecom":[{"system":"email","value":"jo@example.com"}],"birthDate":"1980-02-03"}`

func TestParseFHIRErrors(t *testing.T) {
	runErrCases(t, []errCase{
		{name: "empty body", format: FormatFHIR, body: "", want: ErrNotJSON},
		{name: "white space", format: FormatFHIR, body: " \n\t", want: ErrNotJSON},
		{name: "xml", format: FormatFHIR, body: `<Patient xmlns="http://hl7.org/fhir"/>`, want: ErrNotJSON},
		{name: "form encoded", format: FormatFHIR, body: `name=Smith&dob=1980-01-01`, want: ErrNotJSON},
		{name: "truncated", format: FormatFHIR, body: `{"resourceType":"Patient","name":[`, want: ErrMalformedJSON},
		{name: "trailing garbage", format: FormatFHIR, body: okPatient + `x`, want: ErrMalformedJSON},
		{name: "broken array", format: FormatFHIR, body: `[1,2`, want: ErrMalformedJSON},
		{name: "too deep", format: FormatFHIR, body: `{"resourceType":"Patient","extension":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, want: ErrTooDeep},
		{name: "too deep unterminated", format: FormatFHIR, body: strings.Repeat(`{"a":`, 10000), want: ErrTooDeep},
		{name: "array root", format: FormatFHIR, body: `[{"resourceType":"Patient"}]`, fields: []string{"$"}},
		{name: "string root", format: FormatFHIR, body: `"Patient"`, fields: []string{"$"}},
		{name: "null root", format: FormatFHIR, body: `null`, fields: []string{"$"}},
		{name: "no resourceType", format: FormatFHIR, body: `{"name":[{"family":"Smith"}]}`, fields: []string{"resourceType"}},
		{name: "wrong resource type alone", format: FormatFHIR, body: `{"resourceType":"Observation","status":"final"}`, fields: []string{"resourceType"}},
		{name: "resourceType not a string", format: FormatFHIR, body: `{"resourceType":7}`, fields: []string{"resourceType"}},
		{name: "unknown bundle type", format: FormatFHIR, body: `{"resourceType":"Bundle","type":"surprise","entry":[{"resource":` + okPatient + `}]}`, fields: []string{"type"}},
		{name: "entry is an object", format: FormatFHIR, body: `{"resourceType":"Bundle","type":"batch","entry":{"resource":{}}}`, fields: []string{"entry"}},
		{name: "unknown notification type", format: FormatFHIR, body: `{"resourceType":"Bundle","type":"history","entry":[{"resource":
			{"resourceType":"Parameters","parameter":[{"name":"type","valueCode":"surprise"}]}}]}`, fields: []string{"entry[0].resource"}},
		{name: "notification without type", format: FormatFHIR, body: `{"resourceType":"Bundle","type":"history","entry":[{"resource":
			{"resourceType":"Parameters","parameter":[{"name":"status","valueCode":"active"}]}}]}`, fields: []string{"entry[0].resource"}},
		{name: "r4b notification bad type", format: FormatFHIR, body: `{"resourceType":"Bundle","type":"history","entry":[{"resource":
			{"resourceType":"SubscriptionStatus","type":3}}]}`, fields: []string{"entry[0].resource"}},
		{name: "r5 notification without a status", format: FormatFHIR, body: `{"resourceType":"Bundle","type":"subscription-notification","entry":[{"resource":` + okPatient + `}]}`,
			fields: []string{"entry[0].resource"}},
	})
}

// holdCase is one record that Parse reads without error: delivered, held
// (reason and paths) or delivered with fields dropped.
type holdCase struct {
	name    string
	format  Format
	opts    Options
	body    string
	held    string   // the hold reason; "" when NovaMed can take it
	fields  []string // the hold's paths
	dropped []string
}

func runHoldCases(t *testing.T, cases []holdCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			format, opts := tt.format, tt.opts
			if format == "" {
				format = FormatFHIR
			}
			if opts.ClinicID == "" {
				opts = fhirOpts
			}
			res, err := Parse(format, []byte(tt.body), opts)
			require.NoError(t, err)
			require.Len(t, res.Records, 1)
			r := res.Records[0]
			if tt.held == "" {
				assert.Nil(t, r.Hold)
				assert.NoError(t, r.Validate(), "a record that is not held is valid")
			} else if assert.NotNil(t, r.Hold) {
				assert.Equal(t, tt.held, r.Hold.Reason)
				assert.Equal(t, tt.fields, r.Hold.Fields)
			}
			assert.Equal(t, tt.dropped, r.Dropped)
		})
	}
}

func TestParseFHIRHolds(t *testing.T) {
	withAddress := func(addr string) string {
		return strings.Replace(okPatient, `"birthDate"`, `"address":[`+addr+`],"birthDate"`, 1)
	}
	runHoldCases(t, []holdCase{
		{name: "complete", body: okPatient},
		{name: "missing family name", body: `{"resourceType":"Patient","name":[{"given":["Jo"]}],
			"telecom":[{"system":"email","value":"jo@example.com"}],"birthDate":"1980-02-03"}`, held: "missing_name", fields: []string{"name[0].family"}},
		{name: "no name at all", body: `{"resourceType":"Patient",
			"telecom":[{"system":"email","value":"jo@example.com"}],"birthDate":"1980-02-03"}`, held: "missing_name", fields: []string{"name"}},
		{name: "family is a number", body: `{"resourceType":"Patient","name":[{"family":12,"given":["Jo"]}],
			"telecom":[{"system":"email","value":"jo@example.com"}],"birthDate":"1980-02-03"}`, held: "invalid_name", fields: []string{"name[0].family"}},
		{name: "given is a string", body: `{"resourceType":"Patient","name":[{"family":"Smith","given":"Jo"}],
			"telecom":[{"system":"email","value":"jo@example.com"}],"birthDate":"1980-02-03"}`, held: "invalid_name", fields: []string{"name[0].given"}},
		{name: "name is an object", body: `{"resourceType":"Patient","name":{"family":"Smith"},
			"telecom":[{"system":"email","value":"jo@example.com"}],"birthDate":"1980-02-03"}`, held: "invalid_name", fields: []string{"name"}},
		{name: "name only as text", body: `{"resourceType":"Patient","name":[{"text":"Jo Anne Smith"}],
			"telecom":[{"system":"email","value":"jo@example.com"}],"birthDate":"1980-02-03"}`},
		{name: "one-word text name", body: `{"resourceType":"Patient","name":[{"text":"Jo"}],
			"telecom":[{"system":"email","value":"jo@example.com"}],"birthDate":"1980-02-03"}`, held: "missing_name", fields: []string{"name[0].given", "name[0].family"}},
		{name: "partial date year", body: strings.Replace(okPatient, "1980-02-03", "1980", 1), held: "partial_birth_date", fields: []string{"birthDate"}},
		{name: "partial date month", body: strings.Replace(okPatient, "1980-02-03", "1980-02", 1), held: "partial_birth_date", fields: []string{"birthDate"}},
		{name: "future date", body: strings.Replace(okPatient, "1980-02-03", "2999-01-01", 1), held: "invalid_birth_date", fields: []string{"birthDate"}},
		{name: "no birth date", body: strings.Replace(okPatient, `,"birthDate":"1980-02-03"`, ``, 1), held: "missing_birth_date", fields: []string{"birthDate"}},
		{name: "dateTime birth date", body: strings.Replace(okPatient, "1980-02-03", "1980-02-03T04:05:00Z", 1)},
		{name: "no email", body: `{"resourceType":"Patient","name":[{"family":"Smith","given":["Jo"]}],
			"telecom":[{"system":"phone","value":"555-0100"}],"birthDate":"1980-02-03"}`, held: "missing_email", fields: []string{"telecom"}},
		{name: "only an old email", body: strings.Replace(okPatient, `"system":"email"`, `"system":"email","use":"old"`, 1), held: "missing_email", fields: []string{"telecom"}},
		{name: "bad email", body: strings.Replace(okPatient, "jo@example.com", "not an email", 1), held: "invalid_email", fields: []string{"telecom[0].value"}},
		{name: "name, birth date and email missing", body: `{"resourceType":"Patient"}`, held: "missing_name",
			fields: []string{"name", "birthDate", "telecom"}},
		{name: "gender letter", body: strings.Replace(okPatient, `"birthDate"`, `"gender":"f","birthDate"`, 1)},
		{name: "bad gender dropped", body: strings.Replace(okPatient, `"birthDate"`, `"gender":"sometimes","birthDate"`, 1), dropped: []string{"gender"}},
		{name: "phone with extension", body: strings.Replace(okPatient, `"telecom":[`, `"telecom":[{"system":"phone","value":"+1 (617) 555-0199 ext. 12"},`, 1)},
		{name: "bad phone dropped", body: strings.Replace(okPatient, `"telecom":[`, `"telecom":[{"system":"phone","value":"call me"},`, 1), dropped: []string{"telecom[0].value"}},
		{name: "state name and ZIP+4", body: withAddress(`{"line":["1 Main St"],"city":"Boston","state":"massachusetts","postalCode":"021081234"}`)},
		{name: "bad zip drops the whole address", body: withAddress(`{"line":["1 Main St"],"city":"Boston","state":"MA","postalCode":"2134"}`),
			dropped: []string{"address[0]"}},
		{name: "bad state drops the whole address", body: withAddress(`{"line":["1 Main St"],"state":"Atlantis","postalCode":"02134"}`),
			dropped: []string{"address[0]"}},
		{name: "address abroad dropped", body: withAddress(`{"line":["Kerkstraat 1"],"city":"Utrecht","postalCode":"3512","country":"NLD"}`),
			dropped: []string{"address[0]"}},
		{name: "US address preferred over one abroad", body: withAddress(`{"use":"home","line":["Kerkstraat 1"],"country":"NL"},
			{"line":["1 Main St"],"state":"MA","postalCode":"02134","country":"USA"}`)},
		{name: "ended address skipped", body: withAddress(`{"line":["9 Old Rd"],"state":"ZZ","period":{"end":"2001-01-01"}},
			{"line":["1 Main St"],"state":"MA","postalCode":"02134"}`)},
		{name: "line is a number", body: withAddress(`{"line":[12]}`), dropped: []string{"address[0]"}},
		{name: "deceased", body: strings.Replace(okPatient, `"birthDate"`, `"deceasedBoolean":true,"birthDate"`, 1), held: "deceased", fields: []string{"deceasedBoolean"}},
		{name: "deceased date", body: strings.Replace(okPatient, `"birthDate"`, `"deceasedDateTime":"2015-02-14T13:42:00+10:00","birthDate"`, 1), held: "deceased", fields: []string{"deceasedDateTime"}},
		{name: "alive", body: strings.Replace(okPatient, `"birthDate"`, `"deceasedBoolean":false,"birthDate"`, 1)},
		{name: "animal", body: strings.Replace(okPatient, `"birthDate"`, `"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-animal"}],"birthDate"`, 1),
			held: "non_human", fields: []string{"extension"}},
		{name: "full-width digits", body: strings.Replace(okPatient, "1980-02-03", "１９８０-０２-０３", 1)},
		{name: "bad NPI check digit", body: `{"resourceType":"Practitioner","name":[{"family":"Hopper","given":["Grace"]}],
			"telecom":[{"system":"email","value":"g@example.org"}],
			"identifier":[{"system":"x","value":"1"},{"system":"http://hl7.org/fhir/sid/us-npi","value":"1234567890"}]}`, held: "invalid_npi", fields: []string{"identifier[1].value"}},
		{name: "NPI too short", body: `{"resourceType":"Practitioner","name":[{"family":"Hopper","given":["Grace"]}],
			"telecom":[{"system":"email","value":"g@example.org"}],
			"identifier":[{"system":"http://hl7.org/fhir/sid/us-npi","value":"12345"}]}`, held: "invalid_npi", fields: []string{"identifier[0].value"}},
		{name: "no NPI", body: `{"resourceType":"Practitioner","name":[{"family":"Hopper","given":["Grace"]}],
			"telecom":[{"system":"email","value":"g@example.org"}]}`, held: "missing_npi", fields: []string{"identifier"}},
	})
}

func TestParseFHIRBundles(t *testing.T) {
	partial := strings.Replace(okPatient, "1980-02-03", "1980", 1)
	other := strings.Replace(strings.Replace(okPatient, "Smith", "Jones", 1), `"resourceType":"Patient"`, `"resourceType":"Patient","id":"p2"`, 1)
	withID := strings.Replace(okPatient, `"resourceType":"Patient"`, `"resourceType":"Patient","id":"p1"`, 1)
	doctor := `{"resourceType":"Practitioner","id":"d1","name":[{"family":"Hopper","given":["Grace"]}],
		"telecom":[{"system":"email","value":"g@example.org"}],"identifier":[{"system":"http://hl7.org/fhir/sid/us-npi","value":"1245319599"}]}`
	for _, tt := range []struct {
		name     string
		body     string
		records  int
		held     map[int]string
		subjects []string
		skipped  map[string]int
	}{
		{name: "empty bundle", body: `{"resourceType":"Bundle","type":"transaction","entry":[]}`},
		{name: "bundle without entry", body: `{"resourceType":"Bundle","type":"collection"}`},
		{name: "entry resource is a string", body: `{"resourceType":"Bundle","type":"batch","entry":[{"resource":"Patient"}]}`,
			skipped: map[string]int{SkipInvalid: 1}},
		{name: "held patient beside good ones", body: `{"resourceType":"Bundle","type":"batch","entry":[{"resource":` + okPatient + `},
			{"resource":{"resourceType":"Observation"}},{"resource":` + partial + `}]}`,
			records: 2, held: map[int]string{1: "partial_birth_date"}, skipped: map[string]int{SkipOtherResource: 1}},
		{name: "transaction: POST and PUT only", body: `{"resourceType":"Bundle","type":"transaction","entry":[
			{"resource":` + withID + `,"request":{"method":"PUT","url":"Patient/p1"}},
			{"resource":` + other + `,"request":{"method":"POST","url":"Patient"}},
			{"request":{"method":"DELETE","url":"Patient/p3"}},
			{"request":{"method":"GET","url":"Patient?name=x"}}]}`,
			records: 2, subjects: []string{"Patient/p1", "Patient/p2"}, skipped: map[string]int{SkipNotRecord: 2}},
		{name: "searchset: match only", body: `{"resourceType":"Bundle","type":"searchset","entry":[
			{"resource":` + withID + `,"search":{"mode":"match"}},{"resource":` + other + `,"search":{"mode":"include"}}]}`,
			records: 1, subjects: []string{"Patient/p1"}, skipped: map[string]int{SkipNotRecord: 1}},
		{name: "practitioner beside a patient is context", body: `{"resourceType":"Bundle","type":"collection","entry":[
			{"resource":` + doctor + `},{"resource":` + withID + `}]}`,
			records: 1, subjects: []string{"Patient/p1"}, skipped: map[string]int{SkipContext: 1}},
		{name: "provider directory", body: `{"resourceType":"Bundle","type":"collection","entry":[{"resource":` + doctor + `}]}`,
			records: 1, subjects: []string{"Practitioner/d1"}},
		{name: "same resource twice", body: `{"resourceType":"Bundle","type":"collection","entry":[
			{"resource":` + withID + `},{"resource":` + withID + `}]}`,
			records: 1, subjects: []string{"Patient/p1"}, skipped: map[string]int{SkipDuplicate: 1}},
		{name: "plain history: one record per resource", body: `{"resourceType":"Bundle","type":"history","entry":[
			{"resource":` + withID + `},{"resource":` + withID + `}]}`,
			records: 1, subjects: []string{"Patient/p1"}, skipped: map[string]int{SkipDuplicate: 1}},
		{name: "message: the focus", body: `{"resourceType":"Bundle","type":"message","entry":[
			{"resource":{"resourceType":"MessageHeader","focus":[{"reference":"Patient/p2"}]}},
			{"fullUrl":"http://x.org/fhir/Patient/p1","resource":` + withID + `},
			{"fullUrl":"http://x.org/fhir/Patient/p2","resource":` + other + `}]}`,
			records: 1, subjects: []string{"Patient/p2"}, skipped: map[string]int{SkipNotRecord: 2}},
		{name: "document: the subject", body: `{"resourceType":"Bundle","type":"document","entry":[
			{"resource":{"resourceType":"Composition","subject":{"reference":"urn:uuid:1"}}},
			{"fullUrl":"urn:uuid:2","resource":` + doctor + `},
			{"fullUrl":"urn:uuid:1","resource":` + okPatient + `}]}`,
			records: 1, subjects: []string{""}, skipped: map[string]int{SkipNotRecord: 2}},
		{name: "transaction response", body: `{"resourceType":"Bundle","type":"transaction-response","entry":[{"resource":` + okPatient + `}]}`,
			skipped: map[string]int{SkipResponse: 1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := mustParse(t, FormatFHIR, tt.body, fhirOpts)
			require.Len(t, res.Records, tt.records)
			for i, r := range res.Records {
				if reason, ok := tt.held[i]; ok {
					require.NotNil(t, r.Hold, "record %d", i)
					assert.Equal(t, reason, r.Hold.Reason)
				} else {
					assert.Nil(t, r.Hold, "record %d", i)
				}
			}
			if tt.subjects != nil {
				var got []string
				for _, r := range res.Records {
					got = append(got, r.Subject)
				}
				assert.Equal(t, tt.subjects, got)
			}
			want := tt.skipped
			if want == nil {
				want = map[string]int{}
			}
			got := res.SkippedBy
			if got == nil {
				got = map[string]int{}
			}
			assert.Equal(t, want, got)
		})
	}
}

func TestParseFormErrors(t *testing.T) {
	runErrCases(t, []errCase{
		{name: "not JSON", format: FormatForm, body: `type=patient`, opts: formOpts, want: ErrNotJSON},
		{name: "unknown type", format: FormatForm, body: `{"type":"nurse","fields":{}}`, opts: formOpts, fields: []string{"type"}},
		{name: "no fields", format: FormatForm, body: `{"type":"patient"}`, opts: formOpts, fields: []string{"fields"}},
		{name: "fields is an array", format: FormatForm, body: `{"type":"patient","fields":["a"]}`, opts: formOpts, fields: []string{"fields"}},
	})
}

// A source with a fixed kind (Options.Kind) lets a form payload leave out
// "type"; a "type" that names another kind is refused at "type", never
// overridden.
func TestParseFormHolds(t *testing.T) {
	runHoldCases(t, []holdCase{
		{name: "number where a string is expected", format: FormatForm, opts: formOpts,
			body:    `{"type":"patient","fields":{"given_name":"Jo","surname":"Smith","dob":"1980-02-03","email_address":"jo@example.com","postcode":2134}}`,
			dropped: []string{"fields.postcode"}},
		{name: "missing required", format: FormatForm, opts: formOpts,
			body: `{"type":"patient","fields":{"given_name":"Jo","surname":"Smith","email_address":"jo@example.com"}}`,
			held: "missing_birth_date", fields: []string{"records[0].date_of_birth"}},
		{name: "US date", format: FormatForm, opts: formOpts,
			body: `{"type":"patient","fields":{"given_name":"Jo","surname":"Smith","dob":"02/03/1980","email_address":"jo@example.com"}}`},
		{name: "invalid date", format: FormatForm, opts: formOpts,
			body: `{"type":"patient","fields":{"given_name":"Jo","surname":"Smith","dob":"31/31/1980","email_address":"jo@example.com"}}`,
			held: "invalid_birth_date", fields: []string{"fields.dob"}},
		{name: "conflicting fields", format: FormatForm, opts: Options{ClinicID: testClinic, FieldMap: map[string]string{
			"a": "first_name", "b": "first_name", "l": "last_name", "d": "date_of_birth", "e": "email"}},
			body: `{"type":"patient","fields":{"a":"Jo","b":"Joe","l":"Smith","d":"1980-02-03","e":"jo@example.com"}}`,
			held: "invalid_name", fields: []string{"fields.a"}, dropped: []string{"fields.b"}},
	})
}

func TestFormFixedKind(t *testing.T) {
	const (
		practitionerFields = `{"given_name":"Dorothy","surname":"Vaughan","email_address":"d.vaughan@example.org","npi":"1234567893"}`
		patientFields      = `{"given_name":"Jo","surname":"Smith","dob":"1980-02-03","email_address":"jo@example.com"}`
	)
	withKind := func(k novamed.Kind) Options {
		o := formOpts
		o.Kind = k
		return o
	}
	for _, tt := range []struct {
		name   string
		kind   novamed.Kind // Options.Kind
		typ    string       // the "type" member's JSON value; "" leaves it out
		fields string
		want   novamed.Kind // the record's kind on success
		errs   []string     // the PayloadError paths on failure
	}{
		{name: "missing type, fixed practitioner", kind: novamed.KindPractitioner, fields: practitionerFields, want: novamed.KindPractitioner},
		{name: "missing type, fixed patient", kind: novamed.KindPatient, fields: patientFields, want: novamed.KindPatient},
		{name: "null type, fixed kind", kind: novamed.KindPractitioner, typ: `null`, fields: practitionerFields, want: novamed.KindPractitioner},
		{name: "empty type, fixed kind", kind: novamed.KindPractitioner, typ: `""`, fields: practitionerFields, want: novamed.KindPractitioner},
		{name: "matching type", kind: novamed.KindPractitioner, typ: `"practitioner"`, fields: practitionerFields, want: novamed.KindPractitioner},
		{name: "type only, no fixed kind", typ: `"patient"`, fields: patientFields, want: novamed.KindPatient},
		{name: "mismatching type", kind: novamed.KindPractitioner, typ: `"patient"`, fields: patientFields, errs: []string{"type"}},
		{name: "mismatching type, fixed patient", kind: novamed.KindPatient, typ: `"practitioner"`, fields: practitionerFields, errs: []string{"type"}},
		{name: "type in another case", kind: novamed.KindPractitioner, typ: `"Practitioner"`, fields: practitionerFields, errs: []string{"type"}},
		{name: "unknown type, fixed kind", kind: novamed.KindPractitioner, typ: `"nurse"`, fields: practitionerFields, errs: []string{"type"}},
		{name: "type not a string, fixed kind", kind: novamed.KindPractitioner, typ: `["practitioner"]`, fields: practitionerFields, errs: []string{"type"}},
		{name: "neither", fields: practitionerFields, errs: []string{"type"}},
		{name: "neither, null type", typ: `null`, fields: practitionerFields, errs: []string{"type"}},
		{name: "neither, empty type", typ: `""`, fields: practitionerFields, errs: []string{"type"}},
		{name: "fixed kind, fields still required", kind: novamed.KindPractitioner, errs: []string{"fields"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"event_id":"fs-1",`
			if tt.typ != "" {
				body += `"type":` + tt.typ + `,`
			}
			if tt.fields != "" {
				body += `"fields":` + tt.fields + `,`
			}
			body = strings.TrimSuffix(body, ",") + `}`
			res, err := Parse(FormatForm, []byte(body), withKind(tt.kind))
			if tt.errs != nil {
				var pe *PayloadError
				require.ErrorAs(t, err, &pe)
				assert.Equal(t, tt.errs, pe.Fields)
				assert.Empty(t, res.Records)
				assertNoValues(t, body, err)
				return
			}
			require.NoError(t, err)
			require.Len(t, res.Records, 1)
			assert.Equal(t, tt.want, res.Records[0].Kind)
			assert.Equal(t, "fs-1", res.EventID)
			// The fixed kind changes nothing but where the kind comes from:
			// the same fields with an explicit type map to the same record.
			typed := mustParse(t, FormatForm, `{"event_id":"fs-1","type":"`+string(tt.want)+`","fields":`+tt.fields+`}`, formOpts)
			assert.True(t, reflect.DeepEqual(typed, res), "result differs from the explicitly typed payload's")
		})
	}
}

func TestParseTypeformErrors(t *testing.T) {
	runErrCases(t, []errCase{
		{name: "wrong event type", format: FormatTypeform, opts: typeformOpts, body: `{"event_type":"form_response_partial","form_response":{}}`, fields: []string{"event_type"}},
		{name: "no form_response", format: FormatTypeform, opts: typeformOpts, body: `{"event_type":"form_response"}`, fields: []string{"form_response"}},
	})
}

func TestParseTypeformHolds(t *testing.T) {
	answers := func(extra string) string {
		return `{"event_id":"e1","event_type":"form_response","form_response":{"answers":[
			{"type":"text","text":"Jo","field":{"ref":"first_name"}},
			{"type":"text","text":"Smith","field":{"ref":"last_name"}},
			{"type":"email","email":"jo@example.com","field":{"ref":"email"}}` + extra + `]}}`
	}
	dob := `,{"type":"date","date":"1980-02-03","field":{"ref":"dob"}}`
	runHoldCases(t, []holdCase{
		{name: "number answer mapped", format: FormatTypeform, opts: typeformOpts,
			body: answers(`,{"type":"number","number":19800203,"field":{"ref":"dob"}}`), held: "invalid_birth_date", fields: []string{"form_response.answers[3]"}},
		{name: "date answer holds a number", format: FormatTypeform, opts: typeformOpts,
			body: answers(`,{"type":"date","date":19800203,"field":{"ref":"dob"}}`), held: "invalid_birth_date", fields: []string{"form_response.answers[3]"}},
		{name: "missing date of birth", format: FormatTypeform, opts: typeformOpts,
			body: answers(""), held: "missing_birth_date", fields: []string{"records[0].date_of_birth"}},
		{name: "partial date", format: FormatTypeform, opts: typeformOpts,
			body: answers(`,{"type":"date","date":"1980-02","field":{"ref":"dob"}}`), held: "partial_birth_date", fields: []string{"form_response.answers[3]"}},
		{name: "several choices dropped", format: FormatTypeform, opts: typeformOpts,
			body:    answers(dob + `,{"type":"choices","choices":{"labels":["Male","Female"]},"field":{"ref":"gender"}}`),
			dropped: []string{"form_response.answers[4]"}},
	})
}

func TestOptionsValidate(t *testing.T) {
	for _, tt := range []struct {
		name   string
		format Format
		opts   Options
		want   error
	}{
		{"unknown format", "hl7v2", fhirOpts, ErrUnknownFormat},
		{"empty clinic", FormatFHIR, Options{}, ErrInvalidOptions},
		{"clinic not a UUID", FormatFHIR, Options{ClinicID: "clinic-1"}, ErrInvalidOptions},
		{"form targets clinic", FormatForm, Options{ClinicID: testClinic, FieldMap: map[string]string{"c": "clinic_id"}}, ErrInvalidOptions},
		{"form targets unknown", FormatForm, Options{ClinicID: testClinic, FieldMap: map[string]string{"c": "dob"}}, ErrInvalidOptions},
		{"typeform without kind", FormatTypeform, Options{ClinicID: testClinic, FieldMap: map[string]string{"a": "email"}}, ErrInvalidOptions},
		{"typeform without map", FormatTypeform, Options{ClinicID: testClinic, Kind: novamed.KindPatient}, ErrInvalidOptions},
		{"form with an unknown kind", FormatForm, Options{ClinicID: testClinic, Kind: "nurse"}, ErrInvalidOptions},
		{"typeform wrong kind field", FormatTypeform, Options{ClinicID: testClinic, Kind: novamed.KindPatient, FieldMap: map[string]string{"n": "npi_number"}}, ErrInvalidOptions},
		{"fhir ok", FormatFHIR, fhirOpts, nil},
		{"form ok", FormatForm, formOpts, nil},
		{"form without map ok", FormatForm, Options{ClinicID: testClinic}, nil},
		{"form with a kind ok", FormatForm, Options{ClinicID: testClinic, Kind: novamed.KindPractitioner}, nil},
		{"typeform ok", FormatTypeform, typeformOpts, nil},
		{"tally without kind", FormatTally, Options{ClinicID: testClinic, FieldMap: map[string]string{"a": "email"}}, ErrInvalidOptions},
		{"formstack without map", FormatFormstack, Options{ClinicID: testClinic, Kind: novamed.KindPatient}, ErrInvalidOptions},
		{"jotform wrong kind field", FormatJotform, Options{ClinicID: testClinic, Kind: novamed.KindPatient, FieldMap: map[string]string{"n": "npi_number"}}, ErrInvalidOptions},
		{"tally ok", FormatTally, tallyOpts, nil},
		{"formstack ok", FormatFormstack, formstackOpts, nil},
		{"jotform ok", FormatJotform, jotformOpts, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts.Validate(tt.format)
			if tt.want == nil {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, tt.want)
			_, perr := Parse(tt.format, []byte(okPatient), tt.opts)
			assert.ErrorIs(t, perr, tt.want)
		})
	}
}

func mustParse(t *testing.T, f Format, body string, opts Options) Result {
	t.Helper()
	res, err := Parse(f, []byte(body), opts)
	require.NoError(t, err)
	return res
}

// Duplicate keys: the last one wins, as in encoding/json (documented).
func TestDuplicateKeysLastWins(t *testing.T) {
	res := mustParse(t, FormatFHIR, `{"resourceType":"Patient","name":[{"family":"First","family":"Last","given":["Jo"]}],
		"telecom":[{"system":"email","value":"jo@example.com"}],"birthDate":"1999-01-01","birthDate":"1980-02-03"}`, fhirOpts)
	require.Len(t, res.Records, 1)
	assert.True(t, res.Records[0].Patient.LastName == "Last", "last family key wins")
	assert.True(t, res.Records[0].Patient.DateOfBirth == "1980-02-03", "last birthDate key wins")

	res = mustParse(t, FormatForm, `{"type":"patient","type":"practitioner","fields":{"given_name":"Jo","surname":"Smith",
		"email_address":"jo@example.com","npi":"1234567893","npi":"1245319599"}}`, formOpts)
	require.Len(t, res.Records, 1)
	assert.Equal(t, novamed.KindPractitioner, res.Records[0].Kind)
	assert.True(t, res.Records[0].Practitioner.NPINumber == "1245319599", "last npi key wins")

	// A string then a number: the number wins, and the record is held.
	res = mustParse(t, FormatFHIR, `{"resourceType":"Patient","name":[{"family":"A","family":1,"given":["Jo"]}],
		"telecom":[{"system":"email","value":"jo@example.com"}],"birthDate":"1980-02-03"}`, fhirOpts)
	require.Len(t, res.Records, 1)
	require.NotNil(t, res.Records[0].Hold)
	assert.Equal(t, []string{"name[0].family"}, res.Records[0].Hold.Fields)
}

func TestFormWithoutFieldMap(t *testing.T) {
	res := mustParse(t, FormatForm, `{"type":"patient","fields":{"first_name":"Jo","last_name":"Smith","date_of_birth":"1980-02-03",
		"email":"jo@example.com","clinic_id":"00000000-0000-4000-8000-000000000000","First_Name":"X","ssn":"000-00-0000"}}`,
		Options{ClinicID: testClinic})
	require.Len(t, res.Records, 1)
	p := res.Records[0].Patient
	assert.True(t, p.ClinicID == testClinic, "clinic comes from options, never the sender")
	assert.True(t, p.FirstName == "Jo", "exact keys map")
	assert.Equal(t, 3, res.Skipped, "clinic_id, First_Name and ssn are dropped and counted")
}

func TestTypeformHiddenAndSkipped(t *testing.T) {
	opts := Options{ClinicID: testClinic, Kind: novamed.KindPatient, FieldMap: map[string]string{
		"fn": "first_name", "ln": "last_name", "hidden.dob": "date_of_birth", "hidden.mail": "email"}}
	res := mustParse(t, FormatTypeform, `{"event_id":"ev 1","event_type":"form_response","form_response":{
		"hidden":{"dob":"1980-02-03","mail":"jo@example.com","utm":"x"},
		"answers":[{"type":"text","text":"Jo","field":{"ref":"fn"}},{"type":"text","text":"Smith","field":{"ref":"ln"}},
		{"type":"text","text":"free text","field":{"ref":"notes"}},{"type":"text","text":"no ref","field":{"id":"x"}}]}}`, opts)
	require.Len(t, res.Records, 1)
	assert.True(t, res.Records[0].Patient.DateOfBirth == "1980-02-03", "hidden fields map")
	assert.Equal(t, 2, res.Skipped)
	assert.True(t, strings.HasPrefix(res.EventID, "sha256:"), "an event id with a space is hashed")
}

func TestEventID(t *testing.T) {
	assert.Equal(t, "01JBXK3ZBHA2WA9AZSA2KPJ6RJ", eventID("01JBXK3ZBHA2WA9AZSA2KPJ6RJ"))
	assert.Equal(t, "", eventID(""))
	long := eventID(strings.Repeat("a", 129))
	assert.Len(t, long, len("sha256:")+64)
	assert.Equal(t, long, eventID(strings.Repeat("a", 129)), "hashing is stable")
	assert.NotEqual(t, eventID("a b"), eventID("a  b"))
}

func TestBOMAndWhitespace(t *testing.T) {
	body := append([]byte{0xEF, 0xBB, 0xBF, '\n', ' '}, okPatient...)
	res, err := Parse(FormatFHIR, body, fhirOpts)
	require.NoError(t, err)
	assert.Len(t, res.Records, 1)
}

func TestInvalidUTF8IsRejectedNotReplaced(t *testing.T) {
	body := strings.Replace(okPatient, "Smith", "Sm\xffith", 1)
	res := mustParse(t, FormatFHIR, body, fhirOpts)
	require.Len(t, res.Records, 1)
	require.NotNil(t, res.Records[0].Hold, "invalid UTF-8 is never sent, nor replaced")
	assert.Equal(t, "invalid_name", res.Records[0].Hold.Reason)
	assert.Equal(t, []string{"name[0].family"}, res.Records[0].Hold.Fields)
}

func TestSkippedCounts(t *testing.T) {
	res := mustParse(t, FormatFHIR, `{"resourceType":"Bundle","type":"transaction","entry":[
		{"request":{"method":"DELETE","url":"Patient/1"}},
		{"resource":{"resourceType":"Bundle","type":"collection","entry":[{"resource":`+okPatient+`}]}},
		{"resource":{"resourceType":"Organization","name":"Acme","identifier":{"value":"x"}}},
		{"resource":`+okPatient+`}]}`, fhirOpts)
	assert.Len(t, res.Records, 1)
	assert.Equal(t, 3, res.Skipped)

	// A bundle of other resources only is accepted with nothing to deliver.
	res = mustParse(t, FormatFHIR, `{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Observation"}}]}`, fhirOpts)
	assert.Empty(t, res.Records)
	assert.Equal(t, 1, res.Skipped)
}

func TestPayloadErrorText(t *testing.T) {
	err := &PayloadError{Fields: []string{"name[0].family", "birthDate"}}
	assert.Equal(t, "inbound: invalid payload: name[0].family, birthDate", err.Error())
	assert.True(t, errors.As(error(err), new(*PayloadError)))
}

func TestCheckDepth(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	for _, tt := range []struct {
		name string
		body string
		want error
	}{
		{"at the limit", `{"a":` + deep(MaxDepth-1) + `}`, nil},
		{"one over", `{"a":` + deep(MaxDepth) + `}`, ErrTooDeep},
		{"brackets inside a string", `{"a":"` + deep(100) + `"}`, nil},
		{"escaped quote inside a string", `{"a":"\"` + deep(100) + `"}`, nil},
		{"escaped backslash then brackets", `{"a":"\\",` + `"b":` + deep(MaxDepth) + `}`, ErrTooDeep},
		{"unterminated string", `{"a":"[[[[`, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, checkDepth([]byte(tt.body)))
		})
	}
}
