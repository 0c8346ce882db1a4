package novamedtest

import (
	"strings"
	"testing"
	"unicode"

	"pgregory.net/rapid"
)

// TestCanaryDisguisesProperty: a canary survives any mix of case changes and
// inserted spaces, punctuation and zero-width joiners, anywhere in a value.
func TestCanaryDisguisesProperty(t *testing.T) {
	separators := []string{" ", "-", ".", "'", "\u200d", "_", ","}
	rapid.Check(t, func(t *rapid.T) {
		value := rapid.StringMatching(`[a-z0-9]{4,12}`).Draw(t, "canary")
		var b strings.Builder
		b.WriteString(rapid.StringMatching(`[a-z ]{0,6}`).Draw(t, "prefix"))
		for i, r := range value {
			if rapid.Bool().Draw(t, "upper") {
				r = unicode.ToUpper(r)
			}
			b.WriteRune(r)
			if i < len(value)-1 && rapid.IntRange(0, 3).Draw(t, "sep?") == 0 {
				b.WriteString(rapid.SampledFrom(separators).Draw(t, "sep"))
			}
		}
		b.WriteString(rapid.StringMatching(`[a-z ]{0,6}`).Draw(t, "suffix"))

		c := newCanary(value)
		if !c.in(b.String()) {
			t.Fatalf("a disguised canary of %d characters was missed", len(value))
		}
	})
}

func TestCanaryEdgeCases(t *testing.T) {
	for _, tc := range []struct {
		canary, value string
		want          bool
	}{
		{"", "anything", false},
		{"   ", "anything", false},
		{"Kelvin", "\u212Aelvin", true}, // Kelvin sign folds to K
		{"ﬁrst", "first", true},         // ligature
		{"12345", "１２３４５", true},        // full-width digits
		{"Ada", "Grace", false},
		{"--", "a--b", true}, // all punctuation: matched as folded text only
		{"--", "ab", false},
	} {
		if got := newCanary(tc.canary).in(tc.value); got != tc.want {
			t.Errorf("canary case %q/%q: got %v", tc.canary, tc.value, got)
		}
	}
}
