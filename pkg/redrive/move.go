package redrive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/novamed/bridge/pkg/ledger"
	"github.com/novamed/bridge/pkg/queue"
)

// Resolver releases an unconfirmed record in the ledger. *ledger.Ledger
// implements it.
type Resolver interface {
	ResolveUnconfirmed(ctx context.Context, recordID string) error
}

// MoveOptions say what Move moves and how fast.
type MoveOptions struct {
	// To is the URL of the queue to move to (the delivery queue).
	To string
	// ErrorClass and ErrorCode select the messages to move; empty matches
	// any. ClassNone selects messages without dead-letter attributes.
	// Without an ErrorClass, classes that cannot be redriven usefully
	// (malformed, guard) are left in place; name them to move them anyway.
	ErrorClass string
	ErrorCode  string
	// RecordID, when set, selects only the dead letters of this record
	// (the queue message's id; redrive release).
	RecordID string
	// Max bounds the messages moved (or counted, in a dry run); zero means
	// no bound.
	Max int
	// Rate is the most messages sent per second, above 0 and at most
	// MaxRate; zero means DefaultRate.
	Rate float64
	// DryRun counts what would move and moves nothing. The target is
	// checked all the same, so a refused target shows before the real run.
	DryRun bool
	// AllowAnyTarget lets the move go ahead when the DLQ's
	// RedriveAllowPolicy is allowAll or absent, which says nothing about
	// where its messages belong. template.yaml sets byQueue naming the
	// delivery queue, so only hand-made queues need it. It never overrides
	// denyAll or a byQueue policy that does not list To.
	AllowAnyTarget bool
	// ConfirmUnconfirmed moves messages of class unconfirmed, after
	// releasing each record in Ledger. Pass it only after checking that
	// NovaMed does not hold the records.
	ConfirmUnconfirmed bool
	// Ledger is required with ConfirmUnconfirmed (except in a dry run,
	// which does not call it).
	Ledger Resolver
	// Progress receives progress lines (stderr in the command); nil for
	// none.
	Progress io.Writer
}

// Why a move stopped.
const (
	StopEmpty    = "empty"    // the DLQ appears empty (of matching messages)
	StopMax      = "max"      // Max reached
	StopFailure  = "failure"  // a send, delete or ledger call failed
	StopCanceled = "canceled" // the context ended
	StopError    = "error"    // receiving from the DLQ failed
)

// Reasons a message is skipped (MoveSummary.SkippedBy).
const (
	SkipFilter          = "filter"            // class or code not selected
	SkipNotRedrivable   = "not_redrivable"    // malformed or guard, not selected by name
	SkipUnconfirmed     = "unconfirmed"       // needs ConfirmUnconfirmed
	SkipNotQueueMessage = "not_queue_message" // unconfirmed, but no record id to resolve
	SkipLedgerNotFound  = "ledger_not_found"  // unconfirmed, no ledger entry
	// SkipNeedsNewData: a held record (NovaMed cannot take it as it
	// stands) or an update (the person already has a chart). Redriving
	// cannot fix either: a held record is fixed by new data from the
	// sender, which arrives as a new event; an update is applied in
	// NovaMed by hand. They stay in the DLQ, whatever the filters say.
	SkipNeedsNewData = "needs_new_data"
	// An unconfirmed record the ledger refuses to release is skipped as
	// "ledger_<state>", e.g. ledger_delivered.
)

// Steps of a Failure.
const (
	StepLedger = "ledger"
	StepSend   = "send"
	StepDelete = "delete"
)

// Failure is a message Move could not move.
type Failure struct {
	// MessageID is the SQS message id in the DLQ.
	MessageID string `json:"message_id"`
	// Step is StepLedger, StepSend or StepDelete.
	Step string `json:"step"`
	// Error names the operation and the error code, never a value.
	Error string `json:"error"`
	// InBoth reports that the message was sent to the target but is still
	// in the DLQ (the delete failed): the documented duplicate, harmless
	// because the ledger deduplicates deliveries.
	InBoth bool `json:"in_both"`
	err    error
}

// MoveSummary is the outcome of Move.
type MoveSummary struct {
	DryRun bool `json:"dry_run"`
	// Moved counts messages sent to the target and deleted from the DLQ.
	Moved int `json:"moved"`
	// WouldMove counts the messages a dry run would move.
	WouldMove int `json:"would_move"`
	// Skipped counts messages left in the DLQ on purpose, by reason in
	// SkippedBy.
	Skipped   int            `json:"skipped"`
	SkippedBy map[string]int `json:"skipped_by"`
	// Failed counts messages in Failures.
	Failed   int       `json:"failed"`
	Failures []Failure `json:"failures,omitempty"`
	// Stopped says why the move ended: StopEmpty, StopMax, StopFailure,
	// StopCanceled or StopError.
	Stopped string `json:"stopped"`
	// ReleaseFailed counts held messages that could not be made visible
	// again at the end; SQS releases them at the end of the visibility
	// timeout.
	ReleaseFailed int `json:"release_failed,omitempty"`
}

func (s *MoveSummary) skip(reason string) {
	s.Skipped++
	s.SkippedBy[reason]++
}

// String is the summary line of the command.
func (s MoveSummary) String() string {
	var b strings.Builder
	if s.DryRun {
		fmt.Fprintf(&b, "dry run: would move %d, skipped %d", s.WouldMove, s.Skipped)
	} else {
		fmt.Fprintf(&b, "moved %d, skipped %d, failed %d", s.Moved, s.Skipped, s.Failed)
	}
	if len(s.SkippedBy) > 0 {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(s.SkippedBy)) {
			parts = append(parts, fmt.Sprintf("%s %d", k, s.SkippedBy[k]))
		}
		b.WriteString(" (" + strings.Join(parts, ", ") + ")")
	}
	b.WriteString("; stopped: " + s.Stopped)
	return b.String()
}

func (o *MoveOptions) validate(dlq string) error {
	switch {
	case o.To == "":
		return fmt.Errorf("%w: --to (or --stack) is required", ErrUsage)
	case o.To == dlq:
		return fmt.Errorf("%w: --to is the dead-letter queue itself", ErrUsage)
	case o.ErrorClass != "" && !queue.ValidSlug(o.ErrorClass):
		return fmt.Errorf("%w: --error-class must be a slug of [a-z0-9_]", ErrUsage)
	case o.ErrorClass != "" && !slices.Contains(ErrorClasses, o.ErrorClass):
		return fmt.Errorf("%w: unknown --error-class; the classes are %s", ErrUsage, strings.Join(ErrorClasses, ", "))
	case o.ErrorCode != "" && !queue.ValidSlug(o.ErrorCode):
		return fmt.Errorf("%w: --error-code must be a slug of [a-z0-9_]", ErrUsage)
	case o.Max < 0:
		return fmt.Errorf("%w: --max must not be negative", ErrUsage)
	case o.Rate < 0 || o.Rate > MaxRate || o.Rate != o.Rate:
		return fmt.Errorf("%w: --rate must be above 0 and at most %d", ErrUsage, MaxRate)
	case o.ConfirmUnconfirmed && o.Ledger == nil && !o.DryRun:
		return fmt.Errorf("%w: --confirm-unconfirmed needs --ledger-table", ErrUsage)
	}
	return nil
}

// selects applies the filters and the unconfirmed rule; it returns the
// skip reason, or "" to move.
func (o *MoveOptions) selects(r *received) string {
	class, code := r.class(), r.code()
	if o.ErrorClass != "" && class != o.ErrorClass || o.ErrorCode != "" && code != o.ErrorCode {
		return SkipFilter
	}
	if o.RecordID != "" && recordIDOf(r) != o.RecordID {
		return SkipFilter
	}
	if class == queue.ClassHeld || class == queue.ClassUpdate {
		return SkipNeedsNewData
	}
	if o.ErrorClass == "" && (class == queue.ClassMalformed || class == ClassGuard) {
		return SkipNotRedrivable
	}
	if class == ClassUnconfirmed && !o.ConfirmUnconfirmed {
		return SkipUnconfirmed
	}
	return ""
}

// Move moves the selected dead letters to o.To; see the package doc for the
// order of operations and the failure policy. Before it reads a message it
// checks o.To against the DLQ's RedriveAllowPolicy (package doc, "The
// target"); a refusal is a *TargetError matching ErrTargetNotAllowed, and
// nothing is read or moved. The summary is valid whatever the error. An
// error is returned when the target is refused, when the move stopped on a
// failure (it wraps the first Failure's error), on a receive error, or
// because ctx ended.
func (t *Tool) Move(ctx context.Context, o MoveOptions) (MoveSummary, error) {
	sum := MoveSummary{DryRun: o.DryRun, SkippedBy: map[string]int{}}
	if err := o.validate(t.dlq); err != nil {
		return sum, err
	}
	if _, err := checkTarget(ctx, t.sqs, t.dlq, o.To, o.AllowAnyTarget); err != nil {
		return sum, err
	}
	rate := o.Rate
	if rate == 0 {
		rate = DefaultRate
	}
	progress := o.Progress
	if progress == nil {
		progress = io.Discard
	}
	lim := newLimiter(rate, t.newTicker)
	defer lim.stop()

	// A batch must be processed within the visibility timeout: at a low
	// rate, receive fewer messages at a time.
	rateBatch := int32(min(max(rate*float64(t.visibility)/2, 1), 10))
	done := func() int { return sum.Moved + sum.WouldMove }
	batch := func() int32 {
		n := rateBatch
		if o.DryRun {
			n = 10
		}
		if o.Max > 0 {
			n = min(n, int32(o.Max-done()))
		}
		return n
	}

	p := t.newPass()
	var stopErr error
	err := p.drain(ctx, batch, func(r *received) (bool, error) {
		if o.Max > 0 && done() >= o.Max {
			p.hold(r)
			return true, nil
		}
		if reason := o.selects(r); reason != "" {
			sum.skip(reason)
			p.hold(r)
			return false, nil
		}
		if o.DryRun {
			sum.WouldMove++
			p.hold(r)
			return o.Max > 0 && done() >= o.Max, nil
		}
		if err := lim.wait(ctx); err != nil {
			p.hold(r)
			return true, err
		}
		f, reason := t.moveOne(ctx, r, &o)
		switch {
		case reason != "":
			sum.skip(reason)
			p.hold(r)
			fmt.Fprintf(progress, "skipped %s: %s\n", r.id, reason)
			return false, nil
		case f != nil:
			sum.Failed++
			sum.Failures = append(sum.Failures, *f)
			// Still in the DLQ (and, after a failed delete, in the target
			// too): make it visible again with the others.
			p.hold(r)
			fmt.Fprintf(progress, "failed %s: %s: %s\n", r.id, f.Step, f.Error)
			stopErr = fmt.Errorf("redrive: move stopped: %s of message %s failed: %w", f.Step, r.id, f.err)
			return true, nil
		}
		sum.Moved++
		if sum.Moved%10 == 0 {
			fmt.Fprintf(progress, "moved %d (skipped %d)\n", sum.Moved, sum.Skipped)
		}
		return o.Max > 0 && done() >= o.Max, nil
	})
	sum.ReleaseFailed = p.release(ctx)

	switch {
	case stopErr != nil:
		sum.Stopped = StopFailure
		return sum, stopErr
	case err != nil && ctx.Err() != nil:
		sum.Stopped = StopCanceled
		return sum, err
	case err != nil:
		sum.Stopped = StopError
		return sum, err
	case o.Max > 0 && done() >= o.Max:
		sum.Stopped = StopMax
	default:
		sum.Stopped = StopEmpty
	}
	return sum, nil
}

// moveOne resolves the ledger entry of an unconfirmed record, sends the
// copy and deletes the original. It returns a skip reason, or a failure,
// or neither when the message moved. Once it starts, it runs to the end on
// a context the operator's interrupt does not cancel, so send and delete
// are never split by an interrupt.
func (t *Tool) moveOne(ctx context.Context, r *received, o *MoveOptions) (*Failure, string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()

	if r.class() == ClassUnconfirmed {
		m, err := queue.Decode(r.body)
		if err != nil {
			return nil, SkipNotQueueMessage
		}
		if err := o.Ledger.ResolveUnconfirmed(ctx, m.ID); err != nil {
			var se *ledger.StateError
			switch {
			case errors.As(err, &se):
				return nil, "ledger_" + printableCode(se.State)
			case errors.Is(err, ledger.ErrNotFound):
				return nil, SkipLedgerNotFound
			}
			// The ledger's errors name the operation and state, never an id.
			return &Failure{MessageID: r.id, Step: StepLedger, Error: err.Error(), err: err}, ""
		}
	}

	_, err := t.sqs.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:          aws.String(o.To),
		MessageBody:       aws.String(r.body),
		MessageAttributes: queue.BaseAttributes(r.attrs),
	})
	if err != nil {
		err = awsErr("SendMessage", err)
		return &Failure{MessageID: r.id, Step: StepSend, Error: err.Error(), err: err}, ""
	}
	_, err = t.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{
		QueueUrl:      aws.String(t.dlq),
		ReceiptHandle: aws.String(r.handle),
	})
	if err != nil {
		err = awsErr("DeleteMessage", err)
		return &Failure{MessageID: r.id, Step: StepDelete, Error: err.Error(), InBoth: true, err: err}, ""
	}
	return nil, ""
}
