package queue

import (
	"errors"
	"fmt"
	"regexp"
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
)

// Error classes of dead-lettered messages (docs/contract.md, "Delivery outcomes").
const (
	ClassPermanent = "permanent"
	ClassExhausted = "exhausted"
	ClassMalformed = "malformed"
)

// ErrInvalidAttributes is the sentinel of errors about dead-letter
// attributes. The errors name the attribute, never its value.
var ErrInvalidAttributes = errors.New("queue: invalid dead-letter attributes")

func invalidAttr(name, reason string) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidAttributes, name, reason)
}

// slugRE is the only shape an error class or code may have, so no free text
// (NovaMed's message, which may quote the record) can become an attribute.
var slugRE = regexp.MustCompile(`^[a-z0-9_]{1,64}$`)

// ValidSlug reports whether s can be an error class or code: 1 to 64 of
// [a-z0-9_].
func ValidSlug(s string) bool { return slugRE.MatchString(s) }

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
	}
	return nil
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
	if kind, err := stringValue(attrs, AttrKind, true); err == nil && novamed.Kind(kind).Valid() {
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
