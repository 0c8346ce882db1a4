package source

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/novamed/bridge/pkg/novamed"
	"github.com/novamed/bridge/pkg/webhookauth"
)

// Formats of a source's body.
const (
	FormatFHIRR4   = "fhir-r4"
	FormatForm     = "form"
	FormatTypeform = "typeform"
	// The form tools, as they post.
	FormatTally     = "tally"
	FormatFormstack = "formstack"
	FormatJotform   = "jotform"
)

// What a source does with a record NovaMed cannot take.
const (
	OnInvalidHold   = "hold"
	OnInvalidReject = "reject"
)

// isTool reports whether format is a form tool's own: the source says which
// record the form creates, and maps its fields.
func isTool(format string) bool {
	return format == FormatTypeform || format == FormatTally || format == FormatFormstack || format == FormatJotform
}

// Body limits.
const (
	// DefaultMaxBodyBytes applies when a definition sets no max_body_bytes.
	DefaultMaxBodyBytes int64 = 256 << 10
	// DefaultFHIRMaxBodyBytes applies to fhir-r4 sources instead.
	DefaultFHIRMaxBodyBytes int64 = 5 << 20
	// MinMaxBodyBytes is the smallest limit a definition may set; a smaller
	// one is more likely a unit mistake than a wish.
	MinMaxBodyBytes int64 = 1 << 10
	// MaxMaxBodyBytes is the largest: Lambda's synchronous payload limit.
	MaxMaxBodyBytes int64 = 6 << 20
)

// maxToleranceSeconds mirrors webhookauth.MaxTolerance.
const maxToleranceSeconds = int(webhookauth.MaxTolerance / time.Second)

// maxFieldKeyLen bounds a field_map key (a sender's field name or ref).
const maxFieldKeyLen = 128

// clinicFields are NovaMed fields a sender may not set: the deployment's
// clinic-id parameter fills them.
var clinicFields = map[string]bool{"clinic_id": true, "assigned_clinic": true}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// ValidName reports whether name can name a source: 1 to 64 characters of
// lower-case letters, digits, '-' and '_', starting with a letter or digit.
// The name comes from the URL path and becomes part of an SSM parameter
// name, so nothing else is allowed.
func ValidName(name string) bool { return nameRE.MatchString(name) }

// ParamName returns the SSM parameter name of the source called name under
// prefix (PARAM_PREFIX): "<prefix>/sources/<name>".
func ParamName(prefix, name string) string {
	return strings.TrimRight(prefix, "/") + "/sources/" + name
}

// Source is a parsed, validated source definition, ready to serve requests.
type Source struct {
	Name   string
	Format string
	// Kind is the record kind the source creates; empty for fhir-r4, and
	// for a form whose payload says.
	Kind novamed.Kind
	// FieldMap maps a sender's field (a Typeform field.ref for typeform) to
	// a NovaMed field name. Empty for fhir-r4.
	FieldMap     map[string]string
	MaxBodyBytes int64
	// OnInvalid is OnInvalidHold or OnInvalidReject.
	OnInvalid string
	// SubjectIdentifier and SubjectField say what names a person within
	// the source (inbound.Options.SubjectSystem, SubjectField).
	SubjectIdentifier string
	SubjectField      string
	// SubjectSource names the FHIR source whose Patient ids SubjectField
	// holds; empty when the field names the person within this source.
	SubjectSource string
	// Scheme is the auth scheme's name, for logs and metrics.
	Scheme   string
	Verifier webhookauth.Verifier
	// FHIRServer is where id-only notifications are resolved; nil when
	// the definition has no fhir_server.
	FHIRServer *FHIRServer
}

// Definition is the JSON stored in SSM. Parse decodes it; the local stack
// and tests marshal one to store a source.
type Definition struct {
	Format       string            `json:"format"`
	Auth         Auth              `json:"auth"`
	Kind         novamed.Kind      `json:"kind,omitempty"`
	FieldMap     map[string]string `json:"field_map,omitempty"`
	MaxBodyBytes int64             `json:"max_body_bytes,omitempty"`
	OnInvalid    string            `json:"on_invalid,omitempty"`

	SubjectIdentifier string `json:"subject_identifier,omitempty"`
	SubjectField      string `json:"subject_field,omitempty"`
	SubjectSource     string `json:"subject_source,omitempty"`
	// FHIRServer is the optional "fhir_server" object (fhir-r4 only).
	FHIRServer *FHIRServerDefinition `json:"fhir_server,omitempty"`
}

// Auth is a definition's "auth" object.
type Auth struct {
	Scheme           string  `json:"scheme"`
	Secrets          Secrets `json:"secrets"`
	Header           string  `json:"header,omitempty"`
	Encoding         string  `json:"encoding,omitempty"`
	Prefix           string  `json:"prefix,omitempty"`
	ToleranceSeconds int     `json:"tolerance_seconds,omitempty"`
}

// Secrets are a source's secrets. They marshal to JSON (to be stored) but
// print, in fmt and slog, only as their number.
type Secrets []string

// Error is a problem with a source definition. It names the source and the
// JSON path of the problem, never a value.
type Error struct {
	// Source is the source's name; empty when the name itself is invalid
	// (an invalid name is never repeated: it came from a URL).
	Source string
	// Field is the JSON path of the problem ("auth.secrets[1]"), empty for
	// the definition as a whole.
	Field string
	// Reason says what is wrong, in words that quote no input.
	Reason string
	// Err is the underlying error when there is one (a webhookauth
	// sentinel, ErrInvalidName), for errors.Is.
	Err error
}

// ErrInvalidName is wrapped by the Error for a name ValidName refuses.
var ErrInvalidName = errors.New("invalid source name")

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("source")
	if e.Source != "" {
		fmt.Fprintf(&b, " %q", e.Source)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Parse decodes and validates the definition of the source called name.
// Every problem is reported as an *Error.
func Parse(name string, data []byte) (*Source, error) {
	if !ValidName(name) {
		return nil, &Error{Reason: "invalid name", Err: ErrInvalidName}
	}
	fail := func(field, reason string, err error) (*Source, error) {
		return nil, &Error{Source: name, Field: field, Reason: reason, Err: err}
	}

	if field, reason := checkKeys(data); reason != "" {
		return fail(field, reason, nil)
	}
	var def Definition
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&def); err != nil {
		field, reason := describeJSONError(err)
		return fail(field, reason, nil)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fail("", "data after the definition", nil)
	}

	src := &Source{Name: name, Format: def.Format, Kind: def.Kind, Scheme: def.Auth.Scheme}

	switch def.Format {
	case FormatFHIRR4, FormatForm, FormatTypeform, FormatTally, FormatFormstack, FormatJotform:
	case "":
		return fail("format", "required (fhir-r4, form, typeform, tally, formstack or jotform)", nil)
	default:
		return fail("format", "unknown (want fhir-r4, form, typeform, tally, formstack or jotform)", nil)
	}

	switch {
	case def.Format == FormatFHIRR4 && def.Kind != "":
		return fail("kind", "not used with format fhir-r4 (the resource type decides)", nil)
	case isTool(def.Format) && def.Kind == "":
		return fail("kind", "required for format "+def.Format+" (patient or practitioner)", nil)
	case def.Kind != "" && !def.Kind.Valid():
		return fail("kind", "unknown (want patient or practitioner)", nil)
	}

	fm, field, reason := checkFieldMap(def.Format, def.Kind, def.FieldMap)
	if reason != "" {
		return fail(field, reason, nil)
	}
	src.FieldMap = fm

	switch {
	case def.SubjectIdentifier != "" && def.Format != FormatFHIRR4:
		return fail("subject_identifier", "only used with format fhir-r4", nil)
	case def.SubjectField != "" && def.Format == FormatFHIRR4:
		return fail("subject_field", "not used with format fhir-r4 (see subject_identifier)", nil)
	case def.SubjectIdentifier != "" && !validFieldKey(def.SubjectIdentifier):
		return fail("subject_identifier", "must be 1 to 128 visible ASCII characters", nil)
	case def.SubjectSource != "" && def.SubjectField == "":
		return fail("subject_source", "only used with subject_field", nil)
	case def.SubjectSource != "" && !ValidName(def.SubjectSource):
		return fail("subject_source", "not a source name", nil)
	case def.SubjectField != "" && !validFieldKey(def.SubjectField):
		return fail("subject_field", fmt.Sprintf("must be 1 to %d visible ASCII characters or spaces", maxFieldKeyLen), nil)
	}
	src.SubjectIdentifier, src.SubjectField, src.SubjectSource = def.SubjectIdentifier, def.SubjectField, def.SubjectSource

	switch def.OnInvalid {
	case "", OnInvalidHold:
		src.OnInvalid = OnInvalidHold
	case OnInvalidReject:
		src.OnInvalid = OnInvalidReject
	default:
		return fail("on_invalid", "unknown (want hold or reject)", nil)
	}

	switch n := def.MaxBodyBytes; {
	case n == 0 && def.Format == FormatFHIRR4:
		src.MaxBodyBytes = DefaultFHIRMaxBodyBytes
	case n == 0:
		src.MaxBodyBytes = DefaultMaxBodyBytes
	case n < MinMaxBodyBytes || n > MaxMaxBodyBytes:
		return fail("max_body_bytes", fmt.Sprintf("out of range (%d to %d)", MinMaxBodyBytes, MaxMaxBodyBytes), nil)
	default:
		src.MaxBodyBytes = n
	}

	if field, reason := checkSchemeFormat(def.Auth.Scheme, def.Format); reason != "" {
		return fail(field, reason, nil)
	}
	v, field, reason, err := buildVerifier(def.Auth)
	if reason != "" {
		return fail(field, reason, err)
	}
	src.Verifier = v

	fs, field, reason := parseFHIRServer(def.Format, def.FHIRServer)
	if reason != "" {
		return fail(field, reason, nil)
	}
	src.FHIRServer = fs
	return src, nil
}
