package jsonscan

import (
	"strings"
	"unicode/utf8"
)

// AsMarshalled returns s as it reads back after a JSON round trip:
// encoding/json writes each byte of invalid UTF-8 as U+FFFD (one per byte,
// where strings.ToValidUTF8 would write one per run). Code that hashes or
// compares a string field without marshalling it uses this to see the
// value the wire carries.
func AsMarshalled(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
