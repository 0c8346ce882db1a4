package inbound

import (
	"slices"
	"strings"

	"github.com/novamed/bridge/pkg/novamed"
)

// formAnswers is what every form tool's body becomes before it is mapped:
// the sender's answers as text, each under the field map keys it may be
// known by, with the payload path it came from. The generic form, Typeform,
// Tally, Formstack and Jotform parsers each only build one; mapAnswers is the
// one mapping from answers to a NovaMed record, so every tool follows the
// same rules (field map, clinic, conflicts, skipped counts, error paths).
type formAnswers struct {
	// eventID is the sender's event id, already made safe by eventID().
	eventID string
	// kind is the record the answers describe.
	kind novamed.Kind
	// answers are in payload order (the generic form's are sorted by key).
	answers []formAnswer
	// identity lets a key that is a NovaMed field name map to itself when
	// the field map is empty (the generic form only).
	identity bool
}

// formAnswer is one answer.
type formAnswer struct {
	// keys are the field map keys the answer is known by, most specific
	// first (Typeform: ref, then "id:<id>", then "title:<title>"; Tally: key,
	// then label). The first key the field map holds decides the target.
	keys []string
	// path is the answer's place in the payload, for error paths. Never a
	// value.
	path string
	// value is the answer as text: unset for no answer, bad for an answer
	// that cannot be text (reported at path only if the answer is mapped).
	value jstr
	// whole marks an answer that is counted as skipped through another
	// one when unmapped: a compound field as a whole (Formstack's Name,
	// Jotform's q3_fullName), counted by its parts; the parts of a date
	// ({month, day, year}), counted as the date.
	whole bool
}

// target returns the NovaMed field the answer maps to under fieldMap.
func (a formAnswer) target(fieldMap map[string]string, identity bool) (string, bool) {
	for _, k := range a.keys {
		if k == "" {
			continue
		}
		if t, ok := fieldMap[k]; ok {
			return t, true
		}
	}
	if identity && len(fieldMap) == 0 && len(a.keys) > 0 {
		return a.keys[0], true
	}
	return "", false
}

// mapAnswers turns answers into one record of their kind, adds it to p and
// returns how many answers mapped to nothing NovaMed takes.
func mapAnswers(fa formAnswers, opts Options, p *parsed) (skipped int) {
	table := tableFor(fa.kind)
	rec := newRecord(fa.kind, opts.ClinicID)
	src := keyedSource{}
	for _, a := range fa.answers {
		target, ok := a.target(opts.FieldMap, fa.identity)
		if !ok || !table.has(target) {
			if !a.whole {
				skipped++
			}
			continue
		}
		assign(rec, src, target, a.path, a.value, p)
	}
	s := p.add(rec, src)
	if f := opts.SubjectField; f != "" {
		for _, a := range fa.answers {
			if slices.Contains(a.keys, f) && a.value.set && strings.TrimSpace(a.value.v) != "" {
				s.subject = "field|" + strings.TrimSpace(normalize("", a.value.v))
				break
			}
		}
	}
	return skipped
}

// text is a jstr holding s.
func text(s string) jstr { return jstr{v: s, set: true} }

// badValue is the jstr of an answer that cannot be text.
var badValue = jstr{bad: true}
