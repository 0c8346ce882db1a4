package queue

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/novamed/bridge/pkg/novamed"
)

// Names of the attributes dispatch adds to a dead-lettered message.
const (
	AttrErrorClass = "error_class"
	AttrErrorCode  = "error_code"
	AttrHTTPStatus = "http_status"
	AttrAttempts   = "attempts"
	AttrFailedAt   = "failed_at"
	// AttrFields lists payload paths or NovaMed field names, comma
	// separated: a held record's paths, an update's changed fields. Never
	// values.
	AttrFields = "fields"
	// AttrNovaMedID is NovaMed's id of the person's existing chart (class
	// update).
	AttrNovaMedID = "novamed_id"
)

// Error classes of dead-lettered messages (docs/contract.md, "Delivery outcomes").
const (
	ClassPermanent = "permanent"
	ClassExhausted = "exhausted"
	ClassMalformed = "malformed"
	// ClassHeld: NovaMed cannot take the record as it stands (a required
	// field is missing or invalid, or the person must not become a chart).
	// Written by intake (or by dispatch for a fetched resource); what fixes
	// it is new data from the sender, so it is never redriven.
	ClassHeld = "held"
	// ClassUpdate: the person already has a NovaMed chart and the record
	// changes it; NovaMed has no update endpoint, so an operator applies it.
	ClassUpdate = "update"
)

// validNovaMedID: the shape of a NovaMed id (a UUID in practice),
// ^[A-Za-z0-9_-]{1,64}$.
// It is checked by hand: a regexp with a counted repetition costs its
// compilation at every cold start, for a field most invocations never read.
func validNovaMedID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Bounds of the fields attribute.
const (
	MaxAttrFields     = 20
	maxAttrFieldsSize = 1024
)

// ErrInvalidAttributes is the sentinel of errors about dead-letter
// attributes. The errors name the attribute, never its value.
var ErrInvalidAttributes = errors.New("queue: invalid dead-letter attributes")

func invalidAttr(name, reason string) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidAttributes, name, reason)
}

// ValidSlug reports whether s can be an error class or code: 1 to 64 of
// [a-z0-9_]. It is the only shape they may have, so no free text (NovaMed's
// message, which may quote the record) can become an attribute. Checked by
// hand for the reason validNovaMedID is.
func ValidSlug(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// MaxAttempts bounds DLQAttributes.Attempts, a sanity limit far above any
// queue's maxReceiveCount.
const MaxAttempts = 1000

// DLQAttributes say why a message was dead-lettered.
type DLQAttributes struct {
	// ErrorClass is the outcome class: ClassPermanent, ClassExhausted,
	// ClassMalformed, or another slug.
	ErrorClass string
	// ErrorCode is a short slug such as "clinic_not_found".
	ErrorCode string
	// HTTPStatus is NovaMed's status, zero when there was no answer (a
	// malformed message, a timeout). Zero is not sent as an attribute.
	HTTPStatus int
	// Attempts is how many times delivery was tried (the receive count).
	Attempts int
	// FailedAt is when dispatch gave up.
	FailedAt time.Time
	// Fields are paths or field names (never values), at most
	// MaxAttrFields, each printable ASCII without commas; optional.
	Fields []string
	// NovaMedID is the id of the person's existing NovaMed chart; optional.
	NovaMedID string
}

// Validate checks the attributes. Errors wrap ErrInvalidAttributes.
func (a DLQAttributes) Validate() error {
	switch {
	case !ValidSlug(a.ErrorClass):
		return invalidAttr(AttrErrorClass, "not a slug of [a-z0-9_]{1,64}")
	case !ValidSlug(a.ErrorCode):
		return invalidAttr(AttrErrorCode, "not a slug of [a-z0-9_]{1,64}")
	case a.HTTPStatus != 0 && (a.HTTPStatus < 100 || a.HTTPStatus > 599):
		return invalidAttr(AttrHTTPStatus, "not an HTTP status")
	case a.Attempts < 0 || a.Attempts > MaxAttempts:
		return invalidAttr(AttrAttempts, "out of range")
	case a.FailedAt.IsZero():
		return invalidAttr(AttrFailedAt, "required")
	case len(a.Fields) > MaxAttrFields:
		return invalidAttr(AttrFields, "too many")
	case a.NovaMedID != "" && !validNovaMedID(a.NovaMedID):
		return invalidAttr(AttrNovaMedID, "not an id")
	}
	size := 0
	for _, f := range a.Fields {
		size += len(f) + 1
		if f == "" || strings.ContainsRune(f, ',') || !printableASCII(f) {
			return invalidAttr(AttrFields, "not a list of plain paths")
		}
	}
	if size > maxAttrFieldsSize {
		return invalidAttr(AttrFields, "too long")
	}
	return nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// CapFields keeps at most MaxAttrFields paths that fit the attribute,
// leaving out any a DLQ attribute cannot carry.
func CapFields(paths []string) []string {
	out := make([]string, 0, min(len(paths), MaxAttrFields))
	size := 0
	for _, p := range paths {
		if len(out) == MaxAttrFields || size+len(p)+1 > maxAttrFieldsSize {
			break
		}
		if p == "" || strings.ContainsRune(p, ',') || !printableASCII(p) {
			continue
		}
		out = append(out, p)
		size += len(p) + 1
	}
	return out
}

// MessageAttributes returns the attributes of the dead-letter copy of a
// message: kind, source and v kept from base (the original message's
// attributes, or Message.Attributes of the decoded message) when they are
// valid, and error_class, error_code, http_status, attempts and failed_at.
// Nothing else from base is kept.
func (a DLQAttributes) MessageAttributes(base map[string]types.MessageAttributeValue) (map[string]types.MessageAttributeValue, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	attrs := BaseAttributes(base)
	attrs[AttrErrorClass] = stringAttr(a.ErrorClass)
	attrs[AttrErrorCode] = stringAttr(a.ErrorCode)
	if a.HTTPStatus != 0 {
		attrs[AttrHTTPStatus] = numberAttr(strconv.Itoa(a.HTTPStatus))
	}
	attrs[AttrAttempts] = numberAttr(strconv.Itoa(a.Attempts))
	attrs[AttrFailedAt] = stringAttr(a.FailedAt.UTC().Format(time.RFC3339Nano))
	if len(a.Fields) > 0 {
		attrs[AttrFields] = stringAttr(strings.Join(a.Fields, ","))
	}
	if a.NovaMedID != "" {
		attrs[AttrNovaMedID] = stringAttr(a.NovaMedID)
	}
	return attrs, nil
}

// ParseDLQAttributes reads the dead-letter attributes of a message received
// from the DLQ (redrive). http_status is optional; the others are required.
func ParseDLQAttributes(attrs map[string]types.MessageAttributeValue) (DLQAttributes, error) {
	var a DLQAttributes
	var err error
	if a.ErrorClass, err = stringValue(attrs, AttrErrorClass, true); err != nil {
		return DLQAttributes{}, err
	}
	if a.ErrorCode, err = stringValue(attrs, AttrErrorCode, true); err != nil {
		return DLQAttributes{}, err
	}
	if a.HTTPStatus, err = numberValue(attrs, AttrHTTPStatus, false); err != nil {
		return DLQAttributes{}, err
	}
	if a.Attempts, err = numberValue(attrs, AttrAttempts, true); err != nil {
		return DLQAttributes{}, err
	}
	failedAt, err := stringValue(attrs, AttrFailedAt, true)
	if err != nil {
		return DLQAttributes{}, err
	}
	if a.FailedAt, err = time.Parse(time.RFC3339, failedAt); err != nil {
		return DLQAttributes{}, invalidAttr(AttrFailedAt, "not RFC 3339")
	}
	fields, err := stringValue(attrs, AttrFields, false)
	if err != nil {
		return DLQAttributes{}, err
	}
	if fields != "" {
		a.Fields = strings.Split(fields, ",")
	}
	if a.NovaMedID, err = stringValue(attrs, AttrNovaMedID, false); err != nil {
		return DLQAttributes{}, err
	}
	if err := a.Validate(); err != nil {
		return DLQAttributes{}, err
	}
	return a, nil
}

func stringValue(attrs map[string]types.MessageAttributeValue, name string, required bool) (string, error) {
	v, ok := attrs[name]
	if !ok {
		if required {
			return "", invalidAttr(name, "required")
		}
		return "", nil
	}
	if !isType(v, "String") || v.StringValue == nil {
		return "", invalidAttr(name, "not a String attribute")
	}
	return *v.StringValue, nil
}

func numberValue(attrs map[string]types.MessageAttributeValue, name string, required bool) (int, error) {
	v, ok := attrs[name]
	if !ok {
		if required {
			return 0, invalidAttr(name, "required")
		}
		return 0, nil
	}
	if !isType(v, "Number") || v.StringValue == nil {
		return 0, invalidAttr(name, "not a Number attribute")
	}
	n, err := strconv.Atoi(*v.StringValue)
	if err != nil {
		return 0, invalidAttr(name, "not an integer")
	}
	return n, nil
}

// isType accepts a base type and its custom refinements ("Number.int").
func isType(v types.MessageAttributeValue, base string) bool {
	t := aws.ToString(v.DataType)
	return t == base || strings.HasPrefix(t, base+".")
}

// BaseAttributes returns the kind, source and v attributes of attrs when
// they are valid, and nothing else: the attributes to keep when a message is
// dead-lettered, or redriven (which drops the dead-letter attributes).
func BaseAttributes(attrs map[string]types.MessageAttributeValue) map[string]types.MessageAttributeValue {
	out := make(map[string]types.MessageAttributeValue, 8)
	if kind, err := stringValue(attrs, AttrKind, true); err == nil && (novamed.Kind(kind).Valid() || novamed.Kind(kind) == KindReference) {
		out[AttrKind] = stringAttr(kind)
	}
	if source, err := stringValue(attrs, AttrSource, true); err == nil && ValidSource(source) {
		out[AttrSource] = stringAttr(source)
	}
	if v, err := numberValue(attrs, AttrVersion, true); err == nil && v > 0 && v < 1000 {
		out[AttrVersion] = numberAttr(strconv.Itoa(v))
	}
	return out
}

// EventAttributes converts the attributes of a message delivered to Lambda
// (events.SQSMessage) into the SDK's type, keeping only String and Number
// attributes, for BaseAttributes and DLQAttributes.MessageAttributes.
func EventAttributes(attrs map[string]events.SQSMessageAttribute) map[string]types.MessageAttributeValue {
	out := make(map[string]types.MessageAttributeValue, len(attrs))
	for name, a := range attrs {
		if a.StringValue == nil || (!strings.HasPrefix(a.DataType, "String") && !strings.HasPrefix(a.DataType, "Number")) {
			continue
		}
		out[name] = types.MessageAttributeValue{DataType: aws.String(a.DataType), StringValue: aws.String(*a.StringValue)}
	}
	return out
}
