package awstest

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/internal/nettest"
)

// awsSafe is what SQS queue names allow (1 to 80 characters); DynamoDB
// table names and SSM path segments allow more.
var awsSafe = regexp.MustCompile(`^[A-Za-z0-9_-]{3,80}$`)

func TestName(t *testing.T) {
	tests := []struct {
		name, suffix string
		wantPrefix   string
		wantSuffix   string
	}{
		{"plain", "dlq", "TestName-plain-", "-dlq"},
		{"no suffix", "", "TestName-no_suffix-", ""},
		{"unsafe:chars/and.dots", "a/b.c", "TestName-unsafe-chars-and-dots-", "-a-b-c"},
		{"long " + strings.Repeat("x", 100) + " end", "ledger", "x", "-ledger"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := Name(t, tt.suffix), Name(t, tt.suffix)
			require.NotEqual(t, a, b, "names are unique in the process")
			for _, n := range []string{a, b} {
				require.Regexp(t, awsSafe, n)
				require.True(t, strings.HasPrefix(n, tt.wantPrefix), "prefix of %q", n)
				require.True(t, strings.HasSuffix(n, tt.wantSuffix), "suffix of %q", n)
				require.LessOrEqual(t, len(n), 60, "room for a caller's own short suffix")
			}
		})
	}
	require.True(t, strings.HasSuffix(Name(t, "q"), "-q"))
}

// TestStartClients uses every client against kumo, with names from Name.
func TestStartClients(t *testing.T) {
	ctx := context.Background()
	e := Start(t)
	require.Equal(t, Region, e.Config.Region)
	require.Equal(t, e.URL, aws.ToString(e.Config.BaseEndpoint))

	q, err := e.SQS().CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(Name(t, "queue"))})
	require.NoError(t, err)
	require.NotEmpty(t, aws.ToString(q.QueueUrl))

	param := "/awstest/" + Name(t, "param") + "/value"
	_, err = e.SSM().PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String(param), Value: aws.String("v"), Type: ssmtypes.ParameterTypeSecureString,
	})
	require.NoError(t, err)
	got, err := e.SSM().GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(param), WithDecryption: aws.Bool(true)})
	require.NoError(t, err)
	require.Equal(t, "v", aws.ToString(got.Parameter.Value))

	db := e.DynamoDB()
	require.True(t, db.Options().DisableValidateResponseChecksum, "kumo sends no CRC32")
	_, err = db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(Name(t, "table")),
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	require.NoError(t, err)
}

func TestConnectToAGoneEndpoint(t *testing.T) {
	e := Connect(t, nettest.RefusedURL, config.WithRetryMaxAttempts(1))
	require.Equal(t, nettest.RefusedURL, aws.ToString(e.Config.BaseEndpoint))
	require.Equal(t, 1, e.Config.RetryMaxAttempts, "load options are applied")
	_, err := e.SQS().ListQueues(context.Background(), &sqs.ListQueuesInput{})
	require.Error(t, err)
}
