package phi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode"

	"golang.org/x/text/unicode/norm"
	"pgregory.net/rapid"

	"github.com/novamed/bridge/pkg/novamed"
)

// anyText mixes arbitrary Unicode with realistic and adversarial text: names
// from the synthetic lists (so picks must step around them), decomposed and
// zero-width-laced forms, and digits.
func anyText() *rapid.Generator[string] {
	return rapid.OneOf(
		rapid.String(),
		rapid.StringMatching(`[A-Za-z][A-Za-z .'\-]{0,24}`),
		rapid.SampledFrom(firstNames),
		rapid.SampledFrom(lastNames),
		rapid.SampledFrom(cityNames),
		rapid.Map(rapid.SampledFrom(firstNames), func(s string) string { return norm.NFD.String(s + "é") }),
		rapid.Map(rapid.SampledFrom(lastNames), func(s string) string { return s[:1] + "\u200d" + s[1:] }),
		rapid.StringMatching(`[0-9０-９ ()+\-]{4,16}`),
	)
}

func nonEmpty(g *rapid.Generator[string]) *rapid.Generator[string] {
	return g.Filter(func(s string) bool { return s != "" })
}

// printableName is a value NovaMed accepts as a name: it is kept verbatim
// for practitioners, so it must be valid to begin with.
func printableName() *rapid.Generator[string] {
	return rapid.StringOfN(rapid.RuneFrom([]rune{' ', '-', '\''}, unicode.L, unicode.Mn), 1, 30, 200).
		Filter(func(s string) bool { r := []rune(s); return unicode.IsLetter(r[0]) })
}

func birthDate() *rapid.Generator[string] {
	return rapid.Custom(func(t *rapid.T) string {
		d := testNow.AddDate(0, 0, -rapid.IntRange(0, 125*366).Draw(t, "days"))
		if d.Year() < 1900 {
			d = testNow.AddDate(-100, 0, 0)
		}
		s := d.Format(novamed.DateLayout)
		if rapid.Bool().Draw(t, "fullwidth") {
			s = toFullWidth(s)
		}
		return s
	})
}

func toFullWidth(s string) string {
	var b bytes.Buffer
	for _, r := range s {
		if r >= '0' && r <= '9' {
			r += '０' - '0'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// extraFields are unknown keys holding anything, nested included.
func extraFields(known map[string]treatment) *rapid.Generator[map[string]any] {
	value := rapid.OneOf(
		rapid.Map(anyText(), func(s string) any { return s }),
		rapid.Map(rapid.Int64(), func(n int64) any { return n }),
		rapid.Map(rapid.SliceOfN(anyText(), 0, 3), func(s []string) any { return s }),
		rapid.Map(rapid.MapOfN(anyText(), anyText(), 0, 3), func(m map[string]string) any { return m }),
	)
	key := anyText().Filter(func(k string) bool { _, ok := known[k]; return !ok })
	return rapid.MapOfN(key, value, 0, 4)
}

func genPatient(t *rapid.T) []byte {
	m := map[string]any{
		"clinic_id":     rapid.SampledFrom([]string{inputClinic, testClinic}).Draw(t, "clinic"),
		"first_name":    nonEmpty(anyText()).Draw(t, "first"),
		"last_name":     nonEmpty(anyText()).Draw(t, "last"),
		"date_of_birth": birthDate().Draw(t, "dob"),
		"email":         nonEmpty(anyText()).Draw(t, "email"),
	}
	optional := map[string]*rapid.Generator[string]{
		"gender":        rapid.SampledFrom([]string{"male", "female", "other", "Male", "f", "unknown"}),
		"phone":         anyText(),
		"address_line1": anyText(),
		"address_line2": anyText(),
		"city":          anyText(),
		"state":         rapid.SampledFrom([]string{"CA", "MA", "NY", "WY", "ca", "Texas", "XX"}),
		"zip":           rapid.OneOf(rapid.StringMatching(`[0-9]{5}(-[0-9]{4})?`), rapid.StringMatching(`[0-9０-９]{5}`), anyText()),
	}
	for k, g := range optional {
		if v := g.Draw(t, k); v != "" && rapid.Bool().Draw(t, "has_"+k) {
			m[k] = v
		}
	}
	for k, v := range extraFields(patientPolicy).Draw(t, "extra") {
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return b
}

func genPractitioner(t *rapid.T) []byte {
	stem := rapid.StringMatching(`[1-2][0-9]{8}`).Draw(t, "npi_stem")
	m := map[string]any{
		"first_name":      printableName().Draw(t, "first"),
		"last_name":       printableName().Draw(t, "last"),
		"email":           nonEmpty(anyText()).Draw(t, "email"),
		"npi_number":      stem + string(novamed.NPICheckDigit(stem)),
		"assigned_clinic": rapid.SampledFrom([]string{inputClinic, testClinic}).Draw(t, "clinic"),
	}
	optional := map[string]*rapid.Generator[string]{
		"phone":           anyText(),
		"dea_number":      anyText(),
		"license_number":  anyText(),
		"license_state":   rapid.SampledFrom([]string{"CA", "IL", "il", "Illinois"}),
		"signature_image": rapid.StringMatching(`[A-Za-z0-9+/]{4,64}={0,2}`),
	}
	for k, g := range optional {
		if v := g.Draw(t, k); v != "" && rapid.Bool().Draw(t, "has_"+k) {
			m[k] = v
		}
	}
	for k, v := range extraFields(practitionerPolicy).Draw(t, "extra") {
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return b
}

// checkProperties asserts the guard's promises for one generated body:
// success, a valid record, no input value in the output, determinism.
// Failure messages name fields only (rapid itself reports the generated,
// synthetic input).
func checkProperties(t *rapid.T, g *Guard, kind novamed.Kind, raw []byte) {
	rec, _, err := g.DeidentifyJSON(kind, raw)
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
	again, _, err := g.DeidentifyJSON(kind, raw)
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	if d := differingFields(out, fieldsOf(t, again)); len(d) > 0 {
		t.Fatalf("not deterministic in fields %v", d)
	}
	// Re-applying the guard (dispatch does) keeps the record valid.
	twice, _, err := g.Deidentify(rec)
	if err != nil {
		t.Fatalf("second pass: %v", err)
	}
	if err := twice.Validate(); err != nil {
		t.Fatalf("second pass invalid: %v", err)
	}
}

func TestPropertyPatient(t *testing.T) {
	g := newTestGuard(t)
	rapid.Check(t, func(t *rapid.T) { checkProperties(t, g, novamed.KindPatient, genPatient(t)) })
}

func TestPropertyPractitioner(t *testing.T) {
	g := newTestGuard(t)
	rapid.Check(t, func(t *rapid.T) { checkProperties(t, g, novamed.KindPractitioner, genPractitioner(t)) })
}

// TestPropertyOnePersonOneIdentity: spelling variants of one patient (NFC,
// NFD, case, zero-width characters, spacing) get the same pseudonyms.
func TestPropertyOnePersonOneIdentity(t *testing.T) {
	g := newTestGuard(t)
	variant := func(t *rapid.T, s, label string) string {
		switch rapid.IntRange(0, 5).Draw(t, label) {
		case 5:
			return strings.ToUpper(s)
		case 1:
			return norm.NFD.String(s)
		case 2:
			return caseFold(s) // folded: upper- and lower-case spellings meet here
		case 3:
			r := []rune(s)
			i := rapid.IntRange(0, len(r)).Draw(t, label+"_at")
			return string(r[:i]) + "\u200d" + string(r[i:])
		case 4:
			return " " + s + " "
		}
		return s
	}
	rapid.Check(t, func(t *rapid.T) {
		first := printableName().Draw(t, "first")
		last := printableName().Draw(t, "last")
		email := rapid.StringMatching(`[a-z]{1,10}\.[a-z]{1,10}@[a-z]{2,10}\.example`).Draw(t, "email")
		body := func(f, l, e string) []byte {
			b, _ := json.Marshal(map[string]string{"clinic_id": inputClinic, "first_name": f, "last_name": l, "email": e, "date_of_birth": "1970-04-04"})
			return b
		}
		a, _, errA := g.DeidentifyJSON(novamed.KindPatient, body(first, last, email))
		b, _, errB := g.DeidentifyJSON(novamed.KindPatient, body(variant(t, first, "vf"), variant(t, last, "vl"), variant(t, email, "ve")))
		if errA != nil || errB != nil {
			t.Fatalf("errors: %v / %v", errA, errB)
		}
		if a.Patient.Email != b.Patient.Email {
			t.Fatalf("a spelling variant changed the patient's pseudonymous email")
		}
	})
}

func ExampleGuard_DeidentifyJSON() {
	p, _ := NewHMACPseudonymizer([]byte("example-key-of-at-least-16-bytes"))
	g, _ := New(p, "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d")
	rec, rep, err := g.DeidentifyJSON(novamed.KindPatient, []byte(`{
		"clinic_id": "7d9f3c2e-1b4a-4e8f-9c6d-2a5b8e1f4c7a",
		"first_name": "Maria", "last_name": "Gonzalez", "date_of_birth": "1984-07-23",
		"email": "maria@mailbox.org", "state": "MA", "zip": "02108", "ssn": "078-05-1120"}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rec.Patient.DateOfBirth, rec.Patient.Zip, rec.Patient.State, rep.Dropped)
	fmt.Println(rec.Patient) // a record never prints its values
	// Output:
	// 1984-01-01 02100 MA 1
	// [PHI]
}
