package devstack

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/novamed/bridge/pkg/samples"
)

// CostOptions configure Cost.
type CostOptions struct {
	Root string
	// N is the number of webhooks measured (after a warm-up).
	N   int
	Out io.Writer
}

// CostSample is the sample posted: one FHIR Patient, one record, signed
// with Standard Webhooks, the common case.
const CostSample = "fhir-patient"

// costWarmUp webhooks go first, uncounted: the measurement is of warm
// functions (SSM read once per container and cache TTL, as in AWS).
const costWarmUp = 3

// TemplateMemoryMB is template.yaml's Globals.Function.MemorySize, the
// memory the GB-seconds are computed at (internal/stackcheck pins it).
const TemplateMemoryMB = 256

// Cost builds and starts the local stack with a Meter, posts N distinct
// copies of CostSample, waits for every record to reach the sandbox and
// prints the work per webhook (AWS calls by operation, log bytes, EMF lines,
// invocations, billed milliseconds) and what it costs per million webhooks
// at the prices in costPrices.
func Cost(ctx context.Context, o CostOptions) error {
	if o.N <= 0 {
		return errors.New("cost: -n must be positive")
	}
	out := o.Out
	dir, err := os.MkdirTemp("", "novamed-bridge-cost-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	meter := NewMeter()
	defer meter.Close()
	stack, sources, templates, err := startWithSamples(ctx, o.Root, dir, out, Options{Name: "cost-" + RandomName(), Meter: meter})
	if stack != nil {
		defer stack.Close()
	}
	if err != nil {
		return err
	}
	usage, err := MeasureWebhooks(ctx, stack, meter, sources, templates, o.N)
	if err != nil {
		return err
	}
	return PrintCost(out, usage, o.N)
}

// MeasureWebhooks posts costWarmUp and then n distinct copies of CostSample
// through the stack, waits until all are delivered and the stack is quiet,
// and returns what the meter counted for the n.
func MeasureWebhooks(ctx context.Context, s *Stack, meter *Meter, sources []samples.Source, templates []samples.Template, n int) (Usage, error) {
	var tpl samples.Template
	for _, t := range templates {
		if t.Name == CostSample {
			tpl = t
		}
	}
	if tpl.Name == "" {
		return Usage{}, fmt.Errorf("cost: sample %s not found", CostSample)
	}
	base := len(s.Sandbox.Patients())
	post := func(i int) error {
		ev, err := distinctPatient(tpl, sources, i)
		if err != nil {
			return err
		}
		resp, err := s.Send(ctx, ev)
		if err != nil {
			return err
		}
		if resp.Status != http.StatusAccepted {
			return fmt.Errorf("cost: webhook %d answered %d: %s", i, resp.Status, trimmed(resp.Body))
		}
		return nil
	}
	for i := range costWarmUp {
		if err := post(-1 - i); err != nil {
			return Usage{}, err
		}
	}
	if err := waitDelivered(ctx, s, meter, base+costWarmUp); err != nil {
		return Usage{}, err
	}
	meter.Reset()
	for i := range n {
		if err := post(i); err != nil {
			return Usage{}, err
		}
	}
	if err := waitDelivered(ctx, s, meter, base+costWarmUp+n); err != nil {
		return Usage{}, err
	}
	return meter.Snapshot(), nil
}

// distinctPatient is the sample with its own Patient id and event id, so
// every webhook is a new event about a new person (no duplicate, no
// existing chart).
func distinctPatient(tpl samples.Template, sources []samples.Source, i int) (ev events.APIGatewayV2HTTPRequest, err error) {
	var body map[string]any
	if err := json.Unmarshal(tpl.Body, &body); err != nil {
		return ev, fmt.Errorf("cost: sample body: %w", err)
	}
	body["id"] = fmt.Sprintf("cost-%d", i)
	if tpl.Body, err = json.Marshal(body); err != nil {
		return ev, err
	}
	tpl.EventID = fmt.Sprintf("msg_cost_%d_%d", time.Now().UnixNano(), i)
	return tpl.Event(sources, time.Now())
}

// waitDelivered waits until the sandbox holds want patients and then until
// the meter sees no call other than the poller's empty receives for a
// while, so the last deletes are counted. It reads the sandbox, not AWS:
// waiting costs no call.
func waitDelivered(ctx context.Context, s *Stack, meter *Meter, want int) error {
	deadline := time.Now().Add(3 * time.Minute)
	quiet, last := 0, -1
	for time.Now().Before(deadline) {
		settled := len(s.Sandbox.Patients()) >= want
		busy := 0
		u := meter.Snapshot()
		for c, cc := range u.Calls {
			if c.Operation != "ReceiveMessage" {
				busy += cc.Calls
			}
		}
		if settled && busy == last {
			quiet++
			if quiet == 4 {
				return nil
			}
		} else {
			quiet = 0
		}
		last = busy
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return fmt.Errorf("cost: %d of %d records delivered after 3 minutes", len(s.Sandbox.Patients()), want)
}

// PrintCost writes the per-webhook counts and the cost per million.
func PrintCost(out io.Writer, u Usage, n int) error {
	per := func(v float64) float64 { return v / float64(n) }
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "\n== work per webhook (%d webhooks of %s, warm functions)\n", n, CostSample)
	fmt.Fprintln(tw, "service\toperation\tcalls\tper webhook\tlargest request (bytes)")
	for _, c := range u.Sorted() {
		cc := u.Calls[c]
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.3f\t%d\n", c.Service, c.Operation, cc.Calls, per(float64(cc.Calls)), cc.MaxRequest)
	}
	l := u.Logs
	fmt.Fprintf(tw, "logs\tbytes (emulator lines excluded)\t%d\t%.0f\t\n", l.Bytes, per(float64(l.Bytes)))
	fmt.Fprintf(tw, "logs\tEMF metric lines\t%d\t%.2f\t\n", l.EMFLines, per(float64(l.EMFLines)))
	fmt.Fprintf(tw, "lambda\tinvocations\t%d\t%.3f\t\n", l.Invocations, per(float64(l.Invocations)))
	fmt.Fprintf(tw, "lambda\tbilled ms (local machine)\t%.0f\t%.1f\t\n", l.BilledMS, per(l.BilledMS))
	if err := tw.Flush(); err != nil {
		return err
	}
	m := CostModel(u, n)
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "\n== per million webhooks, us-east-1 list prices (%s)\n", costPricesAsOf)
	for _, line := range m.Lines {
		fmt.Fprintf(tw, "%s\t%s\t$%.2f\n", line.Item, line.Quantity, line.Dollars)
	}
	fmt.Fprintf(tw, "total\t\t$%.2f\n", m.Total)
	return tw.Flush()
}

// runCost parses `devstack cost` flags.
func runCost(ctx context.Context, root string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cost", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 200, "webhooks to measure")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return Cost(ctx, CostOptions{Root: root, N: *n, Out: stdout})
}
