package phi

import (
	"encoding"
	"encoding/json"
	"reflect"
	"strings"

	"github.com/novamed/bridge/internal/jsonscan"
	"github.com/novamed/bridge/pkg/novamed"
)

// collectSecrets returns every value of raw that the policy does not keep:
// the values of all top-level fields except those in kept, the names of
// fields the policy does not know (a key can hold PHI as easily as a value),
// and everything nested.
func collectSecrets(raw []byte, known map[string]treatment, kept map[string]bool) ([]string, error) {
	var out []string
	err := walkValues(raw, func(key string) {
		if _, ok := known[key]; !ok {
			out = append(out, key)
		}
	}, func(key, s string) bool {
		if !kept[key] {
			out = append(out, s)
		}
		return true
	})
	return out, err
}

// recordSecrets returns what collectSecrets returns for rec.Body(), in the
// same order, read from the struct instead of marshalled and parsed again.
// The wire layout of each request type is derived by reflection from its
// json tags (see wireLayout), so a field added to novamed is covered
// without a change here; a type whose encoding the layout cannot predict
// falls back to collectSecrets over the marshalled body.
func recordSecrets(rec novamed.Record, known map[string]treatment, kept map[string]bool) ([]string, error) {
	var v reflect.Value
	var layout []wireField
	switch {
	case rec.Kind == novamed.KindPatient && rec.Patient != nil && patientWire != nil:
		v, layout = reflect.ValueOf(rec.Patient).Elem(), patientWire
	case rec.Kind == novamed.KindPractitioner && rec.Practitioner != nil && practitionerWire != nil:
		v, layout = reflect.ValueOf(rec.Practitioner).Elem(), practitionerWire
	default:
		body, err := rec.Body()
		if err != nil {
			return nil, err
		}
		return collectSecrets(body, known, kept)
	}
	out := make([]string, 0, len(layout))
	for _, f := range layout {
		s := v.Field(f.index).String()
		if f.omitEmpty && s == "" {
			continue // json.Marshal leaves the key out
		}
		if _, ok := known[f.name]; !ok {
			out = append(out, f.name)
		}
		if !kept[f.name] {
			out = append(out, jsonscan.AsMarshalled(s))
		}
	}
	return out, nil
}

// wireField is one field of a request struct as json.Marshal writes it.
type wireField struct {
	name      string
	index     int
	omitEmpty bool
}

var (
	patientWire      = wireLayout(reflect.TypeFor[novamed.PatientRequest]())
	practitionerWire = wireLayout(reflect.TypeFor[novamed.PractitionerRequest]())
)

var (
	jsonMarshalerType = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
	stringType        = reflect.TypeFor[string]()
)

// wireLayout returns t's fields in the order json.Marshal writes them, or
// nil when t is anything but the simple case this package can predict
// exactly: a struct without custom marshalling whose every field is an
// exported plain string with a plain name and at most the omitempty option.
func wireLayout(t reflect.Type) []wireField {
	if t.Kind() != reflect.Struct {
		return nil
	}
	for _, m := range []reflect.Type{jsonMarshalerType, textMarshalerType} {
		if t.Implements(m) || reflect.PointerTo(t).Implements(m) {
			return nil
		}
	}
	var out []wireField
	seen := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || f.Anonymous || f.Type != stringType {
			return nil
		}
		tag, ok := f.Tag.Lookup("json")
		if !ok || tag == "-" {
			return nil
		}
		name, opts, _ := strings.Cut(tag, ",")
		if !plainName(name) || seen[name] || (opts != "" && opts != "omitempty") {
			return nil
		}
		seen[name] = true
		out = append(out, wireField{name: name, index: i, omitEmpty: opts == "omitempty"})
	}
	return out
}

// plainName: a JSON key json.Marshal writes without escaping.
func plainName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
