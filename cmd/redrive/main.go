// Command redrive is the operators' tool for the dead-letter queue: stats,
// peek and move. Run "redrive help" for the usage; the logic is in
// pkg/redrive.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/novamed/bridge/pkg/awsclients"
	"github.com/novamed/bridge/pkg/ledger"
	"github.com/novamed/bridge/pkg/redrive"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run parses the arguments, builds the AWS clients from the environment
// (AWS_ENDPOINT_URL included) and runs the command. It returns the exit
// status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd, err := redrive.ParseArgs(args)
	switch {
	case errors.Is(err, redrive.ErrHelp):
		fmt.Fprint(stdout, redrive.Usage)
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "%v\nrun \"redrive help\" for the usage\n", err)
		return 2
	}
	// The SDK's whole chain: operators use profiles and SSO (the functions
	// use awsclients.FromEnv instead).
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		// The SDK's message names files and profiles, not secrets.
		fmt.Fprintf(stderr, "redrive: AWS configuration: %v\n", err)
		return 1
	}
	if cfg.Region == "" {
		// With AWS_ENDPOINT_URL set the SDK would go ahead and fail later
		// as a transport error.
		fmt.Fprintln(stderr, redrive.ErrNoRegion)
		return 1
	}
	ddb := awsclients.NewDynamoDB(cfg)
	clients := redrive.Clients{
		SQS:    sqs.NewFromConfig(cfg),
		SSM:    awsclients.NewSSM(cfg),
		Stacks: cloudformation.NewFromConfig(cfg),
		Ledger: func(table string) redrive.Resolver { return ledger.New(ddb, table) },
		// confirm, release, subject and trace
		DynamoDB: ddb,
	}
	if err := cmd.Run(ctx, clients, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, err)
		// A refused target is the operator's to fix, like bad usage: a
		// different --to or, for a queue without a byQueue policy,
		// --allow-any-target. Nothing was moved.
		if errors.Is(err, redrive.ErrUsage) || errors.Is(err, redrive.ErrTargetNotAllowed) {
			return 2
		}
		return 1
	}
	return 0
}
