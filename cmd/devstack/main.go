// Command devstack runs NovaMed Bridge on one machine with no AWS account.
//
//	devstack demo              build, start, post the samples, report, stop (make demo)
//	devstack local [-addr A]   build, start and keep running, printing curl lines (make local)
//	devstack sign -source S -body FILE
//	                           print the headers that sign FILE for local source S
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/novamed/bridge/pkg/devstack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := devstack.RunCLI(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, devstack.ErrDemoFailed) {
			fmt.Fprintln(os.Stderr, "devstack:", err)
		}
		stop()
		os.Exit(1)
	}
}
