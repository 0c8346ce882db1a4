package phi

import (
	"embed"
	"strings"
)

// The synthetic vocabularies and the restricted ZIP prefixes are data, not
// code: reviewers and auditors read and change the text files in data/.
//
//go:embed data/*.txt
var dataFS embed.FS

var (
	firstNames     = mustList("data/first_names.txt")
	lastNames      = mustList("data/last_names.txt")
	streetNames    = mustList("data/streets.txt")
	streetSuffixes = mustList("data/street_suffixes.txt")
	cityNames      = mustList("data/cities.txt")
	// The vocabularies' skeletons, for the tripwire's checks of each pick.
	firstNameSkeletons = skeletons(firstNames)
	lastNameSkeletons  = skeletons(lastNames)
	cityNameSkeletons  = skeletons(cityNames)
	restrictedZip3     = func() map[string]bool {
		m := map[string]bool{}
		for _, p := range mustList("data/restricted_zip3.txt") {
			m[p] = true
		}
		return m
	}()
)

// mustList reads one embedded list. A missing or empty list is a build
// defect, so it panics at start-up rather than producing bad records.
func mustList(name string) []string {
	b, err := dataFS.ReadFile(name)
	if err != nil {
		panic("phi: embedded list missing: " + name)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, line)
	}
	if len(out) == 0 {
		panic("phi: embedded list empty: " + name)
	}
	return out
}
