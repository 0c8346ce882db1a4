package queue

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/novamed/bridge/pkg/novamed"
)

// wire is the JSON layout of a message, in the documented key order.
type wire struct {
	V            int               `json:"v"`
	ID           string            `json:"id"`
	Source       string            `json:"source"`
	Kind         novamed.Kind      `json:"kind"`
	ReceivedAt   string            `json:"received_at"`
	Stage        string            `json:"stage"`
	Deidentified bool              `json:"deidentified"`
	Subject      string            `json:"subject,omitempty"`
	Digests      map[string]string `json:"digests,omitempty"`
	Reference    string            `json:"reference,omitempty"`
	Record       json.RawMessage   `json:"record,omitempty"`
}

// Encode returns the message body. It checks the message as Decode would,
// so intake cannot queue what dispatch would dead-letter as malformed.
func (m Message) Encode() (string, error) {
	if m.Version == 0 {
		m.Version = Version
	}
	if err := m.Validate(); err != nil {
		return "", err
	}
	body, ok := m.plainBody()
	if !ok {
		b, err := m.encodeJSON()
		if err != nil {
			return "", err
		}
		body = string(b)
	}
	if len(body) > MaxBodySize {
		return "", malformed("", ReasonTooLarge)
	}
	return body, nil
}

// encodeJSON encodes the message with encoding/json, which defines the
// body's bytes.
func (m Message) encodeJSON() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(wire{
		V:            m.Version,
		ID:           m.ID,
		Source:       m.Source,
		Kind:         m.Kind,
		ReceivedAt:   m.ReceivedAt.UTC().Format(time.RFC3339Nano),
		Stage:        m.Stage,
		Deidentified: m.Deidentified,
		Subject:      m.Subject,
		Digests:      m.Digests,
		Reference:    m.Reference,
		Record:       m.Record,
	})
	if err != nil {
		// Validate checked the record; this is not expected, and the
		// encoder's message could quote the record, so it is not kept.
		return nil, malformed("record", ReasonNotJSON)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// plainBody returns what encodeJSON returns for a validated message whose
// strings are printable ASCII without quotes or backslashes (the validated
// fields are; only digests' keys and values are checked here) and whose
// record is compact (json.Marshal's output, which intake queues), without
// reflection, in one allocation. It reports false for any other message,
// which encodeJSON then encodes. TestEncodeMatchesEncodingJSON compares the
// two.
func (m Message) plainBody() (string, bool) {
	var b strings.Builder
	b.Grow(256 + len(m.ID) + len(m.Source) + len(m.Subject) + len(m.Reference) + len(m.Record) + 48*len(m.Digests))
	ok := true
	var scratch [64]byte // numbers and the time, formatted on the stack
	str := func(key, v string) {
		b.WriteString(`,"`)
		b.WriteString(key)
		b.WriteString(`":"`)
		ok = ok && plainString(v)
		b.WriteString(v)
		b.WriteByte('"')
	}
	b.WriteString(`{"v":`)
	b.Write(strconv.AppendInt(scratch[:0], int64(m.Version), 10))
	str("id", m.ID)
	str("source", m.Source)
	str("kind", string(m.Kind))
	b.WriteString(`,"received_at":"`)
	b.Write(m.ReceivedAt.UTC().AppendFormat(scratch[:0], time.RFC3339Nano))
	b.WriteByte('"')
	str("stage", m.Stage)
	b.WriteString(`,"deidentified":`)
	b.WriteString(strconv.FormatBool(m.Deidentified))
	if m.Subject != "" {
		str("subject", m.Subject)
	}
	if len(m.Digests) > 0 {
		b.WriteString(`,"digests":{`)
		type digest struct{ name, value string }
		var stack [32]digest // Validate allows at most 32
		ds := stack[:0]
		for k, v := range m.Digests {
			ds = append(ds, digest{k, v})
		}
		// encoding/json sorts map keys; the keys are distinct.
		slices.SortFunc(ds, func(a, b digest) int { return strings.Compare(a.name, b.name) })
		for i, d := range ds {
			if i > 0 {
				b.WriteByte(',')
			}
			ok = ok && plainString(d.name) && plainString(d.value)
			b.WriteByte('"')
			b.WriteString(d.name)
			b.WriteString(`":"`)
			b.WriteString(d.value)
			b.WriteByte('"')
		}
		b.WriteByte('}')
	}
	if m.Reference != "" {
		str("reference", m.Reference)
	}
	if len(m.Record) > 0 {
		ok = ok && isCompact(m.Record)
		b.WriteString(`,"record":`)
		b.Write(m.Record)
	}
	b.WriteByte('}')
	return b.String(), ok
}

// plainString reports whether encoding/json writes s as it is, between
// quotes: printable ASCII but '"' and '\\'. (With HTML escaping off, '<',
// '>' and '&' are written as they are.)
func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// isCompact reports whether raw, valid JSON, has no white space outside
// its strings: encoding/json then copies it as it is (it compacts a
// RawMessage, and with HTML escaping off changes nothing else).
func isCompact(raw []byte) bool {
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case ' ', '\t', '\n', '\r':
			return false
		case '"':
			j := i + 1
			for ; j < len(raw); j++ {
				if raw[j] == '\\' {
					j++
				} else if raw[j] == '"' {
					break
				}
			}
			i = j
		}
	}
	return true
}
