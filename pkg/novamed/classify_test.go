package novamed

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"syscall"
	"testing"
)

func TestClassify(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("dispatch: %w", err) }
	api := func(status int) error { return &APIError{StatusCode: status, Code: codeFor(status, "")} }
	for _, tc := range []struct {
		name string
		err  error
		want Class
	}{
		{"nil", nil, ClassDelivered},
		{"validation", &ValidationError{Fields: []FieldError{{"email", ReasonInvalid}}}, ClassPermanent},
		{"wrapped validation", wrap(&ValidationError{}), ClassPermanent},
		{"unknown kind", ErrUnknownKind, ClassPermanent},
		{"not an object", wrap(ErrNotObject), ClassPermanent},
		{"duplicate key", ErrDuplicateKey, ClassPermanent},
		{"not a string", fmt.Errorf("%w: email", ErrNotString), ClassPermanent},
		{"400", api(400), ClassPermanent},
		{"400 clinic not found", &APIError{StatusCode: 400, Code: CodeClinicNotFound}, ClassPermanent},
		{"404", api(404), ClassPermanent},
		{"422", api(422), ClassPermanent},
		{"401", api(401), ClassUnauthorized},
		{"403", api(403), ClassUnauthorized},
		{"wrapped 401", wrap(api(401)), ClassUnauthorized},
		{"429", api(429), ClassRetryable},
		{"500", api(500), ClassUnconfirmed},
		{"502", api(502), ClassUnconfirmed},
		{"503", api(503), ClassRetryable},
		{"504", api(504), ClassUnconfirmed},
		{"wrapped 504", wrap(api(504)), ClassUnconfirmed},
		{"501", api(501), ClassRetryable},
		{"599", api(599), ClassRetryable},
		{"wrapped 503", wrap(api(503)), ClassRetryable},
		{"200 bad response", &APIError{StatusCode: 200, Code: CodeBadResponse}, ClassPermanent},
		{"201 bad response", &APIError{StatusCode: 201, Code: CodeBadResponse}, ClassPermanent},
		{"204", api(204), ClassPermanent},
		{"301", api(301), ClassPermanent},
		{"408", api(408), ClassPermanent},
		{"409", api(409), ClassPermanent},
		{"413", api(413), ClassPermanent},
		{"timeout", &TransportError{MaybeDelivered: true, Err: &url.Error{Op: "Post", URL: "https://x", Err: context.DeadlineExceeded}}, ClassRetryable},
		{"refused", &TransportError{Err: &url.Error{Op: "Post", URL: "https://x", Err: syscall.ECONNREFUSED}}, ClassRetryable},
		{"reset", &TransportError{MaybeDelivered: true, Err: syscall.ECONNRESET}, ClassRetryable},
		{"context canceled", context.Canceled, ClassRetryable},
		{"deadline exceeded", wrap(context.DeadlineExceeded), ClassRetryable},
		{"key supplier", fmt.Errorf("%w: %w", ErrAPIKey, errors.New("ssm down")), ClassRetryable},
		{"unforeseen", errors.New("something odd"), ClassRetryable},
	} {
		if got := Classify(tc.err); got != tc.want {
			t.Errorf("%s: Classify = %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestClassString(t *testing.T) {
	for c, want := range map[Class]string{
		ClassDelivered:    "delivered",
		ClassPermanent:    "permanent",
		ClassUnauthorized: "unauthorized",
		ClassRetryable:    "retryable",
		ClassUnconfirmed:  "unconfirmed",
		0:                 "unknown",
		Class(99):         "unknown",
	} {
		if got := c.String(); got != want {
			t.Errorf("Class(%d).String() = %q, want %q", int(c), got, want)
		}
	}
}

func TestTransportErrorTimeout(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{context.DeadlineExceeded, true},
		{&url.Error{Op: "Post", URL: "https://x", Err: context.DeadlineExceeded}, true},
		{context.Canceled, false},
		{syscall.ECONNREFUSED, false},
	} {
		te := &TransportError{Err: tc.err}
		if te.Timeout() != tc.want {
			t.Errorf("Timeout() for %v = %v", tc.err, !tc.want)
		}
		if !errors.Is(te, tc.err) {
			t.Errorf("TransportError does not unwrap to %v", tc.err)
		}
	}
}
