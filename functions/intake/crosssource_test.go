//go:build !nokumo

package main

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCrossSourceSignature: a body correctly signed with one source's
// secret, posted to another source that reads the same header in the same
// encoding, is refused 401 and queues nothing: a sender that holds one
// source's secret cannot speak for another source.
func TestCrossSourceSignature(t *testing.T) {
	// sample is a body of signedFor's format.
	pairs := []struct{ signedFor, postedTo, sample string }{
		{"tally-intake", "intake-form", "tally-patient"},       // Tally-Signature, base64
		{"intake-form", "tally-intake", "form-patient"},        // and back
		{"formstack", "formstack-intake", "form-practitioner"}, // X-FS-Signature, sha256= hex
		{"typeform-intake", "typeform-legacy", "typeform-patient"},
		{"typeform-legacy", "typeform-intake", "typeform-patient"},
	}
	for _, p := range pairs {
		t.Run(p.signedFor+"→"+p.postedTo, func(t *testing.T) {
			f := newFixture(t)
			body := sampleBody(t, p.sample)
			ev := f.request(p.signedFor, body, nil)
			require.Equal(t, http.StatusAccepted, f.call(ev).StatusCode, "control: accepted where it was signed; "+lastErrorCode(f))
			f.messages()

			ev = f.request(p.signedFor, body, nil)
			ev.RawPath = "/webhooks/" + p.postedTo
			ev.RequestContext.HTTP.Path = ev.RawPath
			ev.PathParameters = map[string]string{"source": p.postedTo}
			resp := f.call(ev)
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
			assert.Equal(t, `{"error":"unauthorized"}`, resp.Body)
			assert.Empty(t, f.messages())
		})
	}
}
