// Command devstack runs NovaMed Bridge on one machine with no AWS account.
//
//	devstack demo [-v]         build, start, post the samples, report, stop (make demo)
//	devstack local [-addr A] [-v]
//	                           build, start and keep running, printing curl lines and
//	                           the operator commands (make local)
//	devstack sign -source S -body FILE [-url U]
//	                           print the headers (or, with -url, the curl line) that
//	                           sign FILE for local source S
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
