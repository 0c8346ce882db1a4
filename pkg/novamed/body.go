package novamed

import (
	"encoding/json"
	"reflect"

	"github.com/novamed/bridge/internal/jsonscan"
)

// Body returns the record's NovaMed request body as JSON: what json.Marshal
// writes for the request. Intake writes every record's body once or twice
// (the guard checks the de-identified one, the queue carries it), so the
// common case, plain text in every field, is written without reflection
// or escaping logic (see plainBody); any other record goes through
// json.Marshal.
func (r Record) Body() ([]byte, error) {
	switch {
	case r.Kind == KindPatient && r.Patient != nil:
		if b, ok := plainBody(reflect.ValueOf(r.Patient).Elem(), patientBody); ok {
			return b, nil
		}
		return json.Marshal(r.Patient)
	case r.Kind == KindPractitioner && r.Practitioner != nil:
		if b, ok := plainBody(reflect.ValueOf(r.Practitioner).Elem(), practitionerBody); ok {
			return b, nil
		}
		return json.Marshal(r.Practitioner)
	default:
		return nil, ErrUnknownKind
	}
}

// bodyField is a field of a request type as json.Marshal writes it, with
// its key as written (`"name":`).
type bodyField struct {
	jsonscan.StringField
	key string
}

var (
	patientBody      = bodyLayout(reflect.TypeFor[PatientRequest]())
	practitionerBody = bodyLayout(reflect.TypeFor[PractitionerRequest]())
)

// bodyLayout returns t's fields in json.Marshal's order, or nil unless t is
// the case plainBody can write exactly (jsonscan.StringFields).
func bodyLayout(t reflect.Type) []bodyField {
	fields := jsonscan.StringFields(t)
	if fields == nil {
		return nil
	}
	out := make([]bodyField, len(fields))
	for i, f := range fields {
		out[i] = bodyField{StringField: f, key: `"` + f.Name + `":`}
	}
	return out
}

// plainBody writes v's fields as json.Marshal does when every value is
// plain (see plainString); it reports false otherwise, or when layout is
// nil. TestBodyMatchesMarshal compares it with json.Marshal.
func plainBody(v reflect.Value, layout []bodyField) ([]byte, bool) {
	if layout == nil {
		return nil, false
	}
	n := 2
	for _, f := range layout {
		n += len(f.key) + len(v.Field(f.Index).String()) + 3
	}
	b := make([]byte, 0, n)
	b = append(b, '{')
	for _, f := range layout {
		s := v.Field(f.Index).String()
		if f.OmitEmpty && s == "" {
			continue
		}
		if !plainString(s) {
			return nil, false
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, f.key...)
		b = append(b, '"')
		b = append(b, s...)
		b = append(b, '"')
	}
	return append(b, '}'), true
}

// plainString reports whether json.Marshal writes s as it is between
// quotes: printable ASCII except '"' and '\\', and '<', '>' and '&',
// which json.Marshal escapes for HTML.
func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}
