package ehr_test

import (
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/novamed/bridge/pkg/ehr"
)

// FuzzParseReference: the SSRF guard. Whatever a notification names, an
// accepted reference is an allowed type and a FHIR id, and an absolute one
// is on the configured server under its path; a refusal is one of the
// three reference errors.
func FuzzParseReference(f *testing.F) {
	const base = "https://fhir.example.org/r4"
	for _, ref := range []string{
		"Patient/123", "Patient/123/_history/2", base + "/Patient/abc",
		"https://169.254.169.254/latest/meta-data", "https://fhir.example.org.evil/r4/Patient/1",
		"https://fhir.example.org:8443/r4/Patient/1", "https://user@fhir.example.org/r4/Patient/1",
		"Patient/../../admin", "Patient/%2e%2e", "//evil.example/Patient/1", "Ｐatient/1",
		"https://fhir.example.org/r4/../Patient/1", "http://fhir.example.org/r4/Patient/1",
	} {
		f.Add(ref)
	}
	baseURL, err := url.Parse(base)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		r, err := ehr.ParseReference(base, ref)
		if err != nil {
			if !errors.Is(err, ehr.ErrForeignReference) && !errors.Is(err, ehr.ErrInvalidReference) && !errors.Is(err, ehr.ErrUnsupportedType) {
				t.Fatal("ParseReference returned an unknown error")
			}
			return
		}
		if !slices.Contains(ehr.ResourceTypes, r.Type) || r.ID == "" || strings.ContainsAny(r.ID, "/?#%:@") || strings.Trim(r.ID, ".") == "" {
			t.Fatal("accepted a reference that is not an allowed Type/id")
		}
		if strings.Contains(ref, ":") {
			u, err := url.Parse(ref)
			if err != nil || !strings.EqualFold(u.Hostname(), baseURL.Hostname()) || !strings.EqualFold(u.Scheme, baseURL.Scheme) {
				t.Fatal("accepted an absolute reference off the configured server")
			}
		}
	})
}
