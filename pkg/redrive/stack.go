package redrive

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
)

// StackAPI is the part of the CloudFormation client StackQueues uses.
// *cloudformation.Client implements it.
type StackAPI interface {
	DescribeStacks(ctx context.Context, in *cloudformation.DescribeStacksInput, optFns ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error)
}

// Names of the stack outputs (template.yaml) StackQueues reads.
const (
	OutputQueueURL = "QueueUrl"
	OutputDLQURL   = "DeadLetterQueueUrl"
)

// ErrStackOutput: the stack lacks an output StackQueues needs.
var ErrStackOutput = errors.New("redrive: stack output missing")

// Queues are the URLs of a stack's delivery queue and dead-letter queue.
type Queues struct {
	QueueURL string
	DLQURL   string
}

// StackQueues reads the QueueUrl and DeadLetterQueueUrl outputs of the
// CloudFormation stack name.
func StackQueues(ctx context.Context, api StackAPI, name string) (Queues, error) {
	if name == "" {
		return Queues{}, fmt.Errorf("%w: --stack is empty", ErrUsage)
	}
	out, err := api.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(name)})
	if err != nil {
		return Queues{}, awsErr("DescribeStacks", err)
	}
	if len(out.Stacks) != 1 {
		return Queues{}, &AWSError{Op: "DescribeStacks", Code: fmt.Sprintf("%d stacks found", len(out.Stacks))}
	}
	var q Queues
	for _, o := range out.Stacks[0].Outputs {
		switch aws.ToString(o.OutputKey) {
		case OutputQueueURL:
			q.QueueURL = aws.ToString(o.OutputValue)
		case OutputDLQURL:
			q.DLQURL = aws.ToString(o.OutputValue)
		}
	}
	switch {
	case q.QueueURL == "":
		return Queues{}, fmt.Errorf("%w: %s", ErrStackOutput, OutputQueueURL)
	case q.DLQURL == "":
		return Queues{}, fmt.Errorf("%w: %s", ErrStackOutput, OutputDLQURL)
	}
	return q, nil
}
