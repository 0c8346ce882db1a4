package ehr_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/novamed/bridge/pkg/ehr"
)

func TestFetchSSRFGuard(t *testing.T) {
	e := setup(t, scope)
	otherPort := e.other.URL // another loopback port
	for _, ref := range []string{
		"http://169.254.169.254/latest/meta-data/",
		"http://169.254.169.254/latest/meta-data/iam/security-credentials/",
		otherPort + "/fhir/r4/Patient/" + patientID,
		strings.Replace(e.sb.BaseURL(), "http://", "https://", 1) + "/Patient/" + patientID,
		strings.Replace(e.sb.BaseURL(), "127.0.0.1", "localhost", 1) + "/Patient/" + patientID,
		strings.TrimSuffix(e.sb.BaseURL(), "/r4") + "/r5/Patient/" + patientID,
	} {
		_, err := e.f.Fetch(context.Background(), ref)
		var fe *ehr.Error
		if !errors.Is(err, ehr.ErrForeignReference) || !errors.As(err, &fe) || fe.Code != ehr.CodeForeignReference {
			t.Errorf("%s: %v, want a foreign reference", ref, err)
		}
	}
	// A fetched resource pointing elsewhere is refused too.
	e.sb.MustPut(`{"resourceType":"AuditEvent","id":"ae-evil","entity":[{"what":{"reference":"` + otherPort + `/Patient/` + patientID + `"}}]}`)
	e.sb.MustPut(`{"resourceType":"Encounter","id":"enc-imds","subject":{"reference":"http://169.254.169.254/latest/meta-data/Patient/1"}}`)
	for _, ref := range []string{"AuditEvent/ae-evil", "Encounter/enc-imds"} {
		if _, err := e.f.Fetch(context.Background(), ref); !errors.Is(err, ehr.ErrForeignReference) {
			t.Errorf("%s: %v", ref, err)
		}
	}
	// A redirect is not followed.
	e.sb.RedirectNext(1, otherPort+"/fhir/r4/Patient/"+patientID)
	_, err := e.f.Fetch(context.Background(), "Patient/"+patientID)
	if fe := asError(t, err); fe.Code != ehr.CodeRedirect || fe.Class != ehr.Permanent {
		t.Errorf("redirect: %v", err)
	}
	if n := e.hits.Load(); n != 0 {
		t.Errorf("the other server got %d requests", n)
	}
	if n := e.sb.TotalFetches(); n != 3 { // ae-evil, enc-imds, the redirect
		t.Errorf("sandbox reads = %d, want 3", n)
	}
}

func TestFetchInvalidReferences(t *testing.T) {
	e := setup(t, scope)
	for _, ref := range []string{
		"", "Patient", "Patient/", "/Patient/" + patientID, "Patient/..", "Patient/.",
		"Patient/../Practitioner/dr-1", "Patient/a b", "Patient/a%2Fb", "Patient/" + strings.Repeat("a", 65),
		"patient/1", "#contained", "urn:uuid:6f1d1a4e-0b55-4b7e-9d57-6c0b3a1d2e4f",
		"Patient/1?_format=xml", "Patient/1/_history", "Patient/1/_history/x y",
		e.sb.BaseURL() + "/Patient/1?x=1", e.sb.BaseURL() + "/Patient/1#f",
	} {
		_, err := e.f.Fetch(context.Background(), ref)
		if !errors.Is(err, ehr.ErrInvalidReference) {
			t.Errorf("%q: %v, want invalid", ref, err)
		}
	}
	for _, ref := range []string{"Observation/1", "Binary/1"} {
		_, err := e.f.Fetch(context.Background(), ref)
		if fe := asError(t, err); !errors.Is(err, ehr.ErrUnsupportedType) || fe.Code != ehr.CodeUnsupportedType {
			t.Errorf("%q: %v", ref, err)
		}
	}
	if e.sb.TotalFetches() != 0 || e.sb.TokenRequests() != 0 {
		t.Errorf("requests were made: %d reads, %d token requests", e.sb.TotalFetches(), e.sb.TokenRequests())
	}
}

func TestParseReference(t *testing.T) {
	const base = "https://fhir.example.org/r4"
	valid := map[string]string{
		"Patient/abc-1.2":                                "Patient/abc-1.2",
		"Encounter/e1/_history/7":                        "Encounter/e1",
		"https://fhir.example.org/r4/Patient/p1":         "Patient/p1",
		"https://FHIR.example.org:443/r4/Practitioner/d": "Practitioner/d",
		"HTTPS://fhir.example.org/r4/AuditEvent/a":       "AuditEvent/a",
	}
	for ref, want := range valid {
		r, err := ehr.ParseReference(base, ref)
		if err != nil || r.Path() != want {
			t.Errorf("ParseReference(%q) = %s, %v; want %s", ref, r.Path(), err, want)
		}
	}
	for _, ref := range []string{
		"https://fhir.example.org:8443/r4/Patient/p1",
		"http://fhir.example.org/r4/Patient/p1",
		"https://fhir.example.org.evil.test/r4/Patient/p1",
		"https://evil.test/r4/Patient/p1",
		"https://fhir.example.org/r4x/Patient/p1",
		"https://fhir.example.org/Patient/p1",
	} {
		if _, err := ehr.ParseReference(base, ref); !errors.Is(err, ehr.ErrForeignReference) {
			t.Errorf("ParseReference(%q) = %v, want foreign", ref, err)
		}
	}
}
