package novamed

import (
	"maps"
	"slices"
)

// FieldNames returns the JSON names of the fields NovaMed takes for a record
// of kind k, sorted; nil for an unknown kind. Configuration (a source's field
// map, for instance) checks its targets against it, so the names have one
// home: the field tables in decode.go.
func FieldNames(k Kind) []string {
	switch k {
	case KindPatient:
		return slices.Sorted(maps.Keys(patientFields))
	case KindPractitioner:
		return slices.Sorted(maps.Keys(practitionerFields))
	default:
		return nil
	}
}
