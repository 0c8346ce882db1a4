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
	// ClassUnconfirmed: NovaMed may have created the record although it
	// answered an error (a gateway's 502 or 504, or a 500, after the
	// request reached NovaMed). NovaMed has no idempotency key, so a
	// retry could create a second chart: never call again automatically;
	// an operator confirms.
	ClassUnconfirmed
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
	case ClassUnconfirmed:
		return "unconfirmed"
	default:
		return "unknown"
	}
}

// Classify maps the error of a Client call to an outcome class:
//
//   - nil: delivered;
//   - *ValidationError, a malformed record, 400/404/422: permanent;
//   - 401/403: unauthorized;
//   - 500, 502, 504: unconfirmed — NovaMed (or its gateway) may answer them
//     after the record was created; whether a 500 may be retried anyway is
//     the caller's setting (see pkg/delivery, Status500);
//   - 429, 503, any other 5xx, transport failures, timeouts, cancellation:
//     retryable (a transport failure that may have reached NovaMed is
//     recognised by TransportError.MaybeDelivered);
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
	case MaybeCreatedStatus(status):
		return ClassUnconfirmed
	case status == http.StatusTooManyRequests, status >= 500 && status <= 599:
		return ClassRetryable
	default:
		return ClassPermanent
	}
}

// MaybeCreatedStatus reports an error status NovaMed or a gateway in front
// of it may send after the record was created: 500 (the server failed after
// or while writing), 502 (the gateway lost NovaMed's answer) and 504 (the
// gateway stopped waiting for it). 503 and 429 are refusals before any
// work and stay retryable.
func MaybeCreatedStatus(status int) bool {
	return status == http.StatusInternalServerError || status == http.StatusBadGateway || status == http.StatusGatewayTimeout
}
