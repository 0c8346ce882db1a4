package queue

import (
	"context"
	"errors"
	"fmt"
	"github.com/novamed/bridge/pkg/awsclients"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
)

// SQSAPI is the part of the SQS client a Sender uses.
type SQSAPI interface {
	SendMessageBatch(ctx context.Context, params *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

// SQS limits on one SendMessageBatch call.
const (
	maxBatchEntries = 10
	// DefaultMaxBatchBytes is SQS's classic payload limit for a whole batch
	// (bodies plus attributes).
	DefaultMaxBatchBytes = 256 << 10
)

// Defaults of a Sender's retry policy. Intake must answer the webhook fast,
// so the budget is small: a sender that gets a 503 retries the event later.
const (
	DefaultMaxAttempts  = 4
	DefaultRetryWaitMin = 50 * time.Millisecond
	DefaultRetryWaitMax = time.Second
)

// CheckRetry decides whether messages that failed are sent again. It is
// called with the failed batch entry (entry != nil) or the error of a whole
// SendMessageBatch call (err != nil). A non-nil error stops every retry and
// is returned inside the SendError. Modelled on go-retryablehttp.
type CheckRetry func(ctx context.Context, entry *types.BatchResultErrorEntry, err error) (bool, error)

// Backoff returns how long to wait before attempt (2 for the first retry),
// between min and max.
type Backoff func(waitMin, waitMax time.Duration, attempt int) time.Duration

// Codes of whole-call errors a retry cannot fix: a missing queue, a denied
// request, a request this package built wrongly. The SDK has already retried
// throttling and server errors by the time Send sees them, but a failed
// call may still be transient (a connection reset), so unknown codes are
// retried.
var permanentCallCodes = map[string]bool{
	"AWS.SimpleQueueService.NonExistentQueue": true, // kumo and the query protocol
	"QueueDoesNotExist":                       true,
	"AccessDenied":                            true,
	"AccessDeniedException":                   true,
	"InvalidAddress":                          true,
	"InvalidSecurity":                         true,
	"UnsupportedOperation":                    true,
	"BatchRequestTooLong":                     true,
	"BatchEntryIdsNotDistinct":                true,
	"EmptyBatchRequest":                       true,
	"InvalidBatchEntryId":                     true,
	"TooManyEntriesInBatchRequest":            true,
	"InvalidParameterValue":                   true,
	"KmsAccessDenied":                         true,
	"KmsDisabled":                             true,
	"KmsNotFound":                             true,
}

// DefaultRetryPolicy retries entries SQS did not blame on the sender, and
// whole-call failures other than client faults and the permanent codes
// above. It stops when the context ends.
func DefaultRetryPolicy(ctx context.Context, entry *types.BatchResultErrorEntry, err error) (bool, error) {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return false, ctxErr
	}
	if entry != nil {
		return !entry.SenderFault, nil
	}
	if err == nil {
		return false, nil
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		if permanentCallCodes[apiErr.ErrorCode()] {
			return false, nil
		}
		return apiErr.ErrorFault() != smithy.FaultClient, nil
	}
	return true, nil
}

// DefaultBackoff doubles the wait from min at each attempt, capped at max,
// and picks uniformly in its upper half so concurrent intakes spread out.
func DefaultBackoff(waitMin, waitMax time.Duration, attempt int) time.Duration {
	d := waitMin
	for i := 2; i < attempt && d < waitMax; i++ {
		d *= 2
	}
	d = min(d, waitMax)
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// SenderOption configures a Sender.
type SenderOption func(*Sender)

// WithMaxAttempts bounds the attempts per message, the first included
// (default DefaultMaxAttempts). Values below 1 mean 1.
func WithMaxAttempts(n int) SenderOption {
	return func(s *Sender) { s.maxAttempts = max(n, 1) }
}

// WithCheckRetry sets the retry policy (default DefaultRetryPolicy).
func WithCheckRetry(f CheckRetry) SenderOption {
	return func(s *Sender) { s.checkRetry = f }
}

// WithBackoff sets the wait between attempts (default DefaultBackoff
// between DefaultRetryWaitMin and DefaultRetryWaitMax).
func WithBackoff(f Backoff, waitMin, waitMax time.Duration) SenderOption {
	return func(s *Sender) { s.backoff, s.waitMin, s.waitMax = f, waitMin, waitMax }
}

// WithMaxBatchBytes sets the size limit of one batch, bodies and
// attributes together (default DefaultMaxBatchBytes). A queue that allows
// 1 MiB messages can raise it.
func WithMaxBatchBytes(n int) SenderOption {
	return func(s *Sender) { s.maxBatchBytes = n }
}

// Sender sends queue messages with SendMessageBatch. It is safe for
// concurrent use.
type Sender struct {
	client        SQSAPI
	queueURL      string
	maxAttempts   int
	checkRetry    CheckRetry
	backoff       Backoff
	waitMin       time.Duration
	waitMax       time.Duration
	maxBatchBytes int
}

// NewSender returns a Sender for the queue at queueURL.
func NewSender(client SQSAPI, queueURL string, opts ...SenderOption) (*Sender, error) {
	if client == nil {
		return nil, errors.New("queue: nil SQS client")
	}
	if queueURL == "" {
		return nil, errors.New("queue: empty queue URL")
	}
	s := &Sender{
		client:        client,
		queueURL:      queueURL,
		maxAttempts:   DefaultMaxAttempts,
		checkRetry:    DefaultRetryPolicy,
		backoff:       DefaultBackoff,
		waitMin:       DefaultRetryWaitMin,
		waitMax:       DefaultRetryWaitMax,
		maxBatchBytes: DefaultMaxBatchBytes,
	}
	for _, o := range opts {
		o(s)
	}
	if s.checkRetry == nil || s.backoff == nil {
		return nil, errors.New("queue: nil retry policy or backoff")
	}
	if s.maxBatchBytes <= 0 {
		return nil, errors.New("queue: batch size limit must be positive")
	}
	return s, nil
}

// FailedMessage is a message Send gave up on.
type FailedMessage struct {
	// ID is the message's ID.
	ID string
	// Code is SQS's error code for the entry ("InternalError"), or
	// "CallFailed" when the whole SendMessageBatch call failed.
	Code string
	// SenderFault reports that SQS blamed the message itself (too large,
	// invalid characters): sending it again cannot succeed.
	SenderFault bool
}

// SendError lists the messages Send could not send. It names message ids
// and error codes, never bodies. Messages not listed were sent.
type SendError struct {
	Failed []FailedMessage
	// Total is the number of messages Send was given.
	Total int
	// Err is the error that stopped the retries, if one did: the context's
	// error, a retry policy's error, or the last whole-call error.
	Err error
}

// maxIDsInError bounds the ids Error lists; IDs and Failed have them all.
const maxIDsInError = 10

func (e *SendError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "queue: %d of %d messages not sent:", len(e.Failed), e.Total)
	for i, f := range e.Failed {
		if i == maxIDsInError {
			fmt.Fprintf(&b, " and %d more", len(e.Failed)-i)
			break
		}
		fmt.Fprintf(&b, " %s (%s)", f.ID, f.Code)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the error that stopped the retries, if any.
func (e *SendError) Unwrap() error { return e.Err }

// IDs returns the ids of the messages not sent.
func (e *SendError) IDs() []string {
	ids := make([]string, len(e.Failed))
	for i, f := range e.Failed {
		ids[i] = f.ID
	}
	return ids
}

// codeCallFailed is the Code of messages whose whole call failed.
const codeCallFailed = "CallFailed"

type outgoing struct {
	id    string // Message.ID
	entry types.SendMessageBatchRequestEntry
	size  int
}

// Send sends msgs in batches of up to ten (and DefaultMaxBatchBytes),
// retrying only the entries that failed, with backoff, up to the attempt
// limit. Every message is checked before anything is sent: an invalid one
// fails the call with its *MalformedError and nothing is sent. When it gives
// up on some messages it returns a *SendError listing them.
//
// Retrying after a failed call can queue a message twice (the call may have
// succeeded with its answer lost), as can a webhook sender's retry after a
// 503: dispatch's ledger makes the delivery exactly once in effect.
func (s *Sender) Send(ctx context.Context, msgs []Message) error {
	out := make([]outgoing, len(msgs))
	for i, m := range msgs {
		body, err := m.Encode()
		if err != nil {
			return fmt.Errorf("queue: message %d of %d: %w", i+1, len(msgs), err)
		}
		attrs := m.Attributes()
		out[i] = outgoing{
			id: m.ID,
			entry: types.SendMessageBatchRequestEntry{
				// Entry ids only need to be unique within a batch; the index
				// in msgs is, and maps a result back to its message.
				Id:                aws.String("m" + strconv.Itoa(i)),
				MessageBody:       aws.String(body),
				MessageAttributes: attrs,
			},
			size: len(body) + attributesSize(attrs),
		}
	}

	pending := make([]int, len(msgs))
	for i := range pending {
		pending[i] = i
	}
	var (
		failed      = make(map[int]FailedMessage)
		lastCallErr error // the last whole-call failure
		stopErr     error // what stopped the retries: the context or the policy
	)
	for attempt := 1; len(pending) > 0; attempt++ {
		if attempt > 1 {
			// The pending messages are in failed from the previous attempt.
			if err := sleep(ctx, s.backoff(s.waitMin, s.waitMax, attempt)); err != nil {
				stopErr = err
				break
			}
		}
		var retry []int
		for _, batch := range s.batches(out, pending) {
			// Every batch of an attempt is sent even after a policy error:
			// a message is reported failed only once it has been tried.
			results, callErr := s.sendBatch(ctx, out, batch)
			if callErr != nil {
				lastCallErr = callErr
			}
			for _, i := range batch {
				r, entryFailed := results[i]
				if callErr == nil && !entryFailed {
					delete(failed, i)
					continue
				}
				fm := FailedMessage{ID: out[i].id, Code: codeCallFailed}
				var entry *types.BatchResultErrorEntry
				if callErr == nil {
					entry = &r
					fm.Code, fm.SenderFault = safeCode(aws.ToString(r.Code)), r.SenderFault
				}
				failed[i] = fm
				if stopErr != nil || attempt >= s.maxAttempts {
					continue
				}
				ok, err := s.checkRetry(ctx, entry, callErr)
				if err != nil {
					stopErr = err
					continue
				}
				if ok {
					retry = append(retry, i)
				}
			}
		}
		if stopErr != nil {
			break
		}
		pending = retry
	}

	if len(failed) == 0 {
		return nil
	}
	se := &SendError{Total: len(msgs), Err: stopErr}
	for i := range out {
		if f, ok := failed[i]; ok {
			se.Failed = append(se.Failed, f)
			if se.Err == nil && f.Code == codeCallFailed {
				se.Err = lastCallErr
			}
		}
	}
	return se
}

// batches groups the pending messages, in order, into batches of at most
// ten entries and maxBatchBytes. A message larger than the limit goes alone,
// and SQS decides.
func (s *Sender) batches(out []outgoing, pending []int) [][]int {
	var (
		all  [][]int
		cur  []int
		size int
	)
	for _, i := range pending {
		if len(cur) == maxBatchEntries || (len(cur) > 0 && size+out[i].size > s.maxBatchBytes) {
			all, cur, size = append(all, cur), nil, 0
		}
		cur = append(cur, i)
		size += out[i].size
	}
	if len(cur) > 0 {
		all = append(all, cur)
	}
	return all
}

// sendBatch sends one batch. It returns the failed entries by message index;
// an entry SQS reports neither as sent nor as failed counts as failed.
func (s *Sender) sendBatch(ctx context.Context, out []outgoing, batch []int) (map[int]types.BatchResultErrorEntry, error) {
	entries := make([]types.SendMessageBatchRequestEntry, len(batch))
	byEntryID := make(map[string]int, len(batch))
	for k, i := range batch {
		entries[k] = out[i].entry
		byEntryID[aws.ToString(out[i].entry.Id)] = i
	}
	res, err := s.client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{
		QueueUrl: aws.String(s.queueURL),
		Entries:  entries,
	})
	if err != nil {
		// Code only: the SDK's message can quote an entry.
		return nil, fmt.Errorf("queue: %w", awsclients.WrapError("SendMessageBatch", err))
	}
	sent := make(map[int]bool, len(batch))
	for _, r := range res.Successful {
		if i, ok := byEntryID[aws.ToString(r.Id)]; ok {
			sent[i] = true
		}
	}
	failed := make(map[int]types.BatchResultErrorEntry)
	for _, r := range res.Failed {
		if i, ok := byEntryID[aws.ToString(r.Id)]; ok && !sent[i] {
			failed[i] = r
		}
	}
	for _, i := range batch {
		if _, ok := failed[i]; !ok && !sent[i] {
			failed[i] = types.BatchResultErrorEntry{Code: aws.String("MissingResult")}
		}
	}
	return failed, nil
}

// attributesSize is what SQS counts for attributes: name, type and value.
func attributesSize(attrs map[string]types.MessageAttributeValue) int {
	n := 0
	for k, v := range attrs {
		n += len(k) + len(aws.ToString(v.DataType)) + len(aws.ToString(v.StringValue)) + len(v.BinaryValue)
	}
	return n
}

// safeCode keeps an SQS error code printable and short: it goes into
// errors and logs.
func safeCode(code string) string {
	var b strings.Builder
	for i := 0; i < len(code) && b.Len() < 64; i++ {
		c := code[i]
		if c == '.' || c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' {
			b.WriteByte(c)
		}
	}
	if b.Len() == 0 {
		return "Unknown"
	}
	return b.String()
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
