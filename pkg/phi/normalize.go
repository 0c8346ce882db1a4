package phi

import (
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// minSecretRunes is the policy's threshold: input values this long or longer
// (after normalisation) must not appear in the output.
const minSecretRunes = 4

// folders pools case folders: a cases.Caser keeps state and must not be
// shared between goroutines.
var folders = sync.Pool{New: func() any { c := cases.Fold(); return &c }}

// caseFold applies full Unicode case folding (ß becomes ss) and then maps
// every rune to one canonical member of its case orbit. The second step
// makes folding idempotent: x/text folds the Cherokee letter Ꭰ to ꭰ and ꭰ
// back to Ꭰ, so folding alone would give two spellings of one name two keys.
func caseFold(s string) string {
	c := folders.Get().(*cases.Caser)
	s = c.String(s)
	folders.Put(c)
	return strings.Map(canonicalCase, s)
}

// canonicalCase returns the lower-case form of the smallest rune in r's
// simple case-folding orbit: the same rune for every member of the orbit.
func canonicalCase(r rune) rune {
	if r == 'ı' {
		// Dotless i upper-cases to I, which folds to i: the one letter whose
		// upper-case spelling folding alone does not bring back.
		return 'i'
	}
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		return r
	}
	// Only letters stand for the orbit: iota's orbit holds U+0345, a
	// combining mark, which the skeleton then strips, so "ι" would lose its
	// letter on a second pass and the skeleton would not be idempotent.
	m := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if unicode.IsLetter(f) {
			m = min(m, f)
		}
	}
	return unicode.ToLower(m)
}

// ignorable reports runes that carry no letters or digits of their own:
// separators and spaces, punctuation, symbols, control and format characters
// (zero-width joiners and non-joiners, soft hyphens, bidi controls, tags),
// variation selectors and the other default-ignorable code points (Hangul
// fillers, the combining grapheme joiner).
func ignorable(r rune) bool {
	return unicode.IsSpace(r) ||
		unicode.In(r, unicode.Z, unicode.P, unicode.S, unicode.C) ||
		unicode.In(r, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector) ||
		r == utf8.RuneError
}

// skeleton is the one normal form of the package, used both for the
// tripwire and as the key of pseudonyms: NFKC (full-width digits become
// ASCII, ligatures split, the Kelvin sign becomes K), full case folding
// (made idempotent, see caseFold), NFKD and then removal of the ignorable
// runes and of combining marks.
//
// It goes further than the policy's NFKC + case folding + stripping on
// purpose. For the tripwire, both sides of every comparison use it, so the
// comparison is stricter, never looser: "José" and "Jose" share a skeleton
// and a synthetic "Jose" cannot slip past the tripwire for a patient called
// José. For pseudonyms, "José" in NFC or NFD, with a zero-width joiner
// anywhere, in upper case or typed without its accent by another system,
// is one person; the patient tuple also holds the birth date and the email,
// so different people do not merge.
func skeleton(s string) string {
	if isASCII(s) {
		return asciiSkeleton(s)
	}
	return fullSkeleton(s)
}

// skeletons returns the skeleton of each of list.
func skeletons(list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = skeleton(s)
	}
	return out
}

// asciiSkeleton is skeleton for ASCII input, where the Unicode steps reduce
// to lower-casing and keeping letters and digits (every other ASCII rune is
// a space, punctuation, a symbol or a control). Most values are ASCII.
func asciiSkeleton(s string) string {
	// A value that is a skeleton already (digits, a synthetic code) is
	// returned as it is, without a copy.
	i := 0
	for i < len(s) && ('a' <= s[i] && s[i] <= 'z' || '0' <= s[i] && s[i] <= '9') {
		i++
	}
	if i == len(s) {
		return s
	}
	b := make([]byte, i, len(s))
	copy(b, s[:i])
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
			b = append(b, c)
		case 'A' <= c && c <= 'Z':
			b = append(b, c+'a'-'A')
		}
	}
	return string(b)
}

// appendASCIISkeleton appends asciiSkeleton(string(s)) to dst.
func appendASCIISkeleton[T string | []byte](dst []byte, s T) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
			dst = append(dst, c)
		case 'A' <= c && c <= 'Z':
			dst = append(dst, c+'a'-'A')
		}
	}
	return dst
}

// isASCIIBytes is isASCII for bytes.
func isASCIIBytes(s []byte) bool {
	for _, c := range s {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func fullSkeleton(s string) string {
	s = norm.NFKD.String(caseFold(norm.NFKC.String(s)))
	return strings.Map(func(r rune) rune {
		if ignorable(r) || unicode.In(r, unicode.Mn, unicode.Me) {
			return -1
		}
		return r
	}, s)
}

// digitsOnly keeps the decimal digits of s after NFKC (so full-width digits
// count): the identity of a phone number.
func digitsOnly(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, norm.NFKC.String(s))
}
