package inbound

import (
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Normalisation runs before validation, on every value of every format, so
// that what a person typed the way people type it (full-width digits from a
// phone keyboard, "Massachusetts", "555-0199 ext. 12", "021081234") reaches
// NovaMed in NovaMed's shape instead of failing the record. It only ever
// rewrites a value into an equivalent one; anything it cannot rewrite is
// left for validation, which then drops the field (optional) or holds the
// record (required).

// normalize applies the clean-up for one NovaMed field: Unicode NFKC and
// surrounding space for every field, then the field's own rule.
func normalize(field, v string) string {
	if !isASCII(v) && utf8.ValidString(v) {
		v = norm.NFKC.String(v)
	}
	v = strings.TrimSpace(v)
	switch field {
	case "gender":
		return normGender(v)
	case "state", "license_state":
		return normState(v)
	case "zip":
		return normZip(v)
	case "phone":
		return normPhone(v)
	case "date_of_birth":
		return normDate(v)
	case "npi_number":
		return strings.ReplaceAll(strings.ReplaceAll(v, " ", ""), "-", "")
	}
	return v
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// normGender maps gender answers to NovaMed's codes. Values that say "no
// answer" are omitted (gender is optional); anything else is kept as is, so
// validation reports it (and the field is dropped).
func normGender(v string) string {
	switch strings.ToLower(v) {
	case "male", "m", "man":
		return "male"
	case "female", "f", "woman":
		return "female"
	case "other", "non-binary", "nonbinary":
		return "other"
	case "", "unknown", "u", "prefer not to say", "prefer_not_to_say", "not specified", "asked-declined":
		return ""
	}
	return v
}

// usStateNames maps the names of the states, DC and the territories (and a
// few common variants) to their USPS codes. Keys are lower case with single
// spaces.
var usStateNames = map[string]string{
	"alabama": "AL", "alaska": "AK", "arizona": "AZ", "arkansas": "AR", "california": "CA",
	"colorado": "CO", "connecticut": "CT", "delaware": "DE", "florida": "FL", "georgia": "GA",
	"hawaii": "HI", "idaho": "ID", "illinois": "IL", "indiana": "IN", "iowa": "IA",
	"kansas": "KS", "kentucky": "KY", "louisiana": "LA", "maine": "ME", "maryland": "MD",
	"massachusetts": "MA", "michigan": "MI", "minnesota": "MN", "mississippi": "MS", "missouri": "MO",
	"montana": "MT", "nebraska": "NE", "nevada": "NV", "new hampshire": "NH", "new jersey": "NJ",
	"new mexico": "NM", "new york": "NY", "north carolina": "NC", "north dakota": "ND", "ohio": "OH",
	"oklahoma": "OK", "oregon": "OR", "pennsylvania": "PA", "rhode island": "RI", "south carolina": "SC",
	"south dakota": "SD", "tennessee": "TN", "texas": "TX", "utah": "UT", "vermont": "VT",
	"virginia": "VA", "washington": "WA", "west virginia": "WV", "wisconsin": "WI", "wyoming": "WY",
	"district of columbia": "DC", "washington dc": "DC", "washington d.c.": "DC",
	"american samoa": "AS", "guam": "GU", "northern mariana islands": "MP", "puerto rico": "PR",
	"virgin islands": "VI", "u.s. virgin islands": "VI", "us virgin islands": "VI",
	"united states virgin islands": "VI", "united states minor outlying islands": "UM",
	"commonwealth of puerto rico": "PR", "commonwealth of massachusetts": "MA",
	"armed forces americas": "AA", "armed forces europe": "AE", "armed forces pacific": "AP",
}

// normState turns a state name (any case) or a code in any case into the
// USPS code; anything else is returned as is for validation to judge.
func normState(v string) string {
	if len(v) == 2 {
		return strings.ToUpper(v)
	}
	key := strings.ToLower(strings.Join(strings.Fields(v), " "))
	if code, ok := usStateNames[key]; ok {
		return code
	}
	return v
}

// zipSeparators are what people put between a ZIP's digits. A Replacer
// builds its tables on first use, so it is made once, not per value.
var zipSeparators = strings.NewReplacer(" ", "", "-", "")

// normZip keeps ZIP and ZIP+4, written 021081234, 02108 1234 or
// 02108-1234, as NovaMed's 02108 or 02108-1234.
func normZip(v string) string {
	digits := zipSeparators.Replace(v)
	if !allDigits(digits) {
		return v
	}
	switch len(digits) {
	case 5:
		return digits
	case 9:
		return digits[:5] + "-" + digits[5:]
	}
	return v
}

// phoneExtensions are the markers that start an extension, longest first
// so "extension" is not read as "ext" followed by "ension".
var phoneExtensions = []string{"extension", "ext.", "ext", "x", "#", ";ext=", ",", ";"}

// normPhone strips an extension ("555-0199 x12", "ext. 12", "#12",
// "tel:+1-555-0199;ext=12"). NovaMed has no place for one, and the number
// without it still reaches the person.
func normPhone(v string) string {
	v = strings.TrimPrefix(v, "tel:")
	lower := strings.ToLower(v)
	cut := len(v)
	for _, m := range phoneExtensions {
		// The marker must follow at least seven digits: an "x" inside a
		// word is not an extension, and a number is never that short.
		i := strings.Index(lower, m)
		if i > 0 && i < cut && countDigits(v[:i]) >= 7 {
			cut = i
		}
	}
	return strings.TrimSpace(v[:cut])
}

func countDigits(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			n++
		}
	}
	return n
}

// normDate turns the date shapes senders use into NovaMed's YYYY-MM-DD:
// a FHIR dateTime or instant (the date part), and US MM/DD/YYYY. Partial
// dates (YYYY, YYYY-MM) stay partial: the record is held, never given an
// invented day.
func normDate(v string) string {
	if len(v) > 10 && v[4] == '-' && v[7] == '-' && (v[10] == 'T' || v[10] == ' ') {
		return v[:10]
	}
	if m, d, y, ok := usDate(v); ok {
		return y + "-" + m + "-" + d
	}
	return v
}

// usDate splits M/D/YYYY or MM/DD/YYYY.
func usDate(v string) (m, d, y string, ok bool) {
	if strings.Count(v, "/") != 2 {
		return "", "", "", false // not three parts: no split to allocate
	}
	parts := strings.Split(v, "/")
	if len(parts) != 3 || len(parts[2]) != 4 || !allDigits(parts[2]) {
		return "", "", "", false
	}
	pad := func(s string) (string, bool) {
		if s == "" || len(s) > 2 || !allDigits(s) {
			return "", false
		}
		if len(s) == 1 {
			s = "0" + s
		}
		return s, true
	}
	m, okM := pad(parts[0])
	d, okD := pad(parts[1])
	return m, d, parts[2], okM && okD
}

// isPartialDate reports a FHIR partial date: YYYY or YYYY-MM.
func isPartialDate(v string) bool {
	switch len(v) {
	case 4:
		return allDigits(v)
	case 7:
		return allDigits(v[:4]) && v[4] == '-' && allDigits(v[5:])
	}
	return false
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// nowFunc is the clock of "ended" periods; tests set it.
var nowFunc = time.Now
