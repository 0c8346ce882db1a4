package novamed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Codes of an APIError: short, stable slugs, safe in logs, metrics and
// dead-letter attributes.
const (
	CodeClinicNotFound   = "clinic_not_found"
	CodeValidation       = "validation_error"
	CodeUnauthorized     = "unauthorized"
	CodeForbidden        = "forbidden"
	CodeNotFound         = "not_found"
	CodeRateLimited      = "rate_limited"
	CodeServerError      = "server_error"
	CodeUnexpectedStatus = "unexpected_status"
	CodeBadResponse      = "bad_response"
)

// APIError is an answer from NovaMed that is not a created record: an error
// status, or a success status whose body carries no usable id
// (CodeBadResponse).
//
// Message and Details are NovaMed's own words and may echo the request, so
// they are kept out of Error, GoString and LogValue: pass them through the
// PHI scrubber before they go anywhere.
type APIError struct {
	// StatusCode is the HTTP status NovaMed answered with.
	StatusCode int
	// Code classifies the answer; one of the Code constants.
	Code string
	// Message is NovaMed's error.message, if the body had one. May hold PHI.
	Message string
	// Details is NovaMed's error.details as raw JSON, if any. May hold PHI.
	Details json.RawMessage
	// RetryAfter is the parsed Retry-After header; zero when absent.
	RetryAfter time.Duration

	err error // the cause of a CodeBadResponse, if any
}

// Error names the status and code only: NovaMed's message may echo input.
func (e *APIError) Error() string {
	return "novamed: " + strconv.Itoa(e.StatusCode) + " " + e.Code
}

// Unwrap returns the cause of a bad response (ErrResponseTooLarge), if any.
func (e *APIError) Unwrap() error { return e.err }

// GoString keeps Message and Details out of %#v output.
func (e *APIError) GoString() string {
	return fmt.Sprintf("&novamed.APIError{StatusCode:%d, Code:%q, RetryAfter:%s}", e.StatusCode, e.Code, e.RetryAfter)
}

// LogValue logs the status, code and Retry-After, never Message or Details.
func (e *APIError) LogValue() slog.Value {
	attrs := []slog.Attr{slog.Int("status", e.StatusCode), slog.String("code", e.Code)}
	if e.RetryAfter > 0 {
		attrs = append(attrs, slog.Duration("retry_after", e.RetryAfter))
	}
	return slog.GroupValue(attrs...)
}

// errorBody is NovaMed's documented error shape.
type errorBody struct {
	Error struct {
		Message string          `json:"message"`
		Details json.RawMessage `json:"details"`
	} `json:"error"`
}

// newAPIError builds the error for a non-success status. The body may be
// empty, too large (data nil) or not JSON at all (a proxy's HTML page): the
// status alone then decides the code.
func newAPIError(resp *http.Response, data []byte, now time.Time) *APIError {
	e := &APIError{StatusCode: resp.StatusCode}
	var body errorBody
	if len(data) > 0 && json.Unmarshal(data, &body) == nil {
		e.Message = body.Error.Message
		if len(body.Error.Details) > 0 && string(body.Error.Details) != "null" {
			e.Details = body.Error.Details
		}
	}
	e.Code = codeFor(resp.StatusCode, e.Message)
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		e.RetryAfter = ParseRetryAfter(resp.Header.Get("Retry-After"), now)
	}
	return e
}

// codeFor maps a status, and for 400 the documented message, to a code.
func codeFor(status int, message string) string {
	switch {
	case status == http.StatusBadRequest:
		if normaliseMessage(message) == "clinic not found" {
			return CodeClinicNotFound
		}
		// "Validation error", "Clinic ID must be a valid UUID." and anything
		// undocumented: the request was refused as invalid.
		return CodeValidation
	case status == http.StatusUnprocessableEntity:
		return CodeValidation
	case status == http.StatusUnauthorized:
		return CodeUnauthorized
	case status == http.StatusForbidden:
		return CodeForbidden
	case status == http.StatusNotFound:
		return CodeNotFound
	case status == http.StatusTooManyRequests:
		return CodeRateLimited
	case status >= 500 && status <= 599:
		return CodeServerError
	default:
		return CodeUnexpectedStatus
	}
}

func normaliseMessage(m string) string {
	return strings.TrimRight(strings.ToLower(strings.TrimSpace(m)), ".")
}

// maxRetryAfter caps a Retry-After so an absurd header cannot park a message
// for days (SQS visibility tops out at 12 hours anyway).
const maxRetryAfter = 12 * time.Hour

// ParseRetryAfter parses a Retry-After header value, delta-seconds or an
// HTTP-date, relative to now. Absent, malformed or past values give zero;
// values are capped at 12 hours.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if strings.Trim(v, "0123456789") == "" {
		secs, err := strconv.ParseUint(v, 10, 64)
		if err != nil || secs > uint64(maxRetryAfter/time.Second) {
			return maxRetryAfter // all digits, so only too large can fail
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	} else {
		return 0
	}
	return min(max(d, 0), maxRetryAfter)
}

// TransportError is a failure to get an answer from NovaMed at all: a
// refused connection, a TLS failure, a timeout, a reset, a cancelled context.
type TransportError struct {
	// MaybeDelivered is true when the whole request had been written before
	// the failure: NovaMed may have created the record although no answer
	// arrived. NovaMed has no idempotency key, so a retry of such a request
	// can create a duplicate. False means the request never fully left.
	MaybeDelivered bool
	// Err is the underlying error (usually a *url.Error). It names the URL,
	// which holds no secret (CheckBaseURL refuses user info and queries).
	Err error
}

func (e *TransportError) Error() string {
	state := "not delivered"
	if e.MaybeDelivered {
		state = "may have been delivered"
	}
	return "novamed: transport failure (" + state + "): " + e.Err.Error()
}

// Unwrap returns the underlying error, so errors.Is(err,
// context.DeadlineExceeded) works.
func (e *TransportError) Unwrap() error { return e.Err }

// Timeout reports whether the failure was a timeout (a context deadline or a
// network timeout).
func (e *TransportError) Timeout() bool {
	if errors.Is(e.Err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(e.Err, &ne) && ne.Timeout()
}
