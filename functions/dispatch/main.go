// Command dispatch is the Lambda function that delivers queued records to
// NovaMed (docs/contract.md, "Delivery outcomes"). This file only wires the
// configuration and the AWS clients; handler.go holds the batch control,
// pkg/delivery the per-record pipeline.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/novamed/bridge/pkg/awsclients"
	"github.com/novamed/bridge/pkg/ehr"
	"github.com/novamed/bridge/pkg/ledger"
	"github.com/novamed/bridge/pkg/params"
	"github.com/novamed/bridge/pkg/resolve"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	h, err := setup(context.Background(), logger)
	if err != nil {
		// Names the variable or the client at fault, never a value.
		logger.Error("dispatch: start-up failed", slog.String("error", err.Error()))
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}

func setup(ctx context.Context, logger *slog.Logger) (*Handler, error) {
	cfg, err := ConfigFromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsclients.FromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	// The source definitions are read for their fhir_server (references
	// of id-only notifications are fetched with it).
	cache, err := params.New(awsclients.NewSSM(awsCfg), cfg.ParamPrefix,
		params.WithNames(ParamAPIKey, ParamClinicID, ParamPseudonymKey),
		params.WithPath(resolve.ParamSources),
		params.WithLogger(logger))
	if err != nil {
		return nil, err
	}
	return New(cfg, Deps{
		SQS:      sqs.NewFromConfig(awsCfg),
		Ledger:   ledger.New(awsclients.NewDynamoDB(awsCfg), cfg.LedgerTable, ledger.WithLease(LedgerLease)),
		Params:   cache,
		Resolver: resolve.New(cache, ehr.NewPool()),
	}, WithLogger(logger))
}
