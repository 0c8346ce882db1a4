package devstack

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/internal/awstest"
)

// dispatchFake stands in for the dispatch function: it fails the messages
// whose body is "fail" and records what it saw.
type dispatchFake struct {
	seen []events.SQSEvent
	err  error
}

func (d *dispatchFake) Invoke(_ context.Context, event any) ([]byte, error) {
	ev := event.(events.SQSEvent)
	d.seen = append(d.seen, ev)
	if d.err != nil {
		return nil, d.err
	}
	var resp events.SQSEventResponse
	for _, r := range ev.Records {
		if r.Body == "fail" {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
		}
	}
	return json.Marshal(resp)
}

func newQueue(t *testing.T) (*sqs.Client, string) {
	t.Helper()
	client := awstest.Start(t).SQS()
	q, err := client.CreateQueue(context.Background(), &sqs.CreateQueueInput{
		QueueName:  aws.String(awstest.Name(t, "deliveries")),
		Attributes: map[string]string{"VisibilityTimeout": "0"},
	})
	require.NoError(t, err)
	return client, aws.ToString(q.QueueUrl)
}

func TestPollerDeletesAllButReportedFailures(t *testing.T) {
	ctx := context.Background()
	client, url := newQueue(t)
	for _, body := range []string{"ok-1", "fail", "ok-2"} {
		_, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(body),
			MessageAttributes: map[string]sqstypes.MessageAttributeValue{"kind": {DataType: aws.String("String"), StringValue: aws.String("patient")}}})
		require.NoError(t, err)
	}
	fake := &dispatchFake{}
	p := &Poller{SQS: client, QueueURL: url, QueueARN: "arn:aws:sqs:us-east-1:000000000000:deliveries", Region: "us-east-1", Dispatch: fake}

	res, err := p.PollOnce(ctx)
	require.NoError(t, err)
	assert.Equal(t, BatchResult{Received: 3, Failed: 1, Deleted: 2}, res)

	rec := fake.seen[0].Records[0]
	assert.Equal(t, "aws:sqs", rec.EventSource)
	assert.Equal(t, "1", rec.Attributes["ApproximateReceiveCount"], "dispatch reads the attempt from here")
	assert.Equal(t, "patient", aws.ToString(rec.MessageAttributes["kind"].StringValue))

	// The failed message comes back, and only it.
	res, err = p.PollOnce(ctx)
	require.NoError(t, err)
	assert.Equal(t, BatchResult{Received: 1, Failed: 1}, res)
	assert.Equal(t, "fail", fake.seen[1].Records[0].Body)
	assert.Equal(t, "2", fake.seen[1].Records[0].Attributes["ApproximateReceiveCount"])
}

func TestPollerKeepsTheBatchWhenTheFunctionFails(t *testing.T) {
	ctx := context.Background()
	client, url := newQueue(t)
	_, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String("ok")})
	require.NoError(t, err)
	p := &Poller{SQS: client, QueueURL: url, Dispatch: &dispatchFake{err: ErrFunction}}
	res, err := p.PollOnce(ctx)
	require.NoError(t, err)
	assert.Equal(t, BatchResult{Received: 1, Failed: 1}, res)

	p.Dispatch = &dispatchFake{err: errors.New("emulator gone")}
	_, err = p.PollOnce(ctx)
	assert.Error(t, err, "an emulator failure stops the poller")
	p.Dispatch = &dispatchFake{}
	res, err = p.PollOnce(ctx)
	require.NoError(t, err)
	assert.Equal(t, BatchResult{Received: 1, Deleted: 1}, res, "nothing was lost")
}

// flakySQS fails its first `fail` receives, then hands out one message,
// then ends the run.
type flakySQS struct {
	fail     int
	receives int
	stop     context.CancelFunc
}

func (f *flakySQS) ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	f.receives++
	switch {
	case f.receives <= f.fail:
		return nil, errors.New("unexpected EOF")
	case f.receives == f.fail+1:
		return &sqs.ReceiveMessageOutput{Messages: []sqstypes.Message{{MessageId: aws.String("m-1"), ReceiptHandle: aws.String("r-1"), Body: aws.String("ok")}}}, nil
	default:
		f.stop()
		return &sqs.ReceiveMessageOutput{}, nil
	}
}

func (f *flakySQS) DeleteMessageBatch(_ context.Context, in *sqs.DeleteMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	out := &sqs.DeleteMessageBatchOutput{}
	for _, e := range in.Entries {
		out.Successful = append(out.Successful, sqstypes.DeleteMessageBatchResultEntry{Id: e.Id})
	}
	return out, nil
}

// A few failed receives in a row are ridden out, as Lambda's event source
// mapping does; the message comes through after them.
func TestPollerRidesOutFailedSQSCalls(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sqsFake := &flakySQS{fail: maxSQSFailures - 1, stop: cancel}
	fake := &dispatchFake{}
	p := &Poller{SQS: sqsFake, QueueURL: "q", Dispatch: fake}
	require.NoError(t, p.Run(ctx))
	require.Len(t, fake.seen, 1)
	assert.Equal(t, "ok", fake.seen[0].Records[0].Body)
}

// maxSQSFailures in a row stop it, with the SQS error; so does one
// failure of the emulator.
func TestPollerStopsOnAStreakOfFailures(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sqsFake := &flakySQS{fail: 1000, stop: cancel}
	err := (&Poller{SQS: sqsFake, QueueURL: "q", Dispatch: &dispatchFake{}}).Run(ctx)
	require.ErrorIs(t, err, errSQS)
	assert.Equal(t, maxSQSFailures, sqsFake.receives)

	sqsFake = &flakySQS{fail: 0, stop: cancel}
	err = (&Poller{SQS: sqsFake, QueueURL: "q", Dispatch: &dispatchFake{err: errors.New("emulator gone")}}).Run(ctx)
	require.Error(t, err)
	require.NotErrorIs(t, err, errSQS)
	assert.Equal(t, 1, sqsFake.receives)
}
