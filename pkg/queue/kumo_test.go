package queue

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/internal/awstest"
)

// newKumoQueue starts kumo in-process and creates a queue with a name of its
// own (kumo keeps one store per process, shared by every server).
func newKumoQueue(t *testing.T) (*sqs.Client, string) {
	t.Helper()
	client := awstest.Start(t).SQS()
	out, err := client.CreateQueue(context.Background(), &sqs.CreateQueueInput{
		QueueName: aws.String(awstest.Name(t, "queue")),
	})
	require.NoError(t, err)
	return client, aws.ToString(out.QueueUrl)
}

type countingSQS struct {
	SQSAPI
	calls atomic.Int64
}

func (c *countingSQS) SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, o ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	c.calls.Add(1)
	return c.SQSAPI.SendMessageBatch(ctx, in, o...)
}

// receiveAll drains the queue.
func receiveAll(t *testing.T, client *sqs.Client, url string, want int) []types.Message {
	t.Helper()
	var got []types.Message
	for range 20 {
		if len(got) >= want {
			break
		}
		out, err := client.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(url),
			MaxNumberOfMessages:         10,
			MessageAttributeNames:       []string{"All"},
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
			VisibilityTimeout:           300,
		})
		require.NoError(t, err)
		got = append(got, out.Messages...)
	}
	return got
}

func TestSenderKumo25MessagesIn3Batches(t *testing.T) {
	client, url := newKumoQueue(t)
	counting := &countingSQS{SQSAPI: client}
	s, err := NewSender(counting, url)
	require.NoError(t, err)

	msgs := testMessages(t, 25)
	require.NoError(t, s.Send(context.Background(), msgs))
	require.EqualValues(t, 3, counting.calls.Load())

	received := receiveAll(t, client, url, 25)
	require.Len(t, received, 25)
	byID := make(map[string]Message, len(msgs))
	for _, m := range msgs {
		byID[m.ID] = m
	}
	for _, r := range received {
		got, err := Decode(aws.ToString(r.Body))
		require.NoError(t, err)
		want, ok := byID[got.ID]
		require.True(t, ok, "unexpected id %s", got.ID)
		delete(byID, got.ID)
		wantBody, err := want.Encode()
		require.NoError(t, err)
		if aws.ToString(r.Body) != wantBody {
			t.Fatalf("%s: body differs (not printed)", got.ID)
		}
		require.Len(t, r.MessageAttributes, 3, got.ID)
		for name, a := range want.Attributes() {
			require.Equal(t, aws.ToString(a.DataType), aws.ToString(r.MessageAttributes[name].DataType), name)
			require.Equal(t, aws.ToString(a.StringValue), aws.ToString(r.MessageAttributes[name].StringValue), name)
		}
	}
	require.Empty(t, byID, "every message received once")
}

func TestSenderKumoMissingQueueIsNotRetried(t *testing.T) {
	client, url := newKumoQueue(t)
	counting := &countingSQS{SQSAPI: client}
	s, err := NewSender(counting, url+"-missing")
	require.NoError(t, err)
	err = s.Send(context.Background(), testMessages(t, 3))
	var se *SendError
	require.ErrorAs(t, err, &se)
	require.Len(t, se.Failed, 3)
	require.EqualValues(t, 1, counting.calls.Load())
}

// TestDeadLetterKumoRoundTrip: attributes written by dispatch come back
// through SQS as redrive reads them.
func TestDeadLetterKumoRoundTrip(t *testing.T) {
	client, url := newKumoQueue(t)
	m := testMessage(t)
	body, err := m.Encode()
	require.NoError(t, err)
	dlq := DLQAttributes{
		ErrorClass: ClassPermanent, ErrorCode: "clinic_not_found", HTTPStatus: 404, Attempts: 1,
		FailedAt: time.Date(2026, 3, 1, 13, 0, 0, 0, time.UTC),
	}
	attrs, err := dlq.MessageAttributes(m.Attributes())
	require.NoError(t, err)
	_, err = client.SendMessage(context.Background(), &sqs.SendMessageInput{
		QueueUrl: aws.String(url), MessageBody: aws.String(body), MessageAttributes: attrs,
	})
	require.NoError(t, err)

	got := receiveAll(t, client, url, 1)
	require.Len(t, got, 1)
	parsed, err := ParseDLQAttributes(got[0].MessageAttributes)
	require.NoError(t, err)
	require.Equal(t, dlq, parsed)
	require.Equal(t, body, aws.ToString(got[0].Body), "body unchanged, redrivable as is")
	require.Equal(t, m.Attributes(), BaseAttributes(got[0].MessageAttributes))
}
