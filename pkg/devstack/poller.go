package devstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// PollerSQS is what the poller needs of SQS.
type PollerSQS interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
}

// Poller feeds the dispatch function the way Lambda's SQS event source mapping
// does with ReportBatchItemFailures: long-poll a batch, invoke the function
// with an events.SQSEvent, delete the messages it did not report as failed,
// and leave the failed ones to become visible again (dispatch sets their
// visibility itself). If the invocation fails, nothing is deleted.
type Poller struct {
	SQS       PollerSQS
	QueueURL  string
	QueueARN  string
	Region    string
	Dispatch  invoker
	BatchSize int32 // at most 10
	WaitTime  int32 // long-poll seconds
}

// BatchResult is what one poll did.
type BatchResult struct {
	Received int
	Failed   int
	Deleted  int
}

// errSQS marks a PollOnce error as a failed SQS call (not the emulator's).
var errSQS = errors.New("SQS call failed")

// maxSQSFailures is how many failed SQS calls in a row stop Run.
const maxSQSFailures = 5

// Run polls until ctx is done. A failed SQS call is retried after a pause
// that grows with each failure in a row, as Lambda's event source mapping
// keeps polling: a failed receive's messages become visible again, and a
// failed delete's are delivered again, which dispatch's ledger answers as
// already delivered. maxSQSFailures in a row, or any failure of the
// emulator, stop Run with the error.
func (p *Poller) Run(ctx context.Context) error {
	failures := 0
	for ctx.Err() == nil {
		_, err := p.PollOnce(ctx)
		switch {
		case err == nil || ctx.Err() != nil:
			failures = 0
		case !errors.Is(err, errSQS):
			return err
		default:
			if failures++; failures >= maxSQSFailures {
				return err
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Duration(failures) * 100 * time.Millisecond):
			}
		}
	}
	return nil
}

// PollOnce receives one batch and processes it.
func (p *Poller) PollOnce(ctx context.Context) (BatchResult, error) {
	size := p.BatchSize
	if size <= 0 || size > 10 {
		size = 10
	}
	out, err := p.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(p.QueueURL),
		MaxNumberOfMessages:         size,
		WaitTimeSeconds:             p.WaitTime,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		MessageAttributeNames:       []string{"All"},
	})
	if err != nil {
		return BatchResult{}, fmt.Errorf("devstack: receive: %w: %w", errSQS, err)
	}
	res := BatchResult{Received: len(out.Messages)}
	if len(out.Messages) == 0 {
		return res, nil
	}
	event := p.toEvent(out.Messages)
	payload, err := p.Dispatch.Invoke(ctx, event)
	if err != nil {
		// Lambda retries the whole batch after the visibility timeout.
		res.Failed = len(out.Messages)
		if errors.Is(err, ErrFunction) {
			return res, nil
		}
		return res, err
	}
	var resp events.SQSEventResponse
	if err := json.Unmarshal(payload, &resp); err != nil {
		res.Failed = len(out.Messages)
		return res, nil
	}
	failed := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		failed[f.ItemIdentifier] = true
	}
	var del []types.DeleteMessageBatchRequestEntry
	for i, m := range out.Messages {
		if failed[aws.ToString(m.MessageId)] {
			res.Failed++
			continue
		}
		del = append(del, types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle})
	}
	if len(del) > 0 {
		d, err := p.SQS.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(p.QueueURL), Entries: del})
		if err != nil {
			return res, fmt.Errorf("devstack: delete: %w: %w", errSQS, err)
		}
		res.Deleted = len(d.Successful)
	}
	return res, nil
}

func (p *Poller) toEvent(msgs []types.Message) events.SQSEvent {
	ev := events.SQSEvent{Records: make([]events.SQSMessage, 0, len(msgs))}
	for _, m := range msgs {
		attrs := map[string]string{}
		for k, v := range m.Attributes {
			attrs[k] = v
		}
		mattrs := map[string]events.SQSMessageAttribute{}
		for k, v := range m.MessageAttributes {
			mattrs[k] = events.SQSMessageAttribute{
				StringValue: v.StringValue,
				BinaryValue: v.BinaryValue,
				DataType:    aws.ToString(v.DataType),
			}
		}
		ev.Records = append(ev.Records, events.SQSMessage{
			MessageId:         aws.ToString(m.MessageId),
			ReceiptHandle:     aws.ToString(m.ReceiptHandle),
			Body:              aws.ToString(m.Body),
			Md5OfBody:         aws.ToString(m.MD5OfBody),
			Attributes:        attrs,
			MessageAttributes: mattrs,
			EventSourceARN:    p.QueueARN,
			EventSource:       "aws:sqs",
			AWSRegion:         p.Region,
		})
	}
	return ev
}
