package redrive_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/pkg/redrive"
)

const (
	fakeDLQ      = "https://sqs.us-east-1.amazonaws.com/123456789012/bridge-prod-dlq"
	fakeDelivery = "https://sqs.us-east-1.amazonaws.com/123456789012/bridge-prod-delivery"
	fakeDev      = "https://sqs.us-east-1.amazonaws.com/123456789012/bridge-dev-delivery"

	arnDLQ      = "arn:aws:sqs:us-east-1:123456789012:bridge-prod-dlq"
	arnDelivery = "arn:aws:sqs:us-east-1:123456789012:bridge-prod-delivery"
	arnDev      = "arn:aws:sqs:us-east-1:123456789012:bridge-dev-delivery"
)

// attrSQS is an empty SQS whose queues have the attributes of attrs (by
// URL). It counts what the tool does besides reading attributes: a refused
// target must cause none of it.
type attrSQS struct {
	attrs map[string]map[string]string

	mu       sync.Mutex
	receives int
	sends    int
	started  *sqs.StartMessageMoveTaskInput
}

func (f *attrSQS) GetQueueAttributes(_ context.Context, in *sqs.GetQueueAttributesInput, _ ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	attrs, ok := f.attrs[aws.ToString(in.QueueUrl)]
	if !ok {
		return nil, &smithy.GenericAPIError{Code: "AWS.SimpleQueueService.NonExistentQueue", Message: "The specified queue does not exist."}
	}
	out := map[string]string{}
	for _, name := range in.AttributeNames {
		if v, ok := attrs[string(name)]; ok {
			out[string(name)] = v
		}
	}
	return &sqs.GetQueueAttributesOutput{Attributes: out}, nil
}

func (f *attrSQS) ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.receives++
	return &sqs.ReceiveMessageOutput{}, nil
}

func (f *attrSQS) SendMessage(context.Context, *sqs.SendMessageInput, ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sends++
	return &sqs.SendMessageOutput{}, nil
}

func (f *attrSQS) DeleteMessage(context.Context, *sqs.DeleteMessageInput, ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error) {
	return &sqs.DeleteMessageOutput{}, nil
}

func (f *attrSQS) ChangeMessageVisibilityBatch(context.Context, *sqs.ChangeMessageVisibilityBatchInput, ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error) {
	return &sqs.ChangeMessageVisibilityBatchOutput{}, nil
}

func (f *attrSQS) StartMessageMoveTask(_ context.Context, in *sqs.StartMessageMoveTaskInput, _ ...func(*sqs.Options)) (*sqs.StartMessageMoveTaskOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.started = in
	return &sqs.StartMessageMoveTaskOutput{TaskHandle: aws.String("task-handle-1")}, nil
}

// newAttrSQS is the production stack's two queues and a dev queue; the DLQ
// has the RedriveAllowPolicy policy (none when policy is "-").
func newAttrSQS(policy string) *attrSQS {
	dlq := map[string]string{"QueueArn": arnDLQ}
	if policy != "-" {
		dlq["RedriveAllowPolicy"] = policy
	}
	return &attrSQS{attrs: map[string]map[string]string{
		fakeDLQ:      dlq,
		fakeDelivery: {"QueueArn": arnDelivery},
		fakeDev:      {"QueueArn": arnDev},
	}}
}

// TestTargetRules checks every rule of the target check in each of the
// three ways of moving: Move, Move's dry run and MoveNative.
func TestTargetRules(t *testing.T) {
	const (
		byQueueDelivery = `{"redrivePermission":"byQueue","sourceQueueArns":["` + arnDelivery + `"]}`
		byQueueBoth     = `{"redrivePermission":"byQueue","sourceQueueArns":["` + arnDev + `","` + arnDelivery + `"]}`
	)
	tests := []struct {
		name     string
		policy   string // "-": none
		to       string
		allowAny bool
		// refused is the TargetError's Permission; "" when allowed.
		refused string
	}{
		{"byQueue lists the target", byQueueDelivery, fakeDelivery, false, ""},
		{"byQueue lists the target among others", byQueueBoth, fakeDelivery, false, ""},
		{"byQueue lists the target, flag given", byQueueDelivery, fakeDelivery, true, ""},
		{"byQueue does not list the target", byQueueDelivery, fakeDev, false, redrive.PermissionByQueue},
		{"byQueue does not list the target, flag given", byQueueDelivery, fakeDev, true, redrive.PermissionByQueue},
		{"byQueue lists nothing", `{"redrivePermission":"byQueue"}`, fakeDelivery, true, redrive.PermissionByQueue},
		{"byQueue lists the DLQ only", `{"redrivePermission":"byQueue","sourceQueueArns":["` + arnDLQ + `"]}`, fakeDelivery, false, redrive.PermissionByQueue},
		{"denyAll", `{"redrivePermission":"denyAll"}`, fakeDelivery, false, redrive.PermissionDenyAll},
		{"denyAll, flag given", `{"redrivePermission":"denyAll"}`, fakeDelivery, true, redrive.PermissionDenyAll},
		{"allowAll", `{"redrivePermission":"allowAll"}`, fakeDelivery, false, redrive.PermissionAllowAll},
		{"allowAll, flag given", `{"redrivePermission":"allowAll"}`, fakeDev, true, ""},
		{"no policy", "-", fakeDelivery, false, redrive.PermissionNone},
		{"no policy, flag given", "-", fakeDev, true, ""},
		{"empty policy", "", fakeDelivery, false, redrive.PermissionNone},
		{"empty policy, flag given", " ", fakeDelivery, true, ""},
		{"not JSON", `byQueue`, fakeDelivery, true, redrive.PermissionInvalid},
		{"unknown permission", `{"redrivePermission":"allowSome"}`, fakeDelivery, true, redrive.PermissionInvalid},
		{"permission in another case", `{"redrivePermission":"ByQueue","sourceQueueArns":["` + arnDelivery + `"]}`, fakeDelivery, true, redrive.PermissionInvalid},
		{"no permission", `{"sourceQueueArns":["` + arnDelivery + `"]}`, fakeDelivery, true, redrive.PermissionInvalid},
	}
	ctx := context.Background()
	modes := []struct {
		name string
		run  func(tool *redrive.Tool, api *attrSQS, to string, allowAny bool) error
	}{
		{"move", func(tool *redrive.Tool, _ *attrSQS, to string, allowAny bool) error {
			_, err := tool.Move(ctx, redrive.MoveOptions{To: to, AllowAnyTarget: allowAny})
			return err
		}},
		{"dry run", func(tool *redrive.Tool, _ *attrSQS, to string, allowAny bool) error {
			_, err := tool.Move(ctx, redrive.MoveOptions{To: to, AllowAnyTarget: allowAny, DryRun: true})
			return err
		}},
		{"native", func(tool *redrive.Tool, api *attrSQS, to string, allowAny bool) error {
			_, err := tool.MoveNative(ctx, api, redrive.NativeOptions{To: to, AllowAnyTarget: allowAny})
			return err
		}},
	}
	for _, tt := range tests {
		for _, mode := range modes {
			t.Run(tt.name+"/"+mode.name, func(t *testing.T) {
				api := newAttrSQS(tt.policy)
				tool, err := redrive.New(api, fakeDLQ, fastOptions()...)
				require.NoError(t, err)

				err = mode.run(tool, api, tt.to, tt.allowAny)
				if tt.refused == "" {
					require.NoError(t, err)
					require.NotZero(t, api.receives, "the DLQ was not read")
					if mode.name == "native" {
						require.NotNil(t, api.started, "no move task")
						require.Equal(t, arnDLQ, aws.ToString(api.started.SourceArn))
						require.Equal(t, api.attrs[tt.to]["QueueArn"], aws.ToString(api.started.DestinationArn))
					}
					return
				}
				require.ErrorIs(t, err, redrive.ErrTargetNotAllowed)
				var te *redrive.TargetError
				require.ErrorAs(t, err, &te)
				require.Equal(t, redrive.TargetError{
					DLQ: "bridge-prod-dlq", Target: tt.to[strings.LastIndexByte(tt.to, '/')+1:], Permission: tt.refused,
				}, *te)
				require.Zero(t, api.receives, "the DLQ was read")
				require.Zero(t, api.sends, "a message was sent")
				require.Nil(t, api.started, "a move task was started")
			})
		}
	}
}

func TestTargetErrorMessages(t *testing.T) {
	tests := []struct {
		permission string
		want       []string
	}{
		{redrive.PermissionDenyAll, []string{"bridge-prod-dlq is denyAll"}},
		{redrive.PermissionByQueue, []string{"queue bridge-dev-delivery is not in the sourceQueueArns", "(byQueue) of dead-letter queue bridge-prod-dlq"}},
		{redrive.PermissionAllowAll, []string{"bridge-prod-dlq is allowAll", "queue bridge-dev-delivery is the right target", "--allow-any-target"}},
		{redrive.PermissionNone, []string{"bridge-prod-dlq has no RedriveAllowPolicy", "queue bridge-dev-delivery", "--allow-any-target"}},
		{redrive.PermissionInvalid, []string{"RedriveAllowPolicy of dead-letter queue bridge-prod-dlq cannot be read"}},
	}
	for _, tt := range tests {
		t.Run(tt.permission, func(t *testing.T) {
			msg := (&redrive.TargetError{DLQ: "bridge-prod-dlq", Target: "bridge-dev-delivery", Permission: tt.permission}).Error()
			require.True(t, strings.HasPrefix(msg, "redrive: target not allowed: "), msg)
			for _, w := range tt.want {
				require.Contains(t, msg, w)
			}
		})
	}
}

func TestTargetErrorNamesQueuesOnly(t *testing.T) {
	api := newAttrSQS(`{"redrivePermission":"denyAll"}`)
	tool, err := redrive.New(api, fakeDLQ, fastOptions()...)
	require.NoError(t, err)
	_, err = tool.Move(context.Background(), redrive.MoveOptions{To: fakeDelivery})
	require.ErrorIs(t, err, redrive.ErrTargetNotAllowed)
	require.NotContains(t, err.Error(), "https://")
	require.NotContains(t, err.Error(), "123456789012")
}

func TestTargetCheckFailsClosed(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*attrSQS)
		to      string
		errIs   error
		errText string
	}{
		{"the DLQ does not exist", func(f *attrSQS) { delete(f.attrs, fakeDLQ) }, fakeDelivery, redrive.ErrQueueNotFound, "GetQueueAttributes"},
		{"the target does not exist", func(*attrSQS) {}, fakeDelivery + "-absent", redrive.ErrQueueNotFound, "GetQueueAttributes"},
		{"the DLQ has no ARN", func(f *attrSQS) { delete(f.attrs[fakeDLQ], "QueueArn") }, fakeDelivery, nil, "GetQueueAttributes: NoQueueArn"},
		{"the target has no ARN", func(f *attrSQS) { delete(f.attrs[fakeDelivery], "QueueArn") }, fakeDelivery, nil, "GetQueueAttributes: NoQueueArn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newAttrSQS(`{"redrivePermission":"allowAll"}`)
			tt.edit(api)
			tool, err := redrive.New(api, fakeDLQ, fastOptions()...)
			require.NoError(t, err)
			for _, dryRun := range []bool{false, true} {
				_, err = tool.Move(context.Background(), redrive.MoveOptions{To: tt.to, AllowAnyTarget: true, DryRun: dryRun})
				var awsErr *redrive.AWSError
				require.ErrorAs(t, err, &awsErr)
				if tt.errIs != nil {
					require.ErrorIs(t, err, tt.errIs)
				}
				require.ErrorContains(t, err, tt.errText)
			}
			_, err = tool.MoveNative(context.Background(), api, redrive.NativeOptions{To: tt.to, AllowAnyTarget: true})
			require.ErrorContains(t, err, tt.errText)
			require.Zero(t, api.receives, "the DLQ was read")
			require.Nil(t, api.started, "a move task was started")
		})
	}
}

// TestMoveRefusesAnotherStagesQueue is the audit's case against kumo: the
// stack's DLQ (byQueue naming its delivery queue, as template.yaml makes
// it) and another stage's queue as --to. Nothing is read or moved, in any
// way of moving.
func TestMoveRefusesAnotherStagesQueue(t *testing.T) {
	e := newEnv(t)
	dlq, _ := e.queues()
	dev := e.queue("dev-queue")
	for range 3 {
		e.put(dlq, dead{class: "permanent", code: "clinic_not_found", status: 404})
	}
	ctx := context.Background()

	for _, dryRun := range []bool{false, true} {
		sum, err := e.tool(dlq).Move(ctx, redrive.MoveOptions{To: dev, DryRun: dryRun, AllowAnyTarget: true})
		require.ErrorIs(t, err, redrive.ErrTargetNotAllowed)
		require.Zero(t, sum.Moved+sum.WouldMove+sum.Skipped)
	}
	native := &nativeSQS{kumoSQS: e.api}
	_, err := e.tool(dlq).MoveNative(ctx, native, redrive.NativeOptions{To: dev, AllowAnyTarget: true})
	require.ErrorIs(t, err, redrive.ErrTargetNotAllowed)
	require.Nil(t, native.got, "a move task was started")

	for _, args := range [][]string{
		{"move", "--dlq", dlq, "--to", dev},
		{"move", "--dlq", dlq, "--to", dev, "--dry-run", "--json"},
		{"move", "--dlq", dlq, "--to", dev, "--all-native", "--allow-any-target"},
	} {
		out, errOut, err := e.run(redrive.Clients{}, args...)
		require.ErrorIs(t, err, redrive.ErrTargetNotAllowed)
		require.ErrorContains(t, err, "queue "+e.prefix+"-dev-queue is not in the sourceQueueArns")
		require.Empty(t, out)
		require.NotContains(t, errOut, "moving")
	}

	require.Empty(t, e.contents(dev))
	// Nothing was read: every message is receivable at once.
	e.requireAllVisible(dlq, 3)
}

// TestMoveWithoutAllowPolicy uses kumo alone: its queues have no
// RedriveAllowPolicy, so a move needs AllowAnyTarget.
func TestMoveWithoutAllowPolicy(t *testing.T) {
	e := newEnv(t)
	dlq, target := e.queue("dlq"), e.queue("queue")
	id := e.put(dlq, dead{class: "exhausted", code: "http_503", status: 503})
	tool, err := redrive.New(e.sqs, dlq, fastOptions()...)
	require.NoError(t, err)
	ctx := context.Background()

	_, err = tool.Move(ctx, redrive.MoveOptions{To: target})
	var te *redrive.TargetError
	require.ErrorAs(t, err, &te)
	require.Equal(t, redrive.PermissionNone, te.Permission)
	_, _, err = e.run(redrive.Clients{SQS: e.sqs}, "move", "--dlq", dlq, "--to", target, "--dry-run")
	require.ErrorIs(t, err, redrive.ErrTargetNotAllowed)
	e.release(dlq, e.requireAllVisible(dlq, 1))

	out, errOut, err := e.run(redrive.Clients{SQS: e.sqs}, "move", "--dlq", dlq, "--to", target, "--allow-any-target")
	require.NoError(t, err)
	require.Equal(t, "moved 1, skipped 0, failed 0; stopped: empty\n", out)
	require.Contains(t, errOut, "note: "+e.prefix+"-dlq has no RedriveAllowPolicy; moving to "+e.prefix+"-queue because of --allow-any-target")
	require.Equal(t, []string{id}, recordIDs(e.contents(target)))
}

func TestMoveAllowAllNeedsTheFlag(t *testing.T) {
	e := newEnv(t)
	dlq, target := e.queue("dlq"), e.queue("queue")
	e.allowRedrive(dlq, redrive.PermissionAllowAll)
	e.put(dlq, dead{class: "exhausted", code: "http_503", status: 503})

	_, _, err := e.run(redrive.Clients{}, "move", "--dlq", dlq, "--to", target)
	require.ErrorIs(t, err, redrive.ErrTargetNotAllowed)
	require.ErrorContains(t, err, "is allowAll")

	out, errOut, err := e.run(redrive.Clients{}, "move", "--dlq", dlq, "--to", target, "--allow-any-target")
	require.NoError(t, err)
	require.Equal(t, "moved 1, skipped 0, failed 0; stopped: empty\n", out)
	require.Contains(t, errOut, "is allowAll; moving to")
}
