// Command invoke runs one event through a function as `sam local invoke`
// does (make invoke-intake, make invoke-dispatch). With sam and a running
// Docker engine it calls sam; without them it runs the same bootstrap under
// the Lambda Runtime Interface Emulator, against a local stack started for
// the call unless -env-vars names the environment. Intake samples are
// signed afresh into a temporary copy; no file of the repository changes.
//
//	invoke -function IntakeFunction -event events/intake/fhir-patient.json [-env-vars FILE] [-rie]
//
// The function's answer goes to stdout, progress and its logs to stderr.
// The logic is in pkg/devstack.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/novamed/bridge/pkg/devstack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		msg := err.Error()
		if !strings.HasPrefix(msg, "devstack:") {
			msg = "invoke: " + msg
		}
		fmt.Fprintln(os.Stderr, msg)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("invoke", flag.ContinueOnError)
	fn := fs.String("function", devstack.IntakeFunction, "the template.yaml function: IntakeFunction or DispatchFunction")
	event := fs.String("event", "", "the event file")
	envVars := fs.String("env-vars", "", `environment in sam's --env-vars format: {"IntakeFunction": {"VAR": "value"}}`)
	rie := fs.Bool("rie", false, "use the Lambda RIE even where sam and Docker are present")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *event == "" || fs.NArg() > 0 {
		return errors.New("usage: invoke -function F -event FILE [-env-vars FILE] [-rie]")
	}
	root, err := devstack.DefaultRoot()
	if err != nil {
		return err
	}
	return devstack.Invoke(ctx, devstack.InvokeOptions{
		Root: root, Function: *fn, Event: *event, EnvVars: *envVars, RIE: *rie,
		Out: os.Stdout, Logs: os.Stderr,
	})
}
