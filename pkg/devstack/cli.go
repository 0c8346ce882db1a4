package devstack

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/novamed/bridge/pkg/samples"
)

const usage = `usage:
  devstack demo                          build, start the local stack, post the samples, report, stop
  devstack local [-addr 127.0.0.1:3000] [-instances 1] [-v]
                                         build and start the local stack; print curl lines and the
                                         operator commands; Ctrl-C stops it (-v: the functions' logs;
                                         -instances: execution environments per function)
  devstack sign -source NAME -body FILE [-url http://127.0.0.1:3000]
                                         print curl arguments that sign FILE as local source NAME
                                         (with -url: the whole curl line for the front at that URL)
  devstack cost [-n 200]                 post N webhooks through the local stack; print the AWS work per webhook and its cost
  devstack soak [-n 5000 -c 50 ...]      load with faults (NovaMed failures, lost answers, a killed dispatch, id-only
                                         notifications) through several instances per function; check nothing is lost (soak -h)
`

// RunCLI runs the devstack command.
func RunCLI(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		args = []string{"demo"}
	}
	// -h on a subcommand prints the usage and its flags (to stdout: asked
	// for) and is no error; a bad flag is, on stderr. The module root is
	// looked for only then, so -h works anywhere.
	var root string
	parse := func(fs *flag.FlagSet, args []string) (bool, error) {
		fs.SetOutput(stderr)
		if slices.ContainsFunc(args, func(a string) bool { return a == "-h" || a == "-help" || a == "--help" }) {
			fs.SetOutput(stdout)
			fs.Usage = func() {
				fmt.Fprintf(stdout, "%s\nflags of devstack %s:\n", usage, fs.Name())
				fs.PrintDefaults()
			}
		}
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			return true, nil
		}
		if err == nil {
			root, err = DefaultRoot()
		}
		return false, err
	}
	switch args[0] {
	case "demo":
		fs := flag.NewFlagSet("demo", flag.ContinueOnError)
		verbose := fs.Bool("v", false, "show the functions' logs")
		if help, err := parse(fs, args[1:]); help || err != nil {
			return err
		}
		o := DemoOptions{Root: root, Out: stdout}
		if *verbose {
			o.Logs = stderr
		}
		return Demo(ctx, o)
	case "local":
		fs := flag.NewFlagSet("local", flag.ContinueOnError)
		addr := fs.String("addr", DefaultFrontAddr, "address of the webhook front (loopback only)")
		verbose := fs.Bool("v", false, "show the functions' logs")
		instances := fs.Int("instances", 1, "execution environments per function, as Lambda scales out")
		if help, err := parse(fs, args[1:]); help || err != nil {
			return err
		}
		o := LocalOptions{Root: root, Addr: *addr, Out: stdout, Logs: io.Discard, Instances: *instances}
		if *verbose {
			o.Logs, o.Verbose = stderr, true
		}
		return Local(ctx, o)
	case "sign":
		fs := flag.NewFlagSet("sign", flag.ContinueOnError)
		name := fs.String("source", "", "local source name (events/sources/NAME.json)")
		file := fs.String("body", "", "file holding the exact body to send")
		front := fs.String("url", "", "the local stack's webhook front: print the whole curl line")
		if help, err := parse(fs, args[1:]); help || err != nil {
			return err
		}
		if *name == "" || *file == "" {
			return errors.New("sign needs -source and -body")
		}
		return Sign(root, *name, *file, *front, stdout)
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

// Sign prints curl arguments carrying the signature headers for body or,
// given the front's URL, the whole curl line.
func Sign(root, name, file, frontURL string, out io.Writer) error {
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
	line := curlHeaders(headers)
	if frontURL != "" {
		abs, err := filepath.Abs(file)
		if err != nil {
			return err
		}
		line = curlLine(frontURL, name+withQuery(samples.Query(src)), "application/json", headers, abs)
	}
	_, err = io.WriteString(out, line+"\n")
	return err
}

// curlLine is a curl command that posts the file at path to the front as
// source (with a Jotform-style query when the source takes one), with the
// content type and the signature headers, and prints the HTTP status after
// the answer.
func curlLine(frontURL, sourceAndQuery, contentType string, headers map[string]string, path string) string {
	return fmt.Sprintf("curl -sS -w '\\nHTTP %%{http_code}\\n' '%s/webhooks/%s' -H 'content-type: %s' %s --data-binary @%s",
		strings.TrimRight(frontURL, "/"), sourceAndQuery, contentType, curlHeaders(headers), path)
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
