package novamedtest

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/novamed/bridge/pkg/novamed"
)

// canary is a value that must never reach Development, in the two forms it
// is looked for.
type canary struct {
	folded   string // NFKC, lower case
	stripped string // folded, letters and digits only
}

func newCanary(v string) canary {
	f := fold(v)
	if strings.TrimSpace(f) == "" {
		return canary{} // an empty canary would match everything
	}
	return canary{folded: f, stripped: strip(f)}
}

// fold applies NFKC (full-width digits, ligatures, the Kelvin sign) and lower
// case, so look-alike spellings still match.
func fold(s string) string { return strings.ToLower(norm.NFKC.String(s)) }

// strip keeps letters and digits: "Ada Love-lace" and "adalovelace" match,
// and so does a name with zero-width joiners inside.
func strip(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return r
		}
		return -1
	}, s)
}

// in reports whether the canary occurs in v.
func (c canary) in(v string) bool {
	if c.folded == "" {
		return false
	}
	f := fold(v)
	if strings.Contains(f, c.folded) {
		return true
	}
	return c.stripped != "" && strings.Contains(strip(f), c.stripped)
}

// Labels of a violation's field when no NovaMed field name applies. Keys the
// sandbox does not know are not repeated: a key can carry PHI too.
const (
	fieldBody    = "(body)"
	fieldUnknown = "(unknown field)"
	fieldKey     = "(key)"
)

var knownFieldSet = func() map[string]bool {
	m := map[string]bool{}
	for _, names := range knownFields {
		for _, n := range names {
			m[n] = true
		}
	}
	return m
}()

// checkCanaries records (and, with WithT, reports) every canary in body.
func (s *Server) checkCanaries(path string, body []byte) {
	s.mu.Lock()
	if !s.development || len(s.canaries) == 0 {
		s.mu.Unlock()
		return
	}
	canaries, t := s.canaries, s.t
	s.mu.Unlock()

	if !knownPath(path) {
		path = "(unknown path)"
	}
	found := map[Violation]bool{}
	var order []Violation
	check := func(field, v string) {
		for i, c := range canaries {
			hit := Violation{Path: path, Field: field, Canary: i}
			if !found[hit] && c.in(v) {
				found[hit] = true
				order = append(order, hit)
			}
		}
	}
	scanBody(body, check)
	if len(order) == 0 {
		return
	}
	s.mu.Lock()
	s.violations = append(s.violations, order...)
	s.mu.Unlock()
	if t != nil {
		for _, v := range order {
			t.Errorf("%s", v)
		}
	}
}

func knownPath(p string) bool { return p == novamed.PatientPath || p == novamed.PractitionerPath }

// scanBody calls check with every string in a JSON body (keys, values,
// numbers), labelled by the top-level NovaMed field it sits under; a body
// that is not JSON is checked whole.
func scanBody(body []byte, check func(field, v string)) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		check(fieldBody, string(body))
		return
	}
	// Whatever follows the first value is checked raw.
	if rest := body[dec.InputOffset():]; len(bytes.TrimSpace(rest)) > 0 {
		check(fieldBody, string(rest))
	}
	obj, ok := v.(map[string]any)
	if !ok {
		walk(v, fieldBody, check)
		return
	}
	for k, val := range obj {
		label := fieldUnknown
		if knownFieldSet[k] {
			label = k
		}
		check(fieldKey, k)
		walk(val, label, check)
	}
}

func walk(v any, label string, check func(field, v string)) {
	switch x := v.(type) {
	case string:
		check(label, x)
	case json.Number:
		check(label, x.String())
	case map[string]any:
		for k, val := range x {
			check(fieldKey, k)
			walk(val, label, check)
		}
	case []any:
		for _, val := range x {
			walk(val, label, check)
		}
	}
}
