// Package queue holds the delivery-queue contract between intake and
// dispatch: the message (one per record), its ids, the SQS sender, and the
// dead-letter attributes dispatch and redrive share.
//
// Intake and dispatch are separate functions, deployed and scaled apart, and
// a message can wait in the queue or its dead-letter queue across a
// deployment, to be read later by dispatch or redrive. So the message is the
// one contract between them, and it is written down once: every side encodes
// and decodes through this package, the "v" field names the format, and
// decoding is strict (an unknown or repeated key, a wrong type or an unknown
// version makes the message malformed), so a message that does not follow
// the contract is dead-lettered with a reason, never guessed at. The ids
// live here too: they are the keys that make a sender's retry, an SQS
// redelivery and a redrive meet the same ledger items.
//
// A message body carries a NovaMed request body, which is PHI in production:
// nothing in this package puts a record value in an error, a log value, a
// String or a message attribute.
package queue

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/novamed/bridge/internal/jsonscan"
	"github.com/novamed/bridge/pkg/novamed"
)

// Version is the message format this package writes and reads.
const Version = 1

// MaxBodySize bounds an encoded message: SQS's classic per-message limit,
// kept even where a queue allows more so a message fits any queue of the
// stack (and its DLQ) unchanged.
const MaxBodySize = 256 << 10

// Stages a message can record. They are information for operators: dispatch
// decides on de-identification from its own stage and target, never from
// the message.
const (
	StageDev  = "dev"
	StageProd = "prod"
)

// Names of the message attributes of a queue message.
const (
	AttrKind    = "kind"
	AttrSource  = "source"
	AttrVersion = "v"
)

// ErrMalformed is the sentinel of every error about a message that does not
// follow the contract. Dispatch dead-letters such messages with the class
// "malformed". Details come as a *MalformedError.
var ErrMalformed = errors.New("queue: malformed message")

// MalformedError says which field of a message is wrong and why, never with
// the field's value. errors.Is(err, ErrMalformed) holds for it.
type MalformedError struct {
	// Field is the JSON key of the message at fault ("record", "v"), or
	// empty when the body as a whole is wrong. Unknown keys are not named:
	// a key can carry PHI as easily as a value.
	Field string
	// Reason is a fixed phrase such as "required" or "wrong type".
	Reason string
}

// Reasons of a MalformedError.
const (
	ReasonNotJSON            = "not JSON"
	ReasonNotObject          = "not a JSON object"
	ReasonTooLarge           = "too large"
	ReasonUnknownKey         = "unknown key"
	ReasonDuplicateKey       = "duplicate key"
	ReasonRequired           = "required"
	ReasonWrongType          = "wrong type"
	ReasonUnsupportedVersion = "unsupported version"
	ReasonInvalid            = "invalid"
)

func (e *MalformedError) Error() string {
	if e.Field == "" {
		return "queue: malformed message: " + e.Reason
	}
	return "queue: malformed message: " + e.Field + ": " + e.Reason
}

// Is makes errors.Is(err, ErrMalformed) true.
func (e *MalformedError) Is(target error) bool { return target == ErrMalformed }

func malformed(field, reason string) error { return &MalformedError{Field: field, Reason: reason} }

// Message is the body of one queue message: one NovaMed record with what
// dispatch needs to deliver it and what operators need to trace it.
//
// It renders in fmt and slog as its id, source and kind only: the record is
// PHI in production.
type Message struct {
	// Version is the format version; zero means Version when encoding.
	Version int
	// ID is RecordID(event id, record index), stable across sender retries.
	ID string
	// Source is the name of the webhook source the record came from.
	Source string
	// Kind says which NovaMed endpoint takes the record.
	Kind novamed.Kind
	// ReceivedAt is when intake accepted the webhook.
	ReceivedAt time.Time
	// Stage is the stage of the intake that queued the record, StageDev or
	// StageProd.
	Stage string
	// Deidentified reports whether intake de-identified the record. It is
	// information, not permission: dispatch applies the guard again.
	Deidentified bool
	// Record is the NovaMed request body, a JSON object; absent for a
	// reference.
	Record json.RawMessage
	// Subject is the key of the person the record describes (SubjectKey):
	// every record of one subject becomes one NovaMed chart. Empty when the
	// payload names no person beyond the event (the record is then its own
	// subject).
	Subject string
	// Reference is what a KindReference message points at in the source's
	// FHIR server: a relative reference, Type/id. Dispatch fetches it.
	Reference string
	// Digests are FieldDigests of the record as mapped (before
	// de-identification), for the subject comparison; with Subject only.
	Digests map[string]string
	// DeadLetter, when set, makes the message a dead letter from the
	// start (a held record): Attributes adds its attributes. It is not
	// part of the body, and Decode never sets it.
	DeadLetter *DLQAttributes
}

// Validate checks the message against the contract. Errors are
// *MalformedError.
func (m Message) Validate() error {
	switch {
	case m.Version != Version:
		return malformed("v", ReasonUnsupportedVersion)
	case m.ID == "":
		return malformed("id", ReasonRequired)
	case m.Source == "":
		return malformed("source", ReasonRequired)
	case !ValidSource(m.Source):
		return malformed("source", ReasonInvalid)
	case !m.idMatchesSource():
		return malformed("id", ReasonInvalid)
	case m.Kind == "":
		return malformed("kind", ReasonRequired)
	case !m.Kind.Valid() && m.Kind != KindReference:
		return malformed("kind", ReasonInvalid)
	case m.Subject != "" && !ValidSubject(m.Subject):
		return malformed("subject", ReasonInvalid)
	case m.Kind == KindReference && len(m.Record) != 0:
		return malformed("record", "not allowed with kind reference")
	case m.Kind == KindReference && !ValidReference(m.Reference):
		return malformed("reference", ReasonInvalid)
	case m.Kind != KindReference && m.Reference != "":
		return malformed("reference", "only with kind reference")
	case len(m.Digests) > 0 && m.Subject == "":
		return malformed("digests", "only with a subject")
	case !validDigests(m.Digests):
		return malformed("digests", ReasonInvalid)
	case m.ReceivedAt.IsZero():
		return malformed("received_at", ReasonRequired)
	case m.Stage == "":
		return malformed("stage", ReasonRequired)
	case m.Stage != StageDev && m.Stage != StageProd:
		return malformed("stage", ReasonInvalid)
	case m.Kind != KindReference && len(m.Record) == 0:
		return malformed("record", ReasonRequired)
	case m.Kind != KindReference && !isJSONObject(m.Record):
		return malformed("record", ReasonNotObject)
	case m.DeadLetter != nil && m.DeadLetter.Validate() != nil:
		return malformed("", "invalid dead-letter attributes")
	}
	return nil
}

// idMatchesSource checks that the id is a record id of an event of the
// message's own source.
func (m Message) idMatchesSource() bool {
	eventID, _, err := ParseRecordID(m.ID)
	if err != nil {
		return false
	}
	src, _, _ := strings.Cut(eventID, ":")
	return src == m.Source
}

func isJSONObject(raw []byte) bool {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	return len(raw) > 0 && raw[0] == '{' && jsonscan.Valid(raw) // json.Valid's verdict, faster
}

// Decode parses a message body strictly: a JSON object with known keys
// only, each at most once, "v" exactly 1, id, source, kind, received_at and
// stage present and valid, and record a JSON object. Every error is a
// *MalformedError naming a field at most.
func Decode(body string) (Message, error) {
	if len(body) > MaxBodySize {
		return Message{}, malformed("", ReasonTooLarge)
	}
	fields, err := splitObject(body)
	if err != nil {
		return Message{}, err
	}

	var m Message
	raw, ok := fields["v"]
	switch {
	case !ok:
		return Message{}, malformed("v", ReasonRequired)
	case string(raw) != "1":
		// Not 1, "1", 1.0 or 1e0: a future version must not be read as
		// this one.
		var n float64
		if json.Unmarshal(raw, &n) != nil {
			return Message{}, malformed("v", ReasonWrongType)
		}
		return Message{}, malformed("v", ReasonUnsupportedVersion)
	}
	m.Version = Version

	var receivedAt, kind string
	for _, f := range []struct {
		key string
		dst *string
	}{
		{"id", &m.ID}, {"source", &m.Source}, {"kind", &kind},
		{"received_at", &receivedAt}, {"stage", &m.Stage},
	} {
		if err := decodeField(fields, f.key, f.dst, true); err != nil {
			return Message{}, err
		}
	}
	m.Kind = novamed.Kind(kind)
	if err := decodeField(fields, "deidentified", &m.Deidentified, false); err != nil {
		return Message{}, err
	}
	for _, f := range []struct {
		key string
		dst *string
	}{{"subject", &m.Subject}, {"reference", &m.Reference}} {
		if err := decodeField(fields, f.key, f.dst, false); err != nil {
			return Message{}, err
		}
	}
	if raw, ok := fields["digests"]; ok {
		if json.Unmarshal(raw, &m.Digests) != nil {
			return Message{}, malformed("digests", ReasonWrongType)
		}
	}
	// received_at: RFC 3339 (time.RFC3339 accepts fractional seconds).
	if m.ReceivedAt, err = time.Parse(time.RFC3339, receivedAt); err != nil {
		return Message{}, malformed("received_at", ReasonInvalid)
	}
	if rec, ok := fields["record"]; ok {
		m.Record = rec
	}
	if err := m.Validate(); err != nil {
		return Message{}, err
	}
	return m, nil
}

var knownKeys = map[string]bool{
	"v": true, "id": true, "source": true, "kind": true, "received_at": true,
	"stage": true, "deidentified": true, "record": true, "subject": true, "reference": true,
	"digests": true,
}

// validDigest reports whether v is 16 lower-case hex digits (a FieldDigests
// value), checked by hand: it runs for every field of every message.
func validDigest(v string) bool {
	if len(v) != 16 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// validDigests accepts at most 32 digests keyed by field-name slugs.
func validDigests(d map[string]string) bool {
	if len(d) > 32 {
		return false
	}
	for k, v := range d {
		if !ValidSlug(k) || !validDigest(v) {
			return false
		}
	}
	return true
}

// KindReference is the kind of a message that carries no record, only a
// reference into the source's FHIR server (an id-only notification):
// dispatch fetches the resource, maps it and delivers it. It carries no PHI.
const KindReference novamed.Kind = "reference"

var referenceRE = regexp.MustCompile(`^[A-Z][A-Za-z]{1,63}/[A-Za-z0-9.-]{1,64}$`)

// ValidSubject reports whether s is a subject key (SubjectKey's shape,
// ^sub:[0-9a-f]{32}$), checked by hand: it runs for every message.
func ValidSubject(s string) bool {
	hash, ok := strings.CutPrefix(s, "sub:")
	return ok && len(hash) == eventHashHex && isLowerHex(hash)
}

// ValidReference reports whether s is a relative FHIR reference, Type/id.
func ValidReference(s string) bool { return referenceRE.MatchString(s) }

// splitObject reads the top-level object into its raw values, rejecting
// unknown and repeated keys (encoding/json would keep the last of two
// "kind"s silently) and anything after the object.
func splitObject(body string) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(strings.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return nil, malformed("", ReasonNotJSON)
	}
	if tok != json.Delim('{') {
		return nil, malformed("", ReasonNotObject)
	}
	fields := make(map[string]json.RawMessage, len(knownKeys))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, malformed("", ReasonNotJSON)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, malformed("", ReasonNotJSON)
		}
		if !knownKeys[key] {
			return nil, malformed("", ReasonUnknownKey)
		}
		if _, dup := fields[key]; dup {
			return nil, malformed(key, ReasonDuplicateKey)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, malformed(key, ReasonNotJSON)
		}
		fields[key] = raw
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, malformed("", ReasonNotJSON)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, malformed("", ReasonNotJSON) // trailing data
	}
	return fields, nil
}

// decodeField decodes fields[key] into dst, treating null as a wrong type
// and never passing on encoding/json's message.
func decodeField(fields map[string]json.RawMessage, key string, dst any, required bool) error {
	raw, ok := fields[key]
	if !ok {
		if required {
			return malformed(key, ReasonRequired)
		}
		return nil
	}
	if string(raw) == "null" || json.Unmarshal(raw, dst) != nil {
		return malformed(key, ReasonWrongType)
	}
	return nil
}

// Attributes returns the SQS message attributes of the message: kind,
// source and v, nothing else. They let operators and filters see what a
// message is without reading its body, and hold no PHI.
func (m Message) Attributes() map[string]types.MessageAttributeValue {
	v := m.Version
	if v == 0 {
		v = Version
	}
	attrs := map[string]types.MessageAttributeValue{
		AttrKind:    stringAttr(string(m.Kind)),
		AttrSource:  stringAttr(m.Source),
		AttrVersion: numberAttr(fmt.Sprint(v)),
	}
	if m.DeadLetter != nil {
		if dl, err := m.DeadLetter.MessageAttributes(attrs); err == nil {
			return dl
		}
	}
	return attrs
}

func stringAttr(s string) types.MessageAttributeValue {
	return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(s)}
}

func numberAttr(s string) types.MessageAttributeValue {
	return types.MessageAttributeValue{DataType: aws.String("Number"), StringValue: aws.String(s)}
}

// LogValue logs a message as its id, source and kind, never its record.
func (m Message) LogValue() slog.Value {
	id, source, kind := m.safeFields()
	return slog.GroupValue(
		slog.String("id", id),
		slog.String("source", source),
		slog.String("kind", kind),
	)
}

// String renders the message without its record.
func (m Message) String() string {
	id, source, kind := m.safeFields()
	return fmt.Sprintf("queue.Message{id: %s, source: %s, kind: %s}", id, source, kind)
}

// safeFields returns the fields a message renders as, each replaced by
// "[invalid]" unless it has its documented shape: a message built wrongly
// must not carry free text into a log line.
func (m Message) safeFields() (id, source, kind string) {
	const invalid = "[invalid]"
	id, source, kind = invalid, invalid, invalid
	if _, _, err := ParseRecordID(m.ID); err == nil {
		id = m.ID
	}
	if ValidSource(m.Source) {
		source = m.Source
	}
	if m.Kind.Valid() {
		kind = string(m.Kind)
	}
	return id, source, kind
}

// GoString renders the message without its record.
func (m Message) GoString() string { return m.String() }

// Format keeps the record out of every fmt verb, %+v and %#v included.
func (m Message) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(m.String())) }

// ValidSource reports whether s is usable as a source name: 1 to 64 ASCII
// letters, digits, '_', '.' or '-', starting with a letter or digit. A
// source name appears in attributes, ids, DynamoDB keys and logs. Checked by
// hand: it runs for every message, and a regexp with a counted repetition
// costs a compilation at every cold start.
func ValidSource(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '_' && c != '.' && c != '-') {
			return false
		}
	}
	return true
}
