package devstack

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/pkg/samples"
)

// TestCanariesCannotBeSyntheticValues keeps the samples' PHI distinctive: a
// sample name that is also in the guard's synthetic vocabulary could be
// picked, legitimately, for another patient, and the sandbox would report a
// leak that is not one.
func TestCanariesCannotBeSyntheticValues(t *testing.T) {
	root, err := FindRoot(".")
	require.NoError(t, err)
	sources, err := LoadLocalSources(root)
	require.NoError(t, err)
	ts, err := samples.Templates()
	require.NoError(t, err)
	canaries := Canaries(ts, sources)
	require.NotEmpty(t, canaries)

	files, err := filepath.Glob(filepath.Join(root, "pkg", "phi", "data", "*.txt"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	var vocabulary []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, line := range strings.Split(string(b), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				vocabulary = append(vocabulary, strings.ToLower(line))
			}
		}
	}
	// A synthetic email is p-<12 base32 characters>@example.com: a sample
	// email whose local part could end such a code ("kj@example.com")
	// would be reported as a leak about once in a thousand patients.
	synthetic := regexp.MustCompile(`^[a-z2-7]{1,12}@example\.com$`)
	for i, c := range canaries {
		assert.False(t, synthetic.MatchString(strings.ToLower(c)), "canary #%d could be the end of a synthetic email", i)
		for _, word := range vocabulary {
			assert.False(t, strings.Contains(word, strings.ToLower(c)), "canary #%d is (part of) a synthetic value", i)
		}
	}
}

func TestCanaries(t *testing.T) {
	root, err := FindRoot(".")
	require.NoError(t, err)
	sources, err := LoadLocalSources(root)
	require.NoError(t, err)
	ts, err := samples.Templates()
	require.NoError(t, err)
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
