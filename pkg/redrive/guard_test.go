package redrive

import (
	"bytes"
	"testing"
)

func TestPseudonymKeyDecodesAsDispatch(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		want     []byte
	}{
		{"base64 of 32 bytes", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", []byte("0123456789abcdef0123456789abcdef")},
		{"base64 of too few bytes is used as it is", "c2hvcnQ=", []byte("c2hvcnQ=")},
		{"not base64", "not base64 but long enough", []byte("not base64 but long enough")},
	} {
		if got := pseudonymKey(tt.in); !bytes.Equal(got, tt.want) {
			t.Errorf("%s: wrong key bytes (%d bytes)", tt.name, len(got))
		}
	}
}
