package devstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/novamed/bridge/pkg/redrive"
	"github.com/novamed/bridge/pkg/samples"
)

// ErrDemoFailed is returned by Demo when the flow did not behave as expected.
var ErrDemoFailed = errors.New("devstack: the demo found problems")

// DemoOptions configure Demo.
type DemoOptions struct {
	Root     string    // the module root
	BuildDir string    // where binaries go (default: a temporary directory)
	Out      io.Writer // the report
	Logs     io.Writer // the functions' logs (default: discarded)
	Timeout  time.Duration
}

// Demo builds the functions, starts the local stack, posts every sample
// webhook (the good ones, the failures, a repeated event) and a record that
// NovaMed refuses, waits until the queue drains and reports what happened.
// It returns ErrDemoFailed unless everything behaved as the design says.
func Demo(ctx context.Context, o DemoOptions) error {
	if o.Logs == nil {
		o.Logs = io.Discard
	}
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Minute
	}
	if o.BuildDir == "" {
		dir, err := os.MkdirTemp("", "novamed-bridge-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.BuildDir = dir
	}
	out := o.Out
	stack, sources, _, err := startWithSamples(ctx, o.Root, o.BuildDir, out, Options{Name: "demo-" + RandomName(), Logs: o.Logs})
	if err != nil {
		return err
	}
	defer stack.Close()
	fmt.Fprintf(out, "   webhooks: %s/webhooks/<source>   NovaMed sandbox: %s\n", stack.FrontURL, stack.Sandbox.URL)

	var problems []string
	problem := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	// NovaMed has a bad minute: the first two calls fail with 503, which
	// dispatch retries with backoff.
	stack.Sandbox.FailNext(2, 503, 0)

	fmt.Fprintln(out, "== posting the sample webhooks")
	now := time.Now()
	built, err := samples.Build(sources, now)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "   sample\tsource\tstatus\texpected\tanswer")
	// accepted counts every webhook answered 202, the repeated one and the
	// one carrying the refused record included.
	accepted, queued, duplicates, held := 0, 0, 0, 0
	var repeat *samples.Built
	for i, b := range built {
		resp, err := stack.Send(ctx, b.Event)
		if err != nil {
			return err
		}
		mark := ""
		if resp.Status != b.Template.Expect.Status {
			mark = "  <-- unexpected"
			problem("%s answered %d, expected %d", b.Template.Name, resp.Status, b.Template.Expect.Status)
		}
		fmt.Fprintf(tw, "   %s\t%s\t%d\t%d\t%s%s\n", b.Template.Name, b.Template.Source, resp.Status, b.Template.Expect.Status, trimmed(resp.Body), mark)
		if resp.Status == 202 {
			accepted++
			queued += b.Template.Expect.Delivered()
			held += len(b.Template.Expect.Held)
			if repeat == nil && b.Template.Expect.Delivered() == 1 {
				repeat = &built[i]
			}
		}
	}
	if repeat != nil {
		resp, err := stack.Send(ctx, repeat.Event)
		if err != nil {
			return err
		}
		var body struct {
			Duplicate bool `json:"duplicate"`
		}
		_ = json.Unmarshal(resp.Body, &body)
		fmt.Fprintf(tw, "   %s (sent again)\t%s\t%d\t202\t%s\n", repeat.Template.Name, repeat.Template.Source, resp.Status, trimmed(resp.Body))
		if resp.Status != 202 || !body.Duplicate {
			problem("a repeated event was not answered as a duplicate")
		} else {
			accepted++
			duplicates++
		}
	}
	_ = tw.Flush()

	fmt.Fprintln(out, "== waiting for the queue to drain (two NovaMed 503s are retried with backoff)")
	if err := stack.WaitDrained(ctx, o.Timeout); err != nil {
		problem("%v", err)
	}

	// A record NovaMed refuses (400): dead-lettered with its reason.
	fmt.Fprintln(out, "== a record NovaMed refuses with 400")
	stack.Sandbox.FailNext(1, 400, 0)
	refused := findTemplate(built, "form-patient")
	if refused != nil {
		ev, err := refused.Template.Event(sources, now.Add(time.Second))
		if err != nil {
			return err
		}
		// A new event id: the first form-patient was delivered already.
		var body map[string]any
		if err := json.Unmarshal([]byte(ev.Body), &body); err != nil {
			return err
		}
		body["event_id"] = "demo-refused"
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		ev.Body = string(b)
		ev, err = resign(refused.Template, ev, sources, now)
		if err != nil {
			return err
		}
		resp, err := stack.Send(ctx, ev)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "   form-patient (new event): %d %s\n", resp.Status, trimmed(resp.Body))
		if resp.Status != 202 {
			problem("the refused record's webhook answered %d", resp.Status)
		} else {
			accepted++
			queued++
		}
	}
	if err := stack.WaitDrained(ctx, o.Timeout); err != nil {
		problem("%v", err)
	}

	// One person, one chart: the same Patient as a new event (a new
	// webhook-id, as a sender's update would be) finds the chart and
	// creates nothing.
	again := findTemplate(built, "fhir-patient")
	sameBefore := len(stack.Sandbox.Patients())
	if again != nil {
		fmt.Fprintln(out, "== the same patient again, as a new event (one person, one NovaMed chart)")
		tpl := again.Template
		tpl.EventID = "demo-same-person-again"
		ev, err := tpl.Event(sources, time.Now())
		if err != nil {
			return err
		}
		resp, err := stack.Send(ctx, ev)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "   fhir-patient (new event): %d %s\n", resp.Status, trimmed(resp.Body))
		if resp.Status != 202 {
			problem("the same patient's new event answered %d", resp.Status)
		}
		if err := stack.WaitDrained(ctx, o.Timeout); err != nil {
			problem("%v", err)
		}
	}
	sameAfter := len(stack.Sandbox.Patients())

	tool, err := redrive.New(stack.SQS, stack.DLQURL, redrive.WithWaitTime(0), redrive.WithEmptyReceives(2))
	if err != nil {
		return err
	}
	dead, err := tool.Stats(ctx)
	if err != nil {
		return err
	}
	patients, practitioners := stack.Sandbox.Patients(), stack.Sandbox.Practitioners()
	delivered := len(patients) + len(practitioners)
	violations := stack.Sandbox.Violations()

	fmt.Fprintln(out, "== report")
	fmt.Fprintf(out, "   webhooks accepted:      %d (%d of them a repeat, answered as a duplicate; records queued: %d, all de-identified: stage dev)\n",
		accepted, duplicates, queued)
	fmt.Fprintf(out, "   records held:           %d (NovaMed cannot take them as they stand: dead-lettered as held, de-identified; bin/redrive stats shows them)\n", held)
	fmt.Fprintf(out, "   delivered to NovaMed:   %d (%d patients, %d practitioners)\n", delivered, len(patients), len(practitioners))
	fmt.Fprintf(out, "   dead-lettered:          %d\n", dead.Total)
	for _, g := range dead.Groups {
		fmt.Fprintf(out, "     %-12s %-20s %d\n", g.ErrorClass, g.ErrorCode, g.Count)
	}
	fmt.Fprintf(out, "   fetched from the EHR:   the id-only notification's patient, delivered de-identified (%d Patient reads: a retried record is read again; %d SMART token(s) issued)\n",
		stack.EHR.Fetches("Patient"), stack.EHR.TokensIssued())
	fmt.Fprintf(out, "   one person, one chart:  the same patient's new event made %d new chart(s) (%d before, %d after)\n",
		sameAfter-sameBefore, sameBefore, sameAfter)
	fmt.Fprintf(out, "   sandbox duplicates:     %d\n", stack.Sandbox.Duplicates())
	fmt.Fprintf(out, "   PHI seen by the sandbox (Development): %d canary hits\n", len(violations))
	for _, v := range violations {
		fmt.Fprintf(out, "     canary #%d in %s of %s\n", v.Canary, v.Field, v.Path)
	}
	fmt.Fprintln(out, "   what the sandbox received (de-identified):")
	for _, p := range patients {
		r := p.Request
		fmt.Fprintf(out, "     patient      %s %s, born %s, %s, %s %s\n", r.FirstName, r.LastName, r.DateOfBirth, r.Email, r.State, r.Zip)
	}
	for _, p := range practitioners {
		r := p.Request
		fmt.Fprintf(out, "     practitioner %s %s, NPI %s, %s\n", r.FirstName, r.LastName, r.NPINumber, r.Email)
	}

	permanent, heldDead := 0, 0
	for _, g := range dead.Groups {
		switch g.ErrorClass {
		case "permanent":
			permanent += g.Count
		case "held":
			heldDead += g.Count
		}
	}
	if delivered+permanent != queued {
		problem("%d records queued, but %d delivered and %d dead-lettered as permanent", queued, delivered, permanent)
	}
	if permanent != 1 {
		problem("expected exactly one permanent dead letter, found %d", permanent)
	}
	if heldDead != held || dead.Total != permanent+heldDead {
		problem("expected %d held records and one permanent dead letter, found %d dead letters", held, dead.Total)
	}
	if len(violations) > 0 {
		problem("the Development sandbox received PHI (%d canary hits)", len(violations))
	}
	if sameAfter != sameBefore {
		problem("the same patient as a new event made a second chart")
	}
	if stack.EHR.Fetches("Patient") == 0 {
		problem("the id-only notification's patient was never fetched from the EHR")
	}
	if n := stack.Sandbox.Duplicates(); n > 0 {
		problem("NovaMed received %d duplicates", n)
	}
	if len(problems) > 0 {
		fmt.Fprintln(out, "== FAILED")
		for _, p := range problems {
			fmt.Fprintln(out, "   - "+p)
		}
		return ErrDemoFailed
	}
	fmt.Fprintln(out, "== OK: every webhook answered as designed, every record delivered once or dead-lettered with its reason, no PHI reached Development")
	return nil
}

// startWithSamples builds the binaries into buildDir, loads the local test
// sources and the sample templates, and starts a stack seeded with the
// sources, its sandbox watching for the samples' PHI. opts supplies the rest
// (name, logs, front address).
func startWithSamples(ctx context.Context, root, buildDir string, out io.Writer, opts Options) (*Stack, []samples.Source, []samples.Template, error) {
	fmt.Fprintln(out, "== building (the first build compiles the AWS SDK and takes a few minutes on 2 cores)")
	bins, err := Build(ctx, buildDir, prefixWriter(out, "   "))
	if err != nil {
		return nil, nil, nil, err
	}
	sources, err := LoadLocalSources(root)
	if err != nil {
		return nil, nil, nil, err
	}
	templates, err := samples.Templates()
	if err != nil {
		return nil, nil, nil, err
	}
	fmt.Fprintln(out, "== starting the local stack: kumo (SQS, SSM, DynamoDB), the NovaMed sandbox (Development), intake and dispatch under the Lambda RIE")
	opts.Binaries, opts.Sources, opts.Canaries = bins, sources, Canaries(templates, sources)
	stack, err := Start(ctx, opts)
	return stack, sources, templates, err
}

func findTemplate(built []samples.Built, name string) *samples.Built {
	for i := range built {
		if built[i].Template.Name == name {
			return &built[i]
		}
	}
	return nil
}

// resign signs an edited event body again with its source's secret.
func resign(t samples.Template, ev events.APIGatewayV2HTTPRequest, sources []samples.Source, now time.Time) (events.APIGatewayV2HTTPRequest, error) {
	src, ok := samples.Find(sources, t.Source)
	if !ok {
		return ev, fmt.Errorf("devstack: source %s not found", t.Source)
	}
	headers, err := samples.Sign(src, []byte(ev.Body), now)
	if err != nil {
		return ev, err
	}
	for k, v := range headers {
		ev.Headers[strings.ToLower(k)] = v
	}
	return ev, nil
}

// prefixWriter indents a child writer's lines.
func prefixWriter(w io.Writer, prefix string) io.Writer {
	return &indent{w: w, prefix: prefix, start: true}
}

type indent struct {
	w      io.Writer
	prefix string
	start  bool
}

func (i *indent) Write(p []byte) (int, error) {
	for _, line := range strings.SplitAfter(string(p), "\n") {
		if line == "" {
			continue
		}
		if i.start {
			if _, err := io.WriteString(i.w, i.prefix); err != nil {
				return 0, err
			}
		}
		if _, err := io.WriteString(i.w, line); err != nil {
			return 0, err
		}
		i.start = strings.HasSuffix(line, "\n")
	}
	return len(p), nil
}

// DefaultRoot finds the module root from the working directory.
func DefaultRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return FindRoot(filepath.Clean(wd))
}
