package phi

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// ErrTripwire means an input value of four or more characters (after
// normalisation) was found in a de-identified record. The record is not
// returned. The error names the output field, never the value.
var ErrTripwire = errors.New("phi: tripwire: an input value reached the de-identified output")

// formatConstants are the fixed parts of synthetic values. They carry no
// information about anyone, so an input value that happens to be part of
// them ("example", "5550" in a ZIP of 55501) is not a leak.
var formatConstants = []string{"p-", "dr-", "@" + syntheticEmailDomain, syntheticPhonePrefix}

// formatConstantSkeletons are their skeletons, disclosed by every tripwire.
var formatConstantSkeletons = skeletons(formatConstants)

// tripwire holds what the policy lets through and what it must not.
//
// Secrets are the input values of every field the policy replaces,
// generalises or drops (unknown and nested fields included). Disclosed
// values are what the policy publishes on purpose: kept values, generalised
// values, the configured clinic and the format constants. A secret that is
// part of a disclosed value (an input ZIP of 94100, which generalises to
// itself; an unknown "sex" field equal to the kept gender) reveals nothing
// the policy does not already reveal, so it is not armed. Every other secret
// of four or more runes is a needle, and no output value may contain one.
type tripwire struct {
	disclosed []string
	needles   []string
	// exact holds the skeleton of every secret, however short, so that
	// synthetic picks never equal an input value ("Ann" is not replaced by
	// "Ann").
	exact map[string]bool
	// normalized holds the skeletons of the few input fields the guard
	// also keys pseudonyms on (see remember), so each is normalised once.
	normalized []normalizedValue
	// scratch holds the skeleton of a candidate being tested (avoid).
	scratch []byte
}

// normalizedValue is a value and its skeleton.
type normalizedValue struct{ value, skeleton string }

func newTripwire() *tripwire {
	t := &tripwire{exact: make(map[string]bool, 16)}
	t.disclosed = append(make([]string, 0, len(formatConstantSkeletons)+8), formatConstantSkeletons...)
	return t
}

// remember normalises values once for later calls of t.skeleton. Keep
// the list short: arm looks every secret up in it.
func (t *tripwire) remember(values ...string) {
	for _, v := range values {
		if v != "" {
			t.normalized = append(t.normalized, normalizedValue{v, skeleton(v)})
		}
	}
}

// skeleton returns skeleton(v), from memory if v was remembered.
func (t *tripwire) skeleton(v string) string {
	for _, n := range t.normalized {
		if n.value == v {
			return n.skeleton
		}
	}
	return skeleton(v)
}

// disclose records a value the output carries by policy.
func (t *tripwire) disclose(v string) {
	if k := skeleton(v); k != "" {
		t.disclosed = append(t.disclosed, k)
	}
}

// arm turns secrets into needles. Call it after every disclose.
func (t *tripwire) arm(secrets []string) {
	t.needles = slices.Grow(t.needles, len(secrets))
	for _, s := range secrets {
		k := t.skeleton(s)
		if k == "" || t.exact[k] {
			continue
		}
		t.exact[k] = true
		if utf8.RuneCountInString(k) < minSecretRunes || t.isDisclosed(k) {
			continue
		}
		t.needles = append(t.needles, k)
	}
}

func (t *tripwire) isDisclosed(k string) bool {
	for _, d := range t.disclosed {
		if strings.Contains(d, k) {
			return true
		}
	}
	return false
}

// hits reports whether a candidate output value contains a needle.
func (t *tripwire) hits(k string) bool {
	for _, n := range t.needles {
		if len(n) <= len(k) && strings.Contains(k, n) {
			return true
		}
	}
	return false
}

// hitsBytes is hits for a skeleton held in bytes.
func (t *tripwire) hitsBytes(k []byte) bool {
	for _, n := range t.needles {
		if len(n) <= len(k) && containsString(k, n) {
			return true
		}
	}
	return false
}

// containsString is strings.Contains(string(b), s) without the conversion.
func containsString(b []byte, s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i+len(s) <= len(b); i++ {
		j := bytes.IndexByte(b[i:len(b)-len(s)+1], s[0])
		if j < 0 {
			return false
		}
		i += j
		if string(b[i:i+len(s)]) == s { // compares without allocating
			return true
		}
	}
	return false
}

// avoid reports whether a synthetic candidate must be rejected: it equals an
// input value or contains a needle.
func (t *tripwire) avoid(candidate string) bool {
	if !isASCII(candidate) {
		return t.avoidSkeleton(skeleton(candidate))
	}
	// Synthetic candidates are ASCII: skeletoned in a reused buffer.
	t.scratch = appendASCIISkeleton(t.scratch[:0], candidate)
	return t.exact[string(t.scratch)] || t.hitsBytes(t.scratch)
}

// avoidSkeleton is avoid for a candidate already normalised.
func (t *tripwire) avoidSkeleton(k string) bool {
	return t.exact[k] || t.hits(k)
}

// check runs the tripwire over the serialised output body, so it sees
// exactly what would be sent, every field included, whether or not the
// code that built the record knew about it.
//
// Most values are ASCII: their skeleton is built in one reused buffer and
// searched in place (hitsBytes), so the check allocates nothing per value.
func (t *tripwire) check(body []byte) error {
	var hit string
	var k []byte // the skeleton of the value at hand
	err := walkBytes(body, nil, func(key, v []byte) bool {
		var found bool
		if isASCIIBytes(v) {
			k = appendASCIISkeleton(k[:0], v)
			found = t.hitsBytes(k)
		} else {
			found = t.hits(skeleton(string(v)))
		}
		if found {
			hit = string(key)
			return false
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("%w (output not walkable)", ErrTripwire)
	}
	if hit != "" {
		return fmt.Errorf("%w: field %s", ErrTripwire, hit)
	}
	return nil
}
