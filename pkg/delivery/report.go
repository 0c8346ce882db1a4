package delivery

import (
	"context"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/novamed/bridge/pkg/novamed"
	"github.com/novamed/bridge/pkg/phi"
	"github.com/novamed/bridge/pkg/queue"
)

// Error classes the pipeline adds to queue's (permanent, exhausted,
// malformed).
const (
	// ClassUnconfirmed: an attempt may have reached NovaMed without an answer
	// (pkg/ledger, "Lost-response policy"); NovaMed is not called again.
	ClassUnconfirmed = "unconfirmed"
	// ClassGuard: the environment guard refused the record; the dead letter
	// carries the message without its record.
	ClassGuard = "guard"
)

// Metric names (pkg/metrics, namespace NovaMedBridge, dimension Stage).
// Unauthorized is watched by the DispatchUnauthorizedAlarm of template.yaml,
// so it carries no dimension other than Stage.
const (
	MetricDelivered       = "Delivered"
	MetricDuplicates      = "Duplicates"
	MetricRetried         = "Retried"
	MetricDeadLettered    = "DeadLettered"
	MetricDeidentified    = "Deidentified"
	MetricUnauthorized    = "Unauthorized"
	MetricDeliveryLatency = "DeliveryLatency"
	// MetricDeferred counts records left for a later receive because the
	// invocation ran out of time: steadily above zero, the batch size does
	// not fit the function's timeout.
	MetricDeferred = "Deferred"
)

// Outcomes, as logged.
const (
	OutcomeDelivered    = "delivered"
	OutcomeDuplicate    = "duplicate"
	OutcomeRetry        = "retry"
	OutcomeDeadLettered = "dead_lettered"
	OutcomeDeferred     = "deferred"
)

// Result is what became of one record. It holds slugs, numbers and ids,
// never a value.
type Result struct {
	Failed  bool   // report as a batch item failure
	Outcome string // one of the Outcome constants
	Class   string // dead-letter class, or the retry's class (retryable, unauthorized, in_flight)
	Code    string // error code slug
	Status  int    // NovaMed's HTTP status, 0 when none

	Msg     *queue.Message // nil when the body did not decode
	Attempt int
	Latency time.Duration // of the NovaMed call(s)
	RetryIn time.Duration
	// RetryAfter is the least wait before a retry can go differently:
	// NovaMed's or the EHR's Retry-After, or the parameter cache's back-off
	// after a failed SSM read (params.RetryIn). Zero when there is none.
	RetryAfter time.Duration
	NovaMedID  string
	// NovaMedMessage is NovaMed's error message when it is a documented
	// one (see scrubbed), MessageWithheld for any other, "" for none.
	NovaMedMessage string
	Deidentified   bool
	Dropped        int      // unknown record keys dropped
	Fields         []string // names of invalid fields
	Note           string   // a fixed phrase for operators
}

// Deferred is the result of a record the invocation had no time to start.
func Deferred() Result { return deferred() }

func deferred() Result {
	return Result{Failed: true, Outcome: OutcomeDeferred, Class: "deadline", Code: "deadline"}
}

// MessageWithheld is what the report logs as novamed_message in place of a
// message NovaMed does not document.
const MessageWithheld = "withheld"

// scrubbed returns NovaMed's message when it is one NovaMed documents
// (novamed.DocumentedMessage: an exact match after normalisation, so a
// partial echo of the record never passes) and the scrubber also clears it
// against both the queued record and the record sent; MessageWithheld for
// any other message; "" when there was none.
func scrubbed(msg string, orig, sent novamed.Record) string {
	if msg == "" {
		return ""
	}
	doc, ok := novamed.DocumentedMessage(msg)
	if !ok {
		return MessageWithheld
	}
	if _, ok := phi.ScrubMessage(doc, sent); !ok {
		return MessageWithheld
	}
	if orig.Kind.Valid() {
		if _, ok := phi.ScrubMessage(doc, orig); !ok {
			return MessageWithheld
		}
	}
	return doc
}

// Report logs one line per record: ids, slugs and numbers, never a value.
func (p *Pipeline) Report(sm events.SQSMessage, res Result) {
	if dep := dependencyOf(res.Code); dep != "" {
		p.metrics.Count(MetricDependencyErrors, 1, "Dependency", dep)
	}
	attrs := []slog.Attr{
		slog.String("message_id", sm.MessageId),
		slog.String("stage", p.cfg.Stage),
		slog.String("outcome", res.Outcome),
		slog.Int("attempt", res.Attempt),
	}
	if res.Msg != nil {
		// A queue.Message logs as its id, source and kind only.
		attrs = append(attrs, res.Msg.LogValue().Group()...)
	}
	if res.Class != "" {
		attrs = append(attrs, slog.String("class", res.Class))
	}
	if res.Status != 0 {
		attrs = append(attrs, slog.Int("status", res.Status))
	}
	if res.Code != "" {
		attrs = append(attrs, slog.String("error_code", res.Code))
	}
	if res.Latency > 0 {
		attrs = append(attrs, slog.Float64("latency_ms", float64(res.Latency.Microseconds())/1000))
	}
	if res.RetryIn > 0 {
		attrs = append(attrs, slog.Duration("retry_in", res.RetryIn))
	}
	if res.Deidentified {
		attrs = append(attrs, slog.Bool("deidentified", true))
	}
	if res.Dropped > 0 {
		attrs = append(attrs, slog.Int("dropped_keys", res.Dropped))
	}
	if len(res.Fields) > 0 {
		attrs = append(attrs, slog.Any("fields", res.Fields))
	}
	if res.NovaMedMessage != "" {
		attrs = append(attrs, slog.String("novamed_message", res.NovaMedMessage))
	}
	if res.Note != "" {
		attrs = append(attrs, slog.String("note", res.Note))
	}
	level := slog.LevelInfo
	switch res.Outcome {
	case OutcomeRetry, OutcomeDeferred:
		level = slog.LevelWarn
	case OutcomeDeadLettered:
		level = slog.LevelError
	}
	p.log.LogAttrs(context.Background(), level, "dispatch: record", attrs...)
}
