package phi

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode"

	"golang.org/x/text/unicode/norm"
	"pgregory.net/rapid"
)

func TestSkeleton(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"José", "jose"},
		{"Jose\u0301", "jose"},
		{"JOSÉ", "jose"},
		{"Jo\u200dsé", "jose"},       // zero-width joiner
		{"Jo\u200csé", "jose"},       // zero-width non-joiner
		{"Jo\u00adsé", "jose"},       // soft hyphen
		{"Jo\u2060sé", "jose"},       // word joiner
		{"Jo\ufeffsé", "jose"},       // byte-order mark
		{"José\ufe0f", "jose"},       // variation selector
		{"Jo\u034fsé", "jose"},       // combining grapheme joiner
		{"\u202eJosé\u202c", "jose"}, // bidi override
		{"Jo\u3164sé", "jose"},       // Hangul filler
		{"\U000E0041José", "jose"},   // tag character
		{"ﬁnn", "finn"},              // ligature
		{"\u212Aelvin", "kelvin"},    // Kelvin sign
		{"Straße", "strasse"},        // full folding
		{"STRASSE", "strasse"},
		{"ſam", "sam"},           // long s
		{"ΟΔΥΣΣΕΥΣ", "οδυσσευσ"}, // final sigma folds with sigma
		{"ἰ", "ι"},               // iota keeps its letter: its case orbit holds a combining mark
		{"ι", "ι"},
		{"ΙΩΑΝΝΗΣ", "ιωαννησ"},
		{"ι", "ι"}, // prosgegrammeni
		{"ὀδυσσεύς", "οδυσσευσ"},
		{"Işık", "isik"}, // dotless i
		{"IŞIK", "isik"},
		{"İstanbul", "istanbul"}, // dotted capital I
		{"Ꭰ", "ꭰ"}, {"ꭰ", "ꭰ"},   // Cherokee: x/text folding alone flips these
		{"０２１０８", "02108"}, // full-width digits
		{"+1 (617) 555-2368", "16175552368"},
		{"O'Brien-Smith", "obriensmith"},
		{"  spaced\tout\n", "spacedout"},
		{"Müller", "muller"},
		{"Mu\u0308ller", "muller"},
		{"김민준", norm.NFKD.String("김민준")}, // Hangul decomposes into jamo, which stay
		{"", ""},
		{"\xff\xfe", ""},
	}
	for i, tt := range tests {
		if got := skeleton(tt.in); got != tt.want {
			t.Errorf("case %d: skeleton differs from the expected form", i)
		}
	}
}

func TestSkeletonIdempotent(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := rapid.String().Draw(t, "s")
		once := skeleton(s)
		if skeleton(once) != once {
			t.Fatal("skeleton is not idempotent")
		}
		if skeleton(strings.ToUpper(s)) != skeleton(strings.ToLower(s)) && strings.EqualFold(strings.ToUpper(s), s) {
			t.Fatal("case variants differ")
		}
		if skeleton(norm.NFD.String(s)) != skeleton(norm.NFC.String(s)) {
			t.Fatal("NFC and NFD differ")
		}
	})
}

func TestASCIISkeletonMatchesFull(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := rapid.StringOf(rapid.RuneFrom(nil, &unicode.RangeTable{R16: []unicode.Range16{{Lo: 0, Hi: 0x7f, Stride: 1}}})).Draw(t, "s")
		if asciiSkeleton(s) != fullSkeleton(s) {
			t.Fatal("ASCII fast path differs from the full normalisation")
		}
	})
	for c := range rune(0x80) {
		if s := string(c); asciiSkeleton(s) != fullSkeleton(s) {
			t.Errorf("ASCII %#x: fast path differs", c)
		}
	}
}

func TestDigitsOnly(t *testing.T) {
	if digitsOnly("＋１ (６１７) 555-2368") != "16175552368" {
		t.Error("digitsOnly")
	}
}

// The fast path returns a skeleton as it is: values mostly of lower-case
// letters and digits, with the odd other byte, exercise both of its loops.
func TestASCIISkeletonOfNearSkeletons(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := rapid.StringMatching(`[a-z0-9]{0,12}([A-Z .@+\-][a-z0-9]{0,6}){0,2}`).Draw(t, "s")
		if asciiSkeleton(s) != fullSkeleton(s) {
			t.Fatal("ASCII fast path differs from the full normalisation")
		}
	})
}

// generalizeBirthDate writes the year as fmt's %04d did.
func TestGeneralizeBirthDateFormatsLikeSprintf(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	for _, year := range []int{0, 7, 42, 999, 1000, 1936, 1937, 1985, 2026, 9999} {
		canonical := fmt.Sprintf("%04d-05-06", year)
		want := fmt.Sprintf("%04d-01-01", max(year, now.Year()-ageCap))
		if got := generalizeBirthDate(canonical, now); got != want {
			t.Errorf("year %d: %q, want %q", year, got, want)
		}
	}
}

// The byte forms the tripwire's check uses agree with the string forms.
func TestByteSkeletonAndSearchMatchStrings(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := rapid.StringMatching(`[ -~]{0,24}`).Draw(t, "s")
		if got, want := string(appendASCIISkeleton([]byte("x"), []byte(s))), "x"+asciiSkeleton(s); got != want {
			t.Fatalf("appendASCIISkeleton(%q) = %q, want %q", s, got, want)
		}
		if isASCIIBytes([]byte(s)) != isASCII(s) {
			t.Fatalf("isASCIIBytes(%q) differs", s)
		}
		hay := rapid.StringMatching(`[ab]{0,12}`).Draw(t, "haystack")
		needle := rapid.StringMatching(`[ab]{0,4}`).Draw(t, "needle")
		if containsString([]byte(hay), needle) != strings.Contains(hay, needle) {
			t.Fatalf("containsString(%q, %q) differs", hay, needle)
		}
	})
	u := "é" + string(rune(0x80))
	if isASCIIBytes([]byte(u)) != isASCII(u) {
		t.Fatal("isASCIIBytes differs on non-ASCII")
	}
}
