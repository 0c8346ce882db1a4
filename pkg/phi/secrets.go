package phi

import (
	"reflect"

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
// json tags (see jsonscan.StringFields), so a field added to novamed is covered
// without a change here; a type whose encoding the layout cannot predict
// falls back to collectSecrets over the marshalled body.
func recordSecrets(rec novamed.Record, known map[string]treatment, kept map[string]bool) ([]string, error) {
	var v reflect.Value
	var layout []jsonscan.StringField
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
		s := v.Field(f.Index).String()
		if f.OmitEmpty && s == "" {
			continue // json.Marshal leaves the key out
		}
		if _, ok := known[f.Name]; !ok {
			out = append(out, f.Name)
		}
		if !kept[f.Name] {
			out = append(out, jsonscan.AsMarshalled(s))
		}
	}
	return out, nil
}

var (
	patientWire      = jsonscan.StringFields(reflect.TypeFor[novamed.PatientRequest]())
	practitionerWire = jsonscan.StringFields(reflect.TypeFor[novamed.PractitionerRequest]())
)
