// Command devstack runs NovaMed Bridge on one machine with no AWS account.
//
//	devstack demo [-v]         build, start, post the samples, report, stop (make demo;
//	                           also what devstack with no command does)
//	devstack local [-addr A] [-instances N] [-v]
//	                           build, start and keep running, printing curl lines and
//	                           the operator commands (make local)
//	devstack sign -source S -body FILE [-url U]
//	                           print the headers (or, with -url, the curl line) that
//	                           sign FILE for local source S
//	devstack cost [-n 200]     post N webhooks through the local stack; print the AWS
//	                           work per webhook and its cost (docs/operations.md, "Cost")
//	devstack soak [-n 5000 -c 50 ...]
//	                           the load test with faults (make soak): NovaMed failures,
//	                           lost answers, a killed dispatch; checks that nothing is
//	                           lost or duplicated (devstack soak -h lists its flags)
//
// The commands and their flags are in pkg/devstack (cli.go).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/novamed/bridge/pkg/devstack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := devstack.RunCLI(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if msg := err.Error(); !errors.Is(err, devstack.ErrDemoFailed) {
			if !strings.HasPrefix(msg, "devstack:") {
				msg = "devstack: " + msg
			}
			fmt.Fprintln(os.Stderr, msg)
		}
		stop()
		os.Exit(1)
	}
}
