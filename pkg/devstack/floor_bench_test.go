package devstack

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/novamed/bridge/pkg/awsclients"
	"github.com/novamed/bridge/pkg/novamed/novamedtest"
)

// BenchmarkInvokeFloor measures what one warm invocation under the Lambda
// RIE costs on this machine before a function does anything: b.N
// invocations of the hello-world aws-lambda-go binary (hellofn, which
// answers a constant), then of intake answering a GET (405, no AWS call:
// configuration read, the route refused), each function as two instances
// of the local stack's Pool driven by 50 goroutines, as the soak drives it.
// No front, no sender's HTTP, no AWS call: every webhook of a soak costs
// at least this much, and more. Then b.N SQS SendMessage calls made as
// the functions make them, through the stack's AWS endpoint and straight
// to kumo: what each of a webhook's AWS calls adds.
//
//   - hello-per-s, intake-get-per-s: invocations per second, both cores
//     busy;
//   - hello-cpu-ms, intake-get-cpu-ms: processor time per invocation, the
//     emulators, the bootstraps and this process's client together;
//   - intake-get-x-hello: the second over the first;
//   - aws-call-per-s, aws-call-cpu-ms, kumo-call-per-s, kumo-call-cpu-ms:
//     the same for one AWS call (client, proxy and kumo, all in this
//     process).
//
// Cores divided by hello-cpu-ms is the most invocations per second this
// machine can run under the emulator, whatever the function: the ceiling
// for anything that invokes a function once per webhook, as API Gateway
// invokes intake.
//
// Its figures are per operation, its set-up (builds, emulators, the stack)
// is most of its wall time, so it reports no ns/op; give it a count of
// operations (-benchtime Nx), not a duration.
//
// go test -run '^$' -bench InvokeFloor -benchtime 10000x ./pkg/devstack
func BenchmarkInvokeFloor(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	bins, err := Build(ctx, dir, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	hello := buildHello(b, dir)
	// A GET needs no AWS call.
	env := unreachableEnv("/floor")
	get := events.APIGatewayV2HTTPRequest{Version: "2.0", RawPath: "/webhooks/ehr-fhir",
		PathParameters: map[string]string{"source": "ehr-fhir"},
		RequestContext: events.APIGatewayV2HTTPRequestContext{HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "GET"}}}

	run := func(name, bootstrap string, event any) (perSecond, cpuMS float64) {
		p, err := StartPool(ctx, FunctionConfig{Name: name, RIE: bins.RIE, Bootstrap: bootstrap, Env: env,
			Timeout: 10 * time.Second, Logs: io.Discard}, 2)
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		// Warm both instances (their bootstraps start on the first invocation).
		var warm sync.WaitGroup
		for range p.Instances() {
			warm.Go(func() {
				if _, err := p.Invoke(ctx, event); err != nil {
					b.Error(err)
				}
			})
		}
		warm.Wait()
		before := poolAndSelfCPU(p)
		start := time.Now()
		work := make(chan struct{}, b.N)
		for range b.N {
			work <- struct{}{}
		}
		close(work)
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				for range work {
					if _, err := p.Invoke(ctx, event); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		elapsed := time.Since(start)
		used := poolAndSelfCPU(p) - before
		return float64(b.N) / elapsed.Seconds(), float64(used) / float64(time.Millisecond) / float64(b.N)
	}

	// One AWS call as the functions make it: the SDK with the functions'
	// configuration, to the stack's AWS endpoint (through its proxy, a new
	// connection to kumo per call) or straight to kumo (connections kept:
	// the least an AWS call can cost here), all of it in this process.
	awsCall := func(s *Stack, queueURL *string, endpoint string) (perSecond, cpuMS float64) {
		vars := envMap(s.env)
		vars[awsclients.EndpointEnv] = endpoint
		cfg, err := awsclients.FromEnv(func(k string) string { return vars[k] })
		if err != nil {
			b.Fatal(err)
		}
		client := sqs.NewFromConfig(cfg)
		body := aws.String(strings.Repeat("x", 600))
		before, _ := procCPU(os.Getpid())
		start := time.Now()
		per := max(b.N/50, 1)
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() {
				for range per {
					if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: queueURL, MessageBody: body}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		elapsed := time.Since(start)
		after, _ := procCPU(os.Getpid())
		n := float64(per * 50)
		return n / elapsed.Seconds(), float64(after-before) / float64(time.Millisecond) / n
	}

	b.ResetTimer()
	helloRate, helloCPU := run("hello", hello, map[string]string{})
	intakeRate, intakeCPU := run("intake", bins.Intake, get)
	// The stack starts after the invocations, so that its pollers and
	// idle functions are not in their figures.
	b.StopTimer()
	s, err := Start(ctx, Options{Name: RandomName(), Binaries: bins})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	// A queue for each pass, so that the second does not start on the
	// first's messages.
	queue := func(name string) *string {
		q, err := s.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("floor-" + name + "-" + s.Name)})
		if err != nil {
			b.Fatal(err)
		}
		return q.QueueUrl
	}
	viaEndpoint, toKumo := queue("endpoint"), queue("kumo")
	b.StartTimer()
	awsRate, awsCPU := awsCall(s, viaEndpoint, s.Endpoint)
	kumoRate, kumoCPU := awsCall(s, toKumo, s.kumo.URL)
	b.StopTimer()
	b.ReportMetric(awsRate, "aws-call-per-s")
	b.ReportMetric(awsCPU, "aws-call-cpu-ms")
	b.ReportMetric(kumoRate, "kumo-call-per-s")
	b.ReportMetric(kumoCPU, "kumo-call-cpu-ms")
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(helloRate, "hello-per-s")
	b.ReportMetric(helloCPU, "hello-cpu-ms")
	b.ReportMetric(intakeRate, "intake-get-per-s")
	b.ReportMetric(intakeCPU, "intake-get-cpu-ms")
	b.ReportMetric(intakeCPU/helloCPU, "intake-get-x-hello")
}

// poolAndSelfCPU is the pool's emulators' and bootstraps' processor time
// and this process's.
func poolAndSelfCPU(p *Pool) time.Duration {
	rie, fn := p.cpu()
	self, _ := procCPU(os.Getpid())
	return rie + fn + self
}

// unreachableEnv is the functions' environment with nothing listening at
// any address it names: for runs that make no AWS call (a GET, a start
// without a runtime API).
func unreachableEnv(paramPrefix string) []string {
	return (&Stack{Endpoint: "http://127.0.0.1:1", ParamPrefix: paramPrefix, QueueURL: "http://127.0.0.1:1/q",
		DLQURL: "http://127.0.0.1:1/dlq", LedgerTable: "ledger", Sandbox: &novamedtest.Server{URL: "http://127.0.0.1:1"}}).
		functionEnv(Options{MaxReceiveCount: 5, BackoffBase: time.Second, BackoffCap: time.Minute})
}

// buildHello builds hellofn as Build builds the bootstraps, under dir.
func buildHello(b *testing.B, dir string) string {
	b.Helper()
	hello := filepath.Join(dir, "hello", "bootstrap")
	cmd := exec.Command("go", "build", "-trimpath", "-tags", "lambda.norpc", "-o", hello, "./testdata/hellofn")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build hellofn: %v\n%s", err, out)
	}
	return hello
}
