package devstack

import (
	"slices"
	"strings"

	"github.com/novamed/bridge/pkg/inbound"
	"github.com/novamed/bridge/pkg/novamed"
	"github.com/novamed/bridge/pkg/samples"
)

// canaryClinic stands in for the clinic when the samples are parsed to find
// their values; it is never sent.
const canaryClinic = "00000000-0000-4000-8000-000000000000"

// Canaries returns the PHI the sample webhooks carry: every value of a field
// the environment guard must replace or drop (docs/phi-policy.md), four
// characters or longer. The sandbox, marked as Development, flags any of them
// it receives, and the end-to-end tests search every log for them.
// Practitioner names and NPIs are public and kept by the policy, so they are
// not canaries.
func Canaries(templates []samples.Template, sources []samples.Source) []string {
	seen := map[string]bool{}
	// Values the policy sends on purpose (a practitioner's public identity)
	// cannot be canaries, even when a patient shares them ("Grace").
	public := map[string]bool{}
	var out []string
	add := func(vs ...string) {
		for _, v := range vs {
			if len(v) >= 4 && !seen[v] && !fictionalPhone(v) {
				seen[v] = true
				out = append(out, v)
			}
		}
	}
	for _, t := range templates {
		if t.Expect.Status != 202 {
			continue
		}
		src, ok := samples.Find(sources, t.Source)
		if !ok {
			continue
		}
		body, err := t.RawBody()
		if err != nil {
			continue
		}
		def := src.Definition
		res, err := inbound.Parse(inbound.Format(def.Format), body, inbound.Options{
			ClinicID: canaryClinic, FieldMap: def.FieldMap, Kind: novamed.Kind(def.Kind),
			ContentType: t.Headers["content-type"], // Formstack URL-encoded, Jotform multipart
		})
		if err != nil {
			continue
		}
		for _, r := range res.Records {
			if p := r.Patient; p != nil {
				add(p.FirstName, p.LastName, p.DateOfBirth, p.Email, p.Phone, p.AddressLine1, p.AddressLine2, p.City)
				if len(p.Zip) >= 5 && p.Zip[3:5] != "00" {
					add(p.Zip)
				}
			}
			if p := r.Practitioner; p != nil {
				add(p.Email, p.Phone, p.DEANumber, p.LicenseNumber, p.SignatureImage)
				public[p.FirstName], public[p.LastName], public[p.NPINumber] = true, true, true
			}
		}
	}
	return slices.DeleteFunc(out, func(v string) bool { return public[v] })
}

// fictionalPhone reports whether v is a number in 555-0100..0199, the range
// reserved for fiction. The samples use it (they must not hold anyone's real
// number) and so does the guard's output, so such a number cannot be a
// canary: the guard's own tests prove phones are replaced.
func fictionalPhone(v string) bool {
	var digits []byte
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c >= '0' && c <= '9':
			digits = append(digits, c)
		case strings.IndexByte("+-(). ", c) < 0:
			return false
		}
	}
	n := len(digits)
	return n >= 7 && string(digits[n-7:n-2]) == "55501"
}
