package phi

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/novamed/bridge/pkg/novamed"
)

// Fixed test configuration: a pseudonym key, the development clinic and a
// clock, so goldens are stable.
const (
	testKey      = "novamed-bridge-test-pseudonym-key-0001"
	testClinic   = "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d"
	inputClinic  = "7d9f3c2e-1b4a-4e8f-9c6d-2a5b8e1f4c7a"
	validNPI     = "1234567893"
	secondaryNPI = "1245319599"
)

var testNow = time.Date(2025, 6, 15, 12, 0, 0, 0, time.UTC)

func newTestGuard(tb testing.TB) *Guard {
	tb.Helper()
	p, err := NewHMACPseudonymizer([]byte(testKey))
	if err != nil {
		tb.Fatalf("NewHMACPseudonymizer: %v", err)
	}
	g, err := New(p, testClinic, WithClock(func() time.Time { return testNow }))
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return g
}

// fataler is what the helpers need of *testing.T, *testing.B and *rapid.T.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// fieldsOf returns a record's wire body as a map.
func fieldsOf(tb fataler, rec novamed.Record) map[string]string {
	tb.Helper()
	body, err := rec.Body()
	if err != nil {
		tb.Fatalf("Body: %v", err)
	}
	m := map[string]string{}
	if err := json.Unmarshal(body, &m); err != nil {
		tb.Fatalf("body is not a flat string object")
	}
	return m
}

// differingFields names the fields in which two flat JSON objects differ:
// test failures print field names, never values.
func differingFields(a, b map[string]string) []string {
	var out []string
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// leakedFields is the tests' own oracle for the policy's promise, written
// independently of the tripwire: it returns the output fields containing
// any input value (skeleton of four or more runes) that the policy neither
// keeps nor publishes. Kept fields' inputs, the values the policy discloses
// on purpose (the configured clinic, the generalised birth date and ZIP,
// kept values, fixed format parts) and their substrings are exempt.
func leakedFields(kind novamed.Kind, inputs map[string][]string, out map[string]string) []string {
	keptKeys := map[string]bool{"gender": true, "state": true}
	if kind == novamed.KindPractitioner {
		keptKeys = map[string]bool{"first_name": true, "last_name": true, "npi_number": true, "license_state": true}
	}
	disclosed := []string{skeleton("@example.com"), skeleton("+1-555-01"), skeleton(testClinic)}
	for _, k := range []string{"date_of_birth", "zip"} {
		disclosed = append(disclosed, skeleton(out[k]))
	}
	for k := range keptKeys {
		if v, ok := out[k]; ok {
			disclosed = append(disclosed, skeleton(v))
		}
	}
	var leaked []string
	for key, v := range out {
		hay := skeleton(v)
	values:
		for inKey, vals := range inputs {
			if keptKeys[inKey] {
				if _, ok := out[inKey]; ok {
					continue
				}
			}
			for _, in := range vals {
				n := skeleton(in)
				if len([]rune(n)) < minSecretRunes {
					continue
				}
				for _, d := range disclosed {
					if strings.Contains(d, n) {
						continue values
					}
				}
				if strings.Contains(hay, n) {
					leaked = append(leaked, key)
					break values
				}
			}
		}
	}
	sort.Strings(leaked)
	return leaked
}

// inputValues collects every string (keys below the top and values) and
// number under each top-level key of a JSON object, plus unknown top-level
// keys under themselves.
func inputValues(tb fataler, raw []byte, kind novamed.Kind) map[string][]string {
	tb.Helper()
	var top map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&top); err != nil {
		tb.Fatalf("input is not a JSON object")
	}
	known := policyFor(kind)
	out := map[string][]string{}
	for k, v := range top {
		if _, ok := known[k]; !ok {
			out["?"+k] = append(out["?"+k], k)
		}
		out[k] = append(out[k], flatten(v)...)
	}
	return out
}

func flatten(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case json.Number:
		return []string{x.String()}
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, flatten(e)...)
		}
		return out
	case map[string]any:
		var out []string
		for k, e := range x {
			out = append(out, k)
			out = append(out, flatten(e)...)
		}
		return out
	}
	return nil
}
