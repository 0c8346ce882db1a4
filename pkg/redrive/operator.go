package redrive

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"

	"github.com/novamed/bridge/pkg/ledger"
	"github.com/novamed/bridge/pkg/queue"
)

// The operator commands: they act on one record or one event, across the
// ledger and the queues (package doc, "Operator commands").
const (
	CmdConfirm = "confirm"
	CmdRelease = "release"
	CmdSubject = "subject"
	CmdTrace   = "trace"
)

// OperatorUsageLines are the operator commands' lines of Usage.
const OperatorUsageLines = `  redrive confirm --record ID --novamed-id NMID
                (--dlq URL --ledger-table T | --stack NAME) [--json]
  redrive release --record ID
                (--dlq URL --to URL --ledger-table T | --stack NAME)
                [--allow-any-target] [--json]
  redrive subject --record ID (--ledger-table T | --stack NAME) [--json]
  redrive trace   (--event ID | --source NAME [--since D])
                (--dlq URL --ledger-table T | --stack NAME)
                [--queue URL --peek-queue] [--json]`

// OperatorUsageCommands describe the operator commands in Usage.
const OperatorUsageCommands = `Operator commands (one record or event, across the ledger and the queues;
record ids are <event id>/<index>, the event id is the "id" of intake's 202):
  confirm Record the NovaMed id you found for an unconfirmed record: the
          record is marked delivered with it, its subject (the person)
          created with it (unless another record owns the subject), and its
          dead letters are deleted from the DLQ.
  release Nothing in NovaMed for an unconfirmed record: release it in the
          ledger (and the subject it owns) and move its dead letters back to
          the delivery queue (--to), checked against the DLQ's
          RedriveAllowPolicy as move does. Dispatch then delivers it again.
  subject Show a record's ledger entry and its subject's: states, attempts,
          NovaMed ids, owner record and the chart's field names.
  trace   The story of one event (--event, the 202's id) or of every event
          of a source received in the last --since (default 1h): the
          event's ledger entry, each record's state, attempts, subject and
          outcome (delivered, held, update, unconfirmed, dead-lettered,
          retrying, queued) and its dead letters (class, code, fields,
          novamed_id). --source scans the ledger table (billed for the
          whole table). --peek-queue also looks for the records in the
          delivery queue (--queue): each receive counts toward the queue's
          maxReceiveCount, so it is off by default. Messages read are
          hidden for --visibility (default 5s for trace) and released at
          once.
  None of them prints a record value. Operator flags:
  --record ID           the record id, e.g. acme-ehr:<32 hex>/0
  --novamed-id NMID     confirm: the chart's id found in NovaMed
  --event ID            trace: the event id
  --source NAME         trace: the source, with --since
  --since D             trace: how far back, e.g. 1h (default 1h, at most 720h)
  --ledger-table T      the ledger table (--stack reads LedgerTableName)
  --to URL              release: the delivery queue
  --queue URL           trace: the delivery queue (for --peek-queue)
  --peek-queue          trace: look for the records in the delivery queue too
`

// DefaultTraceVisibility is how long trace hides the messages it reads.
const DefaultTraceVisibility = 5 * time.Second

// DefaultTraceSince is trace's --since.
const DefaultTraceSince = time.Hour

// maxTraceSince bounds --since: the ledger keeps events 30 days.
const maxTraceSince = 720 * time.Hour

// OutputLedgerTable is the stack output naming the ledger table.
const OutputLedgerTable = "LedgerTableName"

// LedgerDB is what the operator commands need of DynamoDB.
// *dynamodb.Client implements it.
type LedgerDB interface {
	ledger.Client
	ledger.Scanner
}

// OperatorCommand is a parsed confirm, release, subject or trace.
type OperatorCommand struct {
	Name        string
	Record      string
	NovaMedID   string
	Event       string
	Source      string
	Since       time.Duration
	LedgerTable string
	DLQ         string
	// To is release's delivery queue; Queue is trace's.
	To             string
	Queue          string
	Stack          string
	PeekQueue      bool
	AllowAnyTarget bool
	JSON           bool
	Visibility     time.Duration
	Wait           time.Duration
}

// IsOperatorCommand reports whether name is confirm, release, subject or
// trace.
func IsOperatorCommand(name string) bool {
	switch name {
	case CmdConfirm, CmdRelease, CmdSubject, CmdTrace:
		return true
	}
	return false
}

// novamedIDRE is the shape queue accepts for a NovaMed id attribute.
var novamedIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func parseOperator(args []string) (*Command, error) {
	o := &OperatorCommand{Name: args[0]}
	fs := flag.NewFlagSet(o.Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.LedgerTable, "ledger-table", "", "")
	fs.StringVar(&o.Stack, "stack", "", "")
	fs.BoolVar(&o.JSON, "json", false, "")
	if o.Name != CmdTrace {
		fs.StringVar(&o.Record, "record", "", "")
	}
	if o.Name != CmdSubject {
		fs.StringVar(&o.DLQ, "dlq", "", "")
		vis := DefaultVisibilityTimeout
		if o.Name == CmdTrace {
			vis = DefaultTraceVisibility
		}
		fs.DurationVar(&o.Visibility, "visibility", vis, "")
		fs.DurationVar(&o.Wait, "wait", DefaultWaitTime, "")
	}
	switch o.Name {
	case CmdConfirm:
		fs.StringVar(&o.NovaMedID, "novamed-id", "", "")
	case CmdRelease:
		fs.StringVar(&o.To, "to", "", "")
		fs.BoolVar(&o.AllowAnyTarget, "allow-any-target", false, "")
	case CmdTrace:
		fs.StringVar(&o.Event, "event", "", "")
		fs.StringVar(&o.Source, "source", "", "")
		fs.DurationVar(&o.Since, "since", DefaultTraceSince, "")
		fs.StringVar(&o.Queue, "queue", "", "")
		fs.BoolVar(&o.PeekQueue, "peek-queue", false, "")
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, ErrHelp
		}
		if m := flagValueRE.FindStringSubmatch(err.Error()); m != nil {
			return nil, usageErr("invalid value for --%s", m[1])
		}
		return nil, usageErr("%s: %s", o.Name, err.Error())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if err := o.check(fs.NArg(), set); err != nil {
		return nil, err
	}
	return &Command{Name: o.Name, Operator: o}, nil
}

func (o *OperatorCommand) check(nargs int, set map[string]bool) error {
	switch {
	case nargs > 0:
		return usageErr("%s takes no arguments besides flags", o.Name)
	case o.LedgerTable == "" && o.Stack == "":
		return usageErr("--ledger-table or --stack is required")
	case o.Name != CmdSubject && o.DLQ == "" && o.Stack == "":
		return usageErr("--dlq or --stack is required")
	case o.Name != CmdSubject && (o.Visibility < time.Second || o.Visibility > 12*time.Hour):
		return usageErr("--visibility must be between 1s and 12h")
	case o.Name != CmdSubject && (o.Wait < 0 || o.Wait > 20*time.Second):
		return usageErr("--wait must be between 0s and 20s")
	}
	if o.Name != CmdTrace {
		if _, _, err := queue.ParseRecordID(o.Record); err != nil {
			return usageErr("--record must be a record id, <source>:<32 hex digits>/<index>")
		}
	}
	switch o.Name {
	case CmdConfirm:
		if !novamedIDRE.MatchString(o.NovaMedID) {
			return usageErr("--novamed-id must be a NovaMed id (1 to 64 of A-Z a-z 0-9 _ -)")
		}
	case CmdRelease:
		switch {
		case o.To == "" && o.Stack == "":
			return usageErr("--to or --stack is required")
		case o.To != "" && o.To == o.DLQ:
			return usageErr("--to is the dead-letter queue itself")
		}
	case CmdTrace:
		return o.checkTrace(set)
	}
	return nil
}

func (o *OperatorCommand) checkTrace(set map[string]bool) error {
	switch {
	case (o.Event == "") == (o.Source == ""):
		return usageErr("trace needs --event or --source (one of them)")
	case o.Event != "":
		if _, _, err := queue.ParseRecordID(o.Event + "/0"); err != nil {
			return usageErr("--event must be an event id, <source>:<32 hex digits>")
		}
		if set["since"] {
			return usageErr("--since goes with --source, not --event")
		}
	case !queue.ValidSource(o.Source):
		return usageErr("--source must be a source name")
	case o.Since <= 0 || o.Since > maxTraceSince:
		return usageErr("--since must be above 0 and at most %s", maxTraceSince)
	}
	if o.PeekQueue && o.Queue == "" && o.Stack == "" {
		return usageErr("--peek-queue needs --queue or --stack")
	}
	return nil
}

// resolve fills the queues and the table from the stack's outputs where
// the flags left them empty.
func (o *OperatorCommand) resolve(ctx context.Context, cl Clients) error {
	if o.Stack == "" {
		return nil
	}
	if cl.Stacks == nil {
		return errors.New("redrive: no CloudFormation client")
	}
	out, err := stackOutputs(ctx, cl.Stacks, o.Stack)
	if err != nil {
		return err
	}
	for _, f := range []struct {
		dst *string
		key string
	}{
		{&o.LedgerTable, OutputLedgerTable},
		{&o.DLQ, OutputDLQURL},
		{&o.To, OutputQueueURL},
		{&o.Queue, OutputQueueURL},
	} {
		if *f.dst != "" {
			continue
		}
		if out[f.key] == "" {
			return fmt.Errorf("%w: %s", ErrStackOutput, f.key)
		}
		*f.dst = out[f.key]
	}
	return nil
}

// stackOutputs reads a CloudFormation stack's outputs by key.
func stackOutputs(ctx context.Context, api StackAPI, name string) (map[string]string, error) {
	out, err := api.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(name)})
	if err != nil {
		return nil, awsErr("DescribeStacks", err)
	}
	if len(out.Stacks) != 1 {
		return nil, &AWSError{Op: "DescribeStacks", Code: fmt.Sprintf("%d stacks found", len(out.Stacks))}
	}
	m := map[string]string{}
	for _, o := range out.Stacks[0].Outputs {
		m[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	return m, nil
}

// Run runs the operator command: results to stdout, notes to stderr.
func (o *OperatorCommand) Run(ctx context.Context, cl Clients, stdout, stderr io.Writer) error {
	if err := o.resolve(ctx, cl); err != nil {
		return err
	}
	if cl.DynamoDB == nil {
		return errors.New("redrive: no DynamoDB client")
	}
	l := ledger.New(cl.DynamoDB, o.LedgerTable)
	if o.Name == CmdSubject {
		return o.subject(ctx, l, stdout)
	}
	opts := append([]Option{WithVisibilityTimeout(o.Visibility), WithWaitTime(o.Wait)}, cl.Options...)
	dlq, err := New(cl.SQS, o.DLQ, opts...)
	if err != nil {
		return err
	}
	switch o.Name {
	case CmdConfirm:
		return o.confirm(ctx, l, dlq, stdout)
	case CmdRelease:
		return o.release(ctx, l, dlq, stdout, stderr)
	}
	tr := &Tracer{Ledger: l, DLQ: dlq}
	if o.PeekQueue {
		if tr.Queue, err = New(cl.SQS, o.Queue, opts...); err != nil {
			return err
		}
	}
	return o.trace(ctx, tr, cl.DynamoDB, stdout, stderr)
}
