package ehr

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Resource types a Fetcher reads.
const (
	TypePatient      = "Patient"
	TypePractitioner = "Practitioner"
	TypeEncounter    = "Encounter"
	TypeAuditEvent   = "AuditEvent"
	TypeAppointment  = "Appointment"
)

// ResourceTypes is the allow-list of types a reference may name.
var ResourceTypes = []string{TypePatient, TypePractitioner, TypeEncounter, TypeAuditEvent, TypeAppointment}

// maxReferenceLen bounds a reference.
const maxReferenceLen = 2048

var (
	typeRE = regexp.MustCompile(`^[A-Z][A-Za-z]{1,63}$`)
	// idRE is FHIR's id rule.
	idRE = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)
)

// Reference errors, wrapped by the *Error ParseReference returns.
var (
	// ErrForeignReference: the reference names a place other than the
	// configured base URL (another host, port, scheme or path).
	ErrForeignReference = errors.New("ehr: reference outside the configured FHIR server")
	// ErrInvalidReference: not a Type/id reference FHIR allows.
	ErrInvalidReference = errors.New("ehr: invalid reference")
	// ErrUnsupportedType: a type outside ResourceTypes.
	ErrUnsupportedType = errors.New("ehr: unsupported resource type")
)

// Reference is a validated resource reference on the configured server.
type Reference struct {
	Type string
	ID   string
}

// Path returns "Type/id".
func (r Reference) Path() string { return r.Type + "/" + r.ID }

// String names the type only: an id is an identifier of a person. Path
// gives the whole reference.
func (r Reference) String() string { return r.Type + "/…" }

// GoString names the type only, for %#v.
func (r Reference) GoString() string { return r.String() }

// Format names the type only, whatever the verb.
func (r Reference) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, r.String()) }

// LogValue logs the type only.
func (r Reference) LogValue() slog.Value { return slog.StringValue(r.String()) }

// ParseReference validates ref against the FHIR base URL baseURL. ref is
// relative ("Patient/123", "Patient/123/_history/2") or an absolute URL
// under baseURL (same scheme, host and port, under its path). Anything else
// is an *Error wrapping ErrForeignReference, ErrInvalidReference or
// ErrUnsupportedType. Intake can call it to refuse a notification at once.
func ParseReference(baseURL, ref string) (Reference, error) {
	invalid := func(reason string) (Reference, error) {
		return Reference{}, &Error{Class: Permanent, Code: CodeInvalidReference, err: fmt.Errorf("%w: %s", ErrInvalidReference, reason)}
	}
	if ref == "" || len(ref) > maxReferenceLen {
		return invalid("empty or too long")
	}
	if strings.HasPrefix(ref, "#") {
		return invalid("contained resource")
	}
	rel := ref
	if strings.Contains(ref, ":") {
		u, err := url.Parse(ref)
		if err != nil || !u.IsAbs() {
			return invalid("not a URL")
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return invalid("not an http(s) URL")
		}
		base, err := url.Parse(baseURL)
		if err != nil {
			return invalid("no base URL")
		}
		if !sameOrigin(u, base) {
			return Reference{}, &Error{Class: Permanent, Code: CodeForeignReference, err: ErrForeignReference}
		}
		if u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
			return invalid("user info, query or fragment")
		}
		prefix := strings.TrimRight(base.EscapedPath(), "/") + "/"
		rest, ok := strings.CutPrefix(u.EscapedPath(), prefix)
		if !ok {
			return Reference{}, &Error{Class: Permanent, Code: CodeForeignReference, err: ErrForeignReference}
		}
		rel = rest
	}
	parts := strings.Split(rel, "/")
	switch {
	case len(parts) == 2:
	case len(parts) == 4 && parts[2] == "_history" && idRE.MatchString(parts[3]):
	default:
		return invalid("not Type/id")
	}
	typ, id := parts[0], parts[1]
	if !typeRE.MatchString(typ) {
		return invalid("not a resource type")
	}
	if !slices.Contains(ResourceTypes, typ) {
		return Reference{}, &Error{Class: Permanent, Code: CodeUnsupportedType, Type: typ, err: ErrUnsupportedType}
	}
	if !idRE.MatchString(id) || strings.Trim(id, ".") == "" {
		return invalid("id breaks FHIR's id rule")
	}
	return Reference{Type: typ, ID: id}, nil
}

// sameOrigin compares scheme, host (case-insensitively) and effective port.
func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) &&
		strings.EqualFold(a.Hostname(), b.Hostname()) &&
		effectivePort(a) == effectivePort(b)
}

func effectivePort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "https") {
		return "443"
	}
	return "80"
}
