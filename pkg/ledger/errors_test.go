package ledger_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/internal/awstest"
	"github.com/novamed/bridge/internal/nettest"
	"github.com/novamed/bridge/pkg/ledger"
)

// secretID stands for an id that must not appear in error strings.
const secretID = "id-that-must-not-leak"

// every calls each operation of l with ids containing secretID.
func every(l *ledger.Ledger) map[string]error {
	ctx := context.Background()
	_, beginErr := l.BeginEvent(ctx, secretID, 1)
	_, claimErr := l.ClaimDelivery(ctx, secretID+"/0")
	_, recordErr := l.Record(ctx, secretID+"/0")
	return map[string]error{
		"BeginEvent":         beginErr,
		"MarkEventQueued":    l.MarkEventQueued(ctx, secretID),
		"ClaimDelivery":      claimErr,
		"MarkDelivered":      l.MarkDelivered(ctx, secretID+"/0", secretID),
		"MarkNotDelivered":   l.MarkNotDelivered(ctx, secretID+"/0"),
		"MarkUnconfirmed":    l.MarkUnconfirmed(ctx, secretID+"/0"),
		"ResolveUnconfirmed": l.ResolveUnconfirmed(ctx, secretID+"/0"),
		"Record":             recordErr,
	}
}

func TestUnavailable(t *testing.T) {
	t.Run("missing table", func(t *testing.T) {
		srv := newServer(t)
		l := ledger.New(srv.client, "no-such-table")
		for op, err := range every(l) {
			require.ErrorIs(t, err, ledger.ErrUnavailable, op)
			var ue *ledger.UnavailableError
			require.ErrorAs(t, err, &ue, op)
			assert.Equal(t, op, ue.Op)
			assert.Equal(t, "ResourceNotFoundException", ue.Code, op)
			var apiErr smithy.APIError
			assert.ErrorAs(t, err, &apiErr, "%s: SDK error reachable", op)
			assert.NotContains(t, err.Error(), secretID, "%s: error text quotes an id", op)
			assert.NotContains(t, err.Error(), "no-such-table", "%s: error text quotes the service message", op)
		}
	})

	t.Run("server down", func(t *testing.T) {
		l := ledger.New(awstest.Connect(t, nettest.RefusedURL, config.WithRetryMaxAttempts(1)).DynamoDB(), "ledger")
		for op, err := range every(l) {
			require.ErrorIs(t, err, ledger.ErrUnavailable, op)
			assert.Equal(t, "ledger: "+op+": unavailable", err.Error())
		}
	})

	t.Run("cancelled context", func(t *testing.T) {
		f := newFixture(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := f.l.ClaimDelivery(ctx, "evt/0")
		assert.ErrorIs(t, err, ledger.ErrUnavailable)
		assert.ErrorIs(t, err, context.Canceled)
	})
}

func TestInvalidIDs(t *testing.T) {
	l := ledger.New(panicClient{}, "ledger")
	ctx := context.Background()
	for _, id := range []string{"", strings.Repeat("x", 1025), "bad\xffutf8"} {
		for op, err := range map[string]error{
			"MarkEventQueued":  l.MarkEventQueued(ctx, id),
			"MarkNotDelivered": l.MarkNotDelivered(ctx, id),
			"MarkDelivered":    l.MarkDelivered(ctx, "evt/0", id),
		} {
			assert.ErrorIs(t, err, ledger.ErrInvalidID, op)
		}
		_, err := l.BeginEvent(ctx, id, 1)
		assert.ErrorIs(t, err, ledger.ErrInvalidID, "BeginEvent")
		_, err = l.ClaimDelivery(ctx, id)
		assert.ErrorIs(t, err, ledger.ErrInvalidID, "ClaimDelivery")
	}
	_, err := l.BeginEvent(ctx, "evt", -1)
	assert.Error(t, err, "negative record count")
}

// panicClient fails the test if the ledger reaches DynamoDB.
type panicClient struct{}

func (panicClient) PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	panic("unexpected PutItem")
}

func (panicClient) UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	panic("unexpected UpdateItem")
}

func (panicClient) GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	panic("unexpected GetItem")
}

func (panicClient) DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	panic("unexpected DeleteItem")
}

// TestKumoConditionalCheckType records that kumo's failed condition decodes to
// the SDK's typed exception, so errors.As on it is the primary check.
func TestKumoConditionalCheckType(t *testing.T) {
	f := newFixture(t)
	_, err := f.srv.client.PutItem(context.Background(), &dynamodb.PutItemInput{
		TableName:           aws.String(f.table),
		Item:                map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "x"}},
		ConditionExpression: aws.String("attribute_exists(pk)"),
	})
	var ccf *types.ConditionalCheckFailedException
	assert.ErrorAs(t, err, &ccf)
}

// ccfClient answers every write with a failed condition, the way DynamoDB
// does when ReturnValuesOnConditionCheckFailure is set, or with a bare API
// error code; it counts reads.
type ccfClient struct {
	item    map[string]types.AttributeValue
	generic bool
	reads   int
}

func (c *ccfClient) fail() error {
	if c.generic {
		return &smithy.GenericAPIError{Code: "ConditionalCheckFailedException", Message: "The conditional request failed"}
	}
	return &types.ConditionalCheckFailedException{Item: c.item}
}

func (c *ccfClient) PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return nil, c.fail()
}

func (c *ccfClient) UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return nil, c.fail()
}

func (c *ccfClient) GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	c.reads++
	return &dynamodb.GetItemOutput{Item: c.item}, nil
}

func (c *ccfClient) DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	return nil, c.fail()
}

func TestConditionFailureForms(t *testing.T) {
	delivered := map[string]types.AttributeValue{
		"pk":         &types.AttributeValueMemberS{Value: "record#evt/0"},
		"state":      &types.AttributeValueMemberS{Value: "delivered"},
		"attempts":   &types.AttributeValueMemberN{Value: "1"},
		"novamed_id": &types.AttributeValueMemberS{Value: nmID},
	}
	for _, tc := range []struct {
		name      string
		generic   bool
		wantReads int
	}{
		{name: "typed exception with the old item saves a read", wantReads: 0},
		{name: "bare error code falls back to a read", generic: true, wantReads: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &ccfClient{item: delivered, generic: tc.generic}
			l := ledger.New(c, "ledger")
			claim, err := l.ClaimDelivery(context.Background(), "evt/0")
			require.NoError(t, err)
			assert.Equal(t, ledger.AlreadyDelivered, claim.Status)
			assert.Equal(t, nmID, claim.NovaMedID)
			assert.Equal(t, tc.wantReads, c.reads, "GetItem calls")
		})
	}
}

func TestErrorTexts(t *testing.T) {
	assert.Equal(t, "ledger: MarkDelivered: not allowed in state delivered",
		(&ledger.StateError{Op: "MarkDelivered", State: "delivered"}).Error())
	ue := &ledger.UnavailableError{Op: "ClaimDelivery", Code: "ThrottlingException", Err: errors.New("sdk")}
	assert.Equal(t, "ledger: ClaimDelivery: unavailable: ThrottlingException", ue.Error())
	assert.False(t, errors.Is(ue, ledger.ErrConflict))
}
