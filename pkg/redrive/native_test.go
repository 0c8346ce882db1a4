package redrive_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/pkg/redrive"
)

func TestMoveNativeUnsupportedByKumo(t *testing.T) {
	e := newEnv(t)
	dlq, target := e.queues()
	e.put(dlq, dead{class: "exhausted", code: "http_503", status: 503})

	_, err := e.tool(dlq).MoveNative(context.Background(), e.api, redrive.NativeOptions{To: target})
	require.ErrorIs(t, err, redrive.ErrNativeUnsupported)
	var awsErr *redrive.AWSError
	require.ErrorAs(t, err, &awsErr)
	require.Equal(t, "StartMessageMoveTask", awsErr.Op)
	e.requireAllVisible(dlq, 1)
}

func TestMoveNativeCommandFallsBackToTheFilteredMove(t *testing.T) {
	e := newEnv(t)
	dlq, target := e.queues()
	ids := map[string]string{
		"clinic":    e.put(dlq, dead{class: "permanent", code: "clinic_not_found", status: 404}),
		"exhausted": e.put(dlq, dead{class: "exhausted", code: "http_503", status: 503}),
	}
	out, errOut, err := e.run(redrive.Clients{}, "move", "--dlq", dlq, "--to", target, "--all-native")
	require.NoError(t, err)
	require.Contains(t, errOut, "this SQS endpoint does not support StartMessageMoveTask")
	require.Contains(t, errOut, "falling back to the filtered move")
	require.Equal(t, "moved 2, skipped 0, failed 0; stopped: empty\n", out)
	e.requireMoved(dlq, target, ids, "clinic", "exhausted")
}

func TestMoveNativeRefusesUnconfirmed(t *testing.T) {
	e := newEnv(t)
	dlq, target := e.queues()
	e.put(dlq, dead{class: "exhausted", code: "http_503", status: 503})
	e.put(dlq, dead{class: "unconfirmed", code: "timeout"})
	native := &nativeSQS{kumoSQS: e.api}

	_, err := e.tool(dlq).MoveNative(context.Background(), native, redrive.NativeOptions{To: target})
	require.ErrorIs(t, err, redrive.ErrUnconfirmedPresent)
	require.Nil(t, native.got, "a move task was started")
	require.Empty(t, e.contents(target))
	e.requireAllVisible(dlq, 2)
}

// nativeSQS is kumo with the StartMessageMoveTask it lacks.
type nativeSQS struct {
	*kumoSQS
	got *sqs.StartMessageMoveTaskInput
}

func (n *nativeSQS) StartMessageMoveTask(_ context.Context, in *sqs.StartMessageMoveTaskInput, _ ...func(*sqs.Options)) (*sqs.StartMessageMoveTaskOutput, error) {
	n.got = in
	return &sqs.StartMessageMoveTaskOutput{TaskHandle: aws.String("task-handle-1")}, nil
}

func TestMoveNativeStartsATask(t *testing.T) {
	e := newEnv(t)
	dlq, target := e.queues()
	e.put(dlq, dead{class: "exhausted", code: "http_503", status: 503})
	native := &nativeSQS{kumoSQS: e.api}

	nm, err := e.tool(dlq).MoveNative(context.Background(), native, redrive.NativeOptions{To: target, Rate: 50})
	require.NoError(t, err)
	require.Equal(t, "task-handle-1", nm.TaskHandle)
	require.Equal(t, "arn:aws:sqs:us-east-1:000000000000:"+e.prefix+"-dlq", nm.SourceArn)
	require.Equal(t, "arn:aws:sqs:us-east-1:000000000000:"+e.prefix+"-queue", nm.DestinationArn)
	require.Equal(t, nm.SourceArn, aws.ToString(native.got.SourceArn))
	require.Equal(t, nm.DestinationArn, aws.ToString(native.got.DestinationArn))
	require.Equal(t, int32(50), aws.ToInt32(native.got.MaxNumberOfMessagesPerSecond))

	out, _, err := e.run(redrive.Clients{SQS: native}, "move", "--dlq", dlq, "--to", target, "--all-native")
	require.NoError(t, err)
	require.Contains(t, out, "started message move task task-handle-1 from "+nm.SourceArn+" to "+nm.DestinationArn)
	require.Nil(t, native.got.MaxNumberOfMessagesPerSecond, "no --rate: SQS chooses")

	for _, rate := range []int{-1, redrive.MaxNativeRate + 1} {
		_, err = e.tool(dlq).MoveNative(context.Background(), native, redrive.NativeOptions{To: target, Rate: rate})
		require.ErrorIs(t, err, redrive.ErrUsage)
	}
	_, err = e.tool(dlq).MoveNative(context.Background(), native, redrive.NativeOptions{To: dlq})
	require.ErrorIs(t, err, redrive.ErrUsage)
}
