package ehr

import (
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/novamed/bridge/pkg/smart"
)

// Class says what the caller does about a failed fetch.
type Class string

// Classes of an Error.
const (
	// NotFound: the EHR has no such resource (404, 410); hold the record
	// as not_found_in_ehr.
	NotFound Class = "not_found"
	// Unauthorized: refused even with a fresh token, or the token endpoint
	// refused the client. An operator has to act; alarm-worthy.
	Unauthorized Class = "unauthorized"
	// Retryable: 429, 5xx, timeouts, connection failures; back off
	// (RetryAfter when set).
	Retryable Class = "retryable"
	// Permanent: anything else; trying again will not help.
	Permanent Class = "permanent"
)

// Codes of an Error: short, stable slugs for logs, metrics and dead-letter
// attributes. A token failure's code is "token_" + the smart code.
const (
	CodeNotFound         = "not_found"
	CodeGone             = "gone"
	CodeUnauthorized     = "unauthorized"
	CodeForbidden        = "forbidden"
	CodeRateLimited      = "rate_limited"
	CodeServerError      = "server_error"
	CodeTimeout          = "timeout"
	CodeTransport        = "transport"
	CodeRedirect         = "redirect"
	CodeUnexpectedStatus = "unexpected_status"
	CodeBadResponse      = "bad_response"
	CodeTooLarge         = "response_too_large"
	CodeMismatch         = "resource_mismatch"
	CodeNoPatient        = "no_patient_reference"
	CodeTooManyHops      = "too_many_hops"
	CodeInvalidReference = "invalid_reference"
	CodeForeignReference = "foreign_reference"
	CodeUnsupportedType  = "unsupported_type"
	CodeTokenPrefix      = "token_"
)

// Error is a failed fetch. It names the resource type, status and code,
// never an id, a token or a byte of a body.
type Error struct {
	Class Class
	// Code is a short slug (a Code constant, or "token_" + a smart code).
	Code string
	// Type is the resource type being read or refused, if known.
	Type string
	// StatusCode is the FHIR server's (or token endpoint's) status; 0
	// without an answer.
	StatusCode int
	// RetryAfter is the parsed Retry-After of a 429 or 5xx; zero if absent.
	RetryAfter time.Duration

	err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("ehr: ")
	if e.Type != "" {
		b.WriteString(e.Type)
		b.WriteString(": ")
	}
	if e.StatusCode != 0 {
		b.WriteString(strconv.Itoa(e.StatusCode))
		b.WriteByte(' ')
	}
	b.WriteString(e.Code)
	b.WriteString(" (")
	b.WriteString(string(e.Class))
	b.WriteByte(')')
	if e.err != nil {
		b.WriteString(": ")
		b.WriteString(e.err.Error())
	}
	return b.String()
}

// Unwrap returns the cause: a sentinel of this package, a *smart.Error, a
// context or network error.
func (e *Error) Unwrap() error { return e.err }

// LogValue logs class, code, type, status and Retry-After.
func (e *Error) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("class", string(e.Class)), slog.String("code", e.Code)}
	if e.Type != "" {
		attrs = append(attrs, slog.String("type", e.Type))
	}
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

// tokenError turns a token failure into an Error of the same class.
func tokenError(typ string, err error) *Error {
	e := &Error{Class: Permanent, Code: CodeTokenPrefix + "failed", Type: typ, err: err}
	var se *smart.Error
	if errors.As(err, &se) {
		e.Code = CodeTokenPrefix + se.Code
		e.StatusCode = se.StatusCode
		e.RetryAfter = se.RetryAfter
		switch se.Class {
		case smart.Retryable:
			e.Class = Retryable
		case smart.Unauthorized:
			e.Class = Unauthorized
		}
	}
	return e
}
