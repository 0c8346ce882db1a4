package jsonscan

import (
	"encoding/json"
	"strings"
	"testing"
)

var cases = []string{
	``, ` `, `{}`, ` {} `, `[]`, `[1,2]`, `[1,]`, `{"a":1,}`, `{,}`, `{"a" 1}`, `{"a":}`, `{1:2}`,
	`"x"`, `"\u00e9\n\t\"\\\/\b\f\r"`, `"\x"`, `"\u12"`, `"\u12g4"`, "\"a\tb\"", "\"\xff\xfe\"", "\"\x7f\"",
	`0`, `-0`, `01`, `-`, `1.`, `.5`, `1.5e+3`, `1e`, `1E-2`, `-1.0e10`, `2 3`, `+1`,
	`true`, `false`, `null`, `tru`, `nul`, `truex`, `[true,false,null]`, `{"a":[{"b":null}]}`,
	"\t\r\n{\"a\" : [ 1 , 2 ] }\n", `{"a":1}}`, `[[]`, `]`, `"unterminated`, "{\"a\":\"\\",
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000),
	strings.Repeat(`{"a":`, 10001) + "1" + strings.Repeat("}", 10001),
}

func TestValidMatchesEncodingJSON(t *testing.T) {
	for _, c := range cases {
		if got, want := Valid([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("Valid(%.40q) = %v, json.Valid says %v", c, got, want)
		}
	}
}

func FuzzValid(f *testing.F) {
	for _, c := range cases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if got, want := Valid(data), json.Valid(data); got != want {
			t.Fatalf("Valid = %v, json.Valid says %v", got, want)
		}
	})
}
