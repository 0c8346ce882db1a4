package inbound

import (
	"reflect"
	"strings"

	"github.com/novamed/bridge/pkg/novamed"
)

// fieldTable maps a NovaMed field name to its struct field. It is derived
// from the json tags of the novamed request types, so the novamed package
// stays the one place that knows NovaMed's field names.
type fieldTable map[string]int

// configOnly are fields that come from configuration, never from a sender.
var configOnly = map[string]bool{"clinic_id": true, "assigned_clinic": true}

var (
	patientFields      = tableOf(reflect.TypeFor[novamed.PatientRequest]())
	practitionerFields = tableOf(reflect.TypeFor[novamed.PractitionerRequest]())
)

func tableOf(t reflect.Type) fieldTable {
	m := fieldTable{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" && !configOnly[name] && t.Field(i).Type.Kind() == reflect.String {
			m[name] = i
		}
	}
	return m
}

func tableFor(k novamed.Kind) fieldTable {
	switch k {
	case novamed.KindPatient:
		return patientFields
	case novamed.KindPractitioner:
		return practitionerFields
	}
	return nil
}

func (t fieldTable) has(name string) bool {
	_, ok := t[name]
	return ok
}

// newRecord returns an empty record of kind k with the clinic filled in.
func newRecord(k novamed.Kind, clinic string) novamed.Record {
	if k == novamed.KindPatient {
		return novamed.Record{Kind: k, Patient: &novamed.PatientRequest{ClinicID: clinic}}
	}
	return novamed.Record{Kind: k, Practitioner: &novamed.PractitionerRequest{AssignedClinic: clinic}}
}

// set stores v in the named field of the record. The field must be in the
// record kind's table.
func set(rec novamed.Record, field, v string) {
	switch rec.Kind {
	case novamed.KindPatient:
		reflect.ValueOf(rec.Patient).Elem().Field(patientFields[field]).SetString(v)
	case novamed.KindPractitioner:
		reflect.ValueOf(rec.Practitioner).Elem().Field(practitionerFields[field]).SetString(v)
	}
}

// get reads the named field of the record.
func get(rec novamed.Record, field string) string {
	switch rec.Kind {
	case novamed.KindPatient:
		return reflect.ValueOf(rec.Patient).Elem().Field(patientFields[field]).String()
	case novamed.KindPractitioner:
		return reflect.ValueOf(rec.Practitioner).Elem().Field(practitionerFields[field]).String()
	}
	return ""
}
