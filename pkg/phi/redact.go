package phi

import (
	"fmt"
	"log/slog"
)

// Placeholder is what a PHI value prints as.
const Placeholder = "[PHI]"

// Value is a string that may hold PHI. It prints as [PHI] through fmt (every
// verb), log/slog, encoding/json and encoding/text; convert it back with
// string(v) at the one place that legitimately needs the value.
type Value string

// String implements fmt.Stringer.
func (Value) String() string { return Placeholder }

// GoString keeps the value out of %#v.
func (Value) GoString() string { return Placeholder }

// Format keeps the value out of every fmt verb, %q and %x included.
func (Value) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(Placeholder)) }

// LogValue implements slog.LogValuer.
func (Value) LogValue() slog.Value { return slog.StringValue(Placeholder) }

// MarshalText keeps the value out of JSON and text encodings (a struct
// logged with a JSON encoder, for one).
func (Value) MarshalText() ([]byte, error) { return []byte(Placeholder), nil }

// RedactedError wraps an error whose message may quote a PHI value (such as
// *time.ParseError, which quotes the text it failed to parse). Its message
// names only the field and the wrapped error's type.
//
// errors.Is and errors.As still see the wrapped error. Whoever unwraps it
// takes responsibility for not printing it: Unwrap(), the fields of a
// *time.ParseError and similar carry the value.
type RedactedError struct {
	// Field names the field whose value failed, if known. Never a value.
	Field string
	err   error
}

// Redact wraps err so its message quotes no input. Use it on every error
// that comes out of parsing, converting or validating a value that may be
// PHI, before returning it, logging it or answering a sender with it.
// Redact(nil) is nil.
func Redact(err error) error { return RedactField("", err) }

// RedactField is Redact with the name of the field that failed.
func RedactField(field string, err error) error {
	if err == nil {
		return nil
	}
	return &RedactedError{Field: field, err: err}
}

func (e *RedactedError) Error() string {
	msg := "phi: "
	if e.Field != "" {
		msg += e.Field + ": "
	}
	return msg + fmt.Sprintf("invalid value (%T, message redacted)", e.err)
}

// Unwrap returns the wrapped error, for errors.Is and errors.As.
func (e *RedactedError) Unwrap() error { return e.err }

// LogValue logs the redacted message only.
func (e *RedactedError) LogValue() slog.Value { return slog.StringValue(e.Error()) }
