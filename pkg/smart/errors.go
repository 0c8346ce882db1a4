package smart

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Class says what a caller does about a failure.
type Class string

// Classes of an Error.
const (
	// Retryable: try again later (after RetryAfter when it is set): 429,
	// 5xx, timeouts, connection failures.
	Retryable Class = "retryable"
	// Unauthorized: the server refused the client (invalid_client,
	// unauthorized_client, invalid_grant, invalid_scope, 401, 403). An
	// operator has to fix the registration or the key; alarm-worthy.
	Unauthorized Class = "unauthorized"
	// Permanent: anything else; trying again will not help.
	Permanent Class = "permanent"
)

// Codes of an Error: short, stable slugs, safe in logs, metrics and
// dead-letter attributes.
const (
	CodeInvalidClient      = "invalid_client"
	CodeUnauthorizedClient = "unauthorized_client"
	CodeInvalidGrant       = "invalid_grant"
	CodeInvalidScope       = "invalid_scope"
	CodeInvalidRequest     = "invalid_request"
	CodeUnauthorized       = "unauthorized"
	CodeForbidden          = "forbidden"
	CodeRateLimited        = "rate_limited"
	CodeServerError        = "server_error"
	CodeUnexpectedStatus   = "unexpected_status"
	CodeBadResponse        = "bad_response"
	CodeTooLarge           = "response_too_large"
	CodeTimeout            = "timeout"
	CodeCanceled           = "canceled"
	CodeTransport          = "transport"
	CodeSign               = "sign_failed"
)

// Error is a failed token request. It holds no token, assertion, key or
// text from the server.
type Error struct {
	Class Class
	// Code is a short slug (a Code constant).
	Code string
	// StatusCode is the token endpoint's HTTP status; 0 without an answer.
	StatusCode int
	// RetryAfter is the parsed Retry-After of a 429 or 5xx; zero if absent.
	RetryAfter time.Duration

	err error // a value-free cause, for errors.Is
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("smart: token request: ")
	if e.StatusCode != 0 {
		b.WriteString(strconv.Itoa(e.StatusCode))
		b.WriteByte(' ')
	}
	b.WriteString(e.Code)
	fmt.Fprintf(&b, " (%s)", e.Class)
	if e.err != nil {
		b.WriteString(": ")
		b.WriteString(e.err.Error())
	}
	return b.String()
}

// Unwrap returns the cause (context.DeadlineExceeded, a net error), if any.
func (e *Error) Unwrap() error { return e.err }

// LogValue logs class, code, status and Retry-After.
func (e *Error) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("class", string(e.Class)), slog.String("code", e.Code)}
	if e.StatusCode != 0 {
		attrs = append(attrs, slog.Int("status", e.StatusCode))
	}
	if e.RetryAfter > 0 {
		attrs = append(attrs, slog.Duration("retry_after", e.RetryAfter))
	}
	return slog.GroupValue(attrs...)
}

// ClassOf returns the Class of err's *Error, Permanent when there is none.
func ClassOf(err error) Class {
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	return Permanent
}

// TransportFailure classifies an error from http.Client.Do: a timeout or a
// connection failure is Retryable. The *url.Error wrapper (which names the
// URL) is dropped, so a URL holding an id never reaches a log. Shared with
// package ehr.
func TransportFailure(err error) (code string, cause error) {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return CodeTimeout, err
	}
	return CodeTransport, err
}

// maxRetryAfter caps a Retry-After (SQS visibility tops out at 12 hours).
const maxRetryAfter = 12 * time.Hour

// ParseRetryAfter parses a Retry-After value (delta-seconds or HTTP-date)
// relative to now. Absent, malformed or past values give zero; values are
// capped at 12 hours.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if strings.Trim(v, "0123456789") == "" {
		secs, err := strconv.ParseUint(v, 10, 64)
		if err != nil || secs > uint64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := parseHTTPTime(v); err == nil {
		d = t.Sub(now)
	} else {
		return 0
	}
	return min(max(d, 0), maxRetryAfter)
}
