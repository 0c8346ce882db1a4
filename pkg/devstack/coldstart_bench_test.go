package devstack

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
//   - *-x-hello: each divided by hello-ms;
//   - base-*: the same for the bootstraps under $COLDSTART_BASELINE
//     (<dir>/intake/bootstrap, <dir>/dispatch/bootstrap, built from
//     another commit as Build builds them), run in the same iterations, so
//     that a change is measured against its baseline in one run.
//
// Each figure is the median of the iterations (one busy moment of a shared
// machine moves a mean far more).
//
// go test -run '^$' -bench ColdStart -benchtime 20x ./pkg/devstack
// COLDSTART_BASELINE=/tmp/base go test -run '^$' -bench ColdStart -benchtime 20x ./pkg/devstack
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
	hello := buildHello(b, dir)
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
	webhook := func(int) any {
		tpl := patient
		tpl.EventID = fmt.Sprintf("msg_coldstart_%d", time.Now().UnixNano())
		ev, err := tpl.Event(sources, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		return ev
	}
	// The baseline's bootstraps, when given, run in the same iterations.
	base := os.Getenv("COLDSTART_BASELINE")
	baseIntake, baseDispatch := filepath.Join(base, "intake", "bootstrap"), filepath.Join(base, "dispatch", "bootstrap")
	type step struct {
		metric, name, bootstrap string
		event                   func(int) any
	}
	empty := func(int) any { return events.SQSEvent{Records: []events.SQSMessage{}} }
	steps := []step{
		{"hello", "hello", hello, func(int) any { return map[string]string{} }},
		{"intake", "intake", bins.Intake, func(int) any { return get }},
		{"dispatch", "dispatch", bins.Dispatch, empty},
		{"webhook", "intake", bins.Intake, webhook},
	}
	if base != "" {
		steps = append(steps,
			step{"base-intake", "intake", baseIntake, func(int) any { return get }},
			step{"base-dispatch", "dispatch", baseDispatch, empty},
			step{"base-webhook", "intake", baseIntake, webhook})
	}
	times := map[string][]time.Duration{}
	b.ResetTimer()
	for range b.N {
		for _, st := range steps {
			times[st.metric] = append(times[st.metric], first(st.name, st.bootstrap, st.event))
		}
		// Every other iteration in the opposite order, so that no binary
		// always runs in the same place (after the build, after kumo's
		// busiest moment, ...).
		slices.Reverse(steps)
	}
	median := func(metric string) float64 {
		ds := slices.Clone(times[metric])
		slices.Sort(ds)
		return float64(ds[len(ds)/2]) / float64(time.Millisecond)
	}
	hel := median("hello")
	b.ReportMetric(hel, "hello-ms")
	for _, m := range []string{"intake", "dispatch", "webhook"} {
		b.ReportMetric(median(m), m+"-ms")
		b.ReportMetric(median(m)/hel, m+"-x-hello")
		if base != "" {
			b.ReportMetric(median("base-"+m), "base-"+m+"-ms")
			b.ReportMetric(median("base-"+m)/hel, "base-"+m+"-x-hello")
		}
	}
}

// BenchmarkProcessStart runs each bootstrap as a process with the local
// stack's environment but no runtime API: it does its package
// initialisation and main's set-up (configuration, AWS clients; no AWS
// call), then lambda.Start gives up and the process exits. It reports the
// median CPU time (user + system, all threads) and wall time of that,
// beside hellofn's, and the same for the bootstraps under
// $COLDSTART_BASELINE when given, interleaved in alternating order. CPU
// time is the figure to read on a loaded machine: waiting for a core does
// not count in it.
//
// COLDSTART_BASELINE=/tmp/base go test -run '^$' -bench ProcessStart -benchtime 101x ./pkg/devstack
func BenchmarkProcessStart(b *testing.B) {
	dir := b.TempDir()
	bins, err := Build(context.Background(), dir, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	hello := buildHello(b, dir)
	env := unreachableEnv("/coldstart")
	type proc struct{ metric, path string }
	procs := []proc{{"hello", hello}, {"intake", bins.Intake}, {"dispatch", bins.Dispatch}}
	if base := os.Getenv("COLDSTART_BASELINE"); base != "" {
		procs = append(procs, proc{"base-intake", filepath.Join(base, "intake", "bootstrap")},
			proc{"base-dispatch", filepath.Join(base, "dispatch", "bootstrap")})
	}
	cpu, wall := map[string][]time.Duration{}, map[string][]time.Duration{}
	b.ResetTimer()
	for range b.N {
		for _, p := range procs {
			cmd := exec.Command(p.path)
			cmd.Env = env
			start := time.Now()
			_ = cmd.Run() // exits 1: no runtime API
			wall[p.metric] = append(wall[p.metric], time.Since(start))
			cpu[p.metric] = append(cpu[p.metric], cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime())
		}
		slices.Reverse(procs)
	}
	median := func(ds []time.Duration) float64 {
		ds = slices.Clone(ds)
		slices.Sort(ds)
		return float64(ds[len(ds)/2]) / float64(time.Millisecond)
	}
	for _, p := range procs {
		b.ReportMetric(median(cpu[p.metric]), p.metric+"-cpu-ms")
		b.ReportMetric(median(wall[p.metric]), p.metric+"-wall-ms")
	}
	for _, m := range []string{"intake", "dispatch"} {
		if _, ok := cpu["base-"+m]; ok {
			b.ReportMetric(median(cpu[m])/median(cpu["base-"+m]), m+"-cpu-x-base")
		}
	}
}
