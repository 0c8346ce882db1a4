package redrive

import (
	"context"
	"errors"
	"net"
	"strings"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"
)

// SQSAPI is the part of the SQS client Stats, Peek and Move use (Move
// checks the target with GetQueueAttributes). *sqs.Client implements it.
type SQSAPI interface {
	QueueAttributesAPI
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
}

// NativeMoveAPI is the part of the SQS client MoveNative uses.
// *sqs.Client implements it.
type NativeMoveAPI interface {
	QueueAttributesAPI
	StartMessageMoveTask(ctx context.Context, in *sqs.StartMessageMoveTaskInput, optFns ...func(*sqs.Options)) (*sqs.StartMessageMoveTaskOutput, error)
}

// Sentinel errors, for errors.Is.
var (
	// ErrQueueNotFound: SQS says the queue does not exist.
	ErrQueueNotFound = errors.New("redrive: queue does not exist")
	// ErrNativeUnsupported: the SQS endpoint does not implement
	// StartMessageMoveTask (kumo, some emulators); use Move instead.
	ErrNativeUnsupported = errors.New("redrive: the SQS endpoint does not support StartMessageMoveTask")
	// ErrUsage: the command line or the options are wrong. The error says
	// which flag or option, never a value that could be a secret.
	ErrUsage = errors.New("redrive: usage")
	// ErrNoRegion: the AWS configuration names no region.
	ErrNoRegion = errors.New("redrive: no AWS region: set AWS_REGION (or use a profile with a region); " +
		"for the local stack, paste the export line make local prints")
)

// AWSError is a failed AWS call. Its message names the operation and the
// AWS error code only: service messages can quote request values, so the
// SDK error is reachable with errors.As or Unwrap but is not part of
// Error().
type AWSError struct {
	// Op is the API operation, e.g. "SendMessage".
	Op string
	// Code is the AWS error code; or, when no SQS answered, one of the
	// Code constants (no credentials, an unreachable or wrong endpoint),
	// "transport" for another failure, or the context's error.
	Code string
	// Err is the SDK error.
	Err error
}

func (e *AWSError) Error() string {
	msg := "redrive: " + e.Op + ": " + e.Code
	switch {
	case queueMissingCodes[e.Code]:
		msg += " (the queue does not exist: check the URL, the region and the endpoint)"
	case unsupportedCodes[e.Code]:
		msg += " (the endpoint does not support this operation)"
	case hints[e.Code] != "":
		msg += " (" + hints[e.Code] + ")"
	}
	return msg
}

// Codes of failures no service answered, or that no SQS answered.
const (
	CodeNoCredentials     = "no credentials"
	CodeConnectionRefused = "connection refused"
	CodeHostNotFound      = "host not found"
	CodeTimeout           = "timeout"
	CodeNotSQS            = "not an SQS answer"
)

// hints say what to check for the codes above. They name environment
// variables, never their values.
var hints = map[string]string{
	CodeNoCredentials: "no AWS credentials found: set AWS_PROFILE (after aws sso login) or " +
		"AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; for the local stack, paste the export line make local prints",
	CodeConnectionRefused: "nothing listens at the endpoint: check AWS_ENDPOINT_URL; for the local stack, is make local still running?",
	CodeHostNotFound:      "the endpoint's host name does not resolve: check AWS_ENDPOINT_URL and AWS_REGION",
	CodeTimeout:           "the endpoint did not answer in time: check AWS_ENDPOINT_URL and the network",
	CodeNotSQS:            "the endpoint answered, but not as SQS: check AWS_ENDPOINT_URL (make local prints the local one)",
}

// Unwrap returns the SDK error.
func (e *AWSError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrQueueNotFound) true for a missing queue and
// errors.Is(err, ErrNativeUnsupported) for an unsupported operation.
func (e *AWSError) Is(target error) bool {
	switch target {
	case ErrQueueNotFound:
		return queueMissingCodes[e.Code]
	case ErrNativeUnsupported:
		return unsupportedCodes[e.Code]
	}
	return false
}

// queueMissingCodes: kumo's error is untyped, so the codes are matched as
// strings (the query-protocol code kumo and older SQS use, and the JSON
// protocol's).
var queueMissingCodes = map[string]bool{
	"AWS.SimpleQueueService.NonExistentQueue": true,
	"QueueDoesNotExist":                       true,
}

// unsupportedCodes are the answers of an endpoint that lacks an operation:
// kumo answers InvalidAction; other emulators and proxies use the others.
var unsupportedCodes = map[string]bool{
	"InvalidAction":                               true,
	"UnknownOperationException":                   true,
	"UnsupportedOperation":                        true,
	"AWS.SimpleQueueService.UnsupportedOperation": true,
	"NotImplemented":                              true,
}

// awsErr wraps an SDK error for op.
func awsErr(op string, err error) error {
	if err == nil {
		return nil
	}
	e := &AWSError{Op: op, Code: "transport", Err: err}
	var apiErr smithy.APIError
	var dnsErr *net.DNSError
	var netErr net.Error
	var deserialize *smithy.DeserializationError
	switch {
	case errors.As(err, &apiErr):
		e.Code = printableCode(apiErr.ErrorCode())
	case errors.Is(err, context.Canceled):
		e.Code = "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		e.Code = "deadline exceeded"
	case strings.Contains(err.Error(), "get identity: get credentials"):
		// The SDK's credential chain found nothing; its errors are not
		// typed, and say so in this one phrase.
		e.Code = CodeNoCredentials
	case errors.As(err, &dnsErr):
		e.Code = CodeHostNotFound
	case errors.Is(err, syscall.ECONNREFUSED):
		e.Code = CodeConnectionRefused
	case errors.As(err, &netErr) && netErr.Timeout():
		e.Code = CodeTimeout
	case errors.As(err, &deserialize):
		e.Code = CodeNotSQS
	}
	return e
}

// printableCode keeps an error code short and free of anything but
// identifier characters: it is printed.
func printableCode(code string) string {
	var b strings.Builder
	for i := 0; i < len(code) && b.Len() < 64; i++ {
		c := code[i]
		if c == '.' || c == '_' || c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' {
			b.WriteByte(c)
		}
	}
	if b.Len() == 0 {
		return "unknown"
	}
	return b.String()
}
