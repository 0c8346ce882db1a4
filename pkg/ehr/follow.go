package ehr

import (
	"encoding/json"
	"errors"
)

// refObj is a FHIR Reference.
type refObj struct {
	Reference string `json:"reference"`
}

// pointers is the part of an AuditEvent, Encounter or Appointment that
// leads to a person.
type pointers struct {
	Entity []struct {
		What refObj `json:"what"`
	} `json:"entity"`
	Subject     refObj `json:"subject"`
	Participant []struct {
		Actor refObj `json:"actor"`
	} `json:"participant"`
}

// next returns the reference res leads to. A reference naming another
// server is refused (ErrForeignReference), not skipped; one naming a type
// the bridge does not read is skipped.
func (f *Fetcher) next(res *Resource) (Reference, error) {
	var p pointers
	if err := json.Unmarshal(res.Body, &p); err != nil {
		return Reference{}, &Error{Class: Permanent, Code: CodeBadResponse, Type: res.Type}
	}
	var refs []string
	switch res.Type {
	case TypeAuditEvent:
		for _, e := range p.Entity {
			refs = append(refs, e.What.Reference)
		}
	case TypeEncounter:
		refs = append(refs, p.Subject.Reference)
	case TypeAppointment:
		for _, pa := range p.Participant {
			refs = append(refs, pa.Actor.Reference)
		}
	}
	var found []Reference
	for _, raw := range refs {
		if raw == "" {
			continue
		}
		r, err := f.ParseReference(raw)
		if errors.Is(err, ErrForeignReference) {
			return Reference{}, &Error{Class: Permanent, Code: CodeForeignReference, Type: res.Type, err: ErrForeignReference}
		}
		if err == nil {
			found = append(found, r)
		}
	}
	// A person first; an AuditEvent may lead on to an Encounter or
	// Appointment, which lead to their Patient.
	prefer := []string{TypePatient}
	switch res.Type {
	case TypeAuditEvent:
		prefer = []string{TypePatient, TypePractitioner, TypeEncounter, TypeAppointment}
	}
	for _, typ := range prefer {
		for _, r := range found {
			if r.Type == typ {
				return r, nil
			}
		}
	}
	return Reference{}, &Error{Class: Permanent, Code: CodeNoPatient, Type: res.Type}
}
