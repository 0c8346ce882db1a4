package phi

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/novamed/bridge/pkg/novamed"
)

// patientJSON builds a patient body from an ordinary one with changes
// applied: a nil value deletes the key.
func patientJSON(tb testing.TB, changes map[string]any) []byte {
	tb.Helper()
	m := map[string]any{
		"clinic_id":     inputClinic,
		"first_name":    "Maria",
		"last_name":     "Gonzalez",
		"date_of_birth": "1984-07-23",
		"email":         "maria.gonzalez@mailbox.org",
		"gender":        "female",
		"phone":         "+1 (617) 555-2368",
		"address_line1": "42 Beacon Street",
		"address_line2": "Apt 3B",
		"city":          "Boston",
		"state":         "MA",
		"zip":           "02108",
	}
	for k, v := range changes {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func practitionerJSON(tb testing.TB, changes map[string]any) []byte {
	tb.Helper()
	m := map[string]any{
		"first_name":      "Alicia",
		"last_name":       "Okafor",
		"email":           "a.okafor@northclinic.org",
		"npi_number":      validNPI,
		"assigned_clinic": inputClinic,
		"phone":           "+1-312-555-7741",
		"dea_number":      "BO1234563",
		"license_number":  "MD-0447821",
		"license_state":   "IL",
	}
	for k, v := range changes {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// mustDeidentify runs DeidentifyJSON and the checks every success must pass.
func mustDeidentify(t *testing.T, g *Guard, kind novamed.Kind, raw []byte) (map[string]string, Report) {
	t.Helper()
	rec, rep, err := g.DeidentifyJSON(kind, raw)
	if err != nil {
		t.Fatalf("DeidentifyJSON: %v", err)
	}
	if err := rec.Validate(); err != nil {
		t.Fatalf("output fails validation: %v", err)
	}
	out := fieldsOf(t, rec)
	if leaked := leakedFields(kind, inputValues(t, raw, kind), out); len(leaked) > 0 {
		t.Fatalf("input values reached output fields %v", leaked)
	}
	return out, rep
}

func assertNoRecord(t *testing.T, rec novamed.Record) {
	t.Helper()
	if rec.Kind != "" || rec.Patient != nil || rec.Practitioner != nil {
		t.Fatal("a record was returned with an error")
	}
}

// TestAttacks covers every attack listed in docs/phi-policy.md.
func TestAttacks(t *testing.T) {
	g := newTestGuard(t)
	plain, _ := mustDeidentify(t, g, novamed.KindPatient, patientJSON(t, nil))

	t.Run("look-alike keys are unknown and dropped", func(t *testing.T) {
		for _, key := range []string{
			"First_Name", "FIRST_NAME", "ﬁrst_name", "first_name ", " first_name", "first\u200bname",
			"first_nam\u0435", // Cyrillic е
			"\u212Aey",        // Kelvin sign
			"clinic_\u212Aey", "ｆｉｒｓｔ＿ｎａｍｅ", "first-name", "firstName",
		} {
			raw := patientJSON(t, map[string]any{key: "Margarethe Vandersloot"})
			out, rep := mustDeidentify(t, g, novamed.KindPatient, raw)
			if rep.Dropped != 2 { // address_line2 and the look-alike
				t.Errorf("key #%d: dropped %d, want 2", len(key), rep.Dropped)
			}
			if d := differingFields(out, plain); len(d) > 0 {
				t.Errorf("a look-alike key changed output fields %v", d)
			}
		}
	})

	t.Run("case variant of a kept key does not pass", func(t *testing.T) {
		raw := practitionerJSON(t, map[string]any{"License_State": "CA", "license_state": nil})
		out, rep := mustDeidentify(t, g, novamed.KindPractitioner, raw)
		if _, ok := out["license_state"]; ok {
			t.Error("license_state set from a case-variant key")
		}
		if rep.Dropped != 3 { // dea, license_number, License_State
			t.Errorf("dropped %d, want 3", rep.Dropped)
		}
	})

	t.Run("duplicate keys are an error", func(t *testing.T) {
		for _, raw := range []string{
			`{"first_name":"Maria","first_name":"Mallory","last_name":"G","date_of_birth":"1984-07-23","email":"m@x.org","clinic_id":"` + inputClinic + `"}`,
			`{"clinic_id":"` + inputClinic + `","clinic_id":"` + testClinic + `"}`,
			`{"ssn":"1","ssn":"2"}`,
		} {
			rec, _, err := g.DeidentifyJSON(novamed.KindPatient, []byte(raw))
			if !errors.Is(err, novamed.ErrDuplicateKey) {
				t.Errorf("duplicate key: err = %v, want ErrDuplicateKey", err)
			}
			assertNoRecord(t, rec)
		}
	})

	t.Run("numbers and other non-strings in known fields are an error", func(t *testing.T) {
		for field, v := range map[string]any{
			"zip":           2108,
			"phone":         16175552368,
			"date_of_birth": 19840723,
			"first_name":    []string{"Maria"},
			"last_name":     map[string]string{"family": "Gonzalez"},
			"gender":        true,
			"email":         json.RawMessage("null"),
		} {
			rec, _, err := g.DeidentifyJSON(novamed.KindPatient, patientJSON(t, map[string]any{field: v}))
			if !errors.Is(err, novamed.ErrNotString) {
				t.Errorf("%s: err = %v, want ErrNotString", field, err)
			}
			assertNoRecord(t, rec)
		}
	})

	t.Run("PHI in unexpected or nested fields is dropped and armed", func(t *testing.T) {
		raw := patientJSON(t, map[string]any{
			"ssn":   "078-05-1120",
			"mrn":   88442190,
			"notes": "Seen for chest pain; lives with daughter Rosalind",
			"contact": map[string]any{
				"name":                               "Rosalind Gonzalez",
				"telephone":                          []any{"+1 617 555 9911", 6175559912},
				"Nested Key With A Name Bartholomew": true,
			},
			"Maria Gonzalez": "key holds a name",
		})
		_, rep := mustDeidentify(t, g, novamed.KindPatient, raw)
		if rep.Dropped != 6 { // address_line2 + 5 unknown keys
			t.Errorf("dropped %d, want 6", rep.Dropped)
		}
	})

	t.Run("full-width digits", func(t *testing.T) {
		raw := patientJSON(t, map[string]any{
			"zip":           "０２１０８",
			"date_of_birth": "１９８４－０７－２３",
			"phone":         "＋１ ６１７ ５５５ ２３６８",
		})
		out, _ := mustDeidentify(t, g, novamed.KindPatient, raw)
		for _, f := range []string{"zip", "date_of_birth", "phone"} {
			if out[f] != plain[f] {
				t.Errorf("%s: full-width input gave a different output than ASCII", f)
			}
		}
	})

	t.Run("zero-width joiners, NFD and case give the same person", func(t *testing.T) {
		base := map[string]any{"first_name": "José", "last_name": "Müller", "email": "Jose.Muller@Correo.example"}
		want, _ := mustDeidentify(t, g, novamed.KindPatient, patientJSON(t, base))
		for i, v := range []map[string]any{
			{"first_name": "Jose\u0301", "last_name": "Mu\u0308ller"},           // NFD
			{"first_name": "Jo\u200dsé", "last_name": "Mül\u200bler"},           // zero-width joiner / space
			{"first_name": "JOSÉ", "last_name": "MÜLLER"},                       // case
			{"first_name": "Jos\u00e9\ufe0f", "last_name": "M\u00fc\u00adller"}, // variation selector, soft hyphen
			{"first_name": "José", "last_name": "Müller", "email": "jose.muller@correo.example"},
		} {
			changes := map[string]any{}
			for k, x := range base {
				changes[k] = x
			}
			for k, x := range v {
				changes[k] = x
			}
			got, _ := mustDeidentify(t, g, novamed.KindPatient, patientJSON(t, changes))
			if d := differingFields(got, want); len(d) > 0 {
				t.Errorf("variant %d: fields %v differ from the canonical spelling", i, d)
			}
		}
	})

	t.Run("a synthetic name never equals the input name", func(t *testing.T) {
		// Run many people whose real names are in the synthetic lists.
		for i, first := range firstNames {
			last := lastNames[i%len(lastNames)]
			raw := patientJSON(t, map[string]any{"first_name": first, "last_name": last, "email": fmt.Sprintf("p%d@x.example", i)})
			out, _ := mustDeidentify(t, g, novamed.KindPatient, raw)
			if skeleton(out["first_name"]) == skeleton(first) || skeleton(out["last_name"]) == skeleton(last) {
				t.Fatalf("person %d kept a real name", i)
			}
		}
	})

	t.Run("de-identifying twice stays valid", func(t *testing.T) {
		rec, _, err := g.DeidentifyJSON(novamed.KindPatient, patientJSON(t, nil))
		if err != nil {
			t.Fatal(err)
		}
		// The dispatch function applies the guard again to queued records.
		again, _, err := g.Deidentify(rec)
		if err != nil {
			t.Fatalf("second pass: %v", err)
		}
		if err := again.Validate(); err != nil {
			t.Fatalf("second pass invalid: %v", err)
		}
	})
}

func TestPatientPolicy(t *testing.T) {
	g := newTestGuard(t)
	tests := []struct {
		name    string
		changes map[string]any
		check   func(t *testing.T, out map[string]string, rep Report)
	}{
		{"ordinary", nil, func(t *testing.T, out map[string]string, rep Report) {
			want := map[string]string{"clinic_id": testClinic, "date_of_birth": "1984-01-01", "gender": "female", "state": "MA", "zip": "02100"}
			for k, v := range want {
				if out[k] != v {
					t.Errorf("%s not as the policy says", k)
				}
			}
			if _, ok := out["address_line2"]; ok {
				t.Error("address_line2 not dropped")
			}
			if !strings.HasPrefix(out["email"], "p-") || !strings.HasSuffix(out["email"], "@example.com") || len(out["email"]) != len("p-@example.com")+emailCodeLen {
				t.Error("email not p-<12>@example.com")
			}
			if !strings.HasPrefix(out["phone"], "+1-555-01") || len(out["phone"]) != len("+1-555-0100") {
				t.Error("phone not in +1-555-01XX")
			}
			if rep != (Report{Replaced: 7, Generalized: 2, Kept: 2, Dropped: 1}) {
				t.Errorf("report %+v", rep)
			}
		}},
		{"age exactly 90 today", map[string]any{"date_of_birth": "1935-06-15"}, func(t *testing.T, out map[string]string, _ Report) {
			if out["date_of_birth"] != "1935-01-01" {
				t.Error("date_of_birth")
			}
		}},
		{"age 89, 90 this year", map[string]any{"date_of_birth": "1935-06-16"}, func(t *testing.T, out map[string]string, _ Report) {
			if out["date_of_birth"] != "1935-01-01" {
				t.Error("date_of_birth")
			}
		}},
		{"age 104", map[string]any{"date_of_birth": "1921-02-28"}, func(t *testing.T, out map[string]string, _ Report) {
			if out["date_of_birth"] != "1935-01-01" {
				t.Error("date_of_birth")
			}
		}},
		{"age 88", map[string]any{"date_of_birth": "1936-12-31"}, func(t *testing.T, out map[string]string, _ Report) {
			if out["date_of_birth"] != "1936-01-01" {
				t.Error("date_of_birth")
			}
		}},
		{"born today", map[string]any{"date_of_birth": "2025-06-15"}, func(t *testing.T, out map[string]string, _ Report) {
			if out["date_of_birth"] != "2025-01-01" {
				t.Error("date_of_birth")
			}
		}},
		{"zip+4", map[string]any{"zip": "94110-2345"}, func(t *testing.T, out map[string]string, _ Report) {
			if out["zip"] != "94100" {
				t.Error("zip")
			}
		}},
		{"zip already generalised", map[string]any{"zip": "94100"}, func(t *testing.T, out map[string]string, _ Report) {
			if out["zip"] != "94100" {
				t.Error("zip")
			}
		}},
		{"invalid zip dropped", map[string]any{"zip": "9411"}, func(t *testing.T, out map[string]string, rep Report) {
			if _, ok := out["zip"]; ok || rep.Dropped != 2 {
				t.Error("zip not dropped")
			}
		}},
		{"invalid gender dropped", map[string]any{"gender": "Female"}, func(t *testing.T, out map[string]string, rep Report) {
			if _, ok := out["gender"]; ok || rep.Dropped != 2 {
				t.Error("gender not dropped")
			}
		}},
		{"invalid state dropped", map[string]any{"state": "Massachusetts"}, func(t *testing.T, out map[string]string, rep Report) {
			if _, ok := out["state"]; ok || rep.Dropped != 2 {
				t.Error("state not dropped")
			}
		}},
		{"optional fields absent stay absent", map[string]any{"phone": nil, "address_line1": nil, "address_line2": nil, "city": nil, "zip": nil, "gender": nil, "state": nil},
			func(t *testing.T, out map[string]string, rep Report) {
				for _, f := range []string{"phone", "address_line1", "address_line2", "city", "zip", "gender", "state"} {
					if _, ok := out[f]; ok {
						t.Errorf("%s appeared", f)
					}
				}
				if rep != (Report{Replaced: 4, Generalized: 1}) {
					t.Errorf("report %+v", rep)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, rep := mustDeidentify(t, g, novamed.KindPatient, patientJSON(t, tt.changes))
			tt.check(t, out, rep)
		})
	}
	for zip3 := range restrictedZip3 {
		out, _ := mustDeidentify(t, g, novamed.KindPatient, patientJSON(t, map[string]any{"zip": zip3 + "42"}))
		if out["zip"] != "00000" {
			t.Errorf("restricted prefix %s: zip not 00000", zip3)
		}
	}
	// The 17 three-digit prefixes HHS's de-identification guidance lists
	// (populations of 20,000 or fewer, 2000 Census), written out here so
	// a mistyped prefix in data/restricted_zip3.txt shows.
	safeHarbor := []string{"036", "059", "063", "102", "203", "556", "692", "790", "821",
		"823", "830", "831", "878", "879", "884", "890", "893"}
	got := slices.Sorted(maps.Keys(restrictedZip3))
	if !slices.Equal(got, safeHarbor) {
		t.Errorf("restricted ZIP prefixes %v, Safe Harbor lists %v", got, safeHarbor)
	}
}

func TestPractitionerPolicy(t *testing.T) {
	g := newTestGuard(t)
	out, rep := mustDeidentify(t, g, novamed.KindPractitioner, practitionerJSON(t, map[string]any{"signature_image": "iVBORw0KGgo="}))
	for k, v := range map[string]string{"first_name": "Alicia", "last_name": "Okafor", "npi_number": validNPI, "license_state": "IL", "assigned_clinic": testClinic} {
		if out[k] != v {
			t.Errorf("%s not as the policy says", k)
		}
	}
	for _, f := range []string{"dea_number", "license_number", "signature_image"} {
		if _, ok := out[f]; ok {
			t.Errorf("%s not dropped", f)
		}
	}
	if !strings.HasPrefix(out["email"], "dr-") || !strings.HasSuffix(out["email"], "@example.com") {
		t.Error("email not dr-<code>@example.com")
	}
	if !strings.HasPrefix(out["phone"], "+1-555-01") {
		t.Error("phone not in +1-555-01XX")
	}
	if rep != (Report{Replaced: 3, Kept: 4, Dropped: 3}) {
		t.Errorf("report %+v", rep)
	}

	// One practitioner (one NPI) keeps one pseudonymous email whatever
	// address they write from; another NPI gets another.
	other, _ := mustDeidentify(t, g, novamed.KindPractitioner, practitionerJSON(t, map[string]any{"email": "alicia@home.example"}))
	if other["email"] != out["email"] {
		t.Error("same NPI, different pseudonymous email")
	}
	second, _ := mustDeidentify(t, g, novamed.KindPractitioner, practitionerJSON(t, map[string]any{"npi_number": secondaryNPI}))
	if second["email"] == out["email"] {
		t.Error("different NPIs share a pseudonymous email")
	}

	// A practitioner whose required field is missing stays invalid: refused.
	rec, _, err := g.DeidentifyJSON(novamed.KindPractitioner, practitionerJSON(t, map[string]any{"npi_number": nil}))
	if !errors.Is(err, ErrInvalidOutput) || !novamed.IsValidation(err) {
		t.Errorf("missing npi_number: err = %v, want ErrInvalidOutput wrapping a ValidationError", err)
	}
	assertNoRecord(t, rec)
}

func TestDeidentifyErrors(t *testing.T) {
	g := newTestGuard(t)
	const secretDate = "1984-13-45"
	tests := []struct {
		name string
		kind novamed.Kind
		raw  string
		is   error
	}{
		{"not an object", novamed.KindPatient, `["Maria"]`, novamed.ErrNotObject},
		{"trailing data", novamed.KindPatient, `{} {}`, novamed.ErrNotObject},
		{"unknown kind", novamed.Kind("doctor"), `{}`, novamed.ErrUnknownKind},
		{"bad date", novamed.KindPatient, string(patientJSON(t, map[string]any{"date_of_birth": secretDate})), &time.ParseError{}},
		{"future date", novamed.KindPatient, string(patientJSON(t, map[string]any{"date_of_birth": "2025-06-16"})), errFutureBirthDate},
		{"missing first name", novamed.KindPatient, string(patientJSON(t, map[string]any{"first_name": nil})), ErrInvalidOutput},
		{"missing clinic", novamed.KindPatient, string(patientJSON(t, map[string]any{"clinic_id": nil})), ErrInvalidOutput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, _, err := g.DeidentifyJSON(tt.kind, []byte(tt.raw))
			assertNoRecord(t, rec)
			if err == nil {
				t.Fatal("no error")
			}
			switch want := tt.is.(type) {
			case *time.ParseError:
				var pe *time.ParseError
				if !errors.As(err, &pe) {
					t.Errorf("errors.As(*time.ParseError) failed through the redaction")
				}
				if strings.Contains(err.Error(), secretDate) || strings.Contains(err.Error(), "13") {
					t.Errorf("error message quotes the input")
				}
				var re *RedactedError
				if !errors.As(err, &re) || re.Field != "date_of_birth" {
					t.Errorf("error is not a RedactedError for date_of_birth")
				}
			default:
				if !errors.Is(err, want) {
					t.Errorf("err = %v, want %v", err, want)
				}
			}
		})
	}
}

// TestControlCharactersInReplacedFields: a replaced value may hold anything;
// the synthetic value is clean.
func TestControlCharactersInReplacedFields(t *testing.T) {
	g := newTestGuard(t)
	mustDeidentify(t, g, novamed.KindPatient, patientJSON(t, map[string]any{
		"first_name": "Ma\x00ria", "city": "\u202eBoston", "address_line1": "42\tBeacon\nStreet",
	}))
}

func TestDeidentifyRecordShape(t *testing.T) {
	g := newTestGuard(t)
	for name, rec := range map[string]novamed.Record{
		"zero":                  {},
		"kind without body":     {Kind: novamed.KindPatient},
		"wrong body":            {Kind: novamed.KindPatient, Practitioner: &novamed.PractitionerRequest{}},
		"both bodies":           {Kind: novamed.KindPractitioner, Patient: &novamed.PatientRequest{}, Practitioner: &novamed.PractitionerRequest{}},
		"unknown kind":          {Kind: "x", Patient: &novamed.PatientRequest{}},
		"practitioner nil body": {Kind: novamed.KindPractitioner},
	} {
		out, _, err := g.Deidentify(rec)
		if !errors.Is(err, ErrMalformedRecord) {
			t.Errorf("%s: err = %v, want ErrMalformedRecord", name, err)
		}
		assertNoRecord(t, out)
	}
}

func TestDeidentifyDoesNotAliasInput(t *testing.T) {
	g := newTestGuard(t)
	in, _, err := novamed.DecodeRecord(novamed.KindPatient, patientJSON(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	before := *in.Patient
	out, _, err := g.Deidentify(in)
	if err != nil {
		t.Fatal(err)
	}
	if out.Patient == in.Patient || *in.Patient != before {
		t.Fatal("Deidentify modified or shares the input")
	}
}

func TestApply(t *testing.T) {
	g := newTestGuard(t)
	in, _, err := novamed.DecodeRecord(novamed.KindPatient, patientJSON(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	prod, _, err := g.Apply(Production, in)
	if err != nil || prod.Patient != in.Patient {
		t.Fatal("Production must pass the record unchanged")
	}
	for _, env := range []Environment{NonProduction, Environment(2), Environment(-1)} {
		out, rep, err := g.Apply(env, in)
		if err != nil {
			t.Fatal(err)
		}
		if out.Patient.FirstName == in.Patient.FirstName || rep.Replaced == 0 {
			t.Errorf("%v: record not de-identified", env)
		}
	}
}

func TestNew(t *testing.T) {
	p, _ := NewHMACPseudonymizer([]byte(testKey))
	if _, err := New(nil, testClinic); !errors.Is(err, ErrNoPseudonymizer) {
		t.Errorf("nil pseudonymizer: %v", err)
	}
	for _, c := range []string{"", "clinic", "9a1b2c3d4e5f4a6b8c7d0e1f2a3b4c5d", testClinic + " "} {
		if _, err := New(p, c); !errors.Is(err, ErrClinicID) {
			t.Errorf("clinic %q: %v", c, err)
		}
	}
	for _, n := range []int{0, 1, 15} {
		if _, err := NewHMACPseudonymizer(make([]byte, n)); !errors.Is(err, ErrShortKey) {
			t.Errorf("key of %d bytes accepted", n)
		}
	}
}

type shortPseudonymizer struct{}

func (shortPseudonymizer) Pseudonym(string, string) []byte { return []byte{1, 2, 3} }

func TestShortPseudonymRefused(t *testing.T) {
	g, err := New(shortPseudonymizer{}, testClinic)
	if err != nil {
		t.Fatal(err)
	}
	rec, _, err := g.DeidentifyJSON(novamed.KindPatient, patientJSON(t, nil))
	if !errors.Is(err, ErrPseudonym) {
		t.Fatalf("err = %v, want ErrPseudonym", err)
	}
	assertNoRecord(t, rec)
}

// TestTripwireRefusesWhenNoSyntheticValueIsSafe: a record whose unknown
// fields hold every number of the fictional phone range cannot be given a
// phone that avoids them all, so it is refused rather than sent. (A
// practitioner: a patient's generalised birth date 19xx-01-01 discloses
// "0101" on purpose, which would disarm one of them.)
func TestTripwireRefusesWhenNoSyntheticValueIsSafe(t *testing.T) {
	g := newTestGuard(t)
	changes := map[string]any{}
	for i := range 100 {
		changes[fmt.Sprintf("x%d", i)] = fmt.Sprintf("01%02d", i)
	}
	rec, _, err := g.DeidentifyJSON(novamed.KindPractitioner, practitionerJSON(t, changes))
	if !errors.Is(err, ErrTripwire) {
		t.Fatalf("err = %v, want ErrTripwire", err)
	}
	assertNoRecord(t, rec)
	if !strings.Contains(err.Error(), "phone") {
		t.Error("the tripwire error does not name the field")
	}
}

func TestTripwire(t *testing.T) {
	body := func(v string) []byte {
		b, _ := json.Marshal(map[string]string{"city": "Riverton", "first_name": v})
		return b
	}
	tests := []struct {
		secret string
		output string
		hit    bool
	}{
		{"Maria", "maria", true},
		{"Maria", "Anna-Maria", true},
		{"José", "JOSE\u0301", true},
		{"José", "Jose", true}, // marks are stripped: an accentless copy is still the name
		{"Jo\u200dsé", "josé", true},
		{"ﬁnn", "Finn", true},  // NFKC splits the ligature: four runes
		{"Fin", "Finn", false}, // three runes: under the threshold
		{"ﬁnnegan", "FINNEGAN", true},
		{"Straße", "STRASSE", true},
		{"０２１０８", "02108", true},
		{"617-555-2368", "+1 (617) 555 2368", true},
		{"Maria", "Mary", false},
		{"Ann", "Ann", false}, // under the threshold (but synthetic picks still avoid it)
		{"", "", false},
	}
	for i, tt := range tests {
		tw := newTripwire()
		tw.arm([]string{tt.secret})
		err := tw.check(body(tt.output))
		if got := errors.Is(err, ErrTripwire); got != tt.hit {
			t.Errorf("case %d: hit = %v, want %v", i, got, tt.hit)
		}
		if err != nil && !strings.Contains(err.Error(), "first_name") {
			t.Errorf("case %d: error does not name the field", i)
		}
	}

	// Disclosed values disarm secrets they contain, nothing else.
	tw := newTripwire()
	tw.disclose("94100")
	tw.disclose("female")
	tw.arm([]string{"94100", "male", "Female", "94110"})
	if len(tw.needles) != 1 || tw.needles[0] != "94110" {
		t.Errorf("needles: %d armed, want only the undisclosed ZIP", len(tw.needles))
	}
	if tw.avoid("94100 Main St") {
		t.Error("a candidate holding only a disclosed value is avoided")
	}
	if !tw.avoid("MALE") || !tw.avoid("Apt 94110") {
		t.Error("a candidate equal to a secret or holding a needle is accepted")
	}
}

// TestPolicyCoversEveryField fails when novamed adds a field the policy does
// not name, so the decision is made by a person, not by default.
func TestPolicyCoversEveryField(t *testing.T) {
	for _, c := range []struct {
		typ    reflect.Type
		policy map[string]treatment
	}{
		{reflect.TypeFor[novamed.PatientRequest](), patientPolicy},
		{reflect.TypeFor[novamed.PractitionerRequest](), practitionerPolicy},
	} {
		tags := map[string]bool{}
		for f := range c.typ.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			tags[name] = true
			if _, ok := c.policy[name]; !ok {
				t.Errorf("%s.%s has no policy", c.typ.Name(), name)
			}
		}
		for name := range c.policy {
			if !tags[name] {
				t.Errorf("policy names %s, which %s lacks", name, c.typ.Name())
			}
		}
	}
}

func TestSyntheticListsAreClean(t *testing.T) {
	for name, list := range map[string][]string{"first": firstNames, "last": lastNames, "street": streetNames, "suffix": streetSuffixes, "city": cityNames} {
		seen := map[string]bool{}
		for i, v := range list {
			if seen[skeleton(v)] {
				t.Errorf("%s list: entry %d repeats", name, i)
			}
			seen[skeleton(v)] = true
			if !utf8.ValidString(v) || strings.TrimSpace(v) != v {
				t.Errorf("%s list: entry %d not clean", name, i)
			}
		}
	}
	for p := range restrictedZip3 {
		if len(p) != 3 || strings.Trim(p, "0123456789") != "" {
			t.Errorf("restricted ZIP prefix entry is not three digits")
		}
	}
}

// TestEmailPseudonymsDoNotCollide: 100,000 distinct people, 100,000 distinct
// pseudonymous emails.
func TestEmailPseudonymsDoNotCollide(t *testing.T) {
	p, _ := NewHMACPseudonymizer([]byte(testKey))
	tw := newTripwire()
	const n = 100_000
	seen := make(map[string]struct{}, n)
	for i := range n {
		id := strings.Join([]string{skeleton(fmt.Sprintf("first%d", i)), "smith", "1980-01-01", skeleton(fmt.Sprintf("p%d@x.example", i))}, "\x1f")
		email, ok := syntheticEmail("p-", p.Pseudonym("patient.email", id), tw)
		if !ok {
			t.Fatal("no email")
		}
		if _, dup := seen[email]; dup {
			t.Fatalf("collision after %d people", i)
		}
		seen[email] = struct{}{}
	}
}

func TestPseudonymizerDomainsAndKeys(t *testing.T) {
	a, _ := NewHMACPseudonymizer([]byte(testKey))
	b, _ := NewHMACPseudonymizer([]byte(testKey + "x"))
	first := a.Pseudonym("d", "v")
	if string(first) != string(a.Pseudonym("d", "v")) {
		t.Error("not deterministic")
	}
	if string(a.Pseudonym("ab", "c")) == string(a.Pseudonym("a", "bc")) {
		t.Error("domain and value run together")
	}
	if string(a.Pseudonym("d", "v")) == string(b.Pseudonym("d", "v")) {
		t.Error("key ignored")
	}
	for _, s := range []string{fmt.Sprint(a), fmt.Sprintf("%#v", a), fmt.Sprintf("%+v", a), fmt.Sprintf("%x", a)} {
		if strings.Contains(s, testKey) || strings.Contains(s, fmt.Sprintf("%x", testKey)) {
			t.Error("key printed")
		}
	}
	g := newTestGuard(t)
	for _, s := range []string{fmt.Sprint(g), fmt.Sprintf("%#v", g), fmt.Sprintf("%+v", *g), fmt.Sprintf("%v", []*Guard{g})} {
		if strings.Contains(s, testKey) || strings.Contains(s, fmt.Sprintf("%v", []byte(testKey))) {
			t.Error("guard printed its key")
		}
	}
}

func BenchmarkDeidentifyPatient(b *testing.B) {
	g := newTestGuard(b)
	rec, _, err := novamed.DecodeRecord(novamed.KindPatient, patientJSON(b, nil))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := g.Deidentify(rec); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDeidentifyJSONPractitioner(b *testing.B) {
	g := newTestGuard(b)
	raw := practitionerJSON(b, nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := g.DeidentifyJSON(novamed.KindPractitioner, raw); err != nil {
			b.Fatal(err)
		}
	}
}
