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

func caseFold(s string) string {
	c := folders.Get().(*cases.Caser)
	defer folders.Put(c)
	return c.String(s)
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

// identityKey normalises a value before it is pseudonymised: NFKC (full-width
// digits become ASCII, ligatures split, the Kelvin sign becomes K), full case
// folding, NFKC again (folding can denormalise) and then the ignorable runes
// removed. "José" in NFC or NFD, with a zero-width joiner inside or in upper
// case, gives one key, so one person keeps one pseudonym.
func identityKey(s string) string {
	s = norm.NFKC.String(caseFold(norm.NFKC.String(s)))
	return strings.Map(func(r rune) rune {
		if ignorable(r) {
			return -1
		}
		return r
	}, s)
}

// skeleton is the tripwire's normal form. It goes further than identityKey:
// after folding it decomposes (NFKD) and drops combining marks too, so
// "José" and "Jose" share a skeleton and a synthetic "Jose" cannot slip past
// the tripwire for a patient called José. Both sides of every comparison use
// it, which makes the comparison stricter, never looser, than the policy's
// NFKC + case folding + stripping.
func skeleton(s string) string {
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
