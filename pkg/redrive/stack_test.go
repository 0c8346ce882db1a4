package redrive_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/pkg/redrive"
)

// fakeStacks answers DescribeStacks from a map of stack outputs. kumo's
// CloudFormation keeps no outputs, so the lookup is tested with this fake.
type fakeStacks map[string]map[string]string

func (f fakeStacks) DescribeStacks(_ context.Context, in *cloudformation.DescribeStacksInput, _ ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error) {
	outputs, ok := f[aws.ToString(in.StackName)]
	if !ok {
		return nil, &smithy.GenericAPIError{Code: "ValidationError", Message: "Stack with id does not exist"}
	}
	stack := cfntypes.Stack{StackName: in.StackName}
	for k, v := range outputs {
		stack.Outputs = append(stack.Outputs, cfntypes.Output{OutputKey: aws.String(k), OutputValue: aws.String(v)})
	}
	return &cloudformation.DescribeStacksOutput{Stacks: []cfntypes.Stack{stack}}, nil
}

func TestStackQueues(t *testing.T) {
	stacks := fakeStacks{
		"novamed-bridge-dev": {
			"WebhookUrl":         "https://example.execute-api.us-east-1.amazonaws.com/webhooks/",
			"QueueUrl":           "https://sqs.us-east-1.amazonaws.com/123456789012/delivery",
			"DeadLetterQueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/delivery-dlq",
		},
		"no-dlq": {"QueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/delivery"},
	}
	ctx := context.Background()

	q, err := redrive.StackQueues(ctx, stacks, "novamed-bridge-dev")
	require.NoError(t, err)
	require.Equal(t, redrive.Queues{
		QueueURL: "https://sqs.us-east-1.amazonaws.com/123456789012/delivery",
		DLQURL:   "https://sqs.us-east-1.amazonaws.com/123456789012/delivery-dlq",
	}, q)

	_, err = redrive.StackQueues(ctx, stacks, "no-dlq")
	require.ErrorIs(t, err, redrive.ErrStackOutput)
	require.ErrorContains(t, err, "DeadLetterQueueUrl")

	_, err = redrive.StackQueues(ctx, stacks, "absent")
	var awsErr *redrive.AWSError
	require.ErrorAs(t, err, &awsErr)
	require.Equal(t, "redrive: DescribeStacks: ValidationError", err.Error())

	_, err = redrive.StackQueues(ctx, stacks, "")
	require.ErrorIs(t, err, redrive.ErrUsage)
}

func TestCommandsFindQueuesByStack(t *testing.T) {
	e := newEnv(t)
	dlq, target := e.queues()
	ids := map[string]string{"exhausted": e.put(dlq, dead{class: "exhausted", code: "http_503", status: 503})}
	stacks := fakeStacks{"bridge": {"QueueUrl": target, "DeadLetterQueueUrl": dlq}}

	out, _, err := e.run(redrive.Clients{Stacks: stacks}, "stats", "--stack", "bridge")
	require.NoError(t, err)
	require.Contains(t, out, "exhausted")

	out, _, err = e.run(redrive.Clients{Stacks: stacks}, "move", "--stack", "bridge")
	require.NoError(t, err)
	require.Equal(t, "moved 1, skipped 0, failed 0; stopped: empty\n", out)
	e.requireMoved(dlq, target, ids, "exhausted")
}
