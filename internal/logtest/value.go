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
// ("zip":"97201"). A TCP port is the one random number that stands on its
// own, in the errors that name a connection ("read tcp
// 127.0.0.1:23669->..."), and the samples hold ZIP codes a port can be:
// digits that end a host and colon are a port, not a value (PortAt).
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
		if !alnumBefore(s, start) && !alnumAfter(s, end) && !PortAt(s, start) {
			return true
		}
		from = start + 1
	}
}

// PortAt reports whether the digits at s[i:] are a TCP port: they follow a
// colon that ends a host name, an IPv4 address or a bracketed IPv6 address
// ("127.0.0.1:23669", "localhost:23669", "[::1]:23669"). A value in a JSON
// log line follows a quote (`"zip":"23669"`) or a quote and a colon
// (`"zip":23669`), so it is still found.
func PortAt(s string, i int) bool {
	return i >= 2 && s[i-1] == ':' && (isAlnum(s[i-2]) || s[i-2] == ']')
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
