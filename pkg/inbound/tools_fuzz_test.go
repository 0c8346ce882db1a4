package inbound

import (
	"testing"

	"github.com/novamed/bridge/pkg/novamed"
)

// Fuzz targets of the form tools' parsers. Seeds: f.Add below and the files
// in testdata/fuzz/Fuzz<Tool>. The invariants are FuzzParse's: no panic,
// only declared errors, error paths that are plain paths (the field map
// keys here are plain), an empty result on error, records that validate,
// a safe event id.

// fuzzToolOpts map the testdata payloads with field map keys that are
// plain paths.
func fuzzToolOpts(fieldMap map[string]string, ct string) Options {
	return Options{ClinicID: testClinic, Kind: novamed.KindPatient, FieldMap: fieldMap, ContentType: ct}
}

// checkToolParse is checkParse for a form tool: a body that parses is
// exactly one record.
func checkToolParse(t *testing.T, res Result, err error) {
	t.Helper()
	if checkParse(t, res, err) && len(res.Records) != 1 {
		t.Fatalf("a form maps to %d records", len(res.Records))
	}
}

func FuzzParseTally(f *testing.F) {
	f.Add(readTestdata(f, "tally/patient.json"))
	f.Add([]byte(tallyBody(`{"key":"question_3EKz4n","value":["a"],"options":[{"id":"a","text":{}}]}`)))
	opts := fuzzToolOpts(map[string]string{
		"question_3EKz4n": "first_name", "question_w4Q4Xz": "last_name", "question_mVGEJz": "email",
		"question_n0G8dK": "date_of_birth", "question_nPyRk1": "gender", "question_wMGLrQ": "state", "Email": "phone",
	}, "")
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := Parse(FormatTally, body, opts)
		checkToolParse(t, res, err)
	})
}

func FuzzParseFormstack(f *testing.F) {
	f.Add(false, readTestdata(f, "formstack/patient.json"))
	f.Add(true, readTestdata(f, "formstack/patient.urlencoded"))
	f.Add(true, []byte("Name=first+%3D+A%0Alast+%3D+B&Name.first=C"))
	fm := map[string]string{
		"Name.first": "first_name", "Name.last": "last_name", "Email": "email", "Birth": "date_of_birth",
		"Address.zip": "zip", "Address.state": "state", "Name": "city",
	}
	jsonOpts := fuzzToolOpts(fm, "application/json")
	urlOpts := fuzzToolOpts(fm, "application/x-www-form-urlencoded")
	f.Fuzz(func(t *testing.T, urlencoded bool, body []byte) {
		opts := jsonOpts
		if urlencoded {
			opts = urlOpts
		}
		res, err := Parse(FormatFormstack, body, opts)
		checkToolParse(t, res, err)
	})
}

func FuzzParseJotform(f *testing.F) {
	f.Add(readTestdata(f, "jotform/patient.multipart"))
	f.Add([]byte(multipartBody([2]string{"rawRequest", `{"q5_birthDate":{"month":1,"day":2,"year":{}}}`})))
	opts := fuzzToolOpts(map[string]string{
		"q3_fullName.first": "first_name", "q3_fullName.last": "last_name", "q4_email": "email",
		"q5_birthDate": "date_of_birth", "q7_address.postal": "zip", "q7_address": "city",
	}, "multipart/form-data; boundary="+jotformBoundary)
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := Parse(FormatJotform, body, opts)
		checkToolParse(t, res, err)
	})
}

// FuzzParseTypeform is Typeform's own target (FuzzParse reaches Typeform
// only one input in four, and with a field map of refs alone). Its field
// map names an answer by each kind of key Typeform has: a ref, a field id,
// a question title from the form definition, and a hidden field, so the
// fuzzer can reach every way an answer is matched.
func FuzzParseTypeform(f *testing.F) {
	f.Add(readTestdata(f, "typeform/patient.json"))
	f.Add([]byte(`{"event_id":"e1","event_type":"form_response","form_response":{` +
		`"definition":{"fields":[{"id":"t1","title":"Last name?"},{"id":"t1","title":{}}]},` +
		`"hidden":{"mail":"a@example.com","x":1},` +
		`"answers":[{"type":"text","text":"Jo","field":{"id":"i1","ref":"id:i1"}},` +
		`{"type":"text","text":"Smith","field":{"id":"t1"}},` +
		`{"type":"choices","choices":{"labels":["a",1],"other":"b"},"field":{"ref":"gender"}},` +
		`{"type":"number","number":1e400,"field":{"id":"i1"}},{"type":"boolean","boolean":true,"field":{"ref":"first_name"}}]}}`))
	opts := fuzzToolOpts(map[string]string{
		"first_name": "first_name", "id:i1": "first_name", "title:Last name?": "last_name",
		"hidden.mail": "email", "dob": "date_of_birth", "gender": "gender", "phone": "phone",
	}, "")
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := Parse(FormatTypeform, body, opts)
		checkToolParse(t, res, err)
	})
}
