package source

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/novamed/bridge/pkg/novamed"
	"github.com/novamed/bridge/pkg/webhookauth"
)

// The checks of a definition's field map and keys, and how JSON errors are told.

// checkFieldMap checks a field map against the format and kind. It returns
// the map to keep (empty, not nil, when a form has none), or the field and
// reason of the first problem in sorted key order, which never repeat an
// invalid key (a key may be anything a sender's form holds).
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
