package awsclients

import (
	"context"
	"errors"

	"github.com/aws/smithy-go"
)

// Error is an AWS call that failed, reduced to what may be logged: the
// operation and the service's error code. The SDK's own message can quote
// request values (a queue message body, a parameter name and value), so it
// is reachable through errors.As and Unwrap but never part of Error().
type Error struct {
	// Op is the operation, e.g. "SendMessageBatch".
	Op string
	// Code is the AWS error code, "canceled" or "timeout" for the context,
	// or "network" when no service answered.
	Code string
	// Err is the SDK error.
	Err error
}

func (e *Error) Error() string { return e.Op + ": " + e.Code }

// Unwrap returns the SDK error.
func (e *Error) Unwrap() error { return e.Err }

// WrapError returns err as an *Error for op, or nil for a nil err.
func WrapError(op string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Op: op, Code: ErrorCode(err), Err: err}
}

// ErrorCode names err without quoting it: the AWS error code when the
// service answered, otherwise what happened to the call.
func ErrorCode(err error) string {
	var apiErr smithy.APIError
	switch {
	case errors.As(err, &apiErr) && apiErr.ErrorCode() != "":
		return apiErr.ErrorCode()
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	default:
		return "network"
	}
}
