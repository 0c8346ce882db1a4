package devstack

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/novamed/bridge/pkg/samples"
)

// BenchmarkColdStart starts each bootstrap under the Lambda RIE afresh
// (a new execution environment: the emulator starts the bootstrap on its
// first invocation) and times that first invocation, beside a hello-world
// aws-lambda-go binary built the same way, interleaved in one run so the
// ratios hold on a loaded machine:
//
//   - hello-ms: hellofn's init + first invoke (the floor: the Go runtime,
//     aws-lambda-go, the emulator);
//   - intake-ms, dispatch-ms: init + an invocation that needs no AWS call
//     (intake: a GET, answered 405; dispatch: an empty batch);
//   - webhook-ms: init + intake's first real webhook (a signed FHIR
//     Patient: the SSM fetch, the ledger, SQS, all against kumo), what the
//     first sender waits for;
//   - *-x-hello: each divided by hello-ms.
//
// go test -run '^$' -bench ColdStart -benchtime 20x ./pkg/devstack
func BenchmarkColdStart(b *testing.B) {
	ctx := context.Background()
	root, err := FindRoot(".")
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	bins, err := Build(ctx, dir, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	hello := filepath.Join(dir, "hello", "bootstrap")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-tags", "lambda.norpc", "-o", hello, "./testdata/hellofn")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build hellofn: %v\n%s", err, out)
	}
	sources, err := LoadLocalSources(root)
	if err != nil {
		b.Fatal(err)
	}
	opts := Options{Name: RandomName(), Binaries: bins, Sources: sources, MaxReceiveCount: 5,
		BackoffBase: 200 * time.Millisecond, BackoffCap: time.Second}
	s, err := Start(ctx, opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	env := s.functionEnv(opts)
	ts, err := samples.Templates()
	if err != nil {
		b.Fatal(err)
	}
	var patient samples.Template
	for _, t := range ts {
		if t.Name == "fhir-patient" {
			patient = t
		}
	}

	get := events.APIGatewayV2HTTPRequest{Version: "2.0", RawPath: "/webhooks/ehr-fhir",
		PathParameters: map[string]string{"source": "ehr-fhir"},
		RequestContext: events.APIGatewayV2HTTPRequestContext{HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "GET"}}}
	first := func(name, bootstrap string, event func(i int) any) time.Duration {
		f, err := StartFunction(ctx, FunctionConfig{Name: name, RIE: bins.RIE, Bootstrap: bootstrap, Env: env, Timeout: 10 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		start := time.Now()
		if _, err := f.Invoke(ctx, event(0)); err != nil {
			b.Fatalf("%s: %v", name, err)
		}
		return time.Since(start)
	}
	var hel, in, dis, hook time.Duration
	b.ResetTimer()
	for i := range b.N {
		hel += first("hello", hello, func(int) any { return map[string]string{} })
		in += first("intake", bins.Intake, func(int) any { return get })
		dis += first("dispatch", bins.Dispatch, func(int) any { return events.SQSEvent{Records: []events.SQSMessage{}} })
		hook += first("intake", bins.Intake, func(int) any {
			tpl := patient
			tpl.EventID = fmt.Sprintf("msg_coldstart_%d_%d", i, time.Now().UnixNano())
			ev, err := tpl.Event(sources, time.Now())
			if err != nil {
				b.Fatal(err)
			}
			return ev
		})
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(b.N) / float64(time.Millisecond) }
	b.ReportMetric(ms(hel), "hello-ms")
	b.ReportMetric(ms(in), "intake-ms")
	b.ReportMetric(ms(dis), "dispatch-ms")
	b.ReportMetric(ms(hook), "webhook-ms")
	b.ReportMetric(float64(in)/float64(hel), "intake-x-hello")
	b.ReportMetric(float64(dis)/float64(hel), "dispatch-x-hello")
	b.ReportMetric(float64(hook)/float64(hel), "webhook-x-hello")
}
