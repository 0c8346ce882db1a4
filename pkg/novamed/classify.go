package novamed

import (
	"errors"
	"net/http"
)

// Class is what the dispatcher does with the outcome of a NovaMed call (see
// docs/contract.md, "Delivery outcomes"). The zero Class is not a valid
// outcome, so a forgotten assignment never reads as "delivered".
type Class int

// The outcome classes.
const (
	// ClassDelivered: NovaMed created the record.
	ClassDelivered Class = iota + 1
	// ClassPermanent: retrying cannot help; dead-letter the record.
	ClassPermanent
	// ClassUnauthorized: the key was refused; re-read it once, then retry.
	ClassUnauthorized
	// ClassRetryable: try again later, with backoff.
	ClassRetryable
)

// String returns the class as a slug for logs, metrics and DLQ attributes.
func (c Class) String() string {
	switch c {
	case ClassDelivered:
		return "delivered"
	case ClassPermanent:
		return "permanent"
	case ClassUnauthorized:
		return "unauthorized"
	case ClassRetryable:
		return "retryable"
	default:
		return "unknown"
	}
}

// Classify maps the error of a Client call to an outcome class:
//
//   - nil: delivered;
//   - *ValidationError, a malformed record, 400/404/422: permanent;
//   - 401/403: unauthorized;
//   - 429, 5xx, transport failures, timeouts, cancellation: retryable;
//   - any other status (3xx, 409, a 2xx without an id): permanent — a 2xx
//     that may have created a record must not be retried into a duplicate;
//   - anything else (the key supplier failing, say): retryable, bounded by
//     the dispatcher's attempt limit.
func Classify(err error) Class {
	if err == nil {
		return ClassDelivered
	}
	var apiErr *APIError
	switch {
	case errors.As(err, &apiErr):
		return classifyStatus(apiErr.StatusCode)
	case IsValidation(err),
		errors.Is(err, ErrUnknownKind),
		errors.Is(err, ErrNotObject),
		errors.Is(err, ErrDuplicateKey),
		errors.Is(err, ErrNotString):
		return ClassPermanent
	default:
		// *TransportError, context.Canceled, context.DeadlineExceeded,
		// ErrAPIKey and the unforeseen all end in a bounded retry.
		return ClassRetryable
	}
}

func classifyStatus(status int) Class {
	switch {
	case status == http.StatusOK || status == http.StatusCreated:
		// Only a bad body brings a success status here: NovaMed probably
		// created the record, so a retry would likely duplicate it.
		return ClassPermanent
	case status == http.StatusBadRequest, status == http.StatusNotFound, status == http.StatusUnprocessableEntity:
		return ClassPermanent
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return ClassUnauthorized
	case status == http.StatusTooManyRequests, status >= 500 && status <= 599:
		return ClassRetryable
	default:
		return ClassPermanent
	}
}
