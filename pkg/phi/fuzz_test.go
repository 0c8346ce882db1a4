package phi

import (
	"strings"
	"testing"

	"github.com/novamed/bridge/pkg/novamed"
)

// errorWords splits an error message into words.
func errorWords(msg string) []string {
	return strings.FieldsFunc(msg, func(r rune) bool { return strings.ContainsRune(" :;,()", r) })
}

// errorVocabulary is every word an error of DeidentifyJSON may contain: the
// words of the sentinel messages and format strings, the field names, the
// validation reasons and the wrapped types. Any other word in an error
// could be a quoted value.
var errorVocabulary = func() map[string]bool {
	texts := []string{
		"phi decode *time.ParseError *errors.errorString invalid value message redacted output not walkable field",
		"no synthetic value for avoids the input novamed validation failed kind",
		novamed.ReasonRequired, novamed.ReasonInvalid, novamed.ReasonTooLong, novamed.ReasonFuture, novamed.ReasonOutOfRange, novamed.ReasonChecksum,
	}
	for _, err := range []error{
		ErrTripwire, ErrMalformedRecord, ErrInvalidOutput, ErrPseudonym, ErrTooLarge,
		novamed.ErrNotObject, novamed.ErrDuplicateKey, novamed.ErrNotString, novamed.ErrUnknownKind,
	} {
		texts = append(texts, err.Error())
	}
	for _, p := range []map[string]treatment{patientPolicy, practitionerPolicy} {
		for k := range p {
			texts = append(texts, k, "patient."+k, "practitioner."+k)
		}
	}
	vocab := map[string]bool{}
	for _, t := range texts {
		for _, w := range errorWords(t) {
			vocab[w] = true
		}
	}
	return vocab
}()

// FuzzDeidentifyJSON: whatever the bytes, the guard does not panic, and it
// either fails (returning no record, with an error that quotes nothing) or
// returns a record that passes NovaMed's validation and holds no input
// value of four or more characters.
func FuzzDeidentifyJSON(f *testing.F) {
	// The attack cases are in testdata/fuzz/FuzzDeidentifyJSON.
	f.Add(patientJSON(f, nil), byte(0))
	f.Add(practitionerJSON(f, nil), byte(1))
	g := newTestGuard(f)
	f.Fuzz(func(t *testing.T, data []byte, k byte) {
		kind := []novamed.Kind{novamed.KindPatient, novamed.KindPractitioner, "other"}[int(k)%3]
		rec, _, err := g.DeidentifyJSON(kind, data)
		if err != nil {
			if rec.Kind != "" || rec.Patient != nil || rec.Practitioner != nil {
				t.Fatal("a record was returned with an error")
			}
			for _, w := range errorWords(err.Error()) {
				if !errorVocabulary[w] {
					t.Fatal("error message holds a word outside the error vocabulary (a quoted value?)")
				}
			}
			return
		}
		if err := rec.Validate(); err != nil {
			t.Fatalf("output fails validation: %v", err)
		}
		out := fieldsOf(t, rec)
		if leaked := leakedFields(kind, inputValues(t, data, kind), out); len(leaked) > 0 {
			t.Fatalf("input values reached output fields %v", leaked)
		}
	})
}
