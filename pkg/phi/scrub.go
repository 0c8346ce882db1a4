package phi

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/novamed/bridge/pkg/novamed"
)

const (
	// MaxScrubbedMessage bounds a message ScrubMessage returns, in bytes.
	MaxScrubbedMessage = 200
	// maxScannedMessage is the longest message ScrubMessage looks at; a
	// longer one is refused outright (no documented message comes close).
	maxScannedMessage = 4 << 10
	// maxDigitRun: a run of this many digits looks like a phone number, an
	// identifier or a date, whoever it belongs to.
	maxDigitRun = 7
)

// ScrubMessage returns msg, truncated to MaxScrubbedMessage bytes, and true
// when it is safe to keep beside rec (in a log line, a metric, a dead-letter
// attribute): it quotes no value of rec. Otherwise it returns "" and false.
//
// A message is refused when, after normalisation (NFKC, case folding,
// combining marks, spaces, punctuation and format characters removed):
//   - it contains any value of rec of four or more characters, or any
//     word of four or more characters of such a value (so "Email
//     john.smith is invalid" is refused for john.smith@clinic.org);
//   - one of its words is a word of two or three characters of a value of
//     rec (so "Patient Ann Li exists" is refused for Ann Li: short names
//     are common, and a substring test that short would refuse everything);
//   - it contains an "@", a backslash (an escape could spell a value in
//     disguise) or seven or more digits in a row (PHI-shaped, whoever's);
//   - it is not valid UTF-8 or is longer than 4 KiB.
//
// Control characters in an accepted message become spaces.
func ScrubMessage(msg string, rec novamed.Record) (string, bool) {
	if len(msg) > maxScannedMessage || !utf8.ValidString(msg) {
		return "", false
	}
	folded := norm.NFKC.String(msg)
	if strings.ContainsAny(folded, `@\`) || hasDigitRun(folded, maxDigitRun) {
		return "", false
	}
	body, err := rec.Body()
	if err != nil {
		return "", false
	}
	hay := skeleton(msg)
	msgWords := map[string]bool{}
	for _, w := range valueWords(msg) {
		msgWords[w] = true
	}
	leak := false
	err = walkValues(body, nil, func(_, v string) bool {
		for _, n := range scrubNeedles(v) {
			if strings.Contains(hay, n) {
				leak = true
				return false
			}
		}
		for _, w := range valueWords(v) {
			if n := utf8.RuneCountInString(w); n >= minWordRunes && n < minSecretRunes && msgWords[w] {
				leak = true
				return false
			}
		}
		return true
	})
	if err != nil || leak {
		return "", false
	}
	clean := strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, msg)
	return truncate(clean, MaxScrubbedMessage), true
}

// scrubNeedles returns the skeleton of v and of each of its words, keeping
// those of four or more runes.
func scrubNeedles(v string) []string {
	var out []string
	add := func(s string) {
		if k := skeleton(s); utf8.RuneCountInString(k) >= minSecretRunes {
			out = append(out, k)
		}
	}
	add(v)
	words := strings.FieldsFunc(norm.NFKC.String(v), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.In(r, unicode.M)
	})
	if len(words) > 1 {
		for _, w := range words {
			add(w)
		}
	}
	return out
}

// minWordRunes is the shortest word of a value the scrubber looks for as a
// whole word: single letters (initials) are everywhere.
const minWordRunes = 2

// valueWords returns the skeletons of the words of s.
func valueWords(s string) []string {
	words := strings.FieldsFunc(norm.NFKC.String(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.In(r, unicode.M)
	})
	out := words[:0]
	for _, w := range words {
		if k := skeleton(w); k != "" {
			out = append(out, k)
		}
	}
	return out
}

func hasDigitRun(s string, n int) bool {
	run := 0
	for _, r := range s {
		if unicode.IsDigit(r) {
			run++
			if run >= n {
				return true
			}
		} else {
			run = 0
		}
	}
	return false
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
