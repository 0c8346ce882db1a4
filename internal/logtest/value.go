package logtest

import (
	"strings"
	"unicode"
)

// ContainsValue reports whether the value v occurs in s, ignoring case, in a
// way that cannot be satisfied by chance. A value with letters is looked for
// anywhere. A value made only of digits and punctuation (a ZIP, a date, a
// phone number) is looked for as a whole token: not preceded or followed by a
// letter or a digit. Logs carry numbers that change with every run
// (nanosecond timestamps, request ids, UUIDs, durations), and a five-digit ZIP
// turns up inside one of them now and then; a leaked ZIP stands on its own
// ("zip":"97201"). Loopback ports are the one random number that stands on
// its own; the ephemeral range (32768-60999 on Linux, 49152-65535 on macOS)
// holds none of the samples' five-digit values.
func ContainsValue(s, v string) bool {
	if v == "" {
		return false
	}
	s, v = strings.ToLower(s), strings.ToLower(v)
	if strings.IndexFunc(v, unicode.IsLetter) >= 0 {
		return strings.Contains(s, v)
	}
	for from := 0; ; {
		i := strings.Index(s[from:], v)
		if i < 0 {
			return false
		}
		start, end := from+i, from+i+len(v)
		if !alnumBefore(s, start) && !alnumAfter(s, end) {
			return true
		}
		from = start + 1
	}
}

func alnumBefore(s string, i int) bool {
	return i > 0 && isAlnum(s[i-1])
}

func alnumAfter(s string, i int) bool {
	return i < len(s) && isAlnum(s[i])
}

func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || c >= 0x80
}
