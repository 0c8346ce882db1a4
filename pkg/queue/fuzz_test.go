package queue

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// FuzzDecode: Decode never panics, never quotes the body in its error, and
// what it accepts re-encodes to a body it accepts again, equal field by
// field.
func FuzzDecode(f *testing.F) {
	body, err := testMessage(f).Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(body)
	f.Add(`{"v":1}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, body string) {
		m, err := Decode(body)
		if err != nil {
			if len(body) >= 8 && strings.Contains(err.Error(), body) {
				t.Fatal("error quotes the body")
			}
			return
		}
		again, err := m.Encode()
		if err != nil {
			t.Fatalf("decoded message does not encode: %v", err)
		}
		m2, err := Decode(again)
		if err != nil {
			t.Fatalf("re-encoded message does not decode: %v", err)
		}
		if m2.ID != m.ID || m2.Source != m.Source || m2.Kind != m.Kind || m2.Stage != m.Stage ||
			m2.Deidentified != m.Deidentified || !m2.ReceivedAt.Equal(m.ReceivedAt) {
			t.Fatal("round trip changed a field")
		}
		var c1, c2 bytes.Buffer
		if err := compactJSON(&c1, m.Record); err != nil {
			t.Fatal("accepted record is not JSON")
		}
		if err := compactJSON(&c2, m2.Record); err != nil || !bytes.Equal(c1.Bytes(), c2.Bytes()) {
			t.Fatal("round trip changed the record")
		}
	})
}

func compactJSON(dst *bytes.Buffer, src []byte) error { return json.Compact(dst, src) }
