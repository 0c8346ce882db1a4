package inbound

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/pkg/novamed"
)

// Test payloads of the form tools. Each is written to match the vendor's
// public documentation of its webhook:
//   - testdata/tally/patient.json: Tally, https://tally.so/help/webhooks
//     ("Example payload": eventId, eventType FORM_RESPONSE, data.fields with
//     key, label, type, value; choice values as option ids with options).
//   - testdata/formstack/patient.json and patient.urlencoded: Formstack,
//     https://developers.formstack.com/docs/webhook-setup and
//     webhook-examples (JSON: a flat map by field name, compound fields as
//     objects; URL-encoded, the default: sub-fields as "first = John" lines;
//     FormID, UniqueID, HandshakeKey beside the answers).
//   - testdata/jotform/patient.multipart: Jotform,
//     https://www.jotform.com/help/245-how-to-setup-a-webhook-with-jotform/
//     (multipart/form-data: formID, submissionID, webhookURL, ip, formTitle,
//     pretty, username, rawRequest as a JSON string, type).
//   - the Typeform answers without ref: Typeform's early docs example,
//     https://www.typeform.com/developers/webhooks/example-payload/ (field
//     id and type only, titles in form_response.definition.fields).

const jotformBoundary = "----JotformBoundary7MA4YWxkTrZu0gW"

var (
	tallyOpts = Options{ClinicID: testClinic, Kind: novamed.KindPatient, FieldMap: map[string]string{
		"question_3EKz4n": "first_name", // by key
		"Last name":       "last_name",  // by label
		"Email":           "email",
		"question_n0G8dK": "date_of_birth",
		"Phone number":    "phone",
		"Gender":          "gender",
		"State":           "state",
		"ZIP code":        "zip",
	}}
	formstackOpts = Options{ClinicID: testClinic, Kind: novamed.KindPatient, FieldMap: map[string]string{
		"Name.first": "first_name", "Name.last": "last_name", "Email": "email", "Date of Birth": "date_of_birth",
		"Phone": "phone", "Gender": "gender", "Address.address": "address_line1", "Address.address2": "address_line2",
		"Address.city": "city", "Address.state": "state", "Address.zip": "zip",
	}}
	jotformOpts = Options{ClinicID: testClinic, Kind: novamed.KindPatient, ContentType: "multipart/form-data; boundary=" + jotformBoundary,
		FieldMap: map[string]string{
			"q3_fullName.first": "first_name", "q3_fullName.last": "last_name", "q4_email": "email",
			"q5_birthDate": "date_of_birth", "q6_phoneNumber.full": "phone", "q8_gender": "gender",
			"q7_address.addr_line1": "address_line1", "q7_address.addr_line2": "address_line2",
			"q7_address.city": "city", "q7_address.state": "state", "q7_address.postal": "zip",
		}}
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

func TestParseTools(t *testing.T) {
	urlencoded := formstackOpts
	urlencoded.ContentType = "application/x-www-form-urlencoded; charset=utf-8"
	wantFormstack := novamed.PatientRequest{ClinicID: testClinic, FirstName: "Theodora", LastName: "Wexley-Brandt",
		DateOfBirth: "1967-03-21", Email: "t.wexley@example.org", Gender: "female", Phone: "(555) 010-0144",
		AddressLine1: "881 Larkspur Terrace", AddressLine2: "Unit 12", City: "Bozeman", State: "MT", Zip: "59715"}
	for _, tt := range []struct {
		name    string
		format  Format
		file    string
		opts    Options
		want    novamed.PatientRequest
		event   string
		skipped int
	}{
		{
			name: "tally", format: FormatTally, file: "tally/patient.json", opts: tallyOpts,
			want: novamed.PatientRequest{ClinicID: testClinic, FirstName: "Marisol", LastName: "Quintanilla",
				DateOfBirth: "1984-07-09", Email: "marisol.q@example.net", Gender: "female", Phone: "+15550100187",
				State: "OR", Zip: "97214"},
			event: "a4cb511e-d513-4fa5-baee-b815d718dfd1",
			// the symptoms checkboxes, their two per-option booleans, the upload
			skipped: 4,
		},
		{
			name: "formstack json", format: FormatFormstack, file: "formstack/patient.json", opts: formstackOpts,
			want: wantFormstack, event: "1144782219",
			// Reason for visit, Current medications (FormID, UniqueID,
			// HandshakeKey are Formstack's own, never answers)
			skipped: 2,
		},
		{
			name: "formstack url-encoded", format: FormatFormstack, file: "formstack/patient.urlencoded", opts: urlencoded,
			want: wantFormstack, event: "1144782220", skipped: 1,
		},
		{
			name: "jotform", format: FormatJotform, file: "jotform/patient.multipart", opts: jotformOpts,
			want: novamed.PatientRequest{ClinicID: testClinic, FirstName: "Evander", LastName: "Okonkwo-Reyes",
				DateOfBirth: "1991-02-05", Email: "evander.or@example.com", Gender: "male", Phone: "(555) 010-0163",
				AddressLine1: "4410 Quillfeather Rd", City: "Tucson", State: "AZ", Zip: "85719"},
			event: "5938172630041125501",
			// q7_address.country, q9_symptoms (slug, event_id, path... are
			// Jotform's own, never answers; the date's parts are the date)
			skipped: 2,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Parse(tt.format, readTestdata(t, tt.file), tt.opts)
			require.NoError(t, err)
			require.Len(t, res.Records, 1)
			assert.Equal(t, novamed.KindPatient, res.Records[0].Kind)
			assert.Equal(t, tt.want, *res.Records[0].Patient)
			assert.Equal(t, tt.event, res.EventID)
			assert.Equal(t, tt.skipped, res.Skipped)
		})
	}
}

// tallyBody is a Tally payload with the given fields.
func tallyBody(fields string) string {
	return `{"eventId":"evt-1","eventType":"FORM_RESPONSE","data":{"fields":[` + fields + `]}}`
}

func TestTallyValues(t *testing.T) {
	opts := Options{ClinicID: testClinic, Kind: novamed.KindPatient, FieldMap: map[string]string{
		"fn": "first_name", "ln": "last_name", "em": "email", "Date of birth": "date_of_birth", "g": "gender", "zip": "zip",
	}}
	base := `{"key":"fn","label":"First","type":"INPUT_TEXT","value":"Jo"},{"key":"ln","label":"Last","type":"INPUT_TEXT","value":"Smith"},` +
		`{"key":"em","label":"Email","type":"INPUT_EMAIL","value":"jo@example.com"},` +
		`{"key":"q_dob","label":"Date of birth","type":"INPUT_DATE","value":"1980-02-03"}`
	t.Run("label when the key is not mapped; dropdown option text; number", func(t *testing.T) {
		res := mustParse(t, FormatTally, tallyBody(base+
			`,{"key":"g","label":"Sex","type":"DROPDOWN","value":["o2"],"options":[{"id":"o1","text":"Male"},{"id":"o2","text":"Other"}]}`+
			`,{"key":"zip","label":"ZIP","type":"INPUT_NUMBER","value":97214}`), opts)
		p := res.Records[0].Patient
		assert.Equal(t, "1980-02-03", p.DateOfBirth)
		assert.Equal(t, "other", p.Gender)
		assert.Equal(t, "97214", p.Zip, "a number reads as its digits")
	})
	t.Run("a key wins over a label", func(t *testing.T) {
		o := opts
		o.FieldMap = map[string]string{"fn": "first_name", "ln": "last_name", "em": "email", "q_dob": "date_of_birth", "First": "city"}
		res := mustParse(t, FormatTally, tallyBody(base), o)
		assert.Equal(t, "Jo", res.Records[0].Patient.FirstName)
		assert.Empty(t, res.Records[0].Patient.City, "the field's key is mapped, its label is not used")
	})
	// An upload mapped to gender cannot be text: the optional field is
	// dropped, the person is not held for it.
	runHoldCases(t, []holdCase{{name: "an upload mapped", format: FormatTally, opts: opts,
		body:    tallyBody(base + `,{"key":"g","label":"G","type":"FILE_UPLOAD","value":[{"id":"x","url":"https://x"}]}`),
		dropped: []string{"data.fields[4]"}}})
	runErrCases(t, []errCase{
		{name: "not a form response", format: FormatTally, opts: opts,
			body: `{"eventId":"e","eventType":"FORM_PARTIAL","data":{"fields":[]}}`, fields: []string{"eventType"}},
		{name: "no data", format: FormatTally, opts: opts, body: `{"eventId":"e","eventType":"FORM_RESPONSE"}`, fields: []string{"data"}},
		{name: "fields not an array", format: FormatTally, opts: opts,
			body: `{"eventType":"FORM_RESPONSE","data":{"fields":{}}}`, fields: []string{"data.fields"}},
	})
}

// mapOnly runs a form format's parser without validating the record, and
// returns the record, the result and the mapping's problem paths: what the
// answers became, whatever becomes of an incomplete record afterwards.
func mapOnly(t *testing.T, f Format, body string, opts Options) (novamed.Record, Result, []string) {
	t.Helper()
	var (
		p   parsed
		res Result
		err error
	)
	b := []byte(body)
	if f.bodyIsJSON(opts.ContentType) {
		b, err = checkJSON(b)
		require.NoError(t, err)
	}
	switch f {
	case FormatTally:
		res, err = parseTally(b, opts, &p)
	case FormatFormstack:
		res, err = parseFormstack(b, opts, &p)
	case FormatJotform:
		res, err = parseJotform(b, opts, &p)
	case FormatTypeform:
		res, err = parseTypeform(b, opts, &p)
	}
	require.NoError(t, err)
	require.Len(t, p.recs, 1)
	var paths []string
	for _, q := range p.problems {
		paths = append(paths, q.path)
	}
	return p.recs[0].rec, res, paths
}

func TestIncompleteAnswersMapAsFarAsTheyGo(t *testing.T) {
	t.Run("tally: only a first name", func(t *testing.T) {
		opts := Options{ClinicID: testClinic, Kind: novamed.KindPatient, FieldMap: map[string]string{"fn": "first_name", "em": "email"}}
		rec, res, problems := mapOnly(t, FormatTally, tallyBody(`{"key":"fn","label":"First","type":"INPUT_TEXT","value":"Jo"}`), opts)
		assert.Equal(t, novamed.PatientRequest{ClinicID: testClinic, FirstName: "Jo"}, *rec.Patient)
		assert.Empty(t, problems, "a missing answer is no mapping problem: validation (and holding) judge the record")
		assert.Equal(t, "evt-1", res.EventID)
	})
	t.Run("formstack: a compound mapped whole is a problem at its name", func(t *testing.T) {
		opts := Options{ClinicID: testClinic, Kind: novamed.KindPatient, FieldMap: map[string]string{"Name": "first_name"}}
		rec, res, problems := mapOnly(t, FormatFormstack, `{"Name":{"first":"Ada","last":"L"}}`, opts)
		assert.Empty(t, rec.Patient.FirstName)
		assert.Equal(t, []string{"Name"}, problems)
		assert.Equal(t, 2, res.Skipped, "Name.first and Name.last")
	})
	t.Run("formstack: JSON posted as url-encoded maps nothing", func(t *testing.T) {
		opts := Options{ClinicID: testClinic, Kind: novamed.KindPatient, ContentType: "application/x-www-form-urlencoded",
			FieldMap: map[string]string{"Email": "email"}}
		rec, res, problems := mapOnly(t, FormatFormstack, `{"Email":"a@example.org"}`, opts)
		assert.Empty(t, rec.Patient.Email)
		assert.Empty(t, problems)
		assert.Equal(t, 1, res.Skipped, "the whole body reads as one unknown field name")
	})
	t.Run("jotform: a partial date is a problem at the date", func(t *testing.T) {
		body := multipartBody([2]string{"rawRequest", `{"q4_email":"a@example.org","q5_birthDate":{"month":"7","day":"","year":"1990"}}`})
		rec, _, problems := mapOnly(t, FormatJotform, body, jotformOpts)
		assert.Equal(t, "a@example.org", rec.Patient.Email)
		assert.Empty(t, rec.Patient.DateOfBirth)
		assert.Equal(t, []string{"rawRequest.q5_birthDate"}, problems)
	})
}

func TestFormstackShapes(t *testing.T) {
	opts := Options{ClinicID: testClinic, Kind: novamed.KindPractitioner, FieldMap: map[string]string{
		"Name.first": "first_name", "Name.last": "last_name", "Email": "email", "NPI": "npi_number", "HandshakeKey.x": "phone",
	}}
	t.Run("the handshake key is never an answer", func(t *testing.T) {
		body := `{"UniqueID":123,"HandshakeKey":{"x":"+15550100199"},"Name":{"first":"Ada","last":"Lovelace"},"Email":"ada@example.org","NPI":"1234567893"}`
		res := mustParse(t, FormatFormstack, body, opts)
		assert.Empty(t, res.Records[0].Practitioner.Phone)
		assert.Equal(t, "123", res.EventID, "a numeric UniqueID is the event id")
		assert.Equal(t, 0, res.Skipped)
	})
	t.Run("url-encoded without sub-field names", func(t *testing.T) {
		o := opts
		o.ContentType = "application/x-www-form-urlencoded"
		o.FieldMap = map[string]string{"First": "first_name", "Last": "last_name", "Email": "email", "NPI": "npi_number"}
		res := mustParse(t, FormatFormstack, "UniqueID=9&First=Ada&Last=Love+lace&Email=ada%40example.org&NPI=1234567893&NPI=1234567893", o)
		assert.Equal(t, "Love lace", res.Records[0].Practitioner.LastName)
		assert.Equal(t, "9", res.EventID)
	})
	t.Run("json with sub-field names", func(t *testing.T) {
		body := `{"Name":"first = Ada\nlast = Lovelace","Email":"ada@example.org","NPI":"1234567893"}`
		res := mustParse(t, FormatFormstack, body, opts)
		assert.Equal(t, "Ada", res.Records[0].Practitioner.FirstName)
		assert.Equal(t, "Lovelace", res.Records[0].Practitioner.LastName)
	})
	urlOpts := opts
	urlOpts.ContentType = "application/x-www-form-urlencoded"
	runErrCases(t, []errCase{
		{name: "not an object", format: FormatFormstack, opts: opts, body: `[]`, fields: []string{"$"}},
		{name: "bad url encoding", format: FormatFormstack, opts: urlOpts, body: "Name=%zz", fields: []string{"$"}},
		{name: "not JSON", format: FormatFormstack, opts: opts, body: "Name=Ada", want: ErrNotJSON},
	})
}

// multipartBody builds a Jotform-like body of the given parts.
func multipartBody(parts ...[2]string) string {
	var b strings.Builder
	for _, p := range parts {
		b.WriteString("--" + jotformBoundary + "\r\nContent-Disposition: form-data; name=\"" + p[0] + "\"\r\n\r\n" + p[1] + "\r\n")
	}
	b.WriteString("--" + jotformBoundary + "--\r\n")
	return b.String()
}

func TestJotformShapes(t *testing.T) {
	full := `"q3_fullName":{"first":"Ada","last":"Byron"},"q4_email":"ada@example.org"`
	t.Run("an empty date is no answer; a one-digit month is padded", func(t *testing.T) {
		res, err := Parse(FormatJotform, []byte(multipartBody([2]string{"rawRequest", `{` + full + `,"q5_birthDate":{"month":"7","day":"14","year":"1990"}}`})), jotformOpts)
		require.NoError(t, err)
		assert.Equal(t, "1990-07-14", res.Records[0].Patient.DateOfBirth)
		assert.Empty(t, res.EventID, "no submissionID part, no event id")
	})
	many := make([][2]string, jotformMaxParts+1)
	for i := range many {
		many[i] = [2]string{"x", "y"}
	}
	runErrCases(t, []errCase{
		{name: "no rawRequest", format: FormatJotform, opts: jotformOpts,
			body: multipartBody([2]string{"submissionID", "1"}), fields: []string{"rawRequest"}},
		{name: "rawRequest not JSON", format: FormatJotform, opts: jotformOpts,
			body: multipartBody([2]string{"rawRequest", "q3=x"}), fields: []string{"rawRequest"}},
		{name: "rawRequest too deep", format: FormatJotform, opts: jotformOpts,
			body: multipartBody([2]string{"rawRequest", strings.Repeat("[", MaxDepth+1)}), want: ErrTooDeep},
		// A body without the boundary has no parts, so no rawRequest.
		{name: "too many parts", format: FormatJotform, opts: jotformOpts, body: multipartBody(many...), fields: []string{"$"}},
		{name: "not multipart", format: FormatJotform, opts: jotformOpts, body: `{"q4_email":"a@example.org"}`, fields: []string{"rawRequest"}},
		{name: "no boundary", format: FormatJotform,
			opts: Options{ClinicID: testClinic, Kind: novamed.KindPatient, FieldMap: jotformOpts.FieldMap, ContentType: "multipart/form-data"},
			body: multipartBody(), fields: []string{"$"}},
		{name: "submissionID too long", format: FormatJotform, opts: jotformOpts,
			body: multipartBody([2]string{"submissionID", strings.Repeat("9", jotformMaxIDLen+1)}), fields: []string{"submissionID"}},
	})
}

// typeformNoRef is an older Typeform delivery: answers carry field.id and
// no ref; the titles are in the definition.
const typeformNoRef = `{"event_id":"LtWXD3crgy","event_type":"form_response","form_response":{"form_id":"lT4Z3j",
"definition":{"id":"lT4Z3j","title":"Intake","fields":[
 {"id":"DlXFaesGBpoF","title":"What is your first name?","type":"short_text"},
 {"id":"SMEUb7VJz92Q","title":"And your last name?","type":"short_text"},
 {"id":"JwWggjAKtOkA","title":"Your email","type":"email"},
 {"id":"KoJxDM3c6x8h","title":"Date of birth","type":"date"},
 {"id":"k6TP9oLGgHjl","title":"Gender","type":"multiple_choice"},
 {"id":"PNe8ZKBK8C2Q","title":"How many visits last year?","type":"number"},
 {"id":"RUqkXSeXBXSd","title":"Do you consent?","type":"yes_no"}]},
"hidden":{"clinic_ref":"north"},
"answers":[
 {"type":"text","text":"Laura","field":{"id":"DlXFaesGBpoF","type":"short_text"}},
 {"type":"text","text":"Okafor","field":{"id":"SMEUb7VJz92Q","type":"short_text"}},
 {"type":"email","email":"laura@example.com","field":{"id":"JwWggjAKtOkA","type":"email"}},
 {"type":"date","date":"1990-01-02","field":{"id":"KoJxDM3c6x8h","type":"date"}},
 {"type":"choice","choice":{"label":"Female"},"field":{"id":"k6TP9oLGgHjl","type":"multiple_choice"}},
 {"type":"number","number":4,"field":{"id":"PNe8ZKBK8C2Q","type":"number"}},
 {"type":"boolean","boolean":true,"field":{"id":"RUqkXSeXBXSd","type":"yes_no"}}]}}`

func TestTypeformWithoutRef(t *testing.T) {
	opts := Options{ClinicID: testClinic, Kind: novamed.KindPatient, FieldMap: map[string]string{
		"id:DlXFaesGBpoF":                  "first_name",
		"title:And your last name?":        "last_name",
		"id:JwWggjAKtOkA":                  "email",
		"title:Date of birth":              "date_of_birth",
		"title:Gender":                     "gender",
		"title:How many visits last year?": "address_line2", // any string field: shows the number's text
		"id:RUqkXSeXBXSd":                  "city",
	}}
	res := mustParse(t, FormatTypeform, typeformNoRef, opts)
	p := res.Records[0].Patient
	assert.Equal(t, novamed.PatientRequest{ClinicID: testClinic, FirstName: "Laura", LastName: "Okafor", Email: "laura@example.com",
		DateOfBirth: "1990-01-02", Gender: "female", AddressLine2: "4", City: "true"}, *p)
	assert.Equal(t, "LtWXD3crgy", res.EventID)
	assert.Equal(t, 0, res.Skipped)

	t.Run("a ref wins over id and title", func(t *testing.T) {
		body := strings.Replace(typeformNoRef, `"field":{"id":"DlXFaesGBpoF"`, `"field":{"ref":"first","id":"DlXFaesGBpoF"`, 1)
		o := Options{ClinicID: testClinic, Kind: novamed.KindPatient, FieldMap: map[string]string{}}
		for k, v := range opts.FieldMap {
			o.FieldMap[k] = v
		}
		o.FieldMap["first"] = "first_name"
		o.FieldMap["id:DlXFaesGBpoF"] = "address_line1"
		res := mustParse(t, FormatTypeform, body, o)
		assert.Equal(t, "Laura", res.Records[0].Patient.FirstName)
		assert.Empty(t, res.Records[0].Patient.AddressLine1)
	})
	t.Run("a ref posing as an id key stands for nothing", func(t *testing.T) {
		body := strings.Replace(typeformNoRef, `"field":{"id":"DlXFaesGBpoF"`, `"field":{"ref":"id:JwWggjAKtOkA","id":"DlXFaesGBpoF"`, 1)
		res := mustParse(t, FormatTypeform, body, opts)
		assert.Equal(t, "Laura", res.Records[0].Patient.FirstName)
		assert.Equal(t, "laura@example.com", res.Records[0].Patient.Email)
	})
	t.Run("several choices and the other text join", func(t *testing.T) {
		o := Options{ClinicID: testClinic, Kind: novamed.KindPatient, FieldMap: map[string]string{"c": "city", "f": "address_line1"}}
		body := `{"event_type":"form_response","form_response":{"answers":[` +
			`{"type":"choices","choices":{"labels":["Salem","Bend"],"other":"Hood River"},"field":{"ref":"c"}},` +
			`{"type":"file_url","file_url":"https://x.example/f","field":{"ref":"f"}}]}}`
		rec, _, problems := mapOnly(t, FormatTypeform, body, o)
		assert.Equal(t, "Salem, Bend, Hood River", rec.Patient.City)
		assert.Equal(t, []string{"form_response.answers[1]"}, problems, "a file is no text")
	})
}

func TestAcceptsContentType(t *testing.T) {
	for _, tt := range []struct {
		f    Format
		ct   string
		want bool
	}{
		{FormatJotform, "multipart/form-data; boundary=x", true},
		{FormatJotform, "multipart/form-data", false},
		{FormatJotform, "application/json", false},
		{FormatJotform, "", false},
		{FormatFormstack, "application/x-www-form-urlencoded; charset=utf-8", true},
		{FormatFormstack, "application/json", true},
		{FormatFormstack, "application/x-www-form-urlencoded; charset=latin1", false},
		{FormatTally, "application/x-www-form-urlencoded", false},
		{FormatTally, "application/json; charset=utf-8", true},
		{FormatTypeform, "multipart/form-data; boundary=x", false},
		{FormatFHIR, "application/fhir+json", true},
		{FormatForm, "", true},
		{FormatForm, "text/plain", false},
	} {
		assert.Equal(t, tt.want, tt.f.AcceptsContentType(tt.ct), "%s %q", tt.f, tt.ct)
	}
}
