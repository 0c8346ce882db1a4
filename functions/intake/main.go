// Command intake is the intake Lambda function: POST /webhooks/{source}
// behind API Gateway (HTTP API, payload format 2.0). It authenticates the
// sender, maps the payload to NovaMed records, validates them,
// de-identifies them unless the stage is production, records the event in
// the ledger and queues one SQS message per record. handler.go holds the
// handler; this file only wires configuration and clients.
package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/novamed/bridge/pkg/awsclients"
	"github.com/novamed/bridge/pkg/ledger"
	"github.com/novamed/bridge/pkg/metrics"
	"github.com/novamed/bridge/pkg/params"
	"github.com/novamed/bridge/pkg/queue"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	h, err := setup(context.Background(), os.Getenv, logger, os.Stdout)
	if err != nil {
		logger.Error("intake: start-up failed", slog.String("error", err.Error()))
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}

// setup builds the handler from the environment (STAGE, PARAM_PREFIX,
// QUEUE_URL, DLQ_URL, LEDGER_TABLE, optional NOVAMED_BASE_URL) and the AWS
// configuration Lambda gives in the environment (awsclients.FromEnv, which
// honours AWS_ENDPOINT_URL). Metrics (EMF) go to
// metricsOut, which Lambda ships to CloudWatch.
func setup(ctx context.Context, getenv func(string) string, logger *slog.Logger, metricsOut io.Writer) (*Handler, error) {
	stage := NormalizeStage(getenv("STAGE"))
	prefix, queueURL, table := getenv("PARAM_PREFIX"), getenv("QUEUE_URL"), getenv("LEDGER_TABLE")
	dlqURL := getenv("DLQ_URL")
	switch {
	case prefix == "":
		return nil, errors.New("PARAM_PREFIX is required")
	case queueURL == "":
		return nil, errors.New("QUEUE_URL is required")
	case dlqURL == "":
		return nil, errors.New("DLQ_URL is required (held records are written there)")
	case table == "":
		return nil, errors.New("LEDGER_TABLE is required")
	}
	cfg, err := awsclients.FromEnv(getenv)
	if err != nil {
		return nil, err
	}
	cache, err := params.New(awsclients.NewSSM(cfg), prefix,
		params.WithNames(ParamClinicID, ParamPseudonymKey),
		params.WithPath(ParamSources),
		params.WithLogger(logger))
	if err != nil {
		return nil, err
	}
	sqsClient := sqs.NewFromConfig(cfg)
	sender, err := queue.NewSender(sqsClient, queueURL)
	if err != nil {
		return nil, err
	}
	deadLetters, err := queue.NewSender(sqsClient, dlqURL)
	if err != nil {
		return nil, err
	}
	return New(Config{
		Stage:       stage,
		TargetURL:   getenv("NOVAMED_BASE_URL"),
		Params:      cache,
		Queue:       sender,
		DeadLetters: deadLetters,
		Ledger:      ledger.New(awsclients.NewDynamoDB(cfg), table),
		Logger:      logger,
		Metrics:     metrics.New(metricsOut, map[string]string{"Stage": stage}),
	})
}
