package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/novamed/bridge/pkg/awsclients"
	"github.com/novamed/bridge/pkg/novamed"
	"github.com/novamed/bridge/pkg/params"
	"github.com/novamed/bridge/pkg/queue"
)

// settle records the outcome of the NovaMed call in the ledger and decides
// what becomes of the message.
func (p *Pipeline) settle(ctx context.Context, r *Record) Verdict {
	bctx, cancel := r.Budget.Bookkeeping(ctx)
	defer cancel()
	res, id, m := &r.Result, r.NovaMedID, r.Result.Msg

	if r.CallErr == nil {
		res.Outcome, res.NovaMedID = OutcomeDelivered, id
		p.metrics.Count(MetricDelivered, 1)
		p.settleSubject(bctx, r, OutcomeDelivered)
		if err := p.ledger.MarkDelivered(bctx, m.ID, id); err != nil {
			// NovaMed has the record: the message is done. The ledger still
			// says delivering; a later copy of the message finds the claim
			// expired and is dead-lettered unconfirmed, with this log line
			// (which has NovaMed's id) to resolve it.
			res.Note = "delivered but the ledger was not updated"
			p.log.Error("dispatch: ledger MarkDelivered failed after delivery",
				slog.String("id", m.ID), slog.String("novamed_id", id), slog.String("error", err.Error()))
		}
		return Ack
	}

	var apiErr *novamed.APIError
	if errors.As(r.CallErr, &apiErr) {
		res.Status = apiErr.StatusCode
		res.Code = apiErr.Code
		res.RetryAfter = apiErr.RetryAfter
		res.NovaMedMessage = scrubbed(apiErr.Message, r.Orig, r.Sent)
	} else {
		res.Code = errorCode(r.CallErr)
		res.RetryAfter = params.RetryIn(r.CallErr) // the API key's SSM read
	}

	class := p.classify(r.CallErr)
	if maybeDelivered(r.CallErr) || class == novamed.ClassUnconfirmed {
		// Lost response, or an error status that may follow a created
		// record (502, 504, 500 by default): NovaMed may have created the
		// record, and has no idempotency key. Never call it again
		// automatically.
		if err := p.ledger.MarkUnconfirmed(bctx, m.ID); err != nil {
			p.log.Error("dispatch: ledger MarkUnconfirmed failed", slog.String("id", m.ID), slog.String("error", err.Error()))
		}
		p.settleSubject(bctx, r, ClassUnconfirmed)
		res.Class = ClassUnconfirmed
		res.Note = "the request may have reached NovaMed; not called again"
		return DeadLetter
	}

	// NovaMed certainly created nothing: the record may be attempted again.
	if err := p.ledger.MarkNotDelivered(bctx, m.ID); err != nil {
		p.log.Error("dispatch: ledger MarkNotDelivered failed", slog.String("id", m.ID), slog.String("error", err.Error()))
	}
	p.settleSubject(bctx, r, OutcomeRetry)
	switch class {
	case novamed.ClassPermanent:
		res.Class = queue.ClassPermanent
		var ve *novamed.ValidationError
		if errors.As(r.CallErr, &ve) {
			res.Fields = ve.FieldNames()
		}
		return DeadLetter
	case novamed.ClassUnauthorized:
		// Still refused after a fresh read of the key: alarm-worthy, and
		// retryable (the operator puts the right key in SSM).
		res.Class = "unauthorized"
		p.metrics.Count(MetricUnauthorized, 1)
		return Retry
	default:
		res.Class = "retryable"
		return Retry
	}
}

// conclude carries out the verdict that ended the record.
func (p *Pipeline) conclude(ctx context.Context, r *Record, v Verdict) Result {
	switch v {
	case Ack:
		return r.Result
	case DeadLetter:
		return p.deadLetter(ctx, r.Budget, r.SQS.Body, r)
	case DeadLetterStripped:
		return p.deadLetterStripped(ctx, r)
	case RetryAt:
		return p.retryAfter(ctx, r, r.Wait)
	case Defer:
		d := deferred()
		d.Msg, d.Attempt = r.Result.Msg, r.Result.Attempt
		d.Deidentified, d.Dropped = r.Result.Deidentified, r.Result.Dropped
		r.Result = d
		return p.Defer(ctx, r.Budget, r.SQS, d)
	default: // Retry
		return p.retryAfter(ctx, r, p.backoff(p.cfg.BackoffBase, p.cfg.BackoffCap, max(r.Result.Attempt, 1), r.Result.RetryAfter))
	}
}

// Settings of Config.Status500 (NOVAMED_500_POLICY): what a 500 from
// NovaMed means.
const (
	// Status500Unconfirmed: NovaMed may have created the record before it
	// failed, so a 500 is handled like a lost answer (ledger unconfirmed,
	// dead letter class unconfirmed, never called again automatically).
	// No duplicate chart, at the cost of an operator confirming each one.
	Status500Unconfirmed = "unconfirmed"
	// Status500Retryable: a 500 is retried with backoff like a 503. No
	// operator work, at the risk of a second chart when NovaMed had
	// created the record before it failed.
	Status500Retryable = "retryable"
)

// ErrStatus500 reports a Status500 setting that is neither of the above.
var ErrStatus500 = errors.New("delivery: NOVAMED_500_POLICY must be unconfirmed or retryable")

// CheckStatus500 accepts "" (the default, unconfirmed) and the two settings.
func CheckStatus500(v string) error {
	switch v {
	case "", Status500Unconfirmed, Status500Retryable:
		return nil
	default:
		return ErrStatus500
	}
}

// classify is novamed.Classify with the 500 setting applied. A 502 or 504
// is always unconfirmed: a gateway answered, so the request may well have
// reached NovaMed.
func (p *Pipeline) classify(err error) novamed.Class {
	c := novamed.Classify(err)
	var apiErr *novamed.APIError
	if c == novamed.ClassUnconfirmed && p.cfg.Status500 == Status500Retryable &&
		errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusInternalServerError {
		return novamed.ClassRetryable
	}
	return c
}

// maybeDelivered reports an attempt whose effect is unknown: the request
// was written and no answer came back, or a success status (any 2xx: a 202
// or 204 is no refusal) came with a body that has no id, so NovaMed
// probably created the record and a retry could create a second chart.
func maybeDelivered(err error) bool {
	var te *novamed.TransportError
	if errors.As(err, &te) {
		return te.MaybeDelivered
	}
	var apiErr *novamed.APIError
	if errors.As(err, &apiErr) {
		return apiErr.StatusCode >= 200 && apiErr.StatusCode <= 299
	}
	return false
}

// errorCode names an error that is not an answer from NovaMed.
func errorCode(err error) string {
	var te *novamed.TransportError
	switch {
	case errors.As(err, &te):
		if te.Timeout() {
			return "timeout"
		}
		return "network"
	case errors.Is(err, novamed.ErrAPIKey):
		return "api_key_unavailable"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case novamed.IsValidation(err):
		return novamed.CodeValidation
	default:
		return "unexpected"
	}
}

// Defer settles a record the invocation had no time to start: it was
// neither claimed in the ledger nor sent, so it is not a failed attempt and
// gets no backoff. It is reported as a batch item failure and made visible
// again after the defer delay instead of the queue's visibility timeout
// (180 s in template.yaml); if that call fails, the timeout still brings it
// back.
//
// SQS counts every receive in ApproximateReceiveCount, deferred or not, and
// dispatch cannot give a receive back: re-sending the message as a new one
// would reset the count of the real attempts too (a record repeatedly short
// of time would then cycle for ever, outside the redrive policy's bound),
// and there is no other place that counts attempts. So a deferral is never
// treated as a failed attempt (no retry, no backoff, no Retried metric), but
// it does spend one of the queue's receives. When it spent the last one,
// SQS's redrive policy would move the message on its next receive without
// attributes, although it was never tried; dispatch dead-letters it here
// instead, as exhausted with code deadline and the body unchanged, so the
// operator sees a capacity problem (batches that do not fit the function's
// time), not a NovaMed refusal, and can redrive it as is: the ledger holds
// no claim for it, so a redrive delivers it normally.
//
// res is Deferred() for a record that never got a worker slot.
func (p *Pipeline) Defer(ctx context.Context, b *Budget, sm events.SQSMessage, res Result) Result {
	res.Attempt = receiveCount(sm)
	p.metrics.Count(MetricDeferred, 1)
	if res.Msg == nil {
		// Deferred before it was read (no worker slot in time): decode it
		// for the log line and the dead letter's attributes only.
		if m, err := queue.Decode(sm.Body); err == nil {
			res.Msg = &m
		}
	}
	r := &Record{SQS: sm, Budget: b, Result: res}
	if res.Attempt >= p.cfg.MaxReceiveCount {
		r.Result.Failed = false
		r.Result.Class, r.Result.Code = queue.ClassExhausted, "deadline"
		r.Result.Note = "last allowed attempt deferred: no time left before the deadline, never sent"
		return p.deadLetter(ctx, b, sm.Body, r)
	}
	bctx, cancel := b.Bookkeeping(ctx)
	defer cancel()
	if err := p.setVisibility(bctx, sm, p.cfg.DeferDelay); err != nil {
		p.log.Warn("dispatch: making a deferred record visible failed", slog.String("message_id", sm.MessageId), slog.String("error", awsclients.ErrorCode(err)))
		return r.Result
	}
	r.Result.RetryIn = time.Duration(VisibilitySeconds(p.cfg.DeferDelay)) * time.Second
	return r.Result
}

// setVisibility makes a received message visible again after d.
func (p *Pipeline) setVisibility(ctx context.Context, sm events.SQSMessage, d time.Duration) error {
	_, err := p.sqs.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl:          aws.String(p.cfg.QueueURL),
		ReceiptHandle:     aws.String(sm.ReceiptHandle),
		VisibilityTimeout: VisibilitySeconds(d),
	})
	return err
}

// retryAfter reports the record as a batch item failure after setting its
// visibility to wait, or dead-letters it as exhausted on the last allowed
// attempt.
func (p *Pipeline) retryAfter(ctx context.Context, r *Record, wait time.Duration) Result {
	res := &r.Result
	if res.Attempt >= p.cfg.MaxReceiveCount {
		// SQS would move the message on its next receive, without saying
		// why: dead-letter it here, with the reason.
		res.Note = "last allowed attempt (" + res.Class + ")"
		res.Class = queue.ClassExhausted
		return p.deadLetter(ctx, r.Budget, r.SQS.Body, r)
	}
	res.Failed, res.Outcome = true, OutcomeRetry
	res.RetryIn = time.Duration(VisibilitySeconds(wait)) * time.Second
	p.metrics.Count(MetricRetried, 1)
	bctx, cancel := r.Budget.Bookkeeping(ctx)
	defer cancel()
	if err := p.setVisibility(bctx, r.SQS, wait); err != nil {
		// The message comes back after the queue's visibility timeout.
		res.RetryIn = 0
		p.log.Warn("dispatch: setting the retry delay failed", slog.String("message_id", r.SQS.MessageId), slog.String("error", awsclients.ErrorCode(err)))
	}
	return *res
}

// deadLetterStripped dead-letters a record the guard refused: the message
// goes to the DLQ with its record removed, so no PHI waits there.
func (p *Pipeline) deadLetterStripped(ctx context.Context, r *Record) Result {
	stripped := *r.Result.Msg
	stripped.Record = json.RawMessage("{}")
	body, err := stripped.Encode()
	if err != nil {
		body = "{}" // unreachable: the message decoded, and {} is a valid record
	}
	r.Result.Note = "record removed"
	return p.deadLetter(ctx, r.Budget, body, r)
}

// deadLetter writes body to the DLQ, with the attributes of r.Result, before
// deleting the message from the queue: a crash between the two leaves the
// message in both (a duplicate the ledger makes harmless), never in
// neither. A failed DLQ write leaves the message queued (batch item failure;
// the queue's redrive policy is the safety net).
func (p *Pipeline) deadLetter(ctx context.Context, b *Budget, body string, r *Record) Result {
	res, sm := &r.Result, r.SQS
	if !queue.ValidSlug(res.Code) {
		res.Code = "unknown"
	}
	base := queue.EventAttributes(sm.MessageAttributes)
	if res.Msg != nil {
		base = res.Msg.Attributes()
	}
	dl := queue.DLQAttributes{
		ErrorClass: res.Class,
		ErrorCode:  res.Code,
		HTTPStatus: res.Status,
		Attempts:   min(max(res.Attempt, 0), queue.MaxAttempts),
		FailedAt:   p.now(),
		Fields:     queue.CapFields(res.Fields),
	}
	if res.Class == queue.ClassUpdate {
		dl.NovaMedID = res.NovaMedID
	}
	attrs, err := dl.MessageAttributes(base)
	if err != nil {
		// Only a programming error brings us here (classes are constants).
		res.Failed, res.Outcome = true, OutcomeRetry
		p.log.Error("dispatch: dead-letter attributes refused", slog.String("message_id", sm.MessageId), slog.String("error", err.Error()))
		return *res
	}
	bctx, cancel := b.Bookkeeping(ctx)
	defer cancel()
	if _, err := p.sqs.SendMessage(bctx, &sqs.SendMessageInput{
		QueueUrl:          aws.String(p.cfg.DLQURL),
		MessageBody:       aws.String(body),
		MessageAttributes: attrs,
	}); err != nil {
		res.Failed, res.Outcome = true, OutcomeRetry
		res.Note = "dead-letter queue unavailable: " + res.Class
		p.log.Error("dispatch: sending to the dead-letter queue failed", slog.String("message_id", sm.MessageId), slog.String("error", awsclients.ErrorCode(err)))
		return *res
	}
	res.Outcome = OutcomeDeadLettered
	p.metrics.Count(MetricDeadLettered, 1, "Class", res.Class)
	if _, err := p.sqs.DeleteMessage(bctx, &sqs.DeleteMessageInput{
		QueueUrl:      aws.String(p.cfg.QueueURL),
		ReceiptHandle: aws.String(sm.ReceiptHandle),
	}); err != nil {
		// Reported as a success, Lambda deletes it; if that fails too, the
		// next receive dead-letters a duplicate rather than losing it.
		p.log.Warn("dispatch: deleting a dead-lettered message failed", slog.String("message_id", sm.MessageId), slog.String("error", awsclients.ErrorCode(err)))
	}
	return *res
}
