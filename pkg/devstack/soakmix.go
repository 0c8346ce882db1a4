package devstack

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/novamed/bridge/pkg/samples"
)

// The soak's mix: what makes webhook i of a sample a webhook of its own.

// subjectless are the samples whose records name no person (the bundle's
// entries carry no id): sent again as a new event, they are new charts by
// design (pkg/ledger, "Subjects"), so the soak only repeats them as
// their sender's retries.
var subjectless = map[string]bool{"fhir-bundle": true}

// soakEvent makes webhook i from tpl: a FHIR Patient becomes a person of
// its own (id, family name, email), so new people make new charts; an
// id-only notification names an AuditEvent of its own about one of the EHR
// sandbox's soak patients (see notifyEHR); a form becomes a submission of
// its own (soakForms); other samples keep their body, with a webhook id of
// their own.
func soakEvent(s *Stack, tpl samples.Template, sources []samples.Source, i, occurrence int) (events.APIGatewayV2HTTPRequest, error) {
	switch tpl.Name {
	case "fhir-patient":
		var body map[string]any
		if err := json.Unmarshal(tpl.Body, &body); err != nil {
			return events.APIGatewayV2HTTPRequest{}, err
		}
		body["id"] = fmt.Sprintf("soak-%d", i)
		body["name"] = []any{map[string]any{"family": fmt.Sprintf("Soakfamily%d", i), "given": []any{"Ottoline"}}}
		body["telecom"] = []any{map[string]any{"system": "email", "value": fmt.Sprintf("soak%d@mailbox.example", i)}}
		b, err := json.Marshal(body)
		if err != nil {
			return events.APIGatewayV2HTTPRequest{}, err
		}
		tpl.Body = b
	case notificationSample:
		if i < 0 {
			break // the baseline: the demo's own notification
		}
		b, err := notifyEHR(s, tpl.Body, i, occurrence)
		if err != nil {
			return events.APIGatewayV2HTTPRequest{}, err
		}
		tpl.Body = b
	}
	if f, ok := soakForms[tpl.Name]; ok && i >= 0 {
		var err error
		if tpl.BodyText != "" {
			var b []byte
			b, err = f.submission([]byte(tpl.BodyText), i)
			tpl.BodyText = string(b)
		} else {
			tpl.Body, err = f.submission(tpl.Body, i)
		}
		if err != nil {
			return events.APIGatewayV2HTTPRequest{}, fmt.Errorf("soak: %s: %w", tpl.Name, err)
		}
	}
	tpl.EventID = fmt.Sprintf("msg_soak_%s_%d", tpl.Name, i)
	return tpl.Event(sources, time.Now())
}

// notificationSample is the athenaOne-style id-only notification: its
// source has a fhir_server, so dispatch fetches what it names.
const notificationSample = "fhir-athena-notification"

// notifyEHR makes notification i: the EHR sandbox gets an AuditEvent of
// its own about soak patient occurrence/2 (each patient is notified twice,
// as an EHR notifies every change: the second fetch finds the chart the
// first made), and the sample's body names that AuditEvent instead of the
// demo's.
func notifyEHR(s *Stack, body []byte, i, occurrence int) ([]byte, error) {
	patient := fmt.Sprintf("pt-soak-%d", occurrence/2)
	audit := fmt.Sprintf("ae-soak-%d", i)
	resources := []string{
		fmt.Sprintf(`{"resourceType":"Patient","id":%q,"name":[{"use":"official","family":"Soakehr%d","given":["Philippa"]}],
			"telecom":[{"system":"email","value":"soakehr%d@mailbox.example"}],"gender":"female","birthDate":"1961-07-14"}`,
			patient, occurrence/2, occurrence/2),
		fmt.Sprintf(`{"resourceType":"AuditEvent","id":%q,"type":{"code":"rest"},"entity":[{"what":{"reference":"Patient/%s"}}]}`,
			audit, patient),
	}
	for _, r := range resources {
		if err := s.EHR.Put([]byte(r)); err != nil {
			return nil, err
		}
	}
	demo := "AuditEvent/" + ehrDemoAuditEvent
	if !bytes.Contains(body, []byte(demo)) {
		return nil, fmt.Errorf("soak: %s no longer names %s", notificationSample, demo)
	}
	return bytes.ReplaceAll(body, []byte(demo), []byte("AuditEvent/"+audit)), nil
}

// soakForm names what identifies a form sample's submission and, for a
// patient, its person: the sender's submission ids, the family name, and
// the email address up to its "@" (written %40 in a URL-encoded body).
// Each must occur in the sample, so a changed sample fails the soak
// instead of quietly sending the same submission again.
type soakForm struct {
	ids, names, emails []string
}

// soakForms: without them every form webhook would be its sender's retry
// of the sample (the same submission id, or the same body and so the same
// hash), answered as a duplicate. Practitioners keep their NPI, so each
// new submission is the same clinician again (the subject's chart exists).
// The patient form samples carry no subject (none fills a subject_field),
// and a person without one is a new chart each time by design, so each
// submission needs a person of their own or the sandbox would count second
// charts. The given names, birth dates and addresses
// stay the samples', and stay canaries.
var soakForms = map[string]soakForm{
	"form-patient":                     {ids: []string{"sub_8KQ2ZP"}, names: []string{"Jorgensen"}, emails: []string{"k.jorgensen@"}},
	"formstack-patient":                {ids: []string{"1144790377"}, names: []string{"Abernathy-Voss"}, emails: []string{"c.abernathyvoss%40"}},
	"jotform-patient":                  {ids: []string{"5938172630041128844"}, names: []string{"Marchetti-Onwu"}, emails: []string{"philippa.mo@"}},
	"tally-patient":                    {ids: []string{"5f9a2c1e-8b3d-4e6f-a7c2-1d0e9f8a7b6c", "mRkE8p"}, names: []string{"Penhallow"}, emails: []string{"isadora.penhallow@"}},
	"typeform-patient":                 {ids: []string{"01JBXK3ZBHA2WA9AZSA2KPJ6RJ"}, names: []string{"Kellerman"}, emails: []string{"grace.kelly@"}},
	"typeform-noref-patient":           {ids: []string{"01JC0Q4M7R2S5T8V1W3X6Y9Z0A"}, names: []string{"Quayle-Nakamura"}, emails: []string{"b.quaylenakamura@"}},
	"form-practitioner":                {ids: []string{"fs-sub-0042"}},
	"formstack-handshake-practitioner": {ids: []string{"1144790412"}},
}

// submission returns a form sample's body as submission i: ids get i's
// digits, the family name a hyphenated part, the email's local part a
// dotted one.
func (f soakForm) submission(body []byte, i int) ([]byte, error) {
	out, part := body, soakLetters(i)
	replace := func(tok, repl string) error {
		if !bytes.Contains(out, []byte(tok)) {
			return fmt.Errorf("the sample no longer holds %q", tok)
		}
		out = bytes.ReplaceAll(out, []byte(tok), []byte(repl))
		return nil
	}
	var errs []error
	for _, id := range f.ids {
		errs = append(errs, replace(id, fmt.Sprintf("%s%06d", id, i)))
	}
	for _, name := range f.names {
		errs = append(errs, replace(name, name+"-"+strings.ToUpper(part[:1])+part[1:]))
	}
	for _, email := range f.emails {
		at := strings.LastIndex(email, "@")
		if at < 0 {
			at = strings.LastIndex(email, "%40")
		}
		if at < 0 {
			errs = append(errs, fmt.Errorf("%q: an email ends in @ or %%40", email))
			continue
		}
		errs = append(errs, replace(email, email[:at]+"."+part+email[at:]))
	}
	return out, errors.Join(errs...)
}

// soakLetters spells i in three or more lower-case letters (aaa, aab, …):
// names and email local parts take letters, not digits.
func soakLetters(i int) string {
	var b []byte
	for n := 0; n < 3 || i > 0; n++ {
		b = append(b, byte('a'+i%26))
		i /= 26
	}
	slices.Reverse(b)
	return string(b)
}
