package redrive

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// ErrUnconfirmedPresent: MoveNative found unconfirmed records in the DLQ.
// A native move task cannot leave them behind, so it is not started; use
// Move, which skips them (or resolves them with ConfirmUnconfirmed).
var ErrUnconfirmedPresent = errors.New("redrive: the dead-letter queue holds unconfirmed records; a native move cannot skip them")

// MaxNativeRate is SQS's limit of MaxNumberOfMessagesPerSecond.
const MaxNativeRate = 500

// NativeMove is a started SQS message move task.
type NativeMove struct {
	TaskHandle     string `json:"task_handle"`
	SourceArn      string `json:"source_arn"`
	DestinationArn string `json:"destination_arn"`
}

// MoveNative starts an unfiltered SQS message move task (StartMessageMoveTask)
// from the DLQ to the queue at to, at most rate messages per second (zero
// lets SQS choose). It first checks with a Stats pass that the DLQ holds no
// unconfirmed record (ErrUnconfirmedPresent otherwise). When the endpoint
// does not implement the operation the error matches ErrNativeUnsupported:
// fall back to Move.
func (t *Tool) MoveNative(ctx context.Context, api NativeMoveAPI, to string, rate int) (NativeMove, error) {
	switch {
	case api == nil:
		return NativeMove{}, errors.New("redrive: nil SQS client")
	case to == "":
		return NativeMove{}, fmt.Errorf("%w: --to (or --stack) is required", ErrUsage)
	case to == t.dlq:
		return NativeMove{}, fmt.Errorf("%w: --to is the dead-letter queue itself", ErrUsage)
	case rate < 0 || rate > MaxNativeRate:
		return NativeMove{}, fmt.Errorf("%w: --rate must be above 0 and at most %d", ErrUsage, MaxNativeRate)
	}
	var nm NativeMove
	var err error
	if nm.SourceArn, err = queueArn(ctx, api, t.dlq); err != nil {
		return NativeMove{}, err
	}
	if nm.DestinationArn, err = queueArn(ctx, api, to); err != nil {
		return NativeMove{}, err
	}
	st, err := t.Stats(ctx)
	if err != nil {
		return NativeMove{}, err
	}
	for _, g := range st.Groups {
		if g.ErrorClass == ClassUnconfirmed {
			return NativeMove{}, ErrUnconfirmedPresent
		}
	}
	in := &sqs.StartMessageMoveTaskInput{
		SourceArn:      aws.String(nm.SourceArn),
		DestinationArn: aws.String(nm.DestinationArn),
	}
	if rate > 0 {
		in.MaxNumberOfMessagesPerSecond = aws.Int32(int32(rate))
	}
	out, err := api.StartMessageMoveTask(ctx, in)
	if err != nil {
		return NativeMove{}, awsErr("StartMessageMoveTask", err)
	}
	nm.TaskHandle = aws.ToString(out.TaskHandle)
	return nm, nil
}

func queueArn(ctx context.Context, api NativeMoveAPI, url string) (string, error) {
	out, err := api.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return "", awsErr("GetQueueAttributes", err)
	}
	arn := out.Attributes[string(types.QueueAttributeNameQueueArn)]
	if arn == "" {
		return "", &AWSError{Op: "GetQueueAttributes", Code: "NoQueueArn"}
	}
	return arn, nil
}
