package redrive

import (
	"context"
	"errors"
	"fmt"
	"github.com/novamed/bridge/pkg/queue"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// ErrUnconfirmedPresent: MoveNative found unconfirmed records in the DLQ.
// A native move task cannot leave them behind, so it is not started; use
// Move, which skips them (or resolves them with ConfirmUnconfirmed).
var ErrUnconfirmedPresent = errors.New("redrive: the dead-letter queue holds unconfirmed records; a native move cannot skip them")

// ErrStayPresent: MoveNative found held or update records in the DLQ,
// which no move may take out (see SkipNeedsNewData).
var ErrStayPresent = errors.New("redrive: the dead-letter queue holds held or update records, which must stay; a native move cannot skip them")

// MaxNativeRate is SQS's limit of MaxNumberOfMessagesPerSecond.
const MaxNativeRate = 500

// NativeMove is a started SQS message move task.
type NativeMove struct {
	TaskHandle     string `json:"task_handle"`
	SourceArn      string `json:"source_arn"`
	DestinationArn string `json:"destination_arn"`
}

// NativeOptions say where MoveNative moves and how fast.
type NativeOptions struct {
	// To is the URL of the queue to move to (the delivery queue).
	To string
	// Rate is the most messages moved per second, 0 to MaxNativeRate; zero
	// lets SQS choose.
	Rate int
	// AllowAnyTarget lets the move go ahead when the DLQ's
	// RedriveAllowPolicy is allowAll or absent; see MoveOptions.
	AllowAnyTarget bool
}

// MoveNative starts an unfiltered SQS message move task (StartMessageMoveTask)
// from the DLQ to the queue at o.To. It first checks the target against the
// DLQ's RedriveAllowPolicy as Move does (ErrTargetNotAllowed), then with a
// Stats pass that the DLQ holds no unconfirmed record (ErrUnconfirmedPresent
// otherwise). When the endpoint does not implement the operation the error
// matches ErrNativeUnsupported: fall back to Move.
func (t *Tool) MoveNative(ctx context.Context, api NativeMoveAPI, o NativeOptions) (NativeMove, error) {
	switch {
	case api == nil:
		return NativeMove{}, errors.New("redrive: nil SQS client")
	case o.To == "":
		return NativeMove{}, fmt.Errorf("%w: --to (or --stack) is required", ErrUsage)
	case o.To == t.dlq:
		return NativeMove{}, fmt.Errorf("%w: --to is the dead-letter queue itself", ErrUsage)
	case o.Rate < 0 || o.Rate > MaxNativeRate:
		return NativeMove{}, fmt.Errorf("%w: --rate must be above 0 and at most %d", ErrUsage, MaxNativeRate)
	}
	tg, err := checkTarget(ctx, api, t.dlq, o.To, o.AllowAnyTarget)
	if err != nil {
		return NativeMove{}, err
	}
	nm := NativeMove{SourceArn: tg.dlqArn, DestinationArn: tg.toArn}
	st, err := t.Stats(ctx)
	if err != nil {
		return NativeMove{}, err
	}
	for _, g := range st.Groups {
		switch g.ErrorClass {
		case ClassUnconfirmed:
			return NativeMove{}, ErrUnconfirmedPresent
		case queue.ClassHeld, queue.ClassUpdate:
			return NativeMove{}, ErrStayPresent
		}
	}
	in := &sqs.StartMessageMoveTaskInput{
		SourceArn:      aws.String(nm.SourceArn),
		DestinationArn: aws.String(nm.DestinationArn),
	}
	if o.Rate > 0 {
		in.MaxNumberOfMessagesPerSecond = aws.Int32(int32(o.Rate))
	}
	out, err := api.StartMessageMoveTask(ctx, in)
	if err != nil {
		return NativeMove{}, awsErr("StartMessageMoveTask", err)
	}
	nm.TaskHandle = aws.ToString(out.TaskHandle)
	return nm, nil
}

func queueArn(ctx context.Context, api QueueAttributesAPI, url string) (string, error) {
	attrs, err := queueAttributes(ctx, api, url, types.QueueAttributeNameQueueArn)
	if err != nil {
		return "", err
	}
	arn := attrs[string(types.QueueAttributeNameQueueArn)]
	if arn == "" {
		return "", &AWSError{Op: "GetQueueAttributes", Code: "NoQueueArn"}
	}
	return arn, nil
}
