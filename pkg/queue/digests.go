package queue

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"reflect"

	"github.com/novamed/bridge/internal/jsonscan"
	"github.com/novamed/bridge/pkg/novamed"
)

// RecordDigests returns FieldDigests(key, body) for rec's body (rec.Body()),
// read from the struct instead of marshalled and decoded again: intake
// keys every record it maps, and the round trip through JSON cost more
// than the digests themselves. A value reads as it would after the round
// trip (each byte of invalid UTF-8 becomes U+FFFD); a request type whose
// body the field list cannot predict (see jsonscan.StringFields) falls back to the
// round trip.
func RecordDigests(key []byte, rec novamed.Record) (map[string]string, error) {
	return recordDigests(hmac.New(sha256.New, key), key, rec)
}

// recordDigests is RecordDigests with m, a MAC keyed with key.
func recordDigests(m hash.Hash, key []byte, rec novamed.Record) (map[string]string, error) {
	var v reflect.Value
	var layout []jsonscan.StringField
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
		if s := v.Field(f.Index).String(); s != "" {
			out[f.Name], buf = fieldDigest(m, buf, f.Name, jsonscan.AsMarshalled(s))
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

var (
	patientDigestLayout      = jsonscan.StringFields(reflect.TypeFor[novamed.PatientRequest]())
	practitionerDigestLayout = jsonscan.StringFields(reflect.TypeFor[novamed.PractitionerRequest]())
)
