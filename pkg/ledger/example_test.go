package ledger_test

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/sivchari/kumo"

	"github.com/novamed/bridge/pkg/awsclients"
	"github.com/novamed/bridge/pkg/ledger"
)

// Example shows how intake and dispatch use the ledger.
func Example() {
	ctx := context.Background()
	srv := kumo.NewServer()
	defer srv.Close()
	cfg, _ := config.LoadDefaultConfig(ctx, config.WithRegion("us-east-1"),
		config.WithBaseEndpoint(srv.URL), config.WithCredentialsProvider(aws.AnonymousCredentials{}))
	client := awsclients.NewEmulatorDynamoDB(cfg)
	if err := ledger.CreateTable(ctx, client, "ledger"); err != nil {
		fmt.Println(err)
		return
	}
	l := ledger.New(client, "ledger")

	// Intake.
	st, _ := l.BeginEvent(ctx, "evt-42", 1)
	switch st {
	case ledger.EventNew, ledger.EventReceived:
		// send one SQS message per record, then:
		_ = l.MarkEventQueued(ctx, "evt-42")
		fmt.Println("intake: 202 accepted")
	case ledger.EventInProgress:
		fmt.Println("intake: 503, Retry-After", l.EventLease())
	case ledger.EventQueued:
		fmt.Println("intake: 202 duplicate")
	}
	st, _ = l.BeginEvent(ctx, "evt-42", 1)
	fmt.Println("sender retry:", st)

	// Dispatch, for each message.
	for range 2 {
		c, _ := l.ClaimDelivery(ctx, "evt-42/0")
		switch c.Status {
		case ledger.ClaimGranted:
			// call NovaMed; on 2xx:
			_ = l.MarkDelivered(ctx, "evt-42/0", "5d7c1b0e-2a7f-4c53-9a8e-6b1f0c3d2e94")
			fmt.Println("dispatch: delivered, attempt", c.Attempts)
		case ledger.AlreadyDelivered:
			fmt.Println("dispatch: duplicate, delete the message")
		case ledger.InFlight:
			fmt.Println("dispatch: retry after", c.ClaimedUntil)
		case ledger.Unconfirmed:
			fmt.Println("dispatch: dead-letter with error_class unconfirmed")
		}
	}
	// Output:
	// intake: 202 accepted
	// sender retry: queued
	// dispatch: delivered, attempt 1
	// dispatch: duplicate, delete the message
}
