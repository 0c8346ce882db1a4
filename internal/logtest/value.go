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
// digits after an IP address or "localhost" and a colon are a port, not a value
// (PortAt).
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

// PortAt reports whether the digits at s[i:] are the port of a loopback or
// IP address: they follow a colon that ends an IPv4 address, "localhost" or
// a bracketed IPv6 address ("127.0.0.1:23669", "localhost:23669",
// "[::1]:23669"), itself at the start of s or after a character that
// cannot be part of a host (a space, '/', '>', '"', '(', '@', '='). Anything
// else before the colon is text, so a value printed as key:value
// ("map[zip:23669]", "{zip:23669}") or in a JSON log line (`"zip":23669`)
// is still found.
func PortAt(s string, i int) bool {
	if i < 2 || s[i-1] != ':' || i >= len(s) || s[i] < '0' || s[i] > '9' {
		return false
	}
	h := i - 1 // the colon; the host ends before it
	start := h
	if s[h-1] == ']' {
		start = strings.LastIndexByte(s[:h-1], '[')
		if start < 0 {
			return false
		}
	} else {
		for start > 0 && (isDigit(s[start-1]) || s[start-1] == '.' || isLetter(s[start-1])) {
			start--
		}
		if host := strings.ToLower(s[start:h]); host != "localhost" && !isIPv4(host) {
			return false
		}
	}
	return start == 0 || strings.IndexByte(" />\"(@=", s[start-1]) >= 0
}

// isIPv4 reports whether s is four dot-separated groups of 1-3 digits.
func isIPv4(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return false
	}
	for _, p := range parts {
		if len(p) == 0 || len(p) > 3 || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool  { return '0' <= c && c <= '9' }
func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func alnumBefore(s string, i int) bool {
	return i > 0 && isAlnum(s[i-1])
}

func alnumAfter(s string, i int) bool {
	return i < len(s) && isAlnum(s[i])
}

func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || c >= 0x80
}
