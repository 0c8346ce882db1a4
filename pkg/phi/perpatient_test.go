package phi

import (
	"fmt"
	"testing"

	"github.com/novamed/bridge/pkg/novamed"
)

// perPatientFields are the synthetic values keyed on the patient's identity
// and the field's own value together.
var perPatientFields = []string{"phone", "address_line1", "city"}

// otherPatient is a different person at Maria Gonzalez's address, with her
// phone number: a relative, or the next patient of the same care home.
var otherPatient = map[string]any{
	"first_name": "Tomasz", "last_name": "Wieczorek",
	"date_of_birth": "1951-11-02", "email": "t.wieczorek@letterbox.net",
}

// TestAddressAndPhoneArePerPatient: two people who share a real phone,
// street and city get unrelated synthetic ones, so a synthetic city is no
// code for a real one (beside the kept state and ZIP prefix it would be a
// geocode) and does not link the two in development.
func TestAddressAndPhoneArePerPatient(t *testing.T) {
	g := newTestGuard(t)
	a, _ := mustDeidentify(t, g, novamed.KindPatient, patientJSON(t, nil))
	b, _ := mustDeidentify(t, g, novamed.KindPatient, patientJSON(t, otherPatient))
	for _, f := range perPatientFields {
		if a[f] == "" || b[f] == "" {
			t.Fatalf("%s missing from the output", f)
		}
		if a[f] == b[f] {
			t.Errorf("two patients with the same real %s got the same synthetic %s", f, f)
		}
	}
}

// TestAddressAndPhoneSpreadOverPatients: forty people of one real city,
// street and phone are spread over the synthetic vocabularies rather than
// mapped to one value each. (Keyed on the value alone, each count was 1.)
func TestAddressAndPhoneSpreadOverPatients(t *testing.T) {
	g := newTestGuard(t)
	const people = 40
	distinct := map[string]map[string]bool{}
	for _, f := range perPatientFields {
		distinct[f] = map[string]bool{}
	}
	for i := range people {
		out, _ := mustDeidentify(t, g, novamed.KindPatient, patientJSON(t, map[string]any{
			"first_name": fmt.Sprintf("Resident%02d", i),
			"email":      fmt.Sprintf("resident%02d@carehome.example", i),
		}))
		for _, f := range perPatientFields {
			distinct[f][out[f]] = true
		}
	}
	// 40 draws from 48 cities or 100 numbers leave well over a third
	// distinct; the key is fixed, so the counts are too.
	for _, f := range perPatientFields {
		if n := len(distinct[f]); n < people/3 {
			t.Errorf("%d patients sharing one real %s got only %d distinct synthetic values", people, f, n)
		}
	}
}

// TestAddressAndPhoneStayWithThePatient: one patient, spelled another way,
// keeps their synthetic phone, street and city; a changed real value gives
// a changed synthetic one, so development still sees that something
// changed.
func TestAddressAndPhoneStayWithThePatient(t *testing.T) {
	g := newTestGuard(t)
	base, _ := mustDeidentify(t, g, novamed.KindPatient, patientJSON(t, nil))
	variant, _ := mustDeidentify(t, g, novamed.KindPatient, patientJSON(t, map[string]any{
		"first_name":    "MARIA",
		"last_name":     "Gonzále\u200dz",
		"email":         " Maria.Gonzalez@Mailbox.org ",
		"phone":         "1.617.555.2368",
		"address_line1": "42  BEACON STREET",
		"city":          "boston",
	}))
	if d := differingFields(base, variant); len(d) > 0 {
		t.Errorf("a spelling variant of one patient changed fields %v", d)
	}
	moved, _ := mustDeidentify(t, g, novamed.KindPatient, patientJSON(t, map[string]any{
		"phone":         "+1 (413) 555-7102",
		"address_line1": "9 Elm Court",
		"city":          "Springfield",
	}))
	for _, f := range perPatientFields {
		if moved[f] == base[f] {
			t.Errorf("a changed real %s left the synthetic %s unchanged", f, f)
		}
	}
	for _, f := range []string{"first_name", "last_name", "email"} {
		if moved[f] != base[f] {
			t.Errorf("a new address changed the patient's synthetic %s", f)
		}
	}
}

// TestAddressAndPhoneNeedAnIdentity: with no name and no email (nothing
// left after normalisation) there is nothing per patient to key on, so the
// phone, street and city are dropped rather than keyed on their value.
func TestAddressAndPhoneNeedAnIdentity(t *testing.T) {
	g := newTestGuard(t)
	out, rep := mustDeidentify(t, g, novamed.KindPatient, patientJSON(t, map[string]any{
		"first_name": "-", "last_name": "·", "email": "@",
	}))
	for _, f := range perPatientFields {
		if _, ok := out[f]; ok {
			t.Errorf("%s kept for a patient without identity", f)
		}
	}
	if rep.Dropped != 4 { // address_line2 and the three above
		t.Errorf("report %+v, want 4 dropped", rep)
	}
}

// TestPractitionerPhoneIsPerPractitioner: colleagues who give their
// practice's number get different synthetic numbers.
func TestPractitionerPhoneIsPerPractitioner(t *testing.T) {
	g := newTestGuard(t)
	a, _ := mustDeidentify(t, g, novamed.KindPractitioner, practitionerJSON(t, nil))
	b, _ := mustDeidentify(t, g, novamed.KindPractitioner, practitionerJSON(t, map[string]any{
		"first_name": "Daniel", "last_name": "Brandt", "npi_number": secondaryNPI,
		"email": "d.brandt@northclinic.org",
	}))
	if a["phone"] == "" || a["phone"] == b["phone"] {
		t.Error("two practitioners sharing one real phone got the same synthetic phone")
	}
	again, _ := mustDeidentify(t, g, novamed.KindPractitioner, practitionerJSON(t, map[string]any{"phone": "1 312 555 7741"}))
	if again["phone"] != a["phone"] {
		t.Error("one practitioner's phone, written another way, changed the synthetic phone")
	}
}
