package main

import (
	"net/http"
	"net/textproto"
	"testing"

	"github.com/stretchr/testify/require"
)

// toHeader gives what canonicalising every name does, for the names it
// knows in advance and for any other.
func TestToHeaderCanonicalisesEveryName(t *testing.T) {
	in := map[string]string{"x-custom-thing": "1", "Mixed-CASE": "2", "weird name": "3"}
	for k := range canonicalHeaders {
		in[k] = "v-" + k
	}
	want := http.Header{}
	for k, v := range in {
		want[textproto.CanonicalMIMEHeaderKey(k)] = []string{v}
	}
	require.Equal(t, want, toHeader(in))
}
