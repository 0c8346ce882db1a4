package devstack

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCanariesCannotBeSyntheticValues keeps the samples' PHI distinctive.
// The sandbox reports a canary found inside any value it receives (after
// case folding and removing spaces and punctuation), and the guard may,
// legitimately, give one patient a synthetic value that contains another
// sample patient's real value: a name from its vocabulary, a street with its
// suffix ("Pine St" holds "Ines"), or a random email code that happens to
// spell a short value. Such a sample would make the end-to-end suite report
// leaks that are not leaks, now and then.
func TestCanariesCannotBeSyntheticValues(t *testing.T) {
	root, err := FindRoot(".")
	require.NoError(t, err)
	sources, ts := localSamples(t)
	canaries := Canaries(ts, sources)
	require.NotEmpty(t, canaries)

	list := func(name string) []string {
		b, err := os.ReadFile(filepath.Join(root, "pkg", "phi", "data", name+".txt"))
		require.NoError(t, err)
		var out []string
		for _, line := range strings.Split(string(b), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				out = append(out, line)
			}
		}
		require.NotEmpty(t, out, name)
		return out
	}
	var synthetic []string
	synthetic = append(synthetic, list("first_names")...)
	synthetic = append(synthetic, list("last_names")...)
	synthetic = append(synthetic, list("cities")...)
	for _, street := range list("streets") {
		for _, suffix := range list("street_suffixes") {
			synthetic = append(synthetic, street+" "+suffix)
		}
	}
	// The email code is 12 characters of base32 (a-z, 2-7): a value made
	// only of those, five characters or fewer, turns up in one now and then
	// (six or more: under one in a hundred million per email).
	codeLike := regexp.MustCompile(`^[a-z2-7]{1,5}$`)
	// Every record carries the clinic id.
	synthetic = append(synthetic, ClinicID)
	for i, c := range canaries {
		k := squash(c)
		assert.False(t, codeLike.MatchString(k), "canary #%d could appear inside a synthetic email code", i)
		for _, v := range synthetic {
			assert.False(t, strings.Contains(squash(v), k), "canary #%d can appear inside a synthetic value", i)
		}
	}
}

// squash folds case and drops everything but letters and digits, as the
// sandbox does before it looks for a canary.
func squash(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return unicode.ToLower(r)
		}
		return -1
	}, s)
}

func TestCanaries(t *testing.T) {
	sources, ts := localSamples(t)
	canaries := Canaries(ts, sources)
	// Patient values the guard replaces are canaries; a practitioner's
	// public identity and fictional 555-01XX numbers are not.
	assert.Contains(t, canaries, "Lovelace")
	assert.Contains(t, canaries, "1985-12-10")
	assert.NotContains(t, canaries, "Hopper")
	assert.NotContains(t, canaries, "1234567893")
	for _, c := range canaries {
		assert.False(t, fictionalPhone(c), "a fictional number is no canary")
	}
	assert.True(t, fictionalPhone("+1-555-0142"))
	assert.True(t, fictionalPhone("(555) 0199"))
	assert.False(t, fictionalPhone("+1-617-555-0243"))
	assert.False(t, fictionalPhone("Road 5550100"))
}
