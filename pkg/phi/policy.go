package phi

import "github.com/novamed/bridge/pkg/novamed"

// treatment is what the policy does to one field (docs/phi-policy.md, the two
// tables). A field missing from a table is dropped.
type treatment int

const (
	// dropField removes the field.
	dropField treatment = iota
	// keepField passes the value unchanged: it is not PHI.
	keepField
	// keepIfValid passes the value only if NovaMed's validator accepts it,
	// and drops it otherwise (an invalid value might be anything).
	keepIfValid
	// replaceField writes a synthetic value or the configured clinic.
	replaceField
	// generalizeField keeps a coarser form (the birth year, the ZIP prefix).
	generalizeField
)

var patientPolicy = map[string]treatment{
	"clinic_id":     replaceField,
	"first_name":    replaceField,
	"last_name":     replaceField,
	"date_of_birth": generalizeField,
	"email":         replaceField,
	"gender":        keepIfValid,
	"phone":         replaceField,
	"address_line1": replaceField,
	"address_line2": dropField,
	"city":          replaceField,
	"state":         keepIfValid,
	"zip":           generalizeField,
}

var practitionerPolicy = map[string]treatment{
	"first_name":      keepField,
	"last_name":       keepField,
	"email":           replaceField,
	"npi_number":      keepField,
	"assigned_clinic": replaceField,
	"phone":           replaceField,
	"dea_number":      dropField,
	"license_number":  dropField,
	"license_state":   keepIfValid,
	"signature_image": dropField,
}

func policyFor(k novamed.Kind) map[string]treatment {
	switch k {
	case novamed.KindPatient:
		return patientPolicy
	case novamed.KindPractitioner:
		return practitionerPolicy
	default:
		return nil
	}
}
