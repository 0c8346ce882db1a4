package inbound

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/novamed/bridge/pkg/novamed"
)

// Format names a payload format a source posts.
type Format string

// The formats Parse understands.
const (
	FormatFHIR     Format = "fhir-r4"
	FormatForm     Format = "form"
	FormatTypeform Format = "typeform"
	// The form tools as they post (tally.go, formstack.go, jotform.go).
	FormatTally     Format = "tally"
	FormatFormstack Format = "formstack"
	FormatJotform   Format = "jotform"
)

// Valid reports whether f is a format Parse understands.
func (f Format) Valid() bool {
	return f == FormatFHIR || f == FormatForm || f == FormatTypeform || f.isTool()
}

// Options are a source's mapping settings.
type Options struct {
	// ClinicID fills PatientRequest.ClinicID and
	// PractitionerRequest.AssignedClinic. It must be a UUID.
	ClinicID string
	// FieldMap maps a sender's field name (form, Formstack: dotted paths
	// such as Name.first; Jotform: q3_fullName.first), field.ref, "id:<id>"
	// or "title:<title>" (Typeform), or field key or label (Tally) to a
	// NovaMed field name. Unused by FHIR.
	FieldMap map[string]string
	// Kind is the record a Typeform, Tally, Formstack or Jotform form
	// creates (required), or the record
	// a generic form creates when set: a form payload may then leave out
	// "type", and one whose "type" names another kind is a field error at
	// "type". Unused by FHIR.
	Kind novamed.Kind
	// ContentType is the request's Content-Type. Formstack bodies may be
	// application/x-www-form-urlencoded and Jotform's are
	// multipart/form-data; every other format is JSON whatever it says.
	ContentType string
}

// Notification says what kind of FHIR subscription notification a payload is.
type Notification string

// Notification types of the FHIR subscriptions backport.
const (
	NotificationNone        Notification = ""
	NotificationHandshake   Notification = "handshake"
	NotificationHeartbeat   Notification = "heartbeat"
	NotificationEvent       Notification = "event-notification"
	NotificationQueryStatus Notification = "query-status"
	NotificationQueryEvent  Notification = "query-event"
)

// StatusOnly reports whether the notification only checks the channel
// (handshake, heartbeat, query-status): intake answers 200 and queues nothing.
func (n Notification) StatusOnly() bool {
	return n == NotificationHandshake || n == NotificationHeartbeat || n == NotificationQueryStatus
}

// Result is what a payload maps to.
type Result struct {
	// Records are the NovaMed request bodies, in payload order. Every one
	// passed Record.Validate.
	Records []novamed.Record
	// Skipped counts what was left out: bundle entries of other resource
	// types or without a resource, form fields and Typeform answers that map
	// to nothing. Their names are not kept.
	Skipped int
	// Notification is set for FHIR subscription notification bundles.
	Notification Notification
	// EventID is the sender's own event id, for deduplication; empty if the
	// payload has none. It is safe to log (see the package doc).
	EventID string
}

// MaxDepth is the deepest JSON nesting Parse accepts. Real FHIR resources
// stay well under it; the limit stops stack and CPU abuse before decoding.
const MaxDepth = 32

// Errors of Parse. None of them carries a value from the payload.
var (
	// ErrNotJSON: the body does not even start like JSON (empty, XML, form
	// encoding...). Intake answers 415.
	ErrNotJSON = errors.New("inbound: body is not JSON")
	// ErrMalformedJSON: the body starts like JSON but is not valid JSON.
	// Intake answers 400.
	ErrMalformedJSON = errors.New("inbound: malformed JSON")
	// ErrTooDeep: the JSON nests deeper than MaxDepth. Intake answers 400.
	ErrTooDeep = errors.New("inbound: JSON nested too deeply")
	// ErrUnknownFormat: the format is not one Parse understands (a
	// configuration error).
	ErrUnknownFormat = errors.New("inbound: unknown format")
	// ErrInvalidOptions: the options cannot map this format (a configuration
	// error; the sender is not at fault).
	ErrInvalidOptions = errors.New("inbound: invalid options")
)

// PayloadError lists the paths of the payload fields that are missing,
// malformed or invalid. Intake answers 400 with Fields.
type PayloadError struct {
	// Fields are paths into the payload (name[0].family, birthDate,
	// entry[1].resource.telecom, form_response.answers[2]), or
	// records[<i>].<novamed field> for a required value the payload has no
	// place for. "$" is the payload itself. Never values.
	Fields []string
}

func (e *PayloadError) Error() string {
	return "inbound: invalid payload: " + strings.Join(e.Fields, ", ")
}

// Validate checks that the options can map format f. Intake calls it at
// start-up; Parse calls it too.
func (o Options) Validate(f Format) error {
	if !f.Valid() {
		return ErrUnknownFormat
	}
	if !novamed.IsUUID(o.ClinicID) {
		return fmt.Errorf("%w: ClinicID is not a UUID", ErrInvalidOptions)
	}
	switch f {
	case FormatForm:
		if o.Kind != "" && tableFor(o.Kind) == nil {
			return fmt.Errorf("%w: Kind is not a NovaMed record kind", ErrInvalidOptions)
		}
		for _, target := range o.FieldMap {
			if !patientFields.has(target) && !practitionerFields.has(target) {
				return fmt.Errorf("%w: FieldMap targets a field NovaMed does not take from senders", ErrInvalidOptions)
			}
		}
	case FormatTypeform, FormatTally, FormatFormstack, FormatJotform:
		table := tableFor(o.Kind)
		if table == nil {
			return fmt.Errorf("%w: Kind is not a NovaMed record kind", ErrInvalidOptions)
		}
		if len(o.FieldMap) == 0 {
			return fmt.Errorf("%w: FieldMap is empty", ErrInvalidOptions)
		}
		for _, target := range o.FieldMap {
			if !table.has(target) {
				return fmt.Errorf("%w: FieldMap targets a field the record kind does not take", ErrInvalidOptions)
			}
		}
	}
	return nil
}

// Parse maps a webhook body of the given format to NovaMed records.
//
// Errors: ErrNotJSON, ErrMalformedJSON, ErrTooDeep, *PayloadError (sender
// errors), ErrUnknownFormat and ErrInvalidOptions (configuration errors). On
// error the Result is empty.
func Parse(format Format, body []byte, opts Options) (Result, error) {
	if err := opts.Validate(format); err != nil {
		return Result{}, err
	}
	var (
		p   parsed
		res Result
		err error
	)
	// Form encodings (formstack.go, jotform.go) are not JSON at the top.
	if format.bodyIsJSON(opts.ContentType) {
		if body, err = checkJSON(body); err != nil {
			return Result{}, err
		}
	}
	switch format {
	case FormatFHIR:
		res, err = parseFHIR(body, opts, &p)
	case FormatForm:
		res, err = parseForm(body, opts, &p)
	case FormatTypeform:
		res, err = parseTypeform(body, opts, &p)
	case FormatTally:
		res, err = parseTally(body, opts, &p)
	case FormatFormstack:
		res, err = parseFormstack(body, opts, &p)
	case FormatJotform:
		res, err = parseJotform(body, opts, &p)
	}
	if err != nil {
		return Result{}, err
	}
	if err := p.finish(); err != nil {
		return Result{}, err
	}
	res.Records = p.records()
	return res, nil
}

// source says where a record's fields came from, for error paths.
type source interface {
	// path returns the payload path of a NovaMed field, or "" if the
	// payload has no place for it.
	path(field string) string
}

type sourced struct {
	rec novamed.Record
	src source
}

// parsed collects the mapped records and the problem paths of a payload.
type parsed struct {
	recs     []sourced
	problems []problem
}

// problem is a failing path and the record it belongs to, so that mapping
// and validation problems come out in payload order.
type problem struct {
	rec  int
	path string
}

// problem records a failing path against the record being mapped.
func (p *parsed) problem(path string) { p.problemAt(len(p.recs), path) }

func (p *parsed) problemAt(rec int, path string) {
	for _, q := range p.problems {
		if q.path == path {
			return
		}
	}
	p.problems = append(p.problems, problem{rec, path})
}

func (p *parsed) failed() bool { return len(p.problems) > 0 }

func (p *parsed) add(rec novamed.Record, src source) {
	p.recs = append(p.recs, sourced{rec, src})
}

// finish validates every record and turns all problems into one error.
func (p *parsed) finish() error {
	for i, r := range p.recs {
		err := r.rec.Validate()
		if err == nil {
			continue
		}
		var ve *novamed.ValidationError
		if !errors.As(err, &ve) {
			p.problemAt(i, "records["+strconv.Itoa(i)+"]")
			continue
		}
		for _, f := range ve.Fields {
			path := r.src.path(f.Field)
			if path == "" {
				path = "records[" + strconv.Itoa(i) + "]." + f.Field
			}
			p.problemAt(i, path)
		}
	}
	if !p.failed() {
		return nil
	}
	slices.SortStableFunc(p.problems, func(a, b problem) int { return a.rec - b.rec })
	fields := make([]string, len(p.problems))
	for i, q := range p.problems {
		fields[i] = q.path
	}
	return &PayloadError{Fields: fields}
}

func (p *parsed) records() []novamed.Record {
	if len(p.recs) == 0 {
		return nil
	}
	out := make([]novamed.Record, len(p.recs))
	for i, r := range p.recs {
		out[i] = r.rec
	}
	return out
}

// decodeErr turns an encoding/json error into a Parse error. Type errors
// become problems at their path (prefixed), when relevant says the path
// matters; a type error on the payload itself is the "$" problem.
func decodeErr(err error, p *parsed, prefix string, relevant func(top string) bool) error {
	if err == nil {
		return nil
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return ErrMalformedJSON
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			if prefix == "" {
				p.problem("$")
			} else {
				p.problem(strings.TrimSuffix(prefix, "."))
			}
			return nil
		}
		top, _, _ := strings.Cut(te.Field, ".")
		if relevant == nil || relevant(top) {
			p.problem(prefix + te.Field)
		}
		return nil
	}
	return ErrMalformedJSON
}

// maxEventID bounds the event id a sender can make us store and log.
const maxEventID = 128

// eventID keeps a sender's id when it is short and plain, and hashes it
// otherwise, so it is always safe to log and to use as a key.
func eventID(id string) string {
	if id == "" {
		return ""
	}
	plain := len(id) <= maxEventID
	for i := 0; plain && i < len(id); i++ {
		c := id[i]
		plain = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("._~:/#,@+=-", c) >= 0
	}
	if plain {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return "sha256:" + hex.EncodeToString(sum[:])
}
