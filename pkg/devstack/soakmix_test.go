package devstack

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/pkg/inbound"
	"github.com/novamed/bridge/pkg/novamed"
	"github.com/novamed/bridge/pkg/samples"
)

// Every accepted form sample is sent in the soak as submissions of their
// own: two of them parse to two event ids, and for a patient to two
// people (family name and email) with the sample's other values.
func TestSoakFormsAreSubmissionsOfTheirOwn(t *testing.T) {
	sources, templates := localSamples(t)

	forms := 0
	for _, tpl := range templates {
		src, ok := samples.Find(sources, tpl.Source)
		if tpl.Expect.Status != http.StatusAccepted || !ok || src.Definition.Format == string(inbound.FormatFHIR) {
			continue
		}
		forms++
		f, ok := soakForms[tpl.Name]
		if !assert.True(t, ok, "%s: a form sample the soak would only ever resend", tpl.Name) {
			continue
		}
		parse := func(i int) inbound.Result {
			t.Helper()
			body, err := tpl.RawBody()
			require.NoError(t, err)
			if i >= 0 {
				body, err = f.submission(body, i)
				require.NoError(t, err, tpl.Name)
			}
			def := src.Definition
			res, err := inbound.Parse(inbound.Format(def.Format), body, inbound.Options{
				ClinicID: canaryClinic, FieldMap: def.FieldMap, Kind: novamed.Kind(def.Kind),
				ContentType: tpl.Headers["content-type"],
			})
			require.NoError(t, err, tpl.Name)
			require.Len(t, res.Records, 1, tpl.Name)
			return res
		}
		sample, a, b := parse(-1), parse(7), parse(4242)
		assert.NotEmpty(t, a.EventID, tpl.Name)
		assert.NotEqual(t, sample.EventID, a.EventID, tpl.Name)
		assert.NotEqual(t, a.EventID, b.EventID, tpl.Name)
		if p := sample.Records[0].Patient; p != nil {
			pa, pb := a.Records[0].Patient, b.Records[0].Patient
			assert.Equal(t, p.LastName+"-Aah", pa.LastName, tpl.Name)
			assert.NotEqual(t, pa.LastName, pb.LastName, tpl.Name)
			assert.NotEqual(t, p.Email, pa.Email, tpl.Name)
			assert.NotEqual(t, pa.Email, pb.Email, tpl.Name)
			assert.Equal(t, p.FirstName, pa.FirstName, tpl.Name)
			assert.Equal(t, p.DateOfBirth, pa.DateOfBirth, tpl.Name)
		} else {
			assert.Equal(t, sample.Records[0].Practitioner.NPINumber, a.Records[0].Practitioner.NPINumber,
				"%s: the same clinician again", tpl.Name)
		}
	}
	assert.Equal(t, len(soakForms), forms, "every entry of soakForms is an accepted form sample")
}

func TestSoakLetters(t *testing.T) {
	for i, want := range map[int]string{0: "aaa", 1: "aab", 7: "aah", 26: "aba", 17575: "zzz", 17576: "baaa"} {
		assert.Equal(t, want, soakLetters(i), i)
	}
}
