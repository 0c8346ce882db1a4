package ledger

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// TableAdmin is the subset of *dynamodb.Client CreateTable uses.
type TableAdmin interface {
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	UpdateTimeToLive(ctx context.Context, in *dynamodb.UpdateTimeToLiveInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateTimeToLiveOutput, error)
}

// tablePoll is how often CreateTable checks whether the table is active.
const tablePoll = 200 * time.Millisecond

// CreateTable creates the ledger table (partition key pk, on-demand billing)
// for tests and the local stack, waits until it is active and enables TTL on
// expires_at. A table that already exists is fine, so the local stack can call
// it on every start. An emulator without UpdateTimeToLive is tolerated (kumo
// supports it): expiry is housekeeping, not correctness. Deployed stacks
// create the table in template.yaml instead.
func CreateTable(ctx context.Context, client TableAdmin, name string) error {
	const op = "CreateTable"
	_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(attrPK), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(attrPK), KeyType: types.KeyTypeHash}},
	})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return unavailable(op, err)
	}
	if err := waitActive(ctx, client, name); err != nil {
		return err
	}
	_, err = client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: aws.String(name),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(attrExpires),
			Enabled:       aws.Bool(true),
		},
	})
	if err != nil && !ttlIgnorable(err) {
		return unavailable(op, err)
	}
	return nil
}

func waitActive(ctx context.Context, client TableAdmin, name string) error {
	const op = "CreateTable"
	for {
		out, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if err != nil {
			return unavailable(op, err)
		}
		if out.Table != nil && out.Table.TableStatus == types.TableStatusActive {
			return nil
		}
		select {
		case <-ctx.Done():
			return unavailable(op, ctx.Err())
		case <-time.After(tablePoll):
		}
	}
}

// ttlIgnorable reports whether err says the endpoint does not implement
// UpdateTimeToLive, or that TTL is already enabled (DynamoDB answers a
// ValidationException "TimeToLive is already enabled" to a repeat).
func ttlIgnorable(err error) bool {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode() {
	case "UnknownOperationException", "NotImplemented", "InvalidAction", "ValidationException":
		return true
	}
	return false
}
