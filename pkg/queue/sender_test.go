package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	"github.com/novamed/bridge/pkg/novamed"
	"github.com/stretchr/testify/require"
)

// testMessages returns n valid messages of one event.
func testMessages(t testing.TB, n int) []Message {
	t.Helper()
	eventID := EventID("ehr-a", fmt.Sprintf("evt-%d", n), nil)
	msgs := make([]Message, n)
	for i := range msgs {
		m := testMessage(t)
		m.ID = RecordID(eventID, i)
		if i%2 == 1 {
			m.Kind = novamed.KindPractitioner
			m.Record = json.RawMessage(`{"first_name":"` + phiMarker + `","npi":"` + strconv.Itoa(i) + `"}`)
		}
		msgs[i] = m
	}
	return msgs
}

// fakeSQS answers SendMessageBatch with failures decided per call by fail,
// recording the entry ids of every call.
type fakeSQS struct {
	mu    sync.Mutex
	calls [][]string // message ids per call, from the bodies
	// fail decides, per call (0-based) and message id, the failure of an
	// entry; nil means sent.
	fail func(call int, msgID string) *types.BatchResultErrorEntry
	// callErr, when set, fails whole calls.
	callErr func(call int) error
	// drop leaves an entry out of both result lists.
	drop func(call int, msgID string) bool
}

func (f *fakeSQS) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	call := len(f.calls)
	var ids []string
	out := &sqs.SendMessageBatchOutput{}
	seen := map[string]bool{}
	for _, e := range in.Entries {
		if seen[aws.ToString(e.Id)] {
			return nil, errors.New("fakeSQS: entry ids not distinct")
		}
		seen[aws.ToString(e.Id)] = true
		m, err := Decode(aws.ToString(e.MessageBody))
		if err != nil {
			return nil, fmt.Errorf("fakeSQS: %w", err)
		}
		ids = append(ids, m.ID)
	}
	f.calls = append(f.calls, ids)
	if f.callErr != nil {
		if err := f.callErr(call); err != nil {
			return nil, err
		}
	}
	for k, e := range in.Entries {
		if f.drop != nil && f.drop(call, ids[k]) {
			continue
		}
		if f.fail != nil {
			if r := f.fail(call, ids[k]); r != nil {
				r.Id = e.Id
				out.Failed = append(out.Failed, *r)
				continue
			}
		}
		out.Successful = append(out.Successful, types.SendMessageBatchResultEntry{Id: e.Id, MessageId: aws.String("mid")})
	}
	return out, nil
}

func (f *fakeSQS) callIDs() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func noWait(time.Duration, time.Duration, int) time.Duration { return 0 }

func newTestSender(t *testing.T, client SQSAPI, opts ...SenderOption) *Sender {
	t.Helper()
	s, err := NewSender(client, "https://sqs.us-east-1.amazonaws.com/123456789012/q",
		append([]SenderOption{WithBackoff(noWait, 0, 0)}, opts...)...)
	require.NoError(t, err)
	return s
}

func internalError() *types.BatchResultErrorEntry {
	return &types.BatchResultErrorEntry{Code: aws.String("InternalError"), Message: aws.String("try again " + phiMarker)}
}

func TestSenderRetriesOnlyFailedEntries(t *testing.T) {
	msgs := testMessages(t, 12)
	flaky := map[string]bool{msgs[1].ID: true, msgs[5].ID: true, msgs[11].ID: true}
	fake := &fakeSQS{fail: func(call int, id string) *types.BatchResultErrorEntry {
		if call < 2 && flaky[id] { // the first batch pair fails them once
			return internalError()
		}
		return nil
	}}
	s := newTestSender(t, fake)
	require.NoError(t, s.Send(context.Background(), msgs))

	calls := fake.callIDs()
	require.Len(t, calls, 3, "two batches, then one retry batch")
	require.Len(t, calls[0], 10)
	require.Len(t, calls[1], 2)
	require.ElementsMatch(t, []string{msgs[1].ID, msgs[5].ID, msgs[11].ID}, calls[2])
}

func TestSenderGivesUp(t *testing.T) {
	msgs := testMessages(t, 5)
	fake := &fakeSQS{fail: func(_ int, id string) *types.BatchResultErrorEntry {
		if id == msgs[3].ID || id == msgs[0].ID {
			return internalError()
		}
		return nil
	}}
	s := newTestSender(t, fake, WithMaxAttempts(3))
	err := s.Send(context.Background(), msgs)

	var se *SendError
	require.ErrorAs(t, err, &se)
	require.Equal(t, []string{msgs[0].ID, msgs[3].ID}, se.IDs())
	require.Equal(t, 5, se.Total)
	require.Equal(t, "InternalError", se.Failed[0].Code)
	require.False(t, se.Failed[0].SenderFault)
	require.Len(t, fake.callIDs(), 3, "bounded attempts")
	require.Contains(t, err.Error(), "2 of 5 messages not sent")
	require.Contains(t, err.Error(), msgs[3].ID)
	require.NotContains(t, err.Error(), phiMarker, "no body, no SQS message text")
}

func TestSenderDoesNotRetrySenderFaults(t *testing.T) {
	msgs := testMessages(t, 3)
	fake := &fakeSQS{fail: func(_ int, id string) *types.BatchResultErrorEntry {
		if id == msgs[2].ID {
			return &types.BatchResultErrorEntry{Code: aws.String("InvalidParameterValue"), SenderFault: true}
		}
		return nil
	}}
	err := newTestSender(t, fake).Send(context.Background(), msgs)
	var se *SendError
	require.ErrorAs(t, err, &se)
	require.Equal(t, []FailedMessage{{ID: msgs[2].ID, Code: "InvalidParameterValue", SenderFault: true}}, se.Failed)
	require.Len(t, fake.callIDs(), 1)
}

func TestSenderWholeCallFailures(t *testing.T) {
	transient := errors.New("connection reset by peer")
	missing := &smithy.GenericAPIError{Code: "AWS.SimpleQueueService.NonExistentQueue", Message: "no queue"}
	denied := &smithy.GenericAPIError{Code: "Whatever", Fault: smithy.FaultClient}
	tests := []struct {
		name      string
		err       func(call int) error
		wantCalls int
		wantErr   error
	}{
		{"transient then fine", func(call int) error {
			if call == 0 {
				return transient
			}
			return nil
		}, 2, nil},
		{"transient always", func(int) error { return transient }, DefaultMaxAttempts, transient},
		{"missing queue", func(int) error { return missing }, 1, missing},
		{"client fault", func(int) error { return denied }, 1, denied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeSQS{callErr: tt.err}
			msgs := testMessages(t, 4)
			err := newTestSender(t, fake).Send(context.Background(), msgs)
			require.Len(t, fake.callIDs(), tt.wantCalls)
			if tt.wantErr == nil {
				require.NoError(t, err)
				return
			}
			var se *SendError
			require.ErrorAs(t, err, &se)
			require.Len(t, se.Failed, 4)
			require.Equal(t, "CallFailed", se.Failed[0].Code)
			require.ErrorIs(t, err, tt.wantErr)
		})
	}
}

func TestSenderMissingResultIsRetried(t *testing.T) {
	msgs := testMessages(t, 3)
	fake := &fakeSQS{drop: func(call int, id string) bool { return call == 0 && id == msgs[1].ID }}
	require.NoError(t, newTestSender(t, fake).Send(context.Background(), msgs))
	require.Equal(t, []string{msgs[1].ID}, fake.callIDs()[1])
}

func TestSenderPolicyErrorStops(t *testing.T) {
	stop := errors.New("stop")
	msgs := testMessages(t, 3)
	fake := &fakeSQS{fail: func(int, string) *types.BatchResultErrorEntry { return internalError() }}
	s := newTestSender(t, fake, WithCheckRetry(func(context.Context, *types.BatchResultErrorEntry, error) (bool, error) {
		return false, stop
	}))
	err := s.Send(context.Background(), msgs)
	require.ErrorIs(t, err, stop)
	require.Len(t, fake.callIDs(), 1)
}

func TestSenderContextCanceledDuringBackoff(t *testing.T) {
	msgs := testMessages(t, 2)
	ctx, cancel := context.WithCancel(context.Background())
	fake := &fakeSQS{fail: func(int, string) *types.BatchResultErrorEntry {
		cancel()
		return internalError()
	}}
	s := newTestSender(t, fake, WithBackoff(DefaultBackoff, time.Hour, time.Hour))
	err := s.Send(ctx, msgs)
	require.ErrorIs(t, err, context.Canceled)
	var se *SendError
	require.ErrorAs(t, err, &se)
	require.Len(t, se.Failed, 2)
	require.Len(t, fake.callIDs(), 1)
}

func TestSenderBatchesBySize(t *testing.T) {
	msgs := testMessages(t, 6)
	body, err := msgs[0].Encode()
	require.NoError(t, err)
	fake := &fakeSQS{}
	// Room for two messages per batch, not three.
	s := newTestSender(t, fake, WithMaxBatchBytes(2*len(body)+200))
	require.NoError(t, s.Send(context.Background(), msgs))
	for _, ids := range fake.callIDs() {
		require.LessOrEqual(t, len(ids), 2)
	}
	require.GreaterOrEqual(t, len(fake.callIDs()), 3)
}

func TestSenderRejectsInvalidMessagesBeforeSending(t *testing.T) {
	msgs := testMessages(t, 3)
	msgs[2].Record = json.RawMessage(`"` + phiMarker + `"`)
	fake := &fakeSQS{}
	err := newTestSender(t, fake).Send(context.Background(), msgs)
	require.ErrorIs(t, err, ErrMalformed)
	require.NotContains(t, err.Error(), phiMarker)
	require.Empty(t, fake.callIDs())
	require.NoError(t, newTestSender(t, fake).Send(context.Background(), nil))
}

func TestSendErrorListsAtMostTenIDs(t *testing.T) {
	se := &SendError{Total: 30}
	for i := range 25 {
		se.Failed = append(se.Failed, FailedMessage{ID: fmt.Sprintf("s:%032d/%d", 0, i), Code: "InternalError"})
	}
	require.Contains(t, se.Error(), "25 of 30 messages not sent")
	require.Contains(t, se.Error(), "and 15 more")
	require.Len(t, se.IDs(), 25)
}

func TestDefaultBackoff(t *testing.T) {
	for attempt := 2; attempt < 12; attempt++ {
		for range 20 {
			d := DefaultBackoff(50*time.Millisecond, time.Second, attempt)
			ceil := min(50*time.Millisecond<<(attempt-2), time.Second)
			require.GreaterOrEqual(t, d, ceil/2, "attempt %d", attempt)
			require.LessOrEqual(t, d, ceil, "attempt %d", attempt)
		}
	}
}

func TestDefaultRetryPolicy(t *testing.T) {
	ctx := context.Background()
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	tests := []struct {
		name  string
		ctx   context.Context
		entry *types.BatchResultErrorEntry
		err   error
		want  bool
	}{
		{"server entry", ctx, internalError(), nil, true},
		{"sender fault entry", ctx, &types.BatchResultErrorEntry{SenderFault: true}, nil, false},
		{"network", ctx, nil, errors.New("EOF"), true},
		{"server fault", ctx, nil, &smithy.GenericAPIError{Code: "InternalError", Fault: smithy.FaultServer}, true},
		{"queue missing", ctx, nil, &types.QueueDoesNotExist{}, false},
		{"canceled", canceled, internalError(), nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := DefaultRetryPolicy(tt.ctx, tt.entry, tt.err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestNewSenderValidation(t *testing.T) {
	_, err := NewSender(nil, "u")
	require.Error(t, err)
	_, err = NewSender(&fakeSQS{}, "")
	require.Error(t, err)
	_, err = NewSender(&fakeSQS{}, "u", WithCheckRetry(nil))
	require.Error(t, err)
	_, err = NewSender(&fakeSQS{}, "u", WithMaxBatchBytes(0))
	require.Error(t, err)
	s, err := NewSender(&fakeSQS{}, "u", WithMaxAttempts(0))
	require.NoError(t, err)
	require.Equal(t, 1, s.maxAttempts)
}
