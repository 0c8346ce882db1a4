package redrive

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"time"
)

// Usage is the command's help text.
const Usage = `redrive: the operators' tool for the NovaMed Bridge dead-letter queue.

Usage:
  redrive stats (--dlq URL | --stack NAME) [--json]
  redrive peek  (--dlq URL | --stack NAME) [-n N] [--param-prefix PREFIX] [--json]
  redrive move  (--dlq URL --to URL | --stack NAME) [--error-class C] [--error-code E]
                [--max N] [--rate R] [--dry-run]
                [--confirm-unconfirmed --ledger-table TABLE]
                [--allow-any-target] [--json]
  redrive move  (--dlq URL --to URL | --stack NAME) --all-native [--rate R]
                [--allow-any-target]
` + OperatorUsageLines + `

Commands:
  stats   Count the dead letters by error_class and error_code, with the oldest
          and newest failed_at. Prints no record value.
  peek    Show up to N dead letters (default 5): message id, dead-letter
          attributes, the queue message's id, source, kind, received_at and
          stage, and the record de-identified by the environment guard with
          the development pseudonym key read from SSM
          (<PARAM_PREFIX>/pseudonym-key and clinic-id). Without
          --param-prefix only the record's field names are shown, each value
          as [PHI]. Never prints a raw value.
  move    Move dead letters back to the delivery queue: each is sent to --to
          (body unchanged, attributes kind, source and v only) and then
          deleted from the DLQ. A crash between the two leaves a duplicate
          that the ledger makes harmless; nothing is lost. Stops at the first
          failed send, delete or ledger call and says which message.
          Without --error-class, classes that cannot be redriven (malformed,
          guard) stay in place. Messages without dead-letter attributes have
          class and code "none".

          Records of class "unconfirmed" may already exist in NovaMed (the
          answer was lost, and NovaMed has no idempotency key): they are NOT
          moved unless you pass --confirm-unconfirmed after checking in
          NovaMed that the records do not exist. Each is then released in the
          ledger (--ledger-table) before it is moved, so dispatch delivers it
          again. If you found a record in NovaMed, record its id in the
          ledger with redrive confirm instead of moving it.

          Before reading any message (dry run and --all-native included),
          move checks --to against the DLQ's RedriveAllowPolicy: SQS does
          not apply it to the copies move sends, so the tool does, to keep
          one stage's records (PHI in production) out of another stage's
          queue. denyAll: refused. byQueue: --to must be in its
          sourceQueueArns. allowAll or no policy: refused unless you pass
          --allow-any-target. template.yaml sets byQueue naming the stack's
          delivery queue, so --allow-any-target only matters for hand-made
          queues.

` + OperatorUsageCommands + `
Every command hides the messages it reads for the visibility timeout and
makes those it leaves in place visible again as soon as it is done.

Flags:
  --dlq URL             the dead-letter queue
  --to URL              the queue to move to (move)
  --stack NAME          read the QueueUrl and DeadLetterQueueUrl outputs of this
                        CloudFormation stack; --dlq and --to override them
  --json                print JSON instead of text
  -n N                  peek: how many messages, 1 to 100 (default 5)
  --param-prefix P      peek: SSM prefix of pseudonym-key and clinic-id, e.g.
                        /novamed-bridge/dev
  --error-class C       move: only this class (permanent, exhausted, unconfirmed,
                        malformed, guard, held, update, none); any other is
                        a usage error
  --error-code E        move: only this code (e.g. clinic_not_found)
  --max N               move: at most N messages (default: no limit)
  --rate R              move: at most R messages per second, above 0, at most
                        500 (default 10; with --all-native, default SQS's choice)
  --dry-run             move: count what would move; move nothing
  --confirm-unconfirmed move: also move unconfirmed records (see above)
  --ledger-table T      move: the ledger table (needed by --confirm-unconfirmed)
  --all-native          move: one unfiltered SQS message move task
                        (StartMessageMoveTask). Refused while the DLQ holds
                        unconfirmed records. Where the endpoint lacks the
                        operation (kumo, emulators), falls back to the
                        filtered move.
  --allow-any-target    move: go ahead when the DLQ's RedriveAllowPolicy is
                        allowAll or absent (check --to first: it then says
                        nothing about where the messages belong). The
                        template sets byQueue, so this only matters for
                        hand-made queues; denyAll, and byQueue without --to
                        in its sourceQueueArns, are refused whatever the
                        flags.
  --visibility D        how long read messages stay hidden (default 30s)
  --wait D              long-poll wait of each receive, 0s to 20s (default 2s)

AWS credentials, region and endpoint come from the environment
(AWS_ENDPOINT_URL points the tool at an emulator).

Exit status: 0 done, 1 failed, 2 bad usage or a target the DLQ's
RedriveAllowPolicy does not allow (nothing was moved).
`

// Commands.
const (
	CmdStats = "stats"
	CmdPeek  = "peek"
	CmdMove  = "move"
)

// DefaultPeek is how many messages peek shows by default.
const DefaultPeek = 5

// ErrHelp is returned by ParseArgs for help, -h and --help: print Usage
// and exit 0.
var ErrHelp = flag.ErrHelp

// Command is a parsed command line.
type Command struct {
	Name        string
	DLQ         string
	To          string
	Stack       string
	JSON        bool
	N           int
	ParamPrefix string
	ErrorClass  string
	ErrorCode   string
	Max         int
	// Rate is zero when --rate was not given.
	Rate               float64
	DryRun             bool
	ConfirmUnconfirmed bool
	LedgerTable        string
	AllNative          bool
	AllowAnyTarget     bool
	Visibility         time.Duration
	Wait               time.Duration
	// Operator is set for confirm, release, subject and trace
	// (operator.go); the fields above are then unused.
	Operator *OperatorCommand
}

// flagValueRE finds the flag name in the flag package's "invalid value"
// errors, which quote the value.
var flagValueRE = regexp.MustCompile(`for flag -+([A-Za-z0-9-]+)`)

func usageErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrUsage}, args...)...)
}

// ParseArgs parses the arguments after the program name. Errors wrap
// ErrUsage and name the flag at fault, never its value.
func ParseArgs(args []string) (*Command, error) {
	if len(args) == 0 {
		return nil, usageErr("a command is required: stats, peek, move, confirm, release, subject or trace")
	}
	if IsOperatorCommand(args[0]) {
		return parseOperator(args)
	}
	c := &Command{Name: args[0]}
	switch c.Name {
	case "help", "-h", "-help", "--help":
		return nil, ErrHelp
	case CmdStats, CmdPeek, CmdMove:
	default:
		return nil, usageErr("unknown command (want stats, peek, move, confirm, release, subject or trace)")
	}

	fs := flag.NewFlagSet(c.Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.DLQ, "dlq", "", "")
	fs.StringVar(&c.Stack, "stack", "", "")
	fs.BoolVar(&c.JSON, "json", false, "")
	fs.DurationVar(&c.Visibility, "visibility", DefaultVisibilityTimeout, "")
	fs.DurationVar(&c.Wait, "wait", DefaultWaitTime, "")
	switch c.Name {
	case CmdPeek:
		fs.IntVar(&c.N, "n", DefaultPeek, "")
		fs.StringVar(&c.ParamPrefix, "param-prefix", "", "")
	case CmdMove:
		fs.StringVar(&c.To, "to", "", "")
		fs.StringVar(&c.ErrorClass, "error-class", "", "")
		fs.StringVar(&c.ErrorCode, "error-code", "", "")
		fs.IntVar(&c.Max, "max", 0, "")
		fs.Float64Var(&c.Rate, "rate", 0, "")
		fs.BoolVar(&c.DryRun, "dry-run", false, "")
		fs.BoolVar(&c.ConfirmUnconfirmed, "confirm-unconfirmed", false, "")
		fs.StringVar(&c.LedgerTable, "ledger-table", "", "")
		fs.BoolVar(&c.AllNative, "all-native", false, "")
		fs.BoolVar(&c.AllowAnyTarget, "allow-any-target", false, "")
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, ErrHelp
		}
		if m := flagValueRE.FindStringSubmatch(err.Error()); m != nil {
			return nil, usageErr("invalid value for --%s", m[1])
		}
		// "flag provided but not defined: -x" names the flag only.
		return nil, usageErr("%s: %s", c.Name, err.Error())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	switch {
	case fs.NArg() > 0:
		return nil, usageErr("%s takes no arguments besides flags", c.Name)
	case c.DLQ == "" && c.Stack == "":
		return nil, usageErr("--dlq or --stack is required")
	case c.Visibility < time.Second || c.Visibility > 12*time.Hour:
		return nil, usageErr("--visibility must be between 1s and 12h")
	case c.Wait < 0 || c.Wait > 20*time.Second:
		return nil, usageErr("--wait must be between 0s and 20s")
	}
	switch c.Name {
	case CmdPeek:
		if c.N < 1 || c.N > MaxPeek {
			return nil, usageErr("-n must be between 1 and %d", MaxPeek)
		}
	case CmdMove:
		if err := c.checkMove(set); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *Command) checkMove(set map[string]bool) error {
	switch {
	case c.To == "" && c.Stack == "":
		return usageErr("--to or --stack is required")
	case set["rate"] && (c.Rate <= 0 || c.Rate > MaxRate || math.IsNaN(c.Rate)):
		return usageErr("--rate must be above 0 and at most %d", MaxRate)
	case c.Max < 0:
		return usageErr("--max must not be negative")
	case c.To != "" && c.To == c.DLQ:
		return usageErr("--to is the dead-letter queue itself")
	}
	if c.AllNative {
		for _, name := range []string{"error-class", "error-code", "max", "dry-run", "confirm-unconfirmed", "ledger-table"} {
			if set[name] {
				return usageErr("--all-native moves everything: --%s cannot be used with it", name)
			}
		}
		if set["rate"] && c.Rate != math.Trunc(c.Rate) {
			return usageErr("--rate must be a whole number with --all-native")
		}
		return nil
	}
	if c.ConfirmUnconfirmed && c.LedgerTable == "" && !c.DryRun {
		return usageErr("--confirm-unconfirmed needs --ledger-table")
	}
	// The filters are checked as Move checks them (queue URLs may still
	// come from the stack).
	return (&MoveOptions{To: "-", ErrorClass: c.ErrorClass, ErrorCode: c.ErrorCode}).validate("")
}

// QueueAPI is what the command needs of SQS. *sqs.Client implements it.
type QueueAPI interface {
	SQSAPI
	NativeMoveAPI
}

// Clients are the AWS clients a Command runs with. Stacks, SSM and Ledger
// are needed only by --stack, --param-prefix and --ledger-table.
type Clients struct {
	SQS    QueueAPI
	SSM    SSMAPI
	Stacks StackAPI
	// Ledger returns the ledger over a table.
	Ledger func(table string) Resolver
	// DynamoDB is the ledger's table client of confirm, release, subject
	// and trace.
	DynamoDB LedgerDB
	// Options are added to the Tool's (tests set a zero wait and a fake
	// ticker).
	Options []Option
}

// Run runs the command: results to stdout, progress and notes to stderr.
func (c *Command) Run(ctx context.Context, cl Clients, stdout, stderr io.Writer) error {
	if c.Operator != nil {
		return c.Operator.Run(ctx, cl, stdout, stderr)
	}
	if c.Stack != "" {
		if cl.Stacks == nil {
			return errors.New("redrive: no CloudFormation client")
		}
		q, err := StackQueues(ctx, cl.Stacks, c.Stack)
		if err != nil {
			return err
		}
		if c.DLQ == "" {
			c.DLQ = q.DLQURL
		}
		if c.To == "" {
			c.To = q.QueueURL
		}
	}
	opts := append([]Option{WithVisibilityTimeout(c.Visibility), WithWaitTime(c.Wait)}, cl.Options...)
	t, err := New(cl.SQS, c.DLQ, opts...)
	if err != nil {
		return err
	}
	switch c.Name {
	case CmdStats:
		st, err := t.Stats(ctx)
		if err != nil {
			return err
		}
		if c.JSON {
			return st.WriteJSON(stdout)
		}
		return st.WriteTable(stdout)
	case CmdPeek:
		return c.peek(ctx, t, cl, stdout)
	case CmdMove:
		if c.AllNative {
			return c.native(ctx, t, cl, stdout, stderr)
		}
		return c.move(ctx, t, cl, stdout, stderr)
	}
	return usageErr("unknown command (want stats, peek or move)")
}

func (c *Command) peek(ctx context.Context, t *Tool, cl Clients, stdout io.Writer) error {
	var d Deidentifier
	if c.ParamPrefix != "" {
		if cl.SSM == nil {
			return errors.New("redrive: no SSM client")
		}
		g, err := LoadGuard(ctx, cl.SSM, c.ParamPrefix)
		if err != nil {
			return err
		}
		d = g
	}
	msgs, err := t.Peek(ctx, c.N, d)
	if err != nil {
		return err
	}
	if c.JSON {
		return WritePeekJSON(stdout, msgs)
	}
	return WritePeekText(stdout, msgs)
}

func (c *Command) move(ctx context.Context, t *Tool, cl Clients, stdout, stderr io.Writer) error {
	o := MoveOptions{
		To:                 c.To,
		ErrorClass:         c.ErrorClass,
		ErrorCode:          c.ErrorCode,
		Max:                c.Max,
		Rate:               c.Rate,
		DryRun:             c.DryRun,
		ConfirmUnconfirmed: c.ConfirmUnconfirmed,
		AllowAnyTarget:     c.AllowAnyTarget,
		Progress:           stderr,
	}
	if c.ConfirmUnconfirmed && c.LedgerTable != "" {
		if cl.Ledger == nil {
			return errors.New("redrive: no ledger client")
		}
		o.Ledger = cl.Ledger(c.LedgerTable)
	}
	// Checked before anything is printed, so a bad option or a refused
	// target ends the command with its reason alone; Move checks again.
	if err := o.validate(t.dlq); err != nil {
		return err
	}
	tg, err := checkTarget(ctx, t.sqs, t.dlq, o.To, o.AllowAnyTarget)
	if err != nil {
		return err
	}
	switch tg.permission {
	case PermissionByQueue:
	case PermissionNone:
		fmt.Fprintf(stderr, "note: %s has no RedriveAllowPolicy; moving to %s because of --allow-any-target\n",
			queueName(t.dlq), queueName(o.To))
	default:
		fmt.Fprintf(stderr, "note: the RedriveAllowPolicy of %s is %s; moving to %s because of --allow-any-target\n",
			queueName(t.dlq), tg.permission, queueName(o.To))
	}
	rate := o.Rate
	if rate == 0 {
		rate = DefaultRate
	}
	verb := "moving"
	if o.DryRun {
		verb = "dry run: counting what would move"
	}
	fmt.Fprintf(stderr, "%s from %s to %s (class %s, code %s, max %s, %s/s)\n",
		verb, t.dlq, o.To, orAny(o.ErrorClass), orAny(o.ErrorCode), maxText(o.Max), strconv.FormatFloat(rate, 'f', -1, 64))
	sum, err := t.Move(ctx, o)
	if c.JSON {
		if werr := writeJSON(stdout, sum); werr != nil && err == nil {
			err = werr
		}
	} else {
		fmt.Fprintln(stdout, sum.String())
		for _, f := range sum.Failures {
			line := fmt.Sprintf("failed: message %s: %s: %s", f.MessageID, f.Step, f.Error)
			if f.InBoth {
				line += " (sent, still in the DLQ: a later move sends it again; the ledger makes the duplicate harmless)"
			}
			fmt.Fprintln(stdout, line)
		}
		if n := sum.SkippedBy[SkipNeedsNewData]; n > 0 {
			fmt.Fprintf(stdout, "note: %d held or update records left in place: redriving cannot fix them "+
				"(a held record is fixed by new data from the sender, an update is applied in NovaMed by hand)\n", n)
		}
		if n := sum.SkippedBy[SkipUnconfirmed]; n > 0 {
			fmt.Fprintf(stdout, "note: %d unconfirmed records left in place; check NovaMed, then use --confirm-unconfirmed --ledger-table\n", n)
		}
	}
	return err
}

func (c *Command) native(ctx context.Context, t *Tool, cl Clients, stdout, stderr io.Writer) error {
	nm, err := t.MoveNative(ctx, cl.SQS, NativeOptions{To: c.To, Rate: int(c.Rate), AllowAnyTarget: c.AllowAnyTarget})
	switch {
	case errors.Is(err, ErrNativeUnsupported):
		fmt.Fprintln(stderr, "redrive: this SQS endpoint does not support StartMessageMoveTask "+
			"(kumo and other emulators do not); falling back to the filtered move")
		return c.move(ctx, t, cl, stdout, stderr)
	case errors.Is(err, ErrUnconfirmedPresent), errors.Is(err, ErrStayPresent):
		return fmt.Errorf("%w; run move without --all-native (it leaves such records in place)", err)
	case err != nil:
		return err
	}
	if c.JSON {
		return writeJSON(stdout, nm)
	}
	_, err = fmt.Fprintf(stdout, "started message move task %s from %s to %s\n"+
		"follow it with: aws sqs list-message-move-tasks --source-arn %s\n",
		nm.TaskHandle, nm.SourceArn, nm.DestinationArn, nm.SourceArn)
	return err
}

func orAny(s string) string {
	if s == "" {
		return "any"
	}
	return s
}

func maxText(n int) string {
	if n == 0 {
		return "none"
	}
	return strconv.Itoa(n)
}
