//go:build !nokumo

package main

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
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
	"github.com/novamed/bridge/pkg/params"
	"github.com/novamed/bridge/pkg/queue"
	"github.com/novamed/bridge/pkg/samples"
)

// testParamTTL is the parameter cache's TTL in the kumo fixture.
const testParamTTL = 5 * time.Minute

// fakeClock is a settable clock shared by the handler and the parameter
// cache.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// countingSSM counts the SSM calls the parameter cache makes.
type countingSSM struct {
	params.SSMAPI
	calls atomic.Int64
}

func (c *countingSSM) GetParameters(ctx context.Context, in *ssm.GetParametersInput, o ...func(*ssm.Options)) (*ssm.GetParametersOutput, error) {
	c.calls.Add(1)
	return c.SSMAPI.GetParameters(ctx, in, o...)
}

func (c *countingSSM) GetParametersByPath(ctx context.Context, in *ssm.GetParametersByPathInput, o ...func(*ssm.Options)) (*ssm.GetParametersByPathOutput, error) {
	c.calls.Add(1)
	return c.SSMAPI.GetParametersByPath(ctx, in, o...)
}

// fixtureConfig tunes newFixture.
type fixtureConfig struct {
	stage     string
	targetURL string
	// skipParams leaves SSM empty of the clinic and pseudonym key.
	skipParams []string
}

type fixtureOption func(*fixtureConfig)

func withStage(stage, targetURL string) fixtureOption {
	return func(c *fixtureConfig) { c.stage, c.targetURL = stage, targetURL }
}

func withoutParam(name string) fixtureOption {
	return func(c *fixtureConfig) { c.skipParams = append(c.skipParams, name) }
}

// fixture is the intake handler wired to real AWS clients talking to kumo
// in-process: a queue, a ledger table and SSM parameters of its own (kumo's
// state is global to the process, so every name is unique), with the local
// test sources (one per scheme) stored as SecureStrings.
type fixture struct {
	t        *testing.T
	ctx      context.Context
	awsCfg   aws.Config
	sqs      *sqs.Client
	ssm      *ssm.Client
	ddb      *dynamodb.Client
	ssmCalls *countingSSM
	prefix   string
	queueURL string
	dlqURL   string
	table    string
	sources  []samples.Source
	clock    *fakeClock
	logs     *logtest.Buffer
	metrics  *logtest.Buffer
	cache    *params.Cache
	ledger   *ledger.Ledger
	handler  *Handler
}

func newFixture(t *testing.T, opts ...fixtureOption) *fixture {
	t.Helper()
	fc := fixtureConfig{stage: "dev"}
	for _, o := range opts {
		o(&fc)
	}
	kumoEnv := awstest.Start(t, config.WithRetryMaxAttempts(1))
	ctx := context.Background()

	name := awstest.Name(t, "intake")
	f := &fixture{
		t:      t,
		ctx:    ctx,
		awsCfg: kumoEnv.Config,
		sqs:    kumoEnv.SQS(),
		// Reads are retried as in production (the SDK's three attempts):
		// now and then, with the whole package running, a GetParametersByPath
		// answer from the in-process kumo was cut mid-read ("use of closed
		// network connection"; cause not found, not a keep-alive reuse),
		// which a single attempt turned into a 503. Writes keep one attempt,
		// so a test sees each call the handler makes.
		ssm:     ssm.NewFromConfig(kumoEnv.Config, func(o *ssm.Options) { o.RetryMaxAttempts = 3 }),
		ddb:     kumoEnv.DynamoDB(),
		prefix:  "/novamed-bridge/test/" + name,
		table:   name,
		sources: loadSources(t),
		clock:   &fakeClock{now: time.Date(2026, 1, 15, 10, 0, 0, 0, time.UTC)},
		logs:    &logtest.Buffer{},
		metrics: &logtest.Buffer{},
	}
	q, err := f.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	require.NoError(t, err)
	f.queueURL = aws.ToString(q.QueueUrl)
	dlq, err := f.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name + "-dlq")})
	require.NoError(t, err)
	f.dlqURL = aws.ToString(dlq.QueueUrl)
	require.NoError(t, ledger.CreateTable(ctx, f.ddb, f.table))

	values := map[string]string{ParamClinicID: testClinicID, ParamPseudonymKey: testPseudonymKey}
	for _, skip := range fc.skipParams {
		delete(values, skip)
	}
	for n, v := range values {
		f.putParam(n, v)
	}
	for _, s := range f.sources {
		f.putParam(ParamSources+"/"+s.Name, string(s.JSON))
	}

	f.ssmCalls = &countingSSM{SSMAPI: f.ssm}
	f.cache, err = params.New(f.ssmCalls, f.prefix,
		params.WithNames(ParamClinicID, ParamPseudonymKey),
		params.WithPath(ParamSources),
		params.WithTTL(testParamTTL),
		params.WithClock(f.clock.Now),
		params.WithLogger(slog.New(slog.NewJSONHandler(f.logs, nil))),
	)
	require.NoError(t, err)
	sender, err := queue.NewSender(f.sqs, f.queueURL)
	require.NoError(t, err)
	f.ledger = ledger.New(f.ddb, f.table)
	f.handler = f.newHandler(Config{
		Stage: fc.stage, TargetURL: fc.targetURL, Params: f.cache, Queue: sender, Ledger: f.ledger,
	})
	return f
}

// newHandler builds a handler on cfg with the fixture's clock, logs and
// metrics, and the fixture's dead-letter queue unless cfg names one.
func (f *fixture) newHandler(cfg Config) *Handler {
	f.t.Helper()
	if cfg.DeadLetters == nil {
		dl, err := queue.NewSender(f.sqs, f.dlqURL)
		require.NoError(f.t, err)
		cfg.DeadLetters = dl
	}
	return f.buildHandler(cfg)
}

// buildHandler builds a handler on cfg with the fixture's clock, logs and
// metrics.
func (f *fixture) buildHandler(cfg Config) *Handler {
	f.t.Helper()
	cfg.Now = f.clock.Now
	cfg.Logger = slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Metrics = metrics.New(f.metrics, map[string]string{"Stage": NormalizeStage(cfg.Stage)})
	h, err := New(cfg)
	require.NoError(f.t, err)
	return h
}

func (f *fixture) putParam(name, value string) {
	f.t.Helper()
	typ := ssmtypes.ParameterTypeSecureString
	if name == ParamClinicID {
		typ = ssmtypes.ParameterTypeString
	}
	_, err := f.ssm.PutParameter(f.ctx, &ssm.PutParameterInput{
		Name: aws.String(f.prefix + "/" + name), Value: aws.String(value), Type: typ, Overwrite: aws.Bool(true),
	})
	require.NoError(f.t, err)
}

func (f *fixture) source(name string) samples.Source {
	f.t.Helper()
	s, ok := samples.Find(f.sources, name)
	require.True(f.t, ok, "source %s", name)
	return s
}

// invoke runs the handler on a sample event with the clock at the event's
// time of receipt, as the signatures need.
func (f *fixture) invoke(ev events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	f.t.Helper()
	f.clock.Set(samples.EventTime(ev))
	return f.call(ev)
}

// call runs the handler at the clock's current time.
func (f *fixture) call(ev events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	f.t.Helper()
	resp, err := f.handler.Handle(f.ctx, ev)
	require.NoError(f.t, err, "Handle never returns an error")
	require.Equal(f.t, "application/json", resp.Headers["Content-Type"])
	return resp
}

// post signs body for the source at the clock's time and calls the handler.
func (f *fixture) post(sourceName string, body []byte, headers map[string]string, opts ...samples.SignOption) events.APIGatewayV2HTTPResponse {
	f.t.Helper()
	return f.call(f.request(sourceName, body, headers, opts...))
}

// request builds a signed POST event (unsigned when the source is not a
// local test source).
func (f *fixture) request(sourceName string, body []byte, headers map[string]string, opts ...samples.SignOption) events.APIGatewayV2HTTPRequest {
	f.t.Helper()
	h := map[string]string{"content-type": "application/json"}
	if src, ok := samples.Find(f.sources, sourceName); ok {
		signed, err := samples.Sign(src, body, f.clock.Now(), opts...)
		require.NoError(f.t, err)
		for k, v := range signed {
			h[k] = v
		}
	}
	for k, v := range headers {
		if v == "" {
			delete(h, k)
			continue
		}
		h[k] = v
	}
	return events.APIGatewayV2HTTPRequest{
		Version:        "2.0",
		RouteKey:       "POST /webhooks/{source}",
		RawPath:        "/webhooks/" + sourceName,
		Headers:        h,
		PathParameters: map[string]string{"source": sourceName},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RequestID: "test-" + f.t.Name(),
			HTTP:      events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "POST", Path: "/webhooks/" + sourceName},
		},
		Body: string(body),
	}
}

// received is a queued message as dispatch will see it.
type received struct {
	msg   queue.Message
	attrs map[string]sqstypes.MessageAttributeValue
}

// messages drains the queue. kumo answers at once, so an empty receive
// means an empty queue.
func (f *fixture) messages() []received {
	f.t.Helper()
	return f.receive(f.queueURL)
}

// deadLetters receives every message waiting in the fixture's DLQ.
func (f *fixture) deadLetters() []received {
	f.t.Helper()
	return f.receive(f.dlqURL)
}

func (f *fixture) receive(url string) []received {
	f.t.Helper()
	var out []received
	for range 100 {
		r, err := f.sqs.ReceiveMessage(f.ctx, &sqs.ReceiveMessageInput{
			QueueUrl:              aws.String(url),
			MaxNumberOfMessages:   10,
			MessageAttributeNames: []string{"All"},
			VisibilityTimeout:     300,
		})
		require.NoError(f.t, err)
		if len(r.Messages) == 0 {
			return out
		}
		for _, m := range r.Messages {
			msg, err := queue.Decode(aws.ToString(m.Body))
			require.NoError(f.t, err, "queued message decodes")
			out = append(out, received{msg: msg, attrs: m.MessageAttributes})
		}
	}
	f.t.Fatal("queue does not drain")
	return nil
}
