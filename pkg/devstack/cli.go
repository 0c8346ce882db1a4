package devstack

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/novamed/bridge/pkg/samples"
)

const usage = `usage:
  devstack demo                         build, start the local stack, post the samples, report, stop
  devstack local [-addr 127.0.0.1:3000] build and start the local stack; print curl lines; Ctrl-C stops it
  devstack sign -source NAME -body FILE print curl arguments that sign FILE as local source NAME
  devstack cost [-n 200]                post N webhooks through the local stack; print the AWS work per webhook and its cost
  devstack soak [-n 5000 -c 50 ...]     load with faults (NovaMed failures, lost answers, a killed dispatch); check nothing is lost (soak -h)
`

// RunCLI runs the devstack command.
func RunCLI(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		args = []string{"demo"}
	}
	root, err := DefaultRoot()
	if err != nil {
		return err
	}
	switch args[0] {
	case "demo":
		return Demo(ctx, DemoOptions{Root: root, Out: stdout})
	case "local":
		fs := flag.NewFlagSet("local", flag.ContinueOnError)
		fs.SetOutput(stderr)
		addr := fs.String("addr", "127.0.0.1:3000", "address of the webhook front (loopback only)")
		verbose := fs.Bool("v", false, "show the functions' logs")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		logs := io.Discard
		if *verbose {
			logs = stderr
		}
		return Local(ctx, root, *addr, stdout, logs)
	case "sign":
		fs := flag.NewFlagSet("sign", flag.ContinueOnError)
		fs.SetOutput(stderr)
		name := fs.String("source", "", "local source name (events/sources/NAME.json)")
		file := fs.String("body", "", "file holding the exact body to send")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *name == "" || *file == "" {
			return errors.New("sign needs -source and -body")
		}
		return Sign(root, *name, *file, stdout)
	case "cost":
		return runCost(ctx, root, args[1:], stdout, stderr)
	case "soak":
		return runSoak(ctx, root, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		_, err := io.WriteString(stdout, usage)
		return err
	default:
		_, _ = io.WriteString(stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
}

// Sign prints curl arguments carrying the signature headers for body.
func Sign(root, name, file string, out io.Writer) error {
	sources, err := LoadLocalSources(root)
	if err != nil {
		return err
	}
	src, ok := samples.Find(sources, name)
	if !ok {
		return fmt.Errorf("no local source %q in %s", name, SourcesDir)
	}
	body, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	headers, err := samples.Sign(src, body, time.Now())
	if err != nil {
		return err
	}
	_, err = io.WriteString(out, curlHeaders(headers)+"\n")
	return err
}

func curlHeaders(headers map[string]string) string {
	keys := make([]string, 0, len(headers))
	for k := range headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "-H '%s: %s'", k, headers[k])
	}
	return b.String()
}

// Local starts the stack and keeps it running until ctx ends, printing curl
// lines that work as printed.
func Local(ctx context.Context, root, addr string, out, logs io.Writer) error {
	dir, err := os.MkdirTemp("", "novamed-bridge-local-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	stack, sources, templates, err := startWithSamples(ctx, root, dir, out, Options{Name: "local-" + RandomName(), Logs: logs, FrontAddr: addr})
	if err != nil {
		return err
	}
	defer stack.Close()

	fmt.Fprintf(out, "\nNovaMed Bridge is running locally.\n  webhooks:         %s/webhooks/<source>\n  NovaMed sandbox:  %s (Development; clinic %s)\n  local AWS (kumo): %s\n\n",
		stack.FrontURL, stack.Sandbox.URL, stack.Sandbox.ClinicID(), aws.ToString(stack.AWS.BaseEndpoint))
	fmt.Fprintln(out, "Try (Standard Webhooks signatures are valid for 5 minutes; `go run ./cmd/devstack sign -source NAME -body FILE` makes fresh ones):")
	now := time.Now()
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
		fmt.Fprintf(out, "\n  # %s\n  curl -sS '%s/webhooks/%s%s' -H 'content-type: %s' %s --data-binary @%s\n",
			t.Description, stack.FrontURL, t.Source, withQuery(samples.Query(src)),
			curlContentType(t.Headers), curlHeaders(headers), path)
	}
	fmt.Fprintln(out, "\nCtrl-C stops the stack.")
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
