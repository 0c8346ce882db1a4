// Package source defines a webhook source: who may post to
// POST /webhooks/{source}, how the sender proves it, what format the body
// has and how its fields map to NovaMed's.
//
// A source is stored in SSM as a SecureString parameter at
// <PARAM_PREFIX>/sources/<name> holding JSON:
//
//	{
//	  "format": "fhir-r4" | "form" | "typeform" | "tally" |    required
//	            "formstack" | "jotform",
//	  "auth": {                                                required
//	    "scheme": "standard-webhooks" | "typeform" | "hmac-sha256" | "bearer" |
//	              "formstack-handshake" | "url-token",
//	    "secrets": ["whsec_...", "..."],                       required, 1 to 10; the
//	                                                           first signs, all verify
//	    "header": "Tally-Signature",                           hmac-sha256 only, required
//	    "encoding": "hex" | "base64",                          hmac-sha256 only, required
//	    "prefix": "sha256=",                                   hmac-sha256 only, optional
//	    "tolerance_seconds": 300                               standard-webhooks only,
//	                                                           optional, 1 to 3600
//	  },
//	  "kind": "patient" | "practitioner",                      typeform, tally, formstack,
//	                                                           jotform: required;
//	                                                           form: optional (else the
//	                                                           payload's "type" says);
//	                                                           fhir-r4: not allowed
//	  "field_map": {"<sender field>": "<NovaMed field>"},     typeform, tally, formstack,
//	                                                           jotform: required;
//	                                                           form: optional;
//	                                                           fhir-r4: not allowed
//	  "max_body_bytes": 262144,                                optional, 1024 to 6 MiB;
//	                                                           default 5 MiB for fhir-r4
//	                                                           (Synthea bundles are
//	                                                           200-300 KB, real EHR bundles
//	                                                           more), 256 KiB otherwise
//	  "subject_identifier": "urn:oid:...",                    fhir-r4 only, optional: the
//	                                                           identifier system (an MRN)
//	                                                           that names a person where
//	                                                           the sender's resource ids
//	                                                           are not stable
//	  "subject_field": "patient_id",                          forms only, optional: the
//	                                                           sender field (Typeform:
//	                                                           "hidden.<name>") that names
//	                                                           the person; without it each
//	                                                           event is its own person
//	  "subject_source": "ehr-fhir",                           forms, with subject_field, optional:
//	                                                           the field holds that FHIR
//	                                                           source's Patient id, so a
//	                                                           person who arrives by form
//	                                                           and by FHIR is one chart
//	  "on_invalid": "hold" | "reject",                         optional, default hold: a
//	                                                           record NovaMed cannot take is
//	                                                           held (dead-lettered, 202);
//	                                                           reject answers 400 instead,
//	                                                           for a sender that shows
//	                                                           errors to a person
//	  "fhir_server": {                                         fhir-r4 only, optional
//	    "base_url": "https://fhir.example.org/r4",             required
//	    "token_url": "https://auth.example.org/oauth2/token",  required
//	    "client_id": "...",                                    required
//	    "scope": "system/Patient.read system/Encounter.read",  required
//	    "private_key": {"kty": "EC", "crv": "P-384", ...}      required, private JWK
//	  }
//	}
//
// Field map keys, by format: form, the payload's field names; typeform,
// field.ref, "id:<field id>", "title:<question title>" or "hidden.<name>";
// tally, a field's key or its label; formstack, field names with dotted
// paths for the parts of compound fields (Name.first, Address.zip), never
// FormID, UniqueID or HandshakeKey; jotform, rawRequest's answer keys with
// dotted parts (q3_fullName.first, q5_birthDate).
//
// Schemes and formats: tally signs with hmac-sha256 (header
// Tally-Signature, base64, no prefix); formstack with hmac-sha256 (header
// X-FS-Signature, hex, prefix "sha256=") when the form has an HMAC key,
// otherwise formstack-handshake (the HandshakeKey field of the body, that
// scheme being for formstack only); jotform cannot sign and must use
// url-token (?token=<secret> in the URL it posts to, for jotform only).
//
// Secrets: standard-webhooks takes "whsec_<base64>" or bare base64 keys of
// at least 16 bytes; url-token takes tokens of at least 32 characters of
// letters, digits, '-', '_', '.' and '~' (random ones); the other schemes
// take the secret text (bearer: the token) of at least 16 visible ASCII
// characters. Every scheme takes up to 10, for rotation.
//
// Parsing is strict: keys match exactly (no case folding), a repeated key, an
// unknown key, a value of the wrong type or a field_map target that is not a
// NovaMed field of the source's kind is an error. Errors name the source and
// the JSON path, never a value, and never a secret. Field map targets may
// not be clinic_id or assigned_clinic: the clinic comes from the
// deployment's clinic-id parameter, never from a sender.
//
// fhir_server names the sender's FHIR server, from which the bridge fetches
// what an id-only notification points at, with SMART Backend Services
// (client credentials, a JWT client assertion signed with private_key).
// base_url and token_url are https (http only for a loopback host) without
// user info, query or fragment; scope is one or more read-only SMART system
// scopes separated by single spaces (system/<Type>.read, .rs, .r or .s); the
// private_key is a private JWK with a kid: EC P-384 (signs ES384) or RSA of
// at least 2048 bits (signs RS384); "alg", if given, must match and "use",
// if given, must be "sig". Its only allowed members are the JWK's own (kty,
// kid, alg, use, crv, x, y, d, n, e, p, q, dp, dq, qi). The key is never printed, logged or part of an error;
// cmd/smart-keygen makes one.
package source

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

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

func checkFieldMap(format string, kind novamed.Kind, m map[string]string) (map[string]string, string, string) {
	switch {
	case format == FormatFHIRR4 && len(m) > 0:
		return nil, "field_map", "not used with format fhir-r4 (FHIR elements map to NovaMed fields by rule)"
	case isTool(format) && len(m) == 0:
		return nil, "field_map", "required for format " + format + " (sender field to NovaMed field)"
	case len(m) == 0:
		return map[string]string{}, "", ""
	}

	var allowed []string
	var what string
	if kind == "" {
		allowed = append(novamed.FieldNames(novamed.KindPatient), novamed.FieldNames(novamed.KindPractitioner)...)
		what = "patient or practitioner"
	} else {
		allowed = novamed.FieldNames(kind)
		what = string(kind)
	}
	allowed = slices.DeleteFunc(allowed, func(f string) bool { return clinicFields[f] })
	slices.Sort(allowed)
	allowed = slices.Compact(allowed)

	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys) // report the same problem first every time
	used := map[string]bool{}
	out := make(map[string]string, len(m))
	for i, k := range keys {
		if !validFieldKey(k) {
			// The key is not repeated: it may be anything.
			return nil, fmt.Sprintf("field_map (key %d in sorted order)", i+1),
				fmt.Sprintf("key must be 1 to %d bytes of printable characters or spaces, not starting or ending with a space", maxFieldKeyLen)
		}
		path := fmt.Sprintf("field_map[%q]", k)
		if format == FormatFormstack && formstackOwn(k) {
			return nil, path, "FormID, UniqueID and HandshakeKey are Formstack's own fields, not answers"
		}
		target := m[k]
		switch {
		case clinicFields[target]:
			return nil, path, "the clinic comes from the clinic-id parameter, not from senders"
		case !slices.Contains(allowed, target):
			return nil, path, fmt.Sprintf("target is not a NovaMed %s field (one of %s)", what, strings.Join(allowed, ", "))
		case used[target]:
			return nil, path, fmt.Sprintf("a second sender field maps to %s", target)
		}
		used[target] = true
		out[k] = target
	}
	return out, "", ""
}

// validFieldKey accepts printable UTF-8 (spaces included, since form field
// names and question titles have them, and accents) without leading or
// trailing space.
func validFieldKey(k string) bool {
	if k == "" || len(k) > maxFieldKeyLen || strings.TrimSpace(k) != k || !utf8.ValidString(k) {
		return false
	}
	for _, r := range k {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// formstackOwn reports whether a Formstack field map key names one of
// Formstack's own fields (or a part of one): never an answer, and the
// shared secret must never be mapped.
func formstackOwn(k string) bool {
	top, _, _ := strings.Cut(k, ".")
	return top == "FormID" || top == "UniqueID" || top == webhookauth.FormstackHandshakeField
}

// checkSchemeFormat refuses schemes that cannot work for a format: Jotform
// cannot sign, so url-token is its only scheme, and a URL secret (weaker
// than a signature, and carried in URLs) serves no other format; the
// Formstack handshake is read from Formstack bodies only.
func checkSchemeFormat(scheme, format string) (field, reason string) {
	switch {
	case format == FormatJotform && scheme != webhookauth.SchemeURLToken && scheme != "":
		return "auth.scheme", "format jotform cannot sign: use url-token"
	case scheme == webhookauth.SchemeURLToken && format != FormatJotform:
		return "auth.scheme", "url-token is only for format jotform (senders that can sign must)"
	case scheme == webhookauth.SchemeFormstackHandshake && format != FormatFormstack:
		return "auth.scheme", "formstack-handshake is only for format formstack"
	}
	return "", ""
}

func buildVerifier(a Auth) (v webhookauth.Verifier, field, reason string, err error) {
	hmacOnly := func() (string, bool) {
		switch {
		case a.Header != "":
			return "auth.header", true
		case a.Encoding != "":
			return "auth.encoding", true
		case a.Prefix != "":
			return "auth.prefix", true
		}
		return "", false
	}
	if a.Scheme != webhookauth.SchemeHMACSHA256 && a.Scheme != "" {
		if f, ok := hmacOnly(); ok {
			return nil, f, "only used with scheme hmac-sha256", nil
		}
	}
	if a.Scheme != webhookauth.SchemeStandardWebhooks && a.ToleranceSeconds != 0 {
		return nil, "auth.tolerance_seconds", "only used with scheme standard-webhooks", nil
	}

	switch a.Scheme {
	case webhookauth.SchemeStandardWebhooks:
		var opts []webhookauth.Option
		if t := a.ToleranceSeconds; t != 0 {
			if t < 1 || t > maxToleranceSeconds {
				return nil, "auth.tolerance_seconds", fmt.Sprintf("out of range (1 to %d)", maxToleranceSeconds), nil
			}
			opts = append(opts, webhookauth.WithTolerance(time.Duration(t)*time.Second))
		}
		v, err = webhookauth.NewStandardWebhooks(a.Secrets, opts...)
	case webhookauth.SchemeTypeform:
		v, err = webhookauth.NewTypeform(a.Secrets)
	case webhookauth.SchemeHMACSHA256:
		switch {
		case a.Header == "":
			return nil, "auth.header", "required for scheme hmac-sha256", nil
		case a.Encoding == "":
			return nil, "auth.encoding", "required for scheme hmac-sha256 (hex or base64)", nil
		}
		v, err = webhookauth.NewHMAC(webhookauth.HMACConfig{
			Header: a.Header, Encoding: webhookauth.Encoding(a.Encoding), Prefix: a.Prefix,
		}, a.Secrets)
	case webhookauth.SchemeBearer:
		v, err = webhookauth.NewBearer(a.Secrets)
	case webhookauth.SchemeFormstackHandshake:
		v, err = webhookauth.NewFormstackHandshake(a.Secrets)
	case webhookauth.SchemeURLToken:
		v, err = webhookauth.NewURLToken(a.Secrets)
	case "":
		return nil, "auth.scheme", "required: a source with no auth scheme is refused", nil
	default:
		return nil, "auth.scheme", "unknown (want standard-webhooks, typeform, hmac-sha256, bearer, formstack-handshake or url-token)", nil
	}
	if err != nil {
		field, reason := describeAuthError(err)
		return nil, field, reason, err
	}
	return v, "", "", nil
}

// describeAuthError turns a webhookauth constructor error into a path and a
// reason. webhookauth's errors hold no secret, and neither does this.
func describeAuthError(err error) (string, string) {
	var se *webhookauth.SecretError
	if errors.As(err, &se) {
		field := fmt.Sprintf("auth.secrets[%d]", se.Index)
		switch {
		case errors.Is(err, webhookauth.ErrWeakSecret):
			return field, fmt.Sprintf("too short (at least %d bytes; url-token: %d)", webhookauth.MinSecretBytes, webhookauth.MinURLTokenLen)
		default:
			return field, "not a valid secret for this scheme (standard-webhooks: whsec_ and base64; url-token: letters, digits, -, _, ., ~; others: visible ASCII, no spaces)"
		}
	}
	switch {
	case errors.Is(err, webhookauth.ErrNoSecrets):
		return "auth.secrets", "required (at least one)"
	case errors.Is(err, webhookauth.ErrTooManySecrets):
		return "auth.secrets", fmt.Sprintf("too many (at most %d)", webhookauth.MaxSecrets)
	case errors.Is(err, webhookauth.ErrInvalidHeaderName):
		return "auth.header", "not a valid header name"
	case errors.Is(err, webhookauth.ErrInvalidEncoding):
		return "auth.encoding", "unknown (want hex or base64)"
	case errors.Is(err, webhookauth.ErrInvalidPrefix):
		return "auth.prefix", "must be at most 32 visible ASCII characters"
	default:
		return "auth", "invalid"
	}
}

// describeJSONError reports a decoding error without quoting the input:
// encoding/json's messages can carry a character of it, and that
// character may belong to a secret.
func describeJSONError(err error) (string, string) {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return "", fmt.Sprintf("not valid JSON (at byte %d)", syn.Offset)
	case errors.As(err, &typ):
		return typ.Field, "wrong type (want " + jsonTypeName(typ.Type.String()) + ")"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "", "not valid JSON (truncated or empty)"
	default:
		return "", "not a valid definition"
	}
}

func jsonTypeName(goType string) string {
	switch goType {
	case "string", "novamed.Kind":
		return "a string"
	case "int", "int64":
		return "an integer"
	case "source.Secrets", "[]string":
		return "an array of strings"
	case "map[string]string":
		return "an object of strings"
	case "source.Auth", "source.Definition", "source.FHIRServerDefinition", "json.RawMessage":
		return "an object"
	default:
		return goType
	}
}

// checkKeys rejects what encoding/json lets through: keys that match a
// field only by case folding, and repeated keys (where the last would win).
// It checks the top level and "auth"; field_map's keys are the sender's and
// are checked for duplicates only.
func checkKeys(data []byte) (field, reason string) {
	top, field, reason := objectKeys(data, "", topKeys)
	if reason != "" || top == nil {
		return field, reason
	}
	if raw, ok := top["auth"]; ok {
		if _, field, reason := objectKeys(raw, "auth", authKeys); reason != "" {
			return field, reason
		}
	}
	if raw, ok := top["field_map"]; ok {
		if _, field, reason := objectKeys(raw, "field_map", nil); reason != "" {
			return field, reason
		}
	}
	if raw, ok := top["fhir_server"]; ok {
		if field, reason := checkFHIRServerKeys(raw); reason != "" {
			return field, reason
		}
	}
	return "", ""
}

var (
	topKeys  = []string{"format", "auth", "kind", "field_map", "max_body_bytes", "on_invalid", "subject_identifier", "subject_field", "subject_source", "fhir_server"}
	authKeys = []string{"scheme", "secrets", "header", "encoding", "prefix", "tolerance_seconds"}
)

var safeKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,31}$`)

// objectKeys returns the members of the JSON object in data, checking that
// no key repeats and, when known is not nil, that every key is in it. A
// value that is not an object returns nil without a problem: the typed
// decode that follows reports it with its path.
func objectKeys(data []byte, path string, known []string) (map[string]json.RawMessage, string, string) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, "", ""
	}
	if tok != json.Delim('{') {
		return nil, "", ""
	}
	members := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, "", ""
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, "", ""
		}
		// A key is named only when it looks like a key: a mistyped
		// definition could hold a secret where a key belongs.
		named := path
		if safeKeyRE.MatchString(key) {
			named = join(path, key)
		}
		if _, dup := members[key]; dup {
			return nil, named, "repeated key"
		}
		if known != nil && !slices.Contains(known, key) {
			return nil, named, "unknown key (keys are lower case: " + strings.Join(known, ", ") + ")"
		}
		members[key] = raw
	}
	return members, "", ""
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// String describes the source without its secrets. (Source cannot be a
// fmt.Formatter, its Format field takes the name; verbs String does not
// cover print the fields, and the Verifier field redacts itself.)
func (s Source) String() string {
	return fmt.Sprintf("source.Source{Name: %s, Format: %s, Kind: %s, Scheme: %s, FieldMap: %d fields, MaxBodyBytes: %d, Verifier: %v}",
		s.Name, s.Format, s.Kind, s.Scheme, len(s.FieldMap), s.MaxBodyBytes, s.Verifier)
}

// GoString describes the source without its secrets, for %#v.
func (s Source) GoString() string { return s.String() }

// LogValue logs the source's name, format, kind and scheme.
func (s Source) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("name", s.Name),
		slog.String("format", s.Format),
		slog.String("kind", string(s.Kind)),
		slog.String("scheme", s.Scheme),
	)
}

// String prints the number of secrets only.
func (s Secrets) String() string { return fmt.Sprintf("[%d secrets REDACTED]", len(s)) }

// GoString prints the number of secrets only, for %#v.
func (s Secrets) GoString() string { return s.String() }

// Format prints the number of secrets only, whatever the verb.
func (s Secrets) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// LogValue logs the number of secrets only.
func (s Secrets) LogValue() slog.Value { return slog.StringValue(s.String()) }

// String describes the definition without its secrets.
func (d Definition) String() string {
	return fmt.Sprintf("source.Definition{Format: %s, Auth: %v, Kind: %s, FieldMap: %d fields, MaxBodyBytes: %d}",
		d.Format, d.Auth, d.Kind, len(d.FieldMap), d.MaxBodyBytes)
}

// GoString describes the definition without its secrets, for %#v.
func (d Definition) GoString() string { return d.String() }

// LogValue logs the definition's format, kind and scheme.
func (d Definition) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("format", d.Format),
		slog.String("kind", string(d.Kind)),
		slog.String("scheme", d.Auth.Scheme),
	)
}

// String describes the auth object without its secrets.
func (a Auth) String() string {
	return fmt.Sprintf("source.Auth{Scheme: %s, Secrets: %v, Header: %s, Encoding: %s}", a.Scheme, a.Secrets, a.Header, a.Encoding)
}

// GoString describes the auth object without its secrets, for %#v.
func (a Auth) GoString() string { return a.String() }

// Format describes the auth object without its secrets, whatever the verb.
func (a Auth) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, a.String()) }

// LogValue logs the scheme and the number of secrets.
func (a Auth) LogValue() slog.Value {
	return slog.GroupValue(slog.String("scheme", a.Scheme), slog.Int("secrets", len(a.Secrets)))
}
