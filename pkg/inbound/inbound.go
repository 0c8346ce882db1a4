package inbound

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
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
	// SubjectSystem (FHIR) is the identifier system that names a person
	// within the source (an MRN system) where the sender's resource ids
	// are not stable; a resource without it falls back to Type/id.
	SubjectSystem string
	// SubjectField (forms) is the sender field that names the person (a
	// hidden patient id; for Typeform "hidden.<name>"); without it the
	// event is the subject.
	SubjectField string
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
	// Records are the people the payload describes, in payload order: each
	// a NovaMed request body, normalised, with the optional fields that
	// stayed invalid removed (Dropped), and, when NovaMed cannot take it as
	// it stands, the reason it is held (Hold).
	Records []Record
	// Skipped counts what was left out: bundle entries of other resource
	// types, without a resource, or not records by the bundle's rules; form
	// fields and Typeform answers that map to nothing. Their names are not
	// kept. SkippedBy counts the same by reason (a slug).
	Skipped   int
	SkippedBy map[string]int
	// References are what an id-only (or empty) subscription notification
	// points at, or the focus of a full-resource notification that is not a
	// Patient or Practitioner: relative references such as
	// "Encounter/86009987", for a source that can fetch them from its FHIR
	// server. Nil for everything else.
	References []string
	// Notification is set for FHIR subscription notification bundles.
	Notification Notification
	// EventID is the id the payload gives itself (Bundle.id, Typeform
	// event_id, ...), safe to log. It is information only: the bridge's
	// event id never relies on it alone (see queue.EventID), because a
	// payload field cannot prove that two bodies are the same event.
	EventID string
}

// skip counts one entry left out for reason.
func (r *Result) skip(reason string) {
	r.Skipped++
	if r.SkippedBy == nil {
		r.SkippedBy = map[string]int{}
	}
	r.SkippedBy[reason]++
}

// Record is one person the payload describes.
type Record struct {
	novamed.Record
	// Hold is nil when NovaMed can take the record; otherwise it says why
	// not, and the record is held (dead-lettered as class held), not sent.
	Hold *Hold
	// Dropped are the payload paths of optional fields that were still
	// invalid after normalisation and were left out of the record.
	Dropped []string
	// Subject names the person within the source, for one NovaMed chart
	// per person: "Patient/<id>" or "Practitioner/<id>" for a FHIR resource
	// with a logical id, "identifier|<value>" for Options.SubjectSystem,
	// "field|<value>" for Options.SubjectField; empty when the payload
	// gives none (the event is then the subject). It can hold an
	// identifier (an MRN): intake hashes it with a key
	// (queue.SubjectKey) before anything leaves the function.
	Subject string
}

// Hold says why a record cannot become a NovaMed chart as it stands.
type Hold struct {
	// Reason is a slug: missing_email, missing_birth_date,
	// partial_birth_date, invalid_birth_date, missing_name, invalid_name,
	// missing_npi, invalid_npi, invalid_email, deceased, non_human,
	// missing_<field>, invalid_<field>.
	Reason string
	// Fields are the payload paths at fault (never values).
	Fields []string
}

// Reasons a record is held that are not about one field.
const (
	HoldDeceased = "deceased"
	HoldNonHuman = "non_human"
)

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
	// place for. "$" is the payload itself. Never values. At most
	// MaxErrorFields; More counts the rest.
	Fields []string
	More   int
}

// MaxErrorFields bounds the paths an error lists: enough to fix a payload,
// never a second copy of a large one.
const MaxErrorFields = 20

// newPayloadError lists paths, at most MaxErrorFields of them.
func newPayloadError(paths []string) *PayloadError {
	if len(paths) > MaxErrorFields {
		return &PayloadError{Fields: paths[:MaxErrorFields:MaxErrorFields], More: len(paths) - MaxErrorFields}
	}
	return &PayloadError{Fields: paths}
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
