package novamed

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// The field tables are the one place that knows NovaMed's field names. A
// second schema edition adds tables here, not code in the handlers.
var patientFields = map[string]func(*PatientRequest) *string{
	"clinic_id":     func(p *PatientRequest) *string { return &p.ClinicID },
	"first_name":    func(p *PatientRequest) *string { return &p.FirstName },
	"last_name":     func(p *PatientRequest) *string { return &p.LastName },
	"date_of_birth": func(p *PatientRequest) *string { return &p.DateOfBirth },
	"email":         func(p *PatientRequest) *string { return &p.Email },
	"gender":        func(p *PatientRequest) *string { return &p.Gender },
	"phone":         func(p *PatientRequest) *string { return &p.Phone },
	"address_line1": func(p *PatientRequest) *string { return &p.AddressLine1 },
	"address_line2": func(p *PatientRequest) *string { return &p.AddressLine2 },
	"city":          func(p *PatientRequest) *string { return &p.City },
	"state":         func(p *PatientRequest) *string { return &p.State },
	"zip":           func(p *PatientRequest) *string { return &p.Zip },
}

var practitionerFields = map[string]func(*PractitionerRequest) *string{
	"first_name":      func(p *PractitionerRequest) *string { return &p.FirstName },
	"last_name":       func(p *PractitionerRequest) *string { return &p.LastName },
	"email":           func(p *PractitionerRequest) *string { return &p.Email },
	"npi_number":      func(p *PractitionerRequest) *string { return &p.NPINumber },
	"assigned_clinic": func(p *PractitionerRequest) *string { return &p.AssignedClinic },
	"phone":           func(p *PractitionerRequest) *string { return &p.Phone },
	"dea_number":      func(p *PractitionerRequest) *string { return &p.DEANumber },
	"license_number":  func(p *PractitionerRequest) *string { return &p.LicenseNumber },
	"license_state":   func(p *PractitionerRequest) *string { return &p.LicenseState },
	"signature_image": func(p *PractitionerRequest) *string { return &p.SignatureImage },
}

// Errors of DecodeRecord. They name a field at most, never a value.
var (
	ErrNotObject    = errors.New("novamed: record is not a JSON object")
	ErrDuplicateKey = errors.New("novamed: record has a duplicate key")
	ErrNotString    = errors.New("novamed: record field is not a string")
	ErrUnknownKind  = errors.New("novamed: unknown record kind")
)

// Decoded describes what DecodeRecord left out.
type Decoded struct {
	// Dropped counts keys that are not NovaMed fields. Their names are not
	// kept: a key can carry PHI as easily as a value.
	Dropped int
}

// DecodeRecord parses a NovaMed request body strictly, unlike encoding/json:
// keys match exactly (no case folding, so "First_Name" or a Kelvin-sign "K"
// is an unknown key, dropped and counted), a repeated key is an error rather
// than "last one wins", and known fields must be JSON strings.
func DecodeRecord(kind Kind, data []byte) (Record, Decoded, error) {
	switch kind {
	case KindPatient:
		var p PatientRequest
		d, err := decodeFields(data, func(key string) *string {
			if f, ok := patientFields[key]; ok {
				return f(&p)
			}
			return nil
		})
		if err != nil {
			return Record{}, d, err
		}
		return Record{Kind: kind, Patient: &p}, d, nil
	case KindPractitioner:
		var p PractitionerRequest
		d, err := decodeFields(data, func(key string) *string {
			if f, ok := practitionerFields[key]; ok {
				return f(&p)
			}
			return nil
		})
		if err != nil {
			return Record{}, d, err
		}
		return Record{Kind: kind, Practitioner: &p}, d, nil
	default:
		return Record{}, Decoded{}, ErrUnknownKind
	}
}

func decodeFields(data []byte, field func(key string) *string) (Decoded, error) {
	var d Decoded
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return d, ErrNotObject
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return d, ErrNotObject
		}
		key := tok.(string) // object keys are always strings
		if seen[key] {
			return d, ErrDuplicateKey
		}
		seen[key] = true
		dst := field(key)
		if dst == nil {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return d, ErrNotObject
			}
			d.Dropped++
			continue
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return d, ErrNotObject
		}
		if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, dst) != nil {
			return d, fmt.Errorf("%w: %s", ErrNotString, key)
		}
	}
	if _, err := dec.Token(); err != nil {
		return d, ErrNotObject
	}
	if _, err := dec.Token(); err != io.EOF {
		return d, ErrNotObject
	}
	return d, nil
}
