package ledger

import (
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// Sentinel errors, for errors.Is.
var (
	// ErrUnavailable means DynamoDB could not be reached or refused the request
	// for a reason other than a failed condition. Intake answers 503, dispatch
	// retries the message.
	ErrUnavailable = errors.New("ledger unavailable")

	// ErrNotFound means the event or record has no ledger entry.
	ErrNotFound = errors.New("ledger entry not found")

	// ErrConflict means the current state does not allow the transition; the
	// error is a *StateError naming the state.
	ErrConflict = errors.New("ledger state conflict")

	// ErrInvalidID means an id argument is empty or too long for a key.
	ErrInvalidID = errors.New("invalid ledger id")

	// ErrCorruptItem means a stored item lacks an attribute or has an unknown
	// state; the ledger refuses to guess.
	ErrCorruptItem = errors.New("corrupt ledger item")
)

// UnavailableError wraps a DynamoDB or transport error. Its message names the
// operation and the AWS error code only: SDK messages can quote request
// values, so the wrapped error is reachable through errors.As/Unwrap but is
// never part of Error().
type UnavailableError struct {
	// Op is the ledger operation, e.g. "ClaimDelivery".
	Op string
	// Code is the AWS error code when the service answered, empty for a
	// transport failure or a cancelled context.
	Code string
	// Err is the underlying SDK error.
	Err error
}

func (e *UnavailableError) Error() string {
	if e.Code == "" {
		return "ledger: " + e.Op + ": unavailable"
	}
	return "ledger: " + e.Op + ": unavailable: " + e.Code
}

// Unwrap returns the SDK error.
func (e *UnavailableError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrUnavailable) true.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// StateError reports a transition the current state does not allow, e.g.
// MarkNotDelivered on a delivered record, or MarkDelivered with a NovaMed id
// different from the one already recorded.
type StateError struct {
	// Op is the ledger operation that was refused.
	Op string
	// State is the state the entry was found in.
	State string
}

func (e *StateError) Error() string {
	return fmt.Sprintf("ledger: %s: not allowed in state %s", e.Op, e.State)
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *StateError) Is(target error) bool { return target == ErrConflict }

// unavailable wraps an SDK error for op.
func unavailable(op string, err error) error {
	ue := &UnavailableError{Op: op, Err: err}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		ue.Code = apiErr.ErrorCode()
	}
	return ue
}

// conditionFailed reports whether err is a failed condition, and returns the
// old item when DynamoDB sent it back (ReturnValuesOnConditionCheckFailure).
func conditionFailed(err error) (item map[string]types.AttributeValue, ok bool) {
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return ccf.Item, true
	}
	// Emulators the SDK cannot map to the typed exception still carry the
	// code; match it so a failed condition is never mistaken for an outage.
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode() == "ConditionalCheckFailedException" {
		return nil, true
	}
	return nil, false
}
