package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/novamed/bridge/pkg/samples"
)

// DefaultFrontAddr is where `make local` serves webhooks.
const DefaultFrontAddr = "127.0.0.1:3000"

// LocalCredentials are the access key id and secret the local stack's
// clients use; kumo checks none.
const LocalCredentials = "local"

// LocalOptions configure Local.
type LocalOptions struct {
	Root string    // the module root
	Addr string    // the webhook front (default DefaultFrontAddr)
	Out  io.Writer // what the operator reads
	Logs io.Writer // the functions' logs (default: discarded)
	// Verbose says Logs is shown; otherwise the output says how.
	Verbose bool
	// Instances is how many execution environments each function runs in
	// (default 1; see Options.Instances).
	Instances int
	// Ready, when set, is called with the running stack once everything is
	// printed (the tests use it).
	Ready func(*Stack)
}

// Local starts the stack and keeps it running until ctx ends, printing curl
// lines and operator commands that work as printed.
func Local(ctx context.Context, o LocalOptions) error {
	if o.Addr == "" {
		o.Addr = DefaultFrontAddr
	}
	if o.Logs == nil {
		o.Logs = io.Discard
	}
	out := o.Out
	// The front's port first: a clash is reported before minutes of build.
	l, err := net.Listen("tcp", o.Addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("devstack: %s is in use (another make local?); pick another address with "+
				"-addr (make local ADDR=127.0.0.1:3001)", o.Addr)
		}
		return fmt.Errorf("devstack: the webhook front cannot listen on %s (choose it with -addr, make local ADDR=...): %w", o.Addr, err)
	}
	dir, err := os.MkdirTemp("", "novamed-bridge-local-")
	if err != nil {
		_ = l.Close()
		return err
	}
	defer os.RemoveAll(dir)
	stack, sources, templates, err := startWithSamples(ctx, o.Root, dir, out, Options{Name: "local-" + RandomName(), Logs: o.Logs, FrontListener: l, Instances: o.Instances})
	if err != nil {
		_ = l.Close()
		return err
	}
	defer stack.Close()

	fmt.Fprintf(out, "\nNovaMed Bridge is running locally.\n"+
		"  webhooks:          %s/webhooks/<source>\n"+
		"  NovaMed sandbox:   %s (Development; clinic %s)\n"+
		"  local AWS (kumo):  %s\n"+
		"  delivery queue:    %s\n"+
		"  dead-letter queue: %s\n"+
		"  parameter prefix:  %s\n"+
		"  ledger table:      %s\n"+
		"  instances:         %d per function (make local INSTANCES=N)\n",
		stack.FrontURL, stack.Sandbox.URL, stack.Sandbox.ClinicID(), stack.Endpoint,
		stack.QueueURL, stack.DLQURL, stack.ParamPrefix, stack.LedgerTable, stack.Intake.Instances())
	if !o.Verbose {
		fmt.Fprintln(out, "  the functions' logs: hidden; make local V=1 (bin/devstack local -v) shows them")
	}

	expires := time.Now().Add(5 * time.Minute)
	fmt.Fprintf(out, "\nTry (each prints the answer, then its HTTP status; the Standard Webhooks signatures expire at %s,\n"+
		"then the line answers 401: the bin/devstack sign line under it prints a freshly signed one):\n", expires.Format("15:04:05"))
	now := time.Now()
	firstSource := ""
	for _, t := range templates {
		if t.Expect.Status != 202 || t.Base64 {
			continue
		}
		src, ok := samples.Find(sources, t.Source)
		if !ok {
			continue
		}
		body, err := t.RawBody()
		if err != nil {
			return err
		}
		path := filepath.Join(dir, t.Name+".json")
		if err := os.WriteFile(path, body, 0o600); err != nil {
			return err
		}
		headers, err := samples.Sign(src, body, now)
		if err != nil {
			return err
		}
		line := curlLine(stack.FrontURL, t.Source+withQuery(samples.Query(src)), curlContentType(t.Headers), headers, path)
		if firstSource == "" {
			firstSource = t.Source
		}
		fmt.Fprintf(out, "\n  # %s\n  %s\n  # fresh: bin/devstack sign -source %s -body %s -url %s\n",
			t.Description, line, t.Source, path, stack.FrontURL)
	}

	fmt.Fprintf(out, "\nOperator commands, in another terminal at the repository root (make local built bin/redrive; else make redrive):\n"+
		"  export AWS_ENDPOINT_URL=%s AWS_REGION=%s AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s\n"+
		"  %s\n  %s\n  %s\n  %s\n"+
		"  (move takes --dry-run to count first; the DLQ's RedriveAllowPolicy names the delivery queue, as template.yaml's does;\n"+
		"   trace tells one webhook's story: --event <the id of its 202 answer>, or every event of a source as above)\n",
		stack.Endpoint, Region, LocalCredentials, LocalCredentials,
		redriveLine("stats", stack), redriveLine("peek", stack), redriveLine("move", stack), traceLine(stack, firstSource))
	envVars, err := stack.EnvVars()
	if err != nil {
		return err
	}
	envFile := filepath.Join(dir, "env-vars.json")
	if err := os.WriteFile(envFile, envVars, 0o600); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nOne function alone against this stack, as sam local invoke does (no Docker needed):\n"+
		"  make invoke-intake ENV_VARS=%s\n  make invoke-dispatch ENV_VARS=%s\n", envFile, envFile)
	fmt.Fprintln(out, "\nCtrl-C stops the stack.")
	if o.Ready != nil {
		o.Ready(stack)
	}
	ticker := time.NewTicker(5 * time.Second)
	defer ticker.Stop()
	last := -1
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(out, "\n== stopping")
			return nil
		case <-ticker.C:
			n := len(stack.Sandbox.Patients()) + len(stack.Sandbox.Practitioners())
			if n != last {
				fmt.Fprintf(out, "   delivered to the sandbox so far: %d (canary hits: %d)\n", n, len(stack.Sandbox.Violations()))
				last = n
			}
		}
	}
}

// redriveLine is the printed redrive command for cmd against the stack.
// traceLine traces the events of source in the last hour.
func traceLine(s *Stack, source string) string {
	return fmt.Sprintf("bin/redrive trace --dlq %s --ledger-table %s --source %s --since 1h", s.DLQURL, s.LedgerTable, source)
}

func redriveLine(cmd string, s *Stack) string {
	switch cmd {
	case "peek":
		return fmt.Sprintf("bin/redrive peek  --dlq %s --param-prefix %s", s.DLQURL, s.ParamPrefix)
	case "move":
		return fmt.Sprintf("bin/redrive move  --dlq %s --to %s", s.DLQURL, s.QueueURL)
	}
	return fmt.Sprintf("bin/redrive stats --dlq %s", s.DLQURL)
}
