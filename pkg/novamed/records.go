package novamed

import (
	"fmt"
	"log/slog"
)

// Kind names the NovaMed resource a record creates.
type Kind string

// The record kinds NovaMed's partner API accepts.
const (
	KindPatient      Kind = "patient"
	KindPractitioner Kind = "practitioner"
)

// Valid reports whether k is a kind NovaMed accepts.
func (k Kind) Valid() bool { return k == KindPatient || k == KindPractitioner }

// phiPlaceholder is what a record renders as in logs, errors and fmt output.
const phiPlaceholder = "[PHI]"

// PatientRequest is the body of POST /api/external/patient.
//
// It carries PHI: it renders as [PHI] in slog and fmt so a careless log line
// cannot leak it. Marshal it with encoding/json to send it.
type PatientRequest struct {
	ClinicID     string `json:"clinic_id"`
	FirstName    string `json:"first_name"`
	LastName     string `json:"last_name"`
	DateOfBirth  string `json:"date_of_birth"`
	Email        string `json:"email"`
	Gender       string `json:"gender,omitempty"`
	Phone        string `json:"phone,omitempty"`
	AddressLine1 string `json:"address_line1,omitempty"`
	AddressLine2 string `json:"address_line2,omitempty"`
	City         string `json:"city,omitempty"`
	State        string `json:"state,omitempty"`
	Zip          string `json:"zip,omitempty"`
}

// PractitionerRequest is the body of POST /api/external/practitioner.
//
// Its contact details and credentials are confidential, so it renders as
// [PHI] in slog and fmt as well.
type PractitionerRequest struct {
	FirstName      string `json:"first_name"`
	LastName       string `json:"last_name"`
	Email          string `json:"email"`
	NPINumber      string `json:"npi_number"`
	AssignedClinic string `json:"assigned_clinic"`
	Phone          string `json:"phone,omitempty"`
	DEANumber      string `json:"dea_number,omitempty"`
	LicenseNumber  string `json:"license_number,omitempty"`
	LicenseState   string `json:"license_state,omitempty"`
	SignatureImage string `json:"signature_image,omitempty"`
}

// LogValue keeps patient values out of structured logs.
func (PatientRequest) LogValue() slog.Value { return slog.StringValue(phiPlaceholder) }

// String keeps patient values out of fmt output.
func (PatientRequest) String() string { return phiPlaceholder }

// GoString keeps patient values out of %#v output.
func (PatientRequest) GoString() string { return phiPlaceholder }

// Format keeps patient values out of every fmt verb, %+v and %q included.
func (PatientRequest) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(phiPlaceholder)) }

// LogValue keeps practitioner values out of structured logs.
func (PractitionerRequest) LogValue() slog.Value { return slog.StringValue(phiPlaceholder) }

// String keeps practitioner values out of fmt output.
func (PractitionerRequest) String() string { return phiPlaceholder }

// GoString keeps practitioner values out of %#v output.
func (PractitionerRequest) GoString() string { return phiPlaceholder }

// Format keeps practitioner values out of every fmt verb.
func (PractitionerRequest) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(phiPlaceholder)) }

// Record is one NovaMed request body of either kind: exactly one of Patient
// and Practitioner is set, matching Kind.
type Record struct {
	Kind         Kind
	Patient      *PatientRequest
	Practitioner *PractitionerRequest
}

// LogValue logs a record as its kind only.
func (r Record) LogValue() slog.Value { return slog.StringValue(string(r.Kind)) }

// Validate checks the record against NovaMed's documented rules.
func (r Record) Validate() error {
	switch {
	case r.Kind == KindPatient && r.Patient != nil && r.Practitioner == nil:
		return r.Patient.Validate()
	case r.Kind == KindPractitioner && r.Practitioner != nil && r.Patient == nil:
		return r.Practitioner.Validate()
	default:
		return &ValidationError{Fields: []FieldError{{Field: "kind", Reason: ReasonInvalid}}}
	}
}
