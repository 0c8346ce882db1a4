package source

import (
	"fmt"
	"io"
	"log/slog"
)

// Printing a source, its definition or its secrets never shows a secret.

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
