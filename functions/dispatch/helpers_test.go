package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/internal/awstest"
	"github.com/novamed/bridge/internal/logtest"
	"github.com/novamed/bridge/pkg/ledger"
	"github.com/novamed/bridge/pkg/metrics"
	"github.com/novamed/bridge/pkg/novamed"
	"github.com/novamed/bridge/pkg/params"
	"github.com/novamed/bridge/pkg/queue"
)

// Test values. The clinic ids are UUIDs NovaMed's validators accept; the
// keys are fake.
const (
	prodClinic = "0b5e4b8e-2f4a-4c57-9d7e-1f0d9e2c3a4b"
	devClinic  = "7d1c2a3b-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	apiKeyV1   = "nm_test_key_one_0001"
	apiKeyV2   = "nm_test_key_two_0002"
	pseudoKey  = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // base64 of 32 bytes
)

// countingSSM counts the SSM calls that reach kumo.
type countingSSM struct {
	params.SSMAPI
	calls atomic.Int64
}

func (c *countingSSM) GetParameters(ctx context.Context, in *ssm.GetParametersInput, o ...func(*ssm.Options)) (*ssm.GetParametersOutput, error) {
	c.calls.Add(1)
	return c.SSMAPI.GetParameters(ctx, in, o...)
}

// ledgerClock is a settable clock for the ledger (lease expiry).
type ledgerClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *ledgerClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *ledgerClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// env is one test's AWS side: kumo with a delivery queue, its DLQ, SSM
// parameters and a ledger table, all with names of their own.
type env struct {
	t        testing.TB
	sqs      *sqs.Client
	ssm      *ssm.Client
	ddb      *dynamodb.Client
	queueURL string
	dlqURL   string
	prefix   string
	table    string
	ssmCount *countingSSM
	cache    *params.Cache
	clock    *ledgerClock
	ledger   *ledger.Ledger
	logs     *logtest.Buffer
	emf      *logtest.Buffer
	// lastReceipt is the receipt handle of the last message received.
	lastReceipt string
}

// envOptions tune newEnv.
type envOptions struct {
	maxReceiveCount int // the queue's redrive policy; 0 for none
	paramTTL        time.Duration
	// visibilityTimeout is the delivery queue's, 30 s when zero.
	visibilityTimeout time.Duration
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	ctx := context.Background()
	kumoEnv := awstest.Start(t, awsconfig.WithRetryMaxAttempts(1))
	e := &env{
		t:     t,
		sqs:   kumoEnv.SQS(),
		ssm:   kumoEnv.SSM(),
		ddb:   kumoEnv.DynamoDB(),
		clock: &ledgerClock{},
		logs:  &logtest.Buffer{},
		emf:   &logtest.Buffer{},
	}

	dlq, err := e.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(awstest.Name(t, "dlq"))})
	require.NoError(t, err)
	e.dlqURL = aws.ToString(dlq.QueueUrl)
	vt := o.visibilityTimeout
	if vt == 0 {
		vt = 30 * time.Second
	}
	attrs := map[string]string{"VisibilityTimeout": strconv.Itoa(int(vt / time.Second))}
	if o.maxReceiveCount > 0 {
		a, err := e.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl: dlq.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
		})
		require.NoError(t, err)
		attrs["RedrivePolicy"] = fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"%d"}`,
			a.Attributes[string(sqstypes.QueueAttributeNameQueueArn)], o.maxReceiveCount)
	}
	q, err := e.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(awstest.Name(t, "q")), Attributes: attrs})
	require.NoError(t, err)
	e.queueURL = aws.ToString(q.QueueUrl)

	e.prefix = "/novamed-bridge/" + awstest.Name(t, "p")
	e.putParam(ParamAPIKey, apiKeyV1, ssmtypes.ParameterTypeSecureString)
	e.putParam(ParamClinicID, devClinic, ssmtypes.ParameterTypeString)
	e.putParam(ParamPseudonymKey, pseudoKey, ssmtypes.ParameterTypeSecureString)
	e.ssmCount = &countingSSM{SSMAPI: e.ssm}
	ttl := o.paramTTL
	if ttl == 0 {
		ttl = params.DefaultTTL
	}
	e.cache, err = params.New(e.ssmCount, e.prefix,
		params.WithNames(ParamAPIKey, ParamClinicID, ParamPseudonymKey),
		params.WithTTL(ttl), params.WithMinRetryInterval(0))
	require.NoError(t, err)

	e.table = awstest.Name(t, "ledger")
	require.NoError(t, ledger.CreateTable(ctx, e.ddb, e.table))
	e.ledger = ledger.New(e.ddb, e.table, ledger.WithLease(LedgerLease), ledger.WithClock(e.clock.Now))
	return e
}

func (e *env) putParam(name, value string, typ ssmtypes.ParameterType) {
	e.t.Helper()
	_, err := e.ssm.PutParameter(context.Background(), &ssm.PutParameterInput{
		Name: aws.String(e.prefix + "/" + name), Value: aws.String(value), Type: typ, Overwrite: aws.Bool(true),
	})
	require.NoError(e.t, err, "put parameter %s", name)
}

// config is a handler configuration for this env and a NovaMed base URL.
func (e *env) config(stage, baseURL string) Config {
	return Config{
		Stage: stage, ParamPrefix: e.prefix, QueueURL: e.queueURL, DLQURL: e.dlqURL,
		LedgerTable: e.table, BaseURL: baseURL, MaxReceiveCount: DefaultMaxReceiveCount,
		Concurrency: DefaultConcurrency, BackoffBase: time.Second, BackoffCap: time.Minute,
	}
}

// zeroBackoff makes retried messages visible again at once, so a test can
// receive them for the next attempt.
func zeroBackoff(_, _ time.Duration, _ int, _ time.Duration) time.Duration { return 0 }

// handler builds a handler over this env. Logs and metrics go to buffers
// the test inspects.
func (e *env) handler(cfg Config, hc *http.Client, opts ...Option) *Handler {
	e.t.Helper()
	base := []Option{
		WithLogger(newJSONLogger(e.logs)),
		WithMetrics(metrics.New(e.emf, map[string]string{"Stage": cfg.Stage})),
		WithHTTPClient(hc),
	}
	h, err := New(cfg, Deps{SQS: e.sqs, Ledger: e.ledger, Params: e.cache}, append(base, opts...)...)
	require.NoError(e.t, err)
	return h
}

// send queues messages as intake would.
func (e *env) send(msgs ...queue.Message) {
	e.t.Helper()
	for _, m := range msgs {
		body, err := m.Encode()
		require.NoError(e.t, err)
		e.sendRaw(body, m.Attributes())
	}
}

func (e *env) sendRaw(body string, attrs map[string]sqstypes.MessageAttributeValue) {
	e.t.Helper()
	_, err := e.sqs.SendMessage(context.Background(), &sqs.SendMessageInput{
		QueueUrl: aws.String(e.queueURL), MessageBody: aws.String(body), MessageAttributes: attrs,
	})
	require.NoError(e.t, err)
}

// receive takes up to want messages from the delivery queue as the Lambda
// event source would hand them to the function.
func (e *env) receive(want int) events.SQSEvent {
	e.t.Helper()
	var ev events.SQSEvent
	for range 5 {
		if len(ev.Records) >= want {
			break
		}
		out, err := e.sqs.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(e.queueURL),
			MaxNumberOfMessages:         int32(min(want-len(ev.Records), 10)),
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
			MessageAttributeNames:       []string{"All"},
		})
		require.NoError(e.t, err)
		for _, m := range out.Messages {
			ev.Records = append(ev.Records, toEventMessage(m))
			e.lastReceipt = aws.ToString(m.ReceiptHandle)
		}
	}
	require.Len(e.t, ev.Records, want, "messages received from the delivery queue")
	return ev
}

// receiveWithin polls the delivery queue until want messages have been
// received or limit has passed. kumo's long poll wakes only for sent
// messages, not for in-flight ones whose visibility ends, hence the polling.
// limit only bounds a failing test: callers pick one well below the queue's
// visibility timeout, so messages received in time did not come back by it.
func (e *env) receiveWithin(want int, limit time.Duration) events.SQSEvent {
	e.t.Helper()
	var ev events.SQSEvent
	for stop := time.Now().Add(limit); len(ev.Records) < want && time.Now().Before(stop); {
		out, err := e.sqs.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(e.queueURL),
			MaxNumberOfMessages:         int32(min(want-len(ev.Records), 10)),
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
			MessageAttributeNames:       []string{"All"},
		})
		require.NoError(e.t, err)
		for _, m := range out.Messages {
			ev.Records = append(ev.Records, toEventMessage(m))
		}
		if len(out.Messages) == 0 {
			time.Sleep(50 * time.Millisecond)
		}
	}
	require.Len(e.t, ev.Records, want, "messages visible again in the delivery queue")
	return ev
}

func toEventMessage(m sqstypes.Message) events.SQSMessage {
	attrs := map[string]events.SQSMessageAttribute{}
	for k, v := range m.MessageAttributes {
		attrs[k] = events.SQSMessageAttribute{StringValue: v.StringValue, DataType: aws.ToString(v.DataType)}
	}
	return events.SQSMessage{
		MessageId:         aws.ToString(m.MessageId),
		ReceiptHandle:     aws.ToString(m.ReceiptHandle),
		Body:              aws.ToString(m.Body),
		Attributes:        m.Attributes,
		MessageAttributes: attrs,
		EventSource:       "aws:sqs",
		AWSRegion:         "us-east-1",
	}
}

// settle does what the event source mapping does after an invocation:
// delete the messages not reported as failures.
func (e *env) settle(ev events.SQSEvent, resp events.SQSEventResponse) {
	e.t.Helper()
	failed := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		failed[f.ItemIdentifier] = true
	}
	for _, r := range ev.Records {
		if failed[r.MessageId] {
			continue
		}
		// The handler may have deleted it already (dead letters).
		_, _ = e.sqs.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{
			QueueUrl: aws.String(e.queueURL), ReceiptHandle: aws.String(r.ReceiptHandle),
		})
	}
}

// run receives want messages, invokes the handler with a deadline of
// budget, and settles the batch as Lambda would.
func (e *env) run(h *Handler, want int, budget time.Duration) (events.SQSEvent, events.SQSEventResponse) {
	e.t.Helper()
	ev := e.receive(want)
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	resp, err := h.Handle(ctx, ev)
	require.NoError(e.t, err, "Handle never fails the whole batch")
	e.settle(ev, resp)
	return ev, resp
}

// counts returns the visible and in-flight messages of a queue.
func (e *env) counts(url string) (visible, inflight int) {
	e.t.Helper()
	out, err := e.sqs.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll},
	})
	require.NoError(e.t, err)
	visible, _ = strconv.Atoi(out.Attributes["ApproximateNumberOfMessages"])
	inflight, _ = strconv.Atoi(out.Attributes["ApproximateNumberOfMessagesNotVisible"])
	return visible, inflight
}

// deadLetter is a message read from the DLQ.
type deadLetter struct {
	body  string
	attrs queue.DLQAttributes
	base  map[string]string
}

// deadLetters drains the DLQ.
func (e *env) deadLetters() []deadLetter {
	e.t.Helper()
	var out []deadLetter
	for range 5 {
		r, err := e.sqs.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(e.dlqURL), MaxNumberOfMessages: 10, MessageAttributeNames: []string{"All"},
			VisibilityTimeout: 300,
		})
		require.NoError(e.t, err)
		if len(r.Messages) == 0 {
			break
		}
		for _, m := range r.Messages {
			a, err := queue.ParseDLQAttributes(m.MessageAttributes)
			require.NoError(e.t, err, "dead-letter attributes")
			base := map[string]string{}
			for k, v := range queue.BaseAttributes(m.MessageAttributes) {
				base[k] = aws.ToString(v.StringValue)
			}
			out = append(out, deadLetter{body: aws.ToString(m.Body), attrs: a, base: base})
		}
	}
	return out
}

// record returns the ledger entry of a record id.
func (e *env) record(id string) ledger.RecordInfo {
	e.t.Helper()
	info, err := e.ledger.Record(context.Background(), id)
	require.NoError(e.t, err)
	return info
}

// emfCount sums the values of an EMF metric, optionally with one dimension.
func (e *env) emfCount(name string, dim ...string) float64 {
	var total float64
	for _, line := range bytes.Split([]byte(e.emf.String()), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		if json.Unmarshal(line, &m) != nil {
			continue
		}
		v, ok := m[name].(float64)
		if !ok {
			continue
		}
		if len(dim) == 2 && m[dim[0]] != dim[1] {
			continue
		}
		total += v
	}
	return total
}

// Record fixtures.

func patientJSON(first, last, email string) json.RawMessage {
	b, _ := json.Marshal(novamed.PatientRequest{
		ClinicID: prodClinic, FirstName: first, LastName: last, DateOfBirth: "1984-07-19",
		Email: email, Gender: "female", Phone: "+1-617-555-0142", AddressLine1: "221 Baker Street",
		City: "Springfield", State: "MA", Zip: "02139",
	})
	return b
}

// message builds a queue message for record index i of an event.
func message(t testing.TB, event string, i int, stage string, deidentified bool, rec json.RawMessage) queue.Message {
	t.Helper()
	id := queue.RecordID(queue.EventID("ehr-a", event, nil), i)
	return queue.Message{
		ID: id, Source: "ehr-a", Kind: novamed.KindPatient, ReceivedAt: time.Now().UTC(),
		Stage: stage, Deidentified: deidentified, Record: rec,
	}
}

// patients builds n distinct patient messages of one event.
func patients(t testing.TB, event string, n int) []queue.Message {
	out := make([]queue.Message, n)
	for i := range n {
		out[i] = message(t, event, i, queue.StageProd, false,
			patientJSON(fmt.Sprintf("Ottoline%d", i), "Quarterfield", fmt.Sprintf("ottoline%d.q@mailbox.example", i)))
	}
	return out
}

func newJSONLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
