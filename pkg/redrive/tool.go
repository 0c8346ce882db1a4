package redrive

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/novamed/bridge/pkg/queue"
)

// Error classes the dispatch function writes besides queue's (docs/contract.md,
// operations.md "Dead letters").
const (
	// ClassUnconfirmed: an attempt may have reached NovaMed without an answer.
	ClassUnconfirmed = "unconfirmed"
	// ClassGuard: the environment guard could not de-identify the record.
	ClassGuard = "guard"
	// ClassNone is the class (and code) Stats and Move give a message
	// without valid dead-letter attributes: one the queue's redrive policy
	// moved after a crash or a timeout, or one written by something else.
	ClassNone = "none"
	// ClassHeld: dispatch holds the record back on purpose (another turn's
	// work writes it); an operator moves it once the cause is gone.
	ClassHeld = "held"
	// ClassUpdate: a change to a record NovaMed already has (another
	// turn's work writes it).
	ClassUpdate = "update"
)

// ErrorClasses are the classes --error-class accepts: every class dispatch
// writes, and ClassNone. Anything else is a usage error, never a filter
// that silently matches nothing.
var ErrorClasses = []string{
	queue.ClassPermanent, queue.ClassExhausted, queue.ClassMalformed,
	ClassUnconfirmed, ClassGuard, ClassHeld, ClassUpdate, ClassNone,
}

// Defaults of a Tool.
const (
	DefaultVisibilityTimeout = 30 * time.Second
	DefaultWaitTime          = 2 * time.Second
	DefaultEmptyReceives     = 3
	// releaseTimeout bounds the release of held messages and the completion
	// of a started move after the operator's context has ended.
	releaseTimeout = 30 * time.Second
)

// Option configures a Tool.
type Option func(*Tool)

// WithVisibilityTimeout sets how long received messages stay hidden
// (default 30s, rounded down to whole seconds, at least 1s). It is the
// longest a dead letter can stay hidden if the tool dies mid-pass.
func WithVisibilityTimeout(d time.Duration) Option {
	return func(t *Tool) { t.visibility = max(int32(d/time.Second), 1) }
}

// WithWaitTime sets the long-poll wait of each receive (default 2s; SQS
// allows 0 to 20s). Zero makes short polls, which real SQS answers from a
// sample of its servers: keep it above zero outside tests.
func WithWaitTime(d time.Duration) Option {
	return func(t *Tool) { t.wait = min(max(int32(d/time.Second), 0), 20) }
}

// WithEmptyReceives sets how many receives in a row must bring nothing new
// before a pass decides the queue is empty (default 3, at least 1).
func WithEmptyReceives(n int) Option {
	return func(t *Tool) { t.emptyReceives = max(n, 1) }
}

// WithTicker sets the ticker factory of Move's rate limiter (tests inject
// a fake; the default wraps time.NewTicker).
func WithTicker(f func(time.Duration) Ticker) Option {
	return func(t *Tool) {
		if f != nil {
			t.newTicker = f
		}
	}
}

// Tool works on one dead-letter queue. It is not safe for concurrent use:
// run one operation at a time.
type Tool struct {
	sqs           SQSAPI
	dlq           string
	visibility    int32
	wait          int32
	emptyReceives int
	newTicker     func(time.Duration) Ticker
}

// New returns a Tool for the dead-letter queue at dlqURL.
func New(client SQSAPI, dlqURL string, opts ...Option) (*Tool, error) {
	if client == nil {
		return nil, errors.New("redrive: nil SQS client")
	}
	if dlqURL == "" {
		return nil, errors.New("redrive: empty dead-letter queue URL")
	}
	t := &Tool{
		sqs:           client,
		dlq:           dlqURL,
		visibility:    int32(DefaultVisibilityTimeout / time.Second),
		wait:          int32(DefaultWaitTime / time.Second),
		emptyReceives: DefaultEmptyReceives,
		newTicker:     newTimeTicker,
	}
	for _, o := range opts {
		o(t)
	}
	return t, nil
}

// received is one dead letter as a pass sees it.
type received struct {
	id           string // SQS message id
	handle       string // the latest receipt handle
	body         string
	attrs        map[string]types.MessageAttributeValue
	receiveCount int
	dlq          queue.DLQAttributes
	dlqErr       error // why the dead-letter attributes are not valid
}

// class and code are the message's error class and code, ClassNone when
// its dead-letter attributes are missing or invalid.
func (r *received) class() string {
	if r.dlqErr != nil {
		return ClassNone
	}
	return r.dlq.ErrorClass
}

func (r *received) code() string {
	if r.dlqErr != nil {
		return ClassNone
	}
	return r.dlq.ErrorCode
}

// pass receives the DLQ's messages once each, and keeps those it was told
// to hold hidden until release.
type pass struct {
	t    *Tool
	seen map[string]bool   // message ids received in this pass
	held map[string]string // message id -> receipt handle, to release
	// order keeps the release deterministic.
	order []string
}

func (t *Tool) newPass() *pass {
	return &pass{t: t, seen: map[string]bool{}, held: map[string]string{}}
}

// receive returns the messages of one receive not seen before in the pass,
// and whether the receive brought anything new. A message seen before
// (hidden longer than the visibility timeout) is held again under its new
// receipt handle if it was held.
func (p *pass) receive(ctx context.Context, maxMessages int32) ([]*received, error) {
	out, err := p.t.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(p.t.dlq),
		MaxNumberOfMessages:         min(max(maxMessages, 1), 10),
		VisibilityTimeout:           p.t.visibility,
		WaitTimeSeconds:             p.t.wait,
		MessageAttributeNames:       []string{"All"},
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount},
	})
	if err != nil {
		return nil, awsErr("ReceiveMessage", err)
	}
	var fresh []*received
	for _, m := range out.Messages {
		id, handle := aws.ToString(m.MessageId), aws.ToString(m.ReceiptHandle)
		if p.seen[id] {
			if _, ok := p.held[id]; ok {
				p.held[id] = handle
			}
			continue
		}
		p.seen[id] = true
		r := &received{id: id, handle: handle, body: aws.ToString(m.Body), attrs: m.MessageAttributes}
		r.receiveCount, _ = strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
		r.dlq, r.dlqErr = queue.ParseDLQAttributes(m.MessageAttributes)
		fresh = append(fresh, r)
	}
	return fresh, nil
}

// hold keeps r hidden until release.
func (p *pass) hold(r *received) {
	if _, ok := p.held[r.id]; !ok {
		p.order = append(p.order, r.id)
	}
	p.held[r.id] = r.handle
}

// drain receives until the queue appears empty or visit says stop. visit is
// called once per new message, in order.
func (p *pass) drain(ctx context.Context, batch func() int32, visit func(*received) (stop bool, err error)) error {
	empty := 0
	for empty < p.t.emptyReceives {
		if err := ctx.Err(); err != nil {
			return err
		}
		msgs, err := p.receive(ctx, batch())
		if err != nil {
			return err
		}
		if len(msgs) == 0 {
			empty++
			continue
		}
		empty = 0
		for i, m := range msgs {
			stop, err := visit(m)
			if stop || err != nil {
				// The rest of the batch was received but not looked at.
				for _, rest := range msgs[i+1:] {
					p.hold(rest)
				}
				return err
			}
		}
	}
	return nil
}

// release makes every held message visible again with
// ChangeMessageVisibility 0, in batches of ten. It runs on its own context
// so an interrupted pass still releases. It returns how many could not be
// released (they come back at the end of the visibility timeout).
func (p *pass) release(ctx context.Context) int {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	failed := 0
	var ids []string
	for _, id := range p.order {
		if _, ok := p.held[id]; ok {
			ids = append(ids, id)
		}
	}
	for start := 0; start < len(ids); start += 10 {
		chunk := ids[start:min(start+10, len(ids))]
		entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, len(chunk))
		for i, id := range chunk {
			entries[i] = types.ChangeMessageVisibilityBatchRequestEntry{
				Id:                aws.String("r" + strconv.Itoa(i)),
				ReceiptHandle:     aws.String(p.held[id]),
				VisibilityTimeout: 0,
			}
		}
		out, err := p.t.sqs.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{
			QueueUrl: aws.String(p.t.dlq),
			Entries:  entries,
		})
		if err != nil {
			failed += len(chunk)
			continue
		}
		failed += len(out.Failed)
		// An entry reported neither way counts as released: SQS lists
		// every failure.
	}
	p.held = map[string]string{}
	p.order = nil
	return failed
}
