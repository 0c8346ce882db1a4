package queuekumo_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/internal/awstest"
	"github.com/novamed/bridge/pkg/novamed"
	"github.com/novamed/bridge/pkg/queue"
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
	queue.SQSAPI
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
	s, err := queue.NewSender(counting, url)
	require.NoError(t, err)

	msgs := testMessages(t, 25)
	require.NoError(t, s.Send(context.Background(), msgs))
	require.EqualValues(t, 3, counting.calls.Load())

	received := receiveAll(t, client, url, 25)
	require.Len(t, received, 25)
	byID := make(map[string]queue.Message, len(msgs))
	for _, m := range msgs {
		byID[m.ID] = m
	}
	for _, r := range received {
		got, err := queue.Decode(aws.ToString(r.Body))
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
	s, err := queue.NewSender(counting, url+"-missing")
	require.NoError(t, err)
	err = s.Send(context.Background(), testMessages(t, 3))
	var se *queue.SendError
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
	dlq := queue.DLQAttributes{
		ErrorClass: queue.ClassPermanent, ErrorCode: "clinic_not_found", HTTPStatus: 404, Attempts: 1,
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
	parsed, err := queue.ParseDLQAttributes(got[0].MessageAttributes)
	require.NoError(t, err)
	require.Equal(t, dlq, parsed)
	require.Equal(t, body, aws.ToString(got[0].Body), "body unchanged, redrivable as is")
	require.Equal(t, m.Attributes(), queue.BaseAttributes(got[0].MessageAttributes))
}

// testMessage is a patient record as dev intake queues it: de-identified,
// with the marker standing in for a name.
func testMessage(t testing.TB) queue.Message {
	t.Helper()
	eventID := queue.EventID("ehr-a", "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", nil)
	return queue.Message{
		Version:      queue.Version,
		ID:           queue.RecordID(eventID, 0),
		Source:       "ehr-a",
		Kind:         novamed.KindPatient,
		ReceivedAt:   time.Date(2026, 3, 1, 12, 30, 45, 123000000, time.UTC),
		Stage:        queue.StageDev,
		Deidentified: true,
		Record: json.RawMessage(`{"clinic_id":"0b5e4b8e-2f4a-4c57-9d7e-1f0d9e2c3a4b","first_name":"` + phiMarker +
			`","last_name":"Doe","date_of_birth":"1980-01-01","email":"p-1a2b@example.com"}`),
	}
}

// testMessages is n records of one event, every other one a practitioner.
func testMessages(t testing.TB, n int) []queue.Message {
	t.Helper()
	eventID := queue.EventID("ehr-a", fmt.Sprintf("evt-%d", n), nil)
	msgs := make([]queue.Message, n)
	for i := range msgs {
		m := testMessage(t)
		m.ID = queue.RecordID(eventID, i)
		if i%2 == 1 {
			m.Kind = novamed.KindPractitioner
			m.Record = json.RawMessage(`{"first_name":"` + phiMarker + `","npi":"` + strconv.Itoa(i) + `"}`)
		}
		msgs[i] = m
	}
	return msgs
}

// phiMarker stands in for a name in test records.
const phiMarker = "Zelphinora"
