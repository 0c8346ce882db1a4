package inbound

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/novamed/bridge/pkg/novamed"
)

// Parse maps a webhook body of the given format to NovaMed records.
//
// A payload that is well formed never fails because of one person's data:
// a record NovaMed cannot take is returned with a Hold, and an optional
// field that stays invalid after normalisation is removed and listed in
// Dropped. Parse fails only for what the sender's configuration can fix.
//
// Errors: ErrNotJSON, ErrMalformedJSON, ErrTooDeep, *PayloadError (the
// payload is not the format the source takes), ErrUnknownFormat and
// ErrInvalidOptions (configuration errors). On error the Result is empty.
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
	recs, err := p.finish()
	if err != nil {
		return Result{}, err
	}
	res.Records = recs
	return res, nil
}

// source says where a record's fields came from, for error paths.
type source interface {
	// path returns the payload path of a NovaMed field, or "" if the
	// payload has no place for it.
	path(field string) string
}

type sourced struct {
	rec     novamed.Record
	src     source
	hold    *Hold    // set by the mapper: deceased, non_human
	subject string   // Record.Subject
	dropped []string // paths the mapper left out (an address abroad)
}

// parsed collects the mapped records and the problem paths of a payload.
type parsed struct {
	recs     []sourced
	problems []problem
	seen     map[string]bool // problem paths already recorded
	// dropLater are paths the mapper leaves out of the record it is about
	// to add.
	dropLater []string
}

// problem is a failing path and the record it belongs to: the index of the
// record being mapped when the problem was found. A problem with no record
// (found before any record of its own was added) is about the payload's
// shape and refuses it.
type problem struct {
	rec  int
	path string
}

// problem records a failing path against the record being mapped.
func (p *parsed) problem(path string) { p.problemAt(len(p.recs), path) }

// problemAt records a failing path once, in constant time.
func (p *parsed) problemAt(rec int, path string) {
	if p.seen == nil {
		p.seen = map[string]bool{}
	}
	if p.seen[path] {
		return
	}
	p.seen[path] = true
	p.problems = append(p.problems, problem{rec, path})
}

func (p *parsed) failed() bool { return len(p.problems) > 0 }

func (p *parsed) add(rec novamed.Record, src source) *sourced {
	p.recs = append(p.recs, sourced{rec: rec, src: src})
	return &p.recs[len(p.recs)-1]
}

// required are the fields without which NovaMed refuses a record; a record
// missing one (or holding an invalid one) is held. The clinic fields come
// from configuration, which Options.Validate has checked.
var required = map[novamed.Kind][]string{
	novamed.KindPatient:      {"first_name", "last_name", "date_of_birth", "email", "clinic_id"},
	novamed.KindPractitioner: {"first_name", "last_name", "npi_number", "email", "assigned_clinic"},
}

// fieldNames are NovaMed's field names by kind, listed once.
var fieldNames = map[novamed.Kind][]string{
	novamed.KindPatient:      novamed.FieldNames(novamed.KindPatient),
	novamed.KindPractitioner: novamed.FieldNames(novamed.KindPractitioner),
}

// addressFields are the patient's address: it ships as a whole or not at all.
var addressFields = []string{"address_line1", "address_line2", "city", "state", "zip"}

// finish turns the mapped records and the problems into the result: the
// problems of no record refuse the payload; a record's problems and
// validation failures drop its optional fields and hold it for its
// required ones.
func (p *parsed) finish() ([]Record, error) {
	perRecord := make([][]string, len(p.recs))
	var shape []string
	for _, q := range p.problems {
		if q.rec < len(p.recs) {
			perRecord[q.rec] = append(perRecord[q.rec], q.path)
		} else {
			shape = append(shape, q.path)
		}
	}
	if len(shape) > 0 {
		return nil, newPayloadError(shape)
	}
	if len(p.recs) == 0 {
		return nil, nil
	}
	out := make([]Record, len(p.recs))
	for i := range p.recs {
		out[i] = settle(i, &p.recs[i], perRecord[i])
	}
	return out, nil
}

// settle decides one record: it clears the fields whose payload value was
// unusable (bad paths), validates, drops what is optional and holds the
// record for what is required.
func settle(i int, s *sourced, bad []string) Record {
	rec := Record{Record: s.rec, Subject: s.subject, Dropped: s.dropped}
	var dob string // as mapped, before any field is cleared
	if s.rec.Kind == novamed.KindPatient {
		dob = s.rec.Patient.DateOfBirth
	}
	pathOf := func(field string) string {
		if path := s.src.path(field); path != "" {
			return path
		}
		return "records[" + strconv.Itoa(i) + "]." + field
	}
	fields := fieldNames[s.rec.Kind]
	failing := map[string]string{} // field -> reason
	var order []string
	fail := func(field, reason string) {
		if _, ok := failing[field]; !ok {
			order = append(order, field)
		}
		failing[field] = reason
	}
	for _, path := range bad {
		matched := false
		for _, f := range fields {
			if s.src.path(f) == path {
				matched = true
				set(rec.Record, f, "")
				fail(f, novamed.ReasonInvalid)
			}
		}
		if !matched {
			// A part of the payload no NovaMed field was taken from (an
			// address line of the wrong type, say): nothing was used.
			rec.Dropped = append(rec.Dropped, path)
		}
	}
	if err := rec.Record.Validate(); err != nil {
		var ve *novamed.ValidationError
		if !errors.As(err, &ve) {
			rec.Hold = &Hold{Reason: "invalid_record", Fields: []string{"records[" + strconv.Itoa(i) + "]"}}
			return rec
		}
		for _, fe := range ve.Fields {
			if _, already := failing[fe.Field]; !already {
				fail(fe.Field, fe.Reason)
			}
		}
	}

	req := required[s.rec.Kind]
	var holdFields []string
	reason := ""
	addressDropped := false
	for _, f := range order {
		if !contains(req, f) {
			if s.rec.Kind == novamed.KindPatient && contains(addressFields, f) {
				if !addressDropped {
					addressDropped = true
					rec.Dropped = append(rec.Dropped, addressPath(pathOf(f)))
					for _, a := range addressFields {
						set(rec.Record, a, "")
					}
				}
				continue
			}
			set(rec.Record, f, "")
			rec.Dropped = append(rec.Dropped, pathOf(f))
			continue
		}
		if path := pathOf(f); !contains(holdFields, path) {
			holdFields = append(holdFields, path)
		}
		if reason == "" {
			reason = holdReason(f, failing[f], dob)
		}
	}
	switch {
	case s.hold != nil:
		rec.Hold = s.hold
	case reason != "":
		rec.Hold = &Hold{Reason: reason, Fields: holdFields}
	}
	return rec
}

// holdReason names why a required field stops a record. dob is the birth
// date as mapped.
func holdReason(field, why, dob string) string {
	missing := why == novamed.ReasonRequired
	switch field {
	case "first_name", "last_name":
		if missing {
			return "missing_name"
		}
		return "invalid_name"
	case "date_of_birth":
		switch {
		case missing:
			return "missing_birth_date"
		case isPartialDate(dob):
			return "partial_birth_date"
		}
		return "invalid_birth_date"
	case "npi_number":
		if missing {
			return "missing_npi"
		}
		return "invalid_npi"
	}
	if missing {
		return "missing_" + field
	}
	return "invalid_" + field
}

// addressPath is the path of the address element a field path points into
// ("entry[2].resource.address[0]" for "...address[0].postalCode").
func addressPath(path string) string {
	if i := strings.LastIndex(path, "address["); i >= 0 {
		if j := strings.IndexByte(path[i:], ']'); j >= 0 {
			return path[:i+j+1]
		}
	}
	return path
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
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
