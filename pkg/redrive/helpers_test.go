package redrive_test

import (
	"context"
	"encoding/json"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/internal/awstest"
	"github.com/novamed/bridge/internal/logtest"
	"github.com/novamed/bridge/pkg/novamed"
	"github.com/novamed/bridge/pkg/queue"
	"github.com/novamed/bridge/pkg/redrive"
)

// env is one in-process kumo with SQS, SSM and DynamoDB clients. kumo keeps
// one store per process, shared by every server, so every name a test
// creates starts with prefix, derived from the test's name.
type env struct {
	t   *testing.T
	url string
	sqs *sqs.Client
	// api is sqs with the RedriveAllowPolicy kumo drops: the tool's client.
	api    *kumoSQS
	ssm    *ssm.Client
	ddb    *dynamodb.Client
	prefix string
	// bodies are the bodies put, by record id.
	bodies map[string]string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	kumoEnv := awstest.Start(t)
	client := kumoEnv.SQS()
	return &env{
		t:      t,
		url:    kumoEnv.URL,
		sqs:    client,
		api:    &kumoSQS{Client: client, allow: map[string]string{}},
		ssm:    kumoEnv.SSM(),
		ddb:    kumoEnv.DynamoDB(),
		prefix: awstest.Name(t, "rd"),
		bodies: map[string]string{},
	}
}

// queue creates a queue and returns its URL.
func (e *env) queue(suffix string) string {
	e.t.Helper()
	out, err := e.sqs.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String(e.prefix + "-" + suffix)})
	require.NoError(e.t, err)
	return aws.ToString(out.QueueUrl)
}

// queues creates the stack's two queues as template.yaml does: the
// delivery queue ("queue") and the DLQ ("dlq"), whose RedriveAllowPolicy is
// byQueue naming the delivery queue. It returns their URLs.
func (e *env) queues() (dlq, target string) {
	e.t.Helper()
	dlq, target = e.queue("dlq"), e.queue("queue")
	e.allowRedrive(dlq, redrive.PermissionByQueue, e.arn(target))
	return dlq, target
}

// arn returns a queue's ARN, as kumo reports it.
func (e *env) arn(url string) string {
	e.t.Helper()
	out, err := e.sqs.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	require.NoError(e.t, err)
	arn := out.Attributes[string(types.QueueAttributeNameQueueArn)]
	require.NotEmpty(e.t, arn)
	return arn
}

// allowRedrive sets the RedriveAllowPolicy of dlq: in kumo, which accepts
// and drops it, and in e.api, which returns it.
func (e *env) allowRedrive(dlq, permission string, sourceArns ...string) {
	e.t.Helper()
	p := map[string]any{"redrivePermission": permission}
	if sourceArns != nil {
		p["sourceQueueArns"] = sourceArns
	}
	b, err := json.Marshal(p)
	require.NoError(e.t, err)
	_, err = e.sqs.SetQueueAttributes(context.Background(), &sqs.SetQueueAttributesInput{
		QueueUrl: aws.String(dlq), Attributes: map[string]string{string(types.QueueAttributeNameRedriveAllowPolicy): string(b)},
	})
	require.NoError(e.t, err)
	e.api.setAllowPolicy(dlq, string(b))
}

// kumoSQS is kumo's SQS with the one queue attribute the tool reads that
// kumo (v0.33) does not keep: RedriveAllowPolicy. SetQueueAttributes
// accepts it and GetQueueAttributes never returns it, so this client adds
// the policy a test set (allowRedrive) when kumo's answer lacks it;
// everything else is kumo's, QueueArn included.
type kumoSQS struct {
	*sqs.Client
	mu    sync.Mutex
	allow map[string]string // queue URL -> RedriveAllowPolicy
}

func (k *kumoSQS) setAllowPolicy(url, policy string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.allow[url] = policy
}

func (k *kumoSQS) GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, o ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	out, err := k.Client.GetQueueAttributes(ctx, in, o...)
	if err != nil {
		return out, err
	}
	const name = string(types.QueueAttributeNameRedriveAllowPolicy)
	k.mu.Lock()
	policy, ok := k.allow[aws.ToString(in.QueueUrl)]
	k.mu.Unlock()
	wanted := slices.Contains(in.AttributeNames, types.QueueAttributeNameRedriveAllowPolicy) ||
		slices.Contains(in.AttributeNames, types.QueueAttributeNameAll)
	if ok && wanted && out.Attributes[name] == "" {
		attrs := map[string]string{name: policy}
		for k, v := range out.Attributes {
			if k != name {
				attrs[k] = v
			}
		}
		out.Attributes = attrs
	}
	return out, nil
}

// fastOptions make passes quick against kumo: short polls, and two empty
// receives to decide the queue is empty.
func fastOptions() []redrive.Option {
	return []redrive.Option{redrive.WithWaitTime(0), redrive.WithEmptyReceives(2)}
}

func (e *env) tool(dlq string, opts ...redrive.Option) *redrive.Tool {
	e.t.Helper()
	tool, err := redrive.New(e.api, dlq, append(fastOptions(), opts...)...)
	require.NoError(e.t, err)
	return tool
}

func fixture(t *testing.T, kind novamed.Kind) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + string(kind) + ".json")
	require.NoError(t, err)
	return b
}

// canaries returns the string values of a fixture (four characters or
// more) and its key names that are not NovaMed fields, except the values
// the policy keeps (kept).
func canaries(t *testing.T, kind novamed.Kind, kept ...string) []string {
	t.Helper()
	var m map[string]string
	require.NoError(t, json.Unmarshal(fixture(t, kind), &m))
	known := novamed.FieldNames(kind)
	var out []string
	for k, v := range m {
		if !slices.Contains(known, k) {
			out = append(out, k)
		}
		if len(v) >= 4 && !slices.Contains(kept, k) {
			out = append(out, v)
		}
	}
	require.NotEmpty(t, out)
	return out
}

// assertNoCanary fails when a canary appears in out. The failure names the
// canary's position in the list, never the canary.
func assertNoCanary(t *testing.T, what, out string, canaries []string) {
	t.Helper()
	for i, c := range canaries {
		// Whole values: the fixture's ZIP turns up inside a message id or
		// a timestamp by chance.
		if logtest.ContainsValue(out, c) {
			t.Errorf("%s holds record value #%d of the fixture", what, i)
		}
	}
}

// dead describes a dead letter to put in a DLQ.
type dead struct {
	class, code string
	status      int
	kind        novamed.Kind
	failedAt    time.Time
	noAttrs     bool   // no dead-letter attributes (the redrive policy moved it)
	body        string // instead of a valid message
}

var eventSeq atomic.Int64

// put sends a dead letter to the DLQ and returns its record id (empty for
// a custom body).
func (e *env) put(dlq string, d dead) string {
	e.t.Helper()
	if d.kind == "" {
		d.kind = novamed.KindPatient
	}
	if d.failedAt.IsZero() {
		d.failedAt = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	}
	m := queue.Message{
		ID:         queue.RecordID(queue.EventID("acme-ehr", "evt-"+strconv.FormatInt(eventSeq.Add(1), 10), nil), 0),
		Source:     "acme-ehr",
		Kind:       d.kind,
		ReceivedAt: d.failedAt.Add(-time.Minute),
		Stage:      queue.StageDev,
		Record:     fixture(e.t, d.kind),
	}
	body, err := m.Encode()
	require.NoError(e.t, err)
	id := m.ID
	if d.body != "" {
		body, id = d.body, ""
	}
	if id != "" {
		e.bodies[id] = body
	}
	attrs := m.Attributes()
	if !d.noAttrs {
		attrs, err = queue.DLQAttributes{
			ErrorClass: d.class, ErrorCode: d.code, HTTPStatus: d.status, Attempts: 3, FailedAt: d.failedAt,
		}.MessageAttributes(m.Attributes())
		require.NoError(e.t, err)
	}
	_, err = e.sqs.SendMessage(context.Background(), &sqs.SendMessageInput{
		QueueUrl: aws.String(dlq), MessageBody: aws.String(body), MessageAttributes: attrs,
	})
	require.NoError(e.t, err)
	return id
}

// msg is a message found in a queue.
type msg struct {
	recordID string
	body     string
	attrs    map[string]types.MessageAttributeValue
	handle   string
}

// contents receives every message of a queue and keeps them hidden for the
// rest of the test.
func (e *env) contents(url string) []msg {
	e.t.Helper()
	var out []msg
	for empty := 0; empty < 2; {
		res, err := e.sqs.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(url), MaxNumberOfMessages: 10, VisibilityTimeout: 600,
			MessageAttributeNames: []string{"All"},
		})
		require.NoError(e.t, err)
		if len(res.Messages) == 0 {
			empty++
			continue
		}
		for _, m := range res.Messages {
			got := msg{body: aws.ToString(m.Body), attrs: m.MessageAttributes, handle: aws.ToString(m.ReceiptHandle)}
			if qm, err := queue.Decode(got.body); err == nil {
				got.recordID = qm.ID
			}
			out = append(out, got)
		}
	}
	return out
}

// release makes messages received by contents visible again.
func (e *env) release(url string, msgs []msg) {
	e.t.Helper()
	for _, m := range msgs {
		_, err := e.sqs.ChangeMessageVisibility(context.Background(), &sqs.ChangeMessageVisibilityInput{
			QueueUrl: aws.String(url), ReceiptHandle: aws.String(m.handle), VisibilityTimeout: 0,
		})
		require.NoError(e.t, err)
	}
}

func recordIDs(msgs []msg) []string {
	ids := make([]string, 0, len(msgs))
	for _, m := range msgs {
		ids = append(ids, m.recordID)
	}
	slices.Sort(ids)
	return ids
}

func sorted(ids ...string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	if out == nil {
		out = []string{}
	}
	return out
}

// requireAllVisible checks that a pass left every message of the queue
// visible: receiving right after it gets them all (the pass hid them for
// the default 30s, so only a release makes them receivable now). kumo's
// ApproximateNumberOfMessagesNotVisible counts released messages until the
// next receive, so it cannot tell.
func (e *env) requireAllVisible(url string, want int) []msg {
	e.t.Helper()
	got := e.contents(url)
	require.Len(e.t, got, want, "messages receivable right after the pass")
	return got
}
