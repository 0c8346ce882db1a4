package redrive

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/novamed/bridge/pkg/novamed"
	"github.com/novamed/bridge/pkg/phi"
	"github.com/novamed/bridge/pkg/queue"
)

// Deidentifier gives a de-identified view of a record. *phi.Guard
// implements it.
type Deidentifier interface {
	DeidentifyJSON(kind novamed.Kind, raw []byte) (novamed.Record, phi.Report, error)
}

// MaxPeek bounds Peek's n: every peeked message stays hidden until the end.
const MaxPeek = 100

// Record view modes.
const (
	// ModeDeidentified: field values come from the environment guard.
	ModeDeidentified = "deidentified"
	// ModeFieldNames: only field names, every value the placeholder [PHI].
	ModeFieldNames = "field_names"
)

// Peeked is what Peek shows of one dead letter: metadata and a view of the
// record that holds no record value.
type Peeked struct {
	MessageID    string    `json:"message_id"`
	ReceiveCount int       `json:"receive_count"`
	ErrorClass   string    `json:"error_class"`
	ErrorCode    string    `json:"error_code"`
	HTTPStatus   int       `json:"http_status,omitempty"`
	Attempts     int       `json:"attempts,omitempty"`
	FailedAt     time.Time `json:"failed_at,omitzero"`
	// AttributesError says which dead-letter attribute is missing or
	// invalid (class and code are then ClassNone).
	AttributesError string `json:"attributes_error,omitempty"`
	// Attributes are the kind, source and v attributes, when valid.
	Attributes map[string]string `json:"attributes"`
	// Message is the queue message's metadata; nil when the body is not a
	// valid queue message (BodyError says which field and why).
	Message   *MessageMeta `json:"message,omitempty"`
	BodyError string       `json:"body_error,omitempty"`
	Record    *RecordView  `json:"record,omitempty"`
}

// MessageMeta is the metadata of a queue message (docs/contract.md, "Queue
// message"): no record value.
type MessageMeta struct {
	ID           string    `json:"id"`
	Source       string    `json:"source"`
	Kind         string    `json:"kind"`
	ReceivedAt   time.Time `json:"received_at"`
	Stage        string    `json:"stage"`
	Deidentified bool      `json:"deidentified"`
}

// RecordView is a record without its values: de-identified by the guard,
// or reduced to the names of its NovaMed fields.
type RecordView struct {
	// Mode is ModeDeidentified or ModeFieldNames.
	Mode   string  `json:"mode"`
	Fields []Field `json:"fields"`
	// UnknownFields counts keys that are not NovaMed fields of the kind;
	// they are not named.
	UnknownFields int `json:"unknown_fields"`
	// Report says what the guard did (ModeDeidentified).
	Report *phi.Report `json:"report,omitempty"`
	// Note says why the view has field names only.
	Note string `json:"note,omitempty"`
}

// Field is one field of a RecordView.
type Field struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Peek shows up to n dead letters (1 to MaxPeek) and makes them visible
// again. With a nil Deidentifier the record view has field names only.
func (t *Tool) Peek(ctx context.Context, n int, d Deidentifier) ([]Peeked, error) {
	if n < 1 || n > MaxPeek {
		return nil, fmt.Errorf("%w: -n must be between 1 and %d", ErrUsage, MaxPeek)
	}
	p := t.newPass()
	var out []Peeked
	err := p.drain(ctx, func() int32 { return int32(min(n-len(out), 10)) }, func(r *received) (bool, error) {
		p.hold(r)
		out = append(out, peek(r, d))
		return len(out) >= n, nil
	})
	p.release(ctx)
	return out, err
}

func peek(r *received, d Deidentifier) Peeked {
	pk := Peeked{
		MessageID:    r.id,
		ReceiveCount: r.receiveCount,
		ErrorClass:   r.class(),
		ErrorCode:    r.code(),
		Attributes:   map[string]string{},
	}
	if r.dlqErr != nil {
		pk.AttributesError = attributesProblem(r.dlqErr)
	} else {
		pk.HTTPStatus, pk.Attempts, pk.FailedAt = r.dlq.HTTPStatus, r.dlq.Attempts, r.dlq.FailedAt.UTC()
	}
	for name, v := range queue.BaseAttributes(r.attrs) {
		if v.StringValue != nil {
			pk.Attributes[name] = *v.StringValue
		}
	}
	m, err := queue.Decode(r.body)
	if err != nil {
		pk.BodyError = bodyProblem(err)
		return pk
	}
	pk.Message = &MessageMeta{
		ID: m.ID, Source: m.Source, Kind: string(m.Kind), ReceivedAt: m.ReceivedAt.UTC(),
		Stage: m.Stage, Deidentified: m.Deidentified,
	}
	pk.Record = viewRecord(m.Kind, m.Record, d)
	return pk
}

// attributesProblem returns queue's error, which names the attribute only,
// or a fixed phrase for anything else.
func attributesProblem(err error) string {
	if errors.Is(err, queue.ErrInvalidAttributes) {
		return strings.TrimPrefix(err.Error(), "queue: ")
	}
	return "invalid dead-letter attributes"
}

func bodyProblem(err error) string {
	var me *queue.MalformedError
	if errors.As(err, &me) {
		if me.Field == "" {
			return me.Reason
		}
		return me.Field + ": " + me.Reason
	}
	return "not a queue message"
}

// viewRecord builds the view of a record: the guard's output when it has a
// guard and the guard succeeds, the names of the known fields otherwise.
func viewRecord(kind novamed.Kind, raw []byte, d Deidentifier) *RecordView {
	known, unknown := recordKeys(kind, raw)
	names := &RecordView{Mode: ModeFieldNames, UnknownFields: unknown}
	for _, k := range known {
		names.Fields = append(names.Fields, Field{Name: k, Value: phi.Placeholder})
	}
	if d == nil {
		names.Note = "no pseudonym key (--param-prefix): field names only"
		return names
	}
	rec, rep, err := d.DeidentifyJSON(kind, raw)
	if err != nil {
		// The guard's errors name fields, never values.
		names.Note = "de-identification failed: " + err.Error()
		return names
	}
	body, err := rec.Body()
	if err != nil {
		names.Note = "de-identification failed: record not encodable"
		return names
	}
	var values map[string]string
	if err := json.Unmarshal(body, &values); err != nil {
		names.Note = "de-identification failed: record not encodable"
		return names
	}
	view := &RecordView{Mode: ModeDeidentified, UnknownFields: unknown, Report: &rep}
	for _, name := range novamed.FieldNames(kind) {
		if v, ok := values[name]; ok && v != "" {
			view.Fields = append(view.Fields, Field{Name: name, Value: v})
		}
	}
	return view
}

// recordKeys returns the NovaMed fields of kind present in raw, in
// FieldNames order, and the number of other keys. Values are skipped
// unread.
func recordKeys(kind novamed.Kind, raw []byte) (known []string, unknown int) {
	fields := novamed.FieldNames(kind)
	present := map[string]bool{}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, 0
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		key, _ := tok.(string)
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			break
		}
		if slices.Contains(fields, key) {
			present[key] = true
		} else {
			unknown++
		}
	}
	for _, f := range fields {
		if present[f] {
			known = append(known, f)
		}
	}
	return known, unknown
}

// WritePeekText writes peeked messages for a terminal.
func WritePeekText(w io.Writer, msgs []Peeked) error {
	var b strings.Builder
	if len(msgs) == 0 {
		b.WriteString("the dead-letter queue appears empty\n")
	}
	for i, m := range msgs {
		fmt.Fprintf(&b, "message %d of %d\n", i+1, len(msgs))
		line := func(name, value string) { fmt.Fprintf(&b, "  %-16s %s\n", name+":", value) }
		line("sqs message id", m.MessageID)
		line("receive count", strconv.Itoa(m.ReceiveCount))
		line("error_class", m.ErrorClass)
		line("error_code", m.ErrorCode)
		if m.AttributesError != "" {
			line("attributes", m.AttributesError)
		} else {
			if m.HTTPStatus != 0 {
				line("http_status", strconv.Itoa(m.HTTPStatus))
			}
			line("attempts", strconv.Itoa(m.Attempts))
			line("failed_at", m.FailedAt.Format(time.RFC3339))
		}
		for _, name := range []string{queue.AttrKind, queue.AttrSource, queue.AttrVersion} {
			if v, ok := m.Attributes[name]; ok {
				line("attr "+name, v)
			}
		}
		if m.Message == nil {
			line("body", "not a valid queue message: "+m.BodyError)
			b.WriteByte('\n')
			continue
		}
		line("id", m.Message.ID)
		line("source", m.Message.Source)
		line("kind", m.Message.Kind)
		line("received_at", m.Message.ReceivedAt.Format(time.RFC3339))
		line("stage", m.Message.Stage)
		line("deidentified", strconv.FormatBool(m.Message.Deidentified))
		if r := m.Record; r != nil {
			switch r.Mode {
			case ModeDeidentified:
				b.WriteString("  record (de-identified with the development pseudonym key):\n")
			default:
				b.WriteString("  record (field names only):\n")
			}
			for _, f := range r.Fields {
				fmt.Fprintf(&b, "    %-16s %s\n", f.Name+":", f.Value)
			}
			if r.UnknownFields > 0 {
				fmt.Fprintf(&b, "    keys that are not NovaMed fields (not shown): %d\n", r.UnknownFields)
			}
			if r.Note != "" {
				fmt.Fprintf(&b, "    note: %s\n", r.Note)
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WritePeekJSON writes peeked messages as a JSON array.
func WritePeekJSON(w io.Writer, msgs []Peeked) error {
	if msgs == nil {
		msgs = []Peeked{}
	}
	return writeJSON(w, msgs)
}
