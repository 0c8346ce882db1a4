package redrive

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// QueueAttributesAPI is the part of the SQS client the target check uses.
// *sqs.Client implements it.
type QueueAttributesAPI interface {
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

// ErrTargetNotAllowed: the dead-letter queue's RedriveAllowPolicy does not
// let its messages go to the target queue (see TargetError). Nothing was
// moved.
var ErrTargetNotAllowed = errors.New("redrive: target not allowed")

// Values of a RedriveAllowPolicy's redrivePermission, and the two
// TargetError.Permission uses besides them.
const (
	PermissionAllowAll = "allowAll"
	PermissionDenyAll  = "denyAll"
	PermissionByQueue  = "byQueue"
	// PermissionNone: the DLQ has no RedriveAllowPolicy (SQS then behaves
	// as allowAll).
	PermissionNone = "none"
	// PermissionInvalid: the policy is not JSON or its redrivePermission is
	// none of the three.
	PermissionInvalid = "invalid"
)

// TargetError is a refused target. It matches ErrTargetNotAllowed with
// errors.Is. Its fields and message hold queue names (the last segment of
// the URLs), never a message.
type TargetError struct {
	// DLQ and Target are the names of the dead-letter queue and the target.
	DLQ    string
	Target string
	// Permission is the DLQ's redrivePermission, PermissionNone or
	// PermissionInvalid.
	Permission string
}

func (e *TargetError) Error() string {
	msg := ErrTargetNotAllowed.Error() + ": "
	switch e.Permission {
	case PermissionDenyAll:
		return msg + fmt.Sprintf("the RedriveAllowPolicy of dead-letter queue %s is denyAll: no queue may take its messages", e.DLQ)
	case PermissionByQueue:
		return msg + fmt.Sprintf("queue %s is not in the sourceQueueArns of the RedriveAllowPolicy (byQueue) of dead-letter queue %s; "+
			"check --to (or --stack)", e.Target, e.DLQ)
	case PermissionInvalid:
		return msg + fmt.Sprintf("the RedriveAllowPolicy of dead-letter queue %s cannot be read "+
			"(not JSON, or a redrivePermission other than allowAll, denyAll or byQueue)", e.DLQ)
	case PermissionAllowAll:
		msg += fmt.Sprintf("the RedriveAllowPolicy of dead-letter queue %s is allowAll", e.DLQ)
	default:
		msg += fmt.Sprintf("dead-letter queue %s has no RedriveAllowPolicy", e.DLQ)
	}
	return msg + fmt.Sprintf(", so it does not say which queue may take its messages; "+
		"check that queue %s is the right target (not another stage's) and pass --allow-any-target", e.Target)
}

// Is makes errors.Is(err, ErrTargetNotAllowed) true.
func (e *TargetError) Is(target error) bool { return target == ErrTargetNotAllowed }

// target is the outcome of an allowed target check.
type target struct {
	dlqArn, toArn string
	// permission is the DLQ's redrivePermission or PermissionNone.
	permission string
}

// allowPolicy is the JSON of a RedriveAllowPolicy attribute.
type allowPolicy struct {
	RedrivePermission string   `json:"redrivePermission"`
	SourceQueueArns   []string `json:"sourceQueueArns"`
}

// checkTarget reads the DLQ's RedriveAllowPolicy and QueueArn and the
// target's QueueArn and says whether the DLQ's messages may go to the
// target. Move copies messages with SendMessage, to which SQS applies no
// RedriveAllowPolicy, so the tool applies it itself: without the check a
// mistyped --to could copy production records, PHI, into another stage's
// queue.
//
//   - denyAll: refused;
//   - byQueue: allowed when sourceQueueArns lists the target's ARN;
//   - allowAll or no policy: allowed only with allowAny (the policy then
//     says nothing about where the messages belong);
//   - anything else: refused.
//
// A failed GetQueueAttributes is an *AWSError: the check fails closed.
func checkTarget(ctx context.Context, api QueueAttributesAPI, dlq, to string, allowAny bool) (target, error) {
	attrs, err := queueAttributes(ctx, api, dlq, types.QueueAttributeNameQueueArn, types.QueueAttributeNameRedriveAllowPolicy)
	if err != nil {
		return target{}, err
	}
	tg := target{dlqArn: attrs[string(types.QueueAttributeNameQueueArn)]}
	if tg.dlqArn == "" {
		return target{}, &AWSError{Op: "GetQueueAttributes", Code: "NoQueueArn"}
	}
	if tg.toArn, err = queueArn(ctx, api, to); err != nil {
		return target{}, err
	}
	refuse := func(permission string) (target, error) {
		return target{}, &TargetError{DLQ: queueName(dlq), Target: queueName(to), Permission: permission}
	}

	raw := strings.TrimSpace(attrs[string(types.QueueAttributeNameRedriveAllowPolicy)])
	var p allowPolicy
	switch {
	case raw == "":
		p.RedrivePermission = PermissionNone
	case json.Unmarshal([]byte(raw), &p) != nil:
		return refuse(PermissionInvalid)
	}
	tg.permission = p.RedrivePermission
	switch p.RedrivePermission {
	case PermissionByQueue:
		if slices.Contains(p.SourceQueueArns, tg.toArn) {
			return tg, nil
		}
		return refuse(PermissionByQueue)
	case PermissionAllowAll, PermissionNone:
		if allowAny {
			return tg, nil
		}
		return refuse(p.RedrivePermission)
	case PermissionDenyAll:
		return refuse(PermissionDenyAll)
	}
	return refuse(PermissionInvalid)
}

func queueAttributes(ctx context.Context, api QueueAttributesAPI, url string, names ...types.QueueAttributeName) (map[string]string, error) {
	out, err := api.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl:       aws.String(url),
		AttributeNames: names,
	})
	if err != nil {
		return nil, awsErr("GetQueueAttributes", err)
	}
	return out.Attributes, nil
}

// queueName is the last path segment of a queue URL, kept to the
// characters of a queue name: it is printed.
func queueName(url string) string {
	url = strings.TrimRight(url, "/")
	name := url[strings.LastIndexByte(url, '/')+1:]
	var b strings.Builder
	for i := 0; i < len(name) && b.Len() < 80; i++ {
		c := name[i]
		if c == '.' || c == '_' || c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' {
			b.WriteByte(c)
		}
	}
	if b.Len() == 0 {
		return "(unnamed)"
	}
	return b.String()
}
