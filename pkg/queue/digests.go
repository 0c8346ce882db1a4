package queue

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"reflect"
	"strings"

	"github.com/novamed/bridge/internal/jsonscan"
	"github.com/novamed/bridge/pkg/novamed"
)

// RecordDigests returns FieldDigests(key, body) for rec's body (rec.Body()),
// read from the struct instead of marshalled and decoded again: intake
// keys every record it maps, and the round trip through JSON cost more
// than the digests themselves. A value reads as it would after the round
// trip (each byte of invalid UTF-8 becomes U+FFFD); a request type whose
// body the field list cannot predict (see digestLayout) falls back to the
// round trip.
func RecordDigests(key []byte, rec novamed.Record) (map[string]string, error) {
	return recordDigests(hmac.New(sha256.New, key), key, rec)
}

// recordDigests is RecordDigests with m, a MAC keyed with key.
func recordDigests(m hash.Hash, key []byte, rec novamed.Record) (map[string]string, error) {
	var v reflect.Value
	var layout []digestField
	switch {
	case rec.Kind == novamed.KindPatient && rec.Patient != nil:
		v, layout = reflect.ValueOf(rec.Patient).Elem(), patientDigestLayout
	case rec.Kind == novamed.KindPractitioner && rec.Practitioner != nil:
		v, layout = reflect.ValueOf(rec.Practitioner).Elem(), practitionerDigestLayout
	}
	if layout == nil {
		body, err := rec.Body()
		if err != nil {
			return nil, err
		}
		return FieldDigests(key, body)
	}
	out := make(map[string]string, len(layout))
	var buf []byte
	for _, f := range layout {
		if s := v.Field(f.index).String(); s != "" {
			out[f.name], buf = fieldDigest(m, buf, f.name, jsonscan.AsMarshalled(s))
		}
	}
	return out, nil
}

// fieldDigest is one field's digest with the keyed MAC m, reset first. The
// MAC's input (writeField's framing of the domain, name and value) is
// built in buf, returned for the next field: one Write, and no allocation
// per part.
func fieldDigest(m hash.Hash, buf []byte, name, v string) (string, []byte) {
	buf = appendField(appendField(appendField(buf[:0], fieldDomain), name), v)
	m.Reset()
	_, _ = m.Write(buf)
	buf = m.Sum(buf) // the sum follows the input, in memory already held
	var hx [16]byte
	hex.Encode(hx[:], buf[len(buf)-sha256.Size:][:8])
	return string(hx[:]), buf
}

// appendField appends s framed as writeField frames it.
func appendField(b []byte, s string) []byte {
	return append(binary.BigEndian.AppendUint64(b, uint64(len(s))), s...)
}

// digestField is a string field of a request type and its JSON key.
type digestField struct {
	name  string
	index int
}

var (
	patientDigestLayout      = digestLayout(reflect.TypeFor[novamed.PatientRequest]())
	practitionerDigestLayout = digestLayout(reflect.TypeFor[novamed.PractitionerRequest]())
)

// digestLayout returns the fields of t that the body's JSON object holds,
// or nil unless t is the simple case whose body it can predict: a struct
// without custom marshalling whose fields are all exported plain strings
// with distinct plain json names (omitempty aside, which only leaves out
// empty values, and those have no digest).
func digestLayout(t reflect.Type) []digestField {
	for _, m := range []reflect.Type{reflect.TypeFor[interface{ MarshalJSON() ([]byte, error) }](),
		reflect.TypeFor[interface{ MarshalText() ([]byte, error) }]()} {
		if t.Implements(m) || reflect.PointerTo(t).Implements(m) {
			return nil
		}
	}
	var out []digestField
	seen := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || f.Anonymous || f.Type != reflect.TypeFor[string]() {
			return nil
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !plainKey(name) || seen[name] || (opts != "" && opts != "omitempty") {
			return nil
		}
		seen[name] = true
		out = append(out, digestField{name: name, index: i})
	}
	return out
}

// plainKey: a JSON key that reads back as written.
func plainKey(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
