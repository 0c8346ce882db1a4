// Package devstack runs the whole bridge on one machine with no AWS account:
// kumo (SQS, SSM, DynamoDB) in-process, the NovaMed sandbox marked as the
// Development environment, both bootstrap binaries under the AWS Lambda
// Runtime Interface Emulator, an HTTP front that plays API Gateway and a
// poller that plays Lambda's SQS event source mapping. `make demo`, `make
// local`, `make invoke-*` without Docker (Invoke) and the end-to-end tests all
// use it; everything listens on loopback.
//
// It exists because the bridge's promises are made by the deployed pieces
// working together: the exactly-once effect by intake, SQS, the ledger and
// dispatch; the environment guard by both functions and the target URL; the
// batch item failures and retries by Lambda's event source. Unit tests of
// each package cannot show those, and checking them on AWS needs an
// account, a deployment and NovaMed's Development environment, which must
// never see PHI. So the stack runs the same bootstrap binaries as Lambda
// runs them, with the real AWS SDK clients against an emulator, and the
// NovaMed sandbox watches for the samples' real values (canaries): what
// `make demo` and the end-to-end tests check is what would be deployed, on
// one machine, in one command.
package devstack

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/sivchari/kumo"

	"github.com/novamed/bridge/internal/loopclient"
	"github.com/novamed/bridge/pkg/awsclients"
	"github.com/novamed/bridge/pkg/ehr/ehrtest"
	"github.com/novamed/bridge/pkg/ledger"
	"github.com/novamed/bridge/pkg/novamed/novamedtest"
	"github.com/novamed/bridge/pkg/samples"
)

// Region is the region every local client uses.
const Region = "us-east-1"

// ClinicID is the local sandbox's clinic. It is fixed, and made of letters
// but for the UUID's version digit, because every record carries it and the
// sandbox looks for the samples' PHI in every value it receives: a random
// UUID holds a five-digit sample ZIP now and then, a leak that is not one.
const ClinicID = "cafebabe-feed-4ead-beef-decafbadface"

// Options configure a Stack. The zero value is a dev stack named "local".
type Options struct {
	// Name distinguishes stacks in one process: kumo keeps one store per
	// process, so queue, table and parameter names carry it.
	Name string
	// Binaries are the built emulator and functions (see Build).
	Binaries Binaries
	// Sources are the local test sources seeded into SSM.
	Sources []samples.Source
	// Canaries are the values the sandbox must never receive.
	Canaries []string
	// Logs receives the functions' and the emulator's output.
	Logs io.Writer
	// MaxReceiveCount is the queue's redrive maxReceiveCount and dispatch's
	// last attempt (default 5).
	MaxReceiveCount int
	// BackoffBase and BackoffCap bound dispatch's retry delays; short by
	// default so a local run drains in seconds.
	BackoffBase, BackoffCap time.Duration
	// FrontAddr is the HTTP front's address (default 127.0.0.1:0).
	FrontAddr string
	// Meter, when set, counts the stack's AWS calls and log output (see
	// Meter; `devstack cost`).
	Meter *Meter
	// Instances is how many execution environments each function runs in
	// (default 1): intake answers that many webhooks at once, and dispatch
	// gets that many batches at once from as many pollers, as Lambda scales
	// a function out and its SQS event source mapping adds pollers.
	Instances int
	// FrontListener, when set, is the front's listener (FrontAddr is then
	// unused): Local opens it before the build so a busy port is reported
	// at once.
	FrontListener net.Listener
}

// Stack is a running local bridge.
type Stack struct {
	Name     string
	AWS      aws.Config
	SQS      *sqs.Client
	SSM      *ssm.Client
	DynamoDB *dynamodb.Client
	Sandbox  *novamedtest.Server
	// EHR is the sandbox FHIR server (with its SMART token endpoint) of the
	// sources that fetch id-only notifications.
	EHR      *ehrtest.Server
	Intake   *Pool
	Dispatch *Pool
	// Poller is the event source mapping; Instances copies of it poll at
	// once, one per dispatch instance.
	Poller *Poller

	// FrontURL is where webhooks are posted: FrontURL + "/webhooks/<source>".
	FrontURL string
	// Endpoint is the local AWS endpoint (AWS_ENDPOINT_URL): kumo behind a
	// proxy that keeps the DLQ's RedriveAllowPolicy (see awsFront).
	Endpoint    string
	QueueURL    string
	DLQURL      string
	LedgerTable string
	ParamPrefix string

	env        []string // the functions' environment
	kumo       *kumo.Server
	awsFront   *awsFront
	front      *http.Server
	stopPoller context.CancelFunc
	pollerDone chan struct{}
	pollerErr  error // the first poller's error; read after pollerDone
	closeOnce  sync.Once
}

// Start brings a stack up. Close it when done.
func Start(ctx context.Context, opts Options) (s *Stack, err error) {
	if opts.Name == "" {
		opts.Name = "local"
	}
	if opts.Logs == nil {
		opts.Logs = io.Discard
	}
	if opts.MaxReceiveCount == 0 {
		opts.MaxReceiveCount = 5
	}
	if opts.BackoffBase == 0 {
		opts.BackoffBase = 200 * time.Millisecond
	}
	if opts.BackoffCap == 0 {
		opts.BackoffCap = time.Second
	}
	s = &Stack{
		Name:        opts.Name,
		LedgerTable: "novamed-bridge-" + opts.Name + "-ledger",
		ParamPrefix: "/novamed-bridge-" + opts.Name + "/dev",
		pollerDone:  make(chan struct{}),
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()

	s.kumo = kumo.NewServer()
	if s.awsFront, err = startAWSFront(s.kumo.URL); err != nil {
		return s, fmt.Errorf("devstack: AWS endpoint: %w", err)
	}
	s.Endpoint = s.awsFront.URL
	if opts.Meter != nil {
		// The meter counts what reaches the endpoint, in front of it.
		if s.Endpoint, err = opts.Meter.start(s.awsFront.URL); err != nil {
			return s, err
		}
		opts.Logs = opts.Meter.wrapLogs(opts.Logs)
	}
	// The stack's own clients (the poller, the soak's counts, tests) reach
	// kumo as the tests do (internal/loopclient): a ReceiveMessage whose
	// answer is cut hides its messages for the visibility timeout.
	s.AWS, err = loopclient.LoadConfig(ctx, config.WithRegion(Region),
		config.WithBaseEndpoint(s.Endpoint), config.WithCredentialsProvider(aws.AnonymousCredentials{}))
	if err != nil {
		return s, err
	}
	s.SQS = sqs.NewFromConfig(s.AWS)
	s.SSM = ssm.NewFromConfig(s.AWS)
	s.DynamoDB = awsclients.NewEmulatorDynamoDB(s.AWS)

	s.Sandbox = novamedtest.New(novamedtest.WithClinicID(ClinicID))
	s.Sandbox.MarkDevelopment(append(opts.Canaries, ehrCanaries()...)...)
	if s.EHR, opts.Sources, err = startEHR(opts.Sources); err != nil {
		return s, err
	}

	if err := s.createQueues(ctx, opts.MaxReceiveCount); err != nil {
		return s, err
	}
	if err := ledger.CreateTable(ctx, s.DynamoDB, s.LedgerTable); err != nil {
		return s, fmt.Errorf("devstack: ledger table: %w", err)
	}
	if err := s.seedParameters(ctx, opts.Sources); err != nil {
		return s, err
	}

	env := s.functionEnv(opts)
	s.env = env
	n := max(opts.Instances, 1)
	s.Intake, err = StartPool(ctx, FunctionConfig{Name: "intake", RIE: opts.Binaries.RIE, Bootstrap: opts.Binaries.Intake, Env: env, Timeout: 10 * time.Second, Logs: opts.Logs}, n)
	if err != nil {
		return s, err
	}
	s.Dispatch, err = StartPool(ctx, FunctionConfig{Name: "dispatch", RIE: opts.Binaries.RIE, Bootstrap: opts.Binaries.Dispatch, Env: env, Timeout: 30 * time.Second, Logs: opts.Logs}, n)
	if err != nil {
		return s, err
	}

	l := opts.FrontListener
	if l == nil {
		addr := opts.FrontAddr
		if addr == "" {
			addr = "127.0.0.1:0"
		}
		if l, err = net.Listen("tcp", addr); err != nil {
			return s, fmt.Errorf("devstack: front: %w", err)
		}
	}
	s.FrontURL = "http://" + l.Addr().String()
	s.front = &http.Server{Handler: &Front{Intake: s.Intake, Stage: "dev"}, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.front.Serve(l) }()

	s.Poller = &Poller{
		SQS: s.SQS, QueueURL: s.QueueURL, Region: Region, Dispatch: s.Dispatch,
		QueueARN:  s.QueueARN("delivery"),
		BatchSize: 10, WaitTime: 1,
	}
	pctx, cancel := context.WithCancel(context.Background())
	s.stopPoller = cancel
	go func() {
		defer close(s.pollerDone)
		s.pollerErr = s.runPollers(pctx, n)
	}()
	return s, nil
}

// runPollers runs n pollers until ctx is done or one fails; a failure
// stops them all, so WaitDrained reports it rather than waiting on a
// mapping that is half gone.
func (s *Stack) runPollers(ctx context.Context, n int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, n)
	for range n {
		go func() {
			err := s.Poller.Run(ctx)
			cancel()
			errs <- err
		}()
	}
	var first error
	for range n {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (s *Stack) queueName(role string) string { return "novamed-bridge-" + s.Name + "-" + role }

// QueueARN is the ARN of one of the stack's queues ("delivery", "dlq"), as
// kumo reports it.
func (s *Stack) QueueARN(role string) string {
	return "arn:aws:sqs:" + Region + ":000000000000:" + s.queueName(role)
}

// createQueues makes the delivery queue and its DLQ as template.yaml does:
// redrive policy to the DLQ as a safety net behind dispatch's own
// dead-lettering, and the DLQ's RedriveAllowPolicy naming the delivery queue
// (kept by awsFront, as kumo drops it), so `redrive move` works locally as
// it does in AWS.
func (s *Stack) createQueues(ctx context.Context, maxReceive int) error {
	dlq, err := s.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{
		QueueName: aws.String(s.queueName("dlq")),
		Attributes: map[string]string{
			"MessageRetentionPeriod": "1209600",
			"RedriveAllowPolicy":     fmt.Sprintf(`{"redrivePermission":"byQueue","sourceQueueArns":[%q]}`, s.QueueARN("delivery")),
		},
	})
	if err != nil {
		return fmt.Errorf("devstack: create DLQ: %w", err)
	}
	s.DLQURL = aws.ToString(dlq.QueueUrl)
	dlqARN := s.QueueARN("dlq")
	q, err := s.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{
		QueueName: aws.String(s.queueName("delivery")),
		Attributes: map[string]string{
			"VisibilityTimeout": "30",
			"RedrivePolicy":     fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"%d"}`, dlqARN, maxReceive),
		},
	})
	if err != nil {
		return fmt.Errorf("devstack: create queue: %w", err)
	}
	s.QueueURL = aws.ToString(q.QueueUrl)
	return nil
}

// seedParameters writes what an operator puts in SSM before the first
// deployment (docs/operations.md), with local test values.
func (s *Stack) seedParameters(ctx context.Context, sources []samples.Source) error {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	params := []struct {
		name, value string
		secure      bool
	}{
		{"api-key", s.Sandbox.APIKey(), true},
		{"clinic-id", s.Sandbox.ClinicID(), false},
		{"pseudonym-key", base64.StdEncoding.EncodeToString(key), true},
	}
	for _, src := range sources {
		params = append(params, struct {
			name, value string
			secure      bool
		}{"sources/" + src.Name, string(src.JSON), true})
	}
	for _, p := range params {
		if err := s.PutParameter(ctx, p.name, p.value, p.secure); err != nil {
			return err
		}
	}
	return nil
}

// PutParameter writes (or overwrites) a parameter under the stack's prefix.
func (s *Stack) PutParameter(ctx context.Context, name, value string, secure bool) error {
	typ := ssmtypes.ParameterTypeString
	if secure {
		typ = ssmtypes.ParameterTypeSecureString
	}
	_, err := s.SSM.PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String(s.ParamPrefix + "/" + name), Value: aws.String(value), Type: typ, Overwrite: aws.Bool(true),
	})
	if err != nil {
		return fmt.Errorf("devstack: put parameter %s: %w", name, err)
	}
	return nil
}

func (s *Stack) functionEnv(opts Options) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"AWS_ENDPOINT_URL=" + s.Endpoint,
		"AWS_REGION=" + Region,
		"AWS_ACCESS_KEY_ID=local",
		"AWS_SECRET_ACCESS_KEY=local",
		"AWS_EC2_METADATA_DISABLED=true",
		"STAGE=dev",
		"PARAM_PREFIX=" + s.ParamPrefix,
		"QUEUE_URL=" + s.QueueURL,
		"DLQ_URL=" + s.DLQURL,
		"LEDGER_TABLE=" + s.LedgerTable,
		"NOVAMED_BASE_URL=" + s.Sandbox.URL,
		"MAX_RECEIVE_COUNT=" + strconv.Itoa(opts.MaxReceiveCount),
		"BACKOFF_BASE=" + opts.BackoffBase.String(),
		"BACKOFF_CAP=" + opts.BackoffCap.String(),
	}
}

// EnvVars is the functions' environment as a `sam local invoke --env-vars`
// file: make invoke-intake ENV_VARS=<file> runs a function alone against
// this stack.
func (s *Stack) EnvVars() ([]byte, error) {
	vars := envMap(s.env)
	delete(vars, "PATH")
	return json.MarshalIndent(map[string]map[string]string{"IntakeFunction": vars, "DispatchFunction": vars}, "", "  ")
}

// envMap reads KEY=value pairs as a process's environment: of a key given
// twice the last wins, as in exec.Cmd's Env.
func envMap(env []string) map[string]string {
	vars := make(map[string]string, len(env))
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	return vars
}

// Response is what the front answered.
type Response struct {
	Status int
	Body   []byte
}

// Send posts a sample event through the HTTP front, as its sender would.
func (s *Stack) Send(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (Response, error) {
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
			return Response{}, err
		}
	}
	method := ev.RequestContext.HTTP.Method
	if method == "" {
		method = http.MethodPost
	}
	req, err := http.NewRequestWithContext(ctx, method, s.FrontURL+ev.RawPath+queryOf(ev), bytes.NewReader(body))
	if err != nil {
		return Response{}, err
	}
	for k, v := range ev.Headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return Response{Status: resp.StatusCode, Body: out}, err
}

// QueueDepth is the number of messages in a queue, visible or not.
func (s *Stack) QueueDepth(ctx context.Context, url string) (int, error) {
	out, err := s.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{
			sqstypes.QueueAttributeNameApproximateNumberOfMessages,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed,
		},
	})
	if err != nil {
		return 0, err
	}
	total := 0
	for _, v := range out.Attributes {
		n, _ := strconv.Atoi(v)
		total += n
	}
	return total, nil
}

// ErrNotDrained is returned by WaitDrained when the queue still holds
// messages at the deadline.
var ErrNotDrained = errors.New("devstack: the delivery queue did not drain")

// WaitDrained waits until the delivery queue is empty: everything delivered,
// dead-lettered or acknowledged as a duplicate.
func (s *Stack) WaitDrained(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	quiet := 0
	for time.Now().Before(deadline) {
		n, err := s.QueueDepth(ctx, s.QueueURL)
		if err != nil {
			return err
		}
		// Two empty readings in a row: a message between receive and
		// delete is not missed.
		if n == 0 {
			quiet++
			if quiet == 2 {
				return nil
			}
		} else {
			quiet = 0
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.pollerDone:
			return fmt.Errorf("devstack: the poller stopped: %v", s.pollerErr)
		case <-time.After(250 * time.Millisecond):
		}
	}
	return ErrNotDrained
}

// Close stops everything Start started.
func (s *Stack) Close() {
	s.closeOnce.Do(func() {
		if s.stopPoller != nil {
			s.stopPoller()
			<-s.pollerDone
		}
		if s.front != nil {
			_ = s.front.Close()
		}
		for _, p := range []*Pool{s.Intake, s.Dispatch} {
			if p != nil {
				p.Close()
			}
		}
		if s.Sandbox != nil {
			s.Sandbox.Close()
		}
		if s.EHR != nil {
			s.EHR.Close()
		}
		if s.awsFront != nil {
			s.awsFront.close()
		}
		if s.kumo != nil {
			s.kumo.Close()
		}
	})
}

// RandomName returns a short random stack name, for tests that start
// several stacks in one process.
func RandomName() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "t" + hex.EncodeToString(b)
}

// FindRoot returns the module root (the directory holding go.mod) at or
// above dir, so the local stack finds events/ wherever it is started from.
func FindRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("devstack: no go.mod above the working directory")
		}
		dir = parent
	}
}

// SourcesDir is where the local test sources live, relative to the root.
const SourcesDir = "events/sources"

// LoadLocalSources reads the local test sources from the module root.
func LoadLocalSources(root string) ([]samples.Source, error) {
	return samples.LoadSources(filepath.Join(root, SourcesDir))
}

// trimmed keeps a response body printable in a report line.
func trimmed(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}
