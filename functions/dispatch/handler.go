package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/novamed/bridge/pkg/delivery"
	"github.com/novamed/bridge/pkg/metrics"
	"github.com/novamed/bridge/pkg/phi"
)

// Names of the SSM parameters dispatch reads, relative to PARAM_PREFIX.
const (
	ParamAPIKey       = delivery.ParamAPIKey
	ParamClinicID     = delivery.ParamClinicID
	ParamPseudonymKey = delivery.ParamPseudonymKey
)

// Error classes dispatch adds to queue's (permanent, exhausted, malformed);
// see pkg/delivery.
const (
	ClassUnconfirmed = delivery.ClassUnconfirmed
	ClassGuard       = delivery.ClassGuard
)

// Metric names (pkg/delivery, which records them).
const (
	MetricDelivered        = delivery.MetricDelivered
	MetricDuplicates       = delivery.MetricDuplicates
	MetricRetried          = delivery.MetricRetried
	MetricDeadLettered     = delivery.MetricDeadLettered
	MetricDeidentified     = delivery.MetricDeidentified
	MetricUnauthorized     = delivery.MetricUnauthorized
	MetricDeliveryLatency  = delivery.MetricDeliveryLatency
	MetricDeferred         = delivery.MetricDeferred
	MetricNovaMedAnswers   = delivery.MetricNovaMedAnswers
	MetricDependencyErrors = delivery.MetricDependencyErrors
)

// The clients dispatch talks to (pkg/delivery).
type (
	SQSAPI = delivery.SQSAPI
	Ledger = delivery.Ledger
	Params = delivery.Params
	// Backoff is the retry delay policy; FullJitter is the default.
	Backoff = delivery.Backoff
)

// FullJitter is the default Backoff.
var FullJitter = delivery.FullJitter

// Deps are the clients the handler talks to. All are required.
type Deps struct {
	SQS    SQSAPI
	Ledger Ledger
	Params Params
	// Subjects is the ledger of people (one NovaMed chart per person).
	// When nil, a Ledger that keeps subjects too (*ledger.Ledger does) is
	// used for them.
	Subjects delivery.SubjectLedger
	// Resolver fetches the records reference messages name (id-only
	// notifications); nil refuses reference messages as malformed.
	Resolver delivery.Resolver
}

// LedgerLease is the ledger claim lease main.go configures: above the
// function's 30-second timeout (template.yaml), so a worker never outlives
// its claim, and below the queue's 180-second visibility timeout, so the
// message of a crashed invocation comes back to an expired claim and is
// dead-lettered unconfirmed at once instead of waiting as in flight.
// NovaMed calls are also bounded by the claim's end (claimMargin).
const LedgerLease = 2 * time.Minute

// Defaults of the handler's time budget.
const (
	// DefaultReserve is the time kept back before the invocation deadline:
	// no NovaMed call starts or runs within it, so the ledger writes and the
	// SQS calls that follow a call still fit.
	DefaultReserve = 3 * time.Second
	// DefaultMinCallTime is the least time left before the reserve for a
	// record to be started at all. A call cut short after its request was
	// written is unconfirmed (it may have created the record), so a record
	// that would not have time is left for the next invocation instead.
	DefaultMinCallTime = 2 * time.Second
	// DefaultDeferDelay is how long a deferred record (one the invocation
	// had no time to start) stays invisible before SQS delivers it again,
	// instead of the queue's visibility timeout. It was never sent, so it
	// needs no backoff, only a pause before the next invocation takes it.
	DefaultDeferDelay = time.Second
	// finalMargin is when, before the deadline, Handle stops waiting for
	// its workers and reports what is unfinished as failures.
	finalMargin = 250 * time.Millisecond
)

// Option configures a Handler.
type Option func(*Handler)

// WithBackoff replaces FullJitter.
func WithBackoff(b Backoff) Option {
	return func(h *Handler) {
		if b != nil {
			h.backoff = b
		}
	}
}

// WithHTTPClient sets the HTTP client of NovaMed calls (tests pass the
// sandbox's client). The NovaMed client never follows redirects whatever
// hc says.
func WithHTTPClient(hc *http.Client) Option { return func(h *Handler) { h.httpClient = hc } }

// WithCallTimeout bounds one NovaMed call (default novamed.DefaultTimeout);
// the invocation deadline bounds it too.
func WithCallTimeout(d time.Duration) Option { return func(h *Handler) { h.callTimeout = d } }

// WithLogger sets the logger (default: JSON to stdout).
func WithLogger(l *slog.Logger) Option {
	return func(h *Handler) {
		if l != nil {
			h.log = l
		}
	}
}

// WithMetrics sets the EMF recorder (default: stdout, dimension Stage).
func WithMetrics(m *metrics.Recorder) Option {
	return func(h *Handler) {
		if m != nil {
			h.metrics = m
		}
	}
}

// WithClock replaces time.Now (failed_at, budgets).
func WithClock(now func() time.Time) Option {
	return func(h *Handler) {
		if now != nil {
			h.now = now
		}
	}
}

// WithReserve sets the time kept back before the deadline (DefaultReserve)
// and the least time a record needs to be started (DefaultMinCallTime).
func WithReserve(reserve, minCall time.Duration) Option {
	return func(h *Handler) {
		if reserve >= 0 {
			h.reserve = reserve
		}
		if minCall >= 0 {
			h.minCall = minCall
		}
	}
}

// WithDeferDelay sets how long a deferred record stays invisible
// (DefaultDeferDelay); 0 makes it visible again at once. Negative values are
// ignored; SQS rounds up to whole seconds.
func WithDeferDelay(d time.Duration) Option {
	return func(h *Handler) {
		if d >= 0 {
			h.deferDelay = min(d, delivery.MaxVisibility)
		}
	}
}

// Handler is the dispatch function: batch control (concurrency, the
// deadline budget, deferral, batch item failures, the per-record report)
// around pkg/delivery's pipeline, which delivers each record. It is safe for
// concurrent use (Lambda calls it once at a time; tests and the local stack
// may not).
type Handler struct {
	cfg      Config
	pipeline *delivery.Pipeline
	log      *slog.Logger
	metrics  *metrics.Recorder
	now      func() time.Time
	backoff  Backoff

	httpClient  *http.Client
	callTimeout time.Duration
	reserve     time.Duration
	minCall     time.Duration
	deferDelay  time.Duration
}

// New returns the dispatch handler. It makes no call: the parameters are
// read on the first record.
func New(cfg Config, deps Deps, opts ...Option) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.SQS == nil || deps.Ledger == nil || deps.Params == nil {
		return nil, errors.New("dispatch: SQS, Ledger and Params are required")
	}
	h := &Handler{
		cfg:     cfg,
		backoff: FullJitter,
		now:     time.Now,
		reserve: DefaultReserve,
		minCall: DefaultMinCallTime,

		deferDelay: DefaultDeferDelay,
	}
	for _, o := range opts {
		o(h)
	}
	if h.log == nil {
		h.log = slog.New(slog.NewJSONHandler(os.Stdout, nil))
	}
	if h.metrics == nil {
		h.metrics = metrics.New(os.Stdout, map[string]string{"Stage": cfg.Stage})
	}
	subjects := deps.Subjects
	if sl, ok := deps.Ledger.(delivery.SubjectLedger); ok && subjects == nil {
		subjects = sl
	}
	p, err := delivery.New(delivery.Config{
		Stage:           cfg.Stage,
		BaseURL:         cfg.BaseURL,
		QueueURL:        cfg.QueueURL,
		DLQURL:          cfg.DLQURL,
		MaxReceiveCount: cfg.MaxReceiveCount,
		BackoffBase:     cfg.BackoffBase,
		BackoffCap:      cfg.BackoffCap,
		DeferDelay:      h.deferDelay,
		Status500:       cfg.Status500,
	}, delivery.Deps{
		SQS:         deps.SQS,
		Ledger:      deps.Ledger,
		Params:      deps.Params,
		Subjects:    subjects,
		Resolver:    deps.Resolver,
		HTTPClient:  h.httpClient,
		CallTimeout: h.callTimeout,
		Backoff:     h.backoff,
		Log:         h.log,
		Metrics:     h.metrics,
		Now:         h.now,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	h.pipeline = p
	return h, nil
}

// Environment reports whether the handler's target may receive PHI.
func (h *Handler) Environment() phi.Environment { return h.pipeline.Environment() }

// Handle delivers a batch. It never returns an error: every record's fate is
// in the partial batch response, so one record's failure never re-delivers
// the others. Records still unfinished near the deadline are reported as
// failures (SQS delivers them again), never dropped. Records that could not
// start in time are made visible again after a short delay
// (delivery.Pipeline.Defer).
func (h *Handler) Handle(ctx context.Context, event events.SQSEvent) (events.SQSEventResponse, error) {
	var resp events.SQSEventResponse
	n := len(event.Records)
	if n == 0 {
		return resp, nil
	}
	b := h.budget(ctx)

	type done struct {
		i   int
		res delivery.Result
	}
	results := make(chan done, n) // buffered: a late worker never blocks
	sem := make(chan struct{}, h.cfg.Concurrency)
	for i, msg := range event.Records {
		go func() {
			var res delivery.Result
			if acquire(ctx, b, sem) {
				defer func() { <-sem }()
				res = h.pipeline.Process(ctx, b, msg)
			} else {
				res = h.pipeline.Defer(ctx, b, msg, delivery.Deferred())
			}
			h.pipeline.Report(msg, res)
			results <- done{i, res}
		}()
	}

	finished := make([]bool, n)
	failed := make([]bool, n)
	var hard <-chan time.Time
	if !b.End.IsZero() {
		t := time.NewTimer(max(b.End.Sub(h.now()), 0))
		defer t.Stop()
		hard = t.C
	}
wait:
	for count := 0; count < n; count++ {
		select {
		case d := <-results:
			finished[d.i], failed[d.i] = true, d.res.Failed
		case <-hard:
			break wait
		}
	}
	for i, msg := range event.Records {
		if !finished[i] {
			h.log.Warn("dispatch: record unfinished at the deadline", slog.String("message_id", msg.MessageId),
				slog.String("stage", h.cfg.Stage), slog.String("outcome", delivery.OutcomeDeferred))
		}
		if !finished[i] || failed[i] {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: msg.MessageId})
		}
	}
	return resp, nil
}

// budget is the time plan of one invocation: no NovaMed call runs within
// the reserve before the deadline, no record starts within minCall before
// that, and Handle finishes finalMargin before the deadline.
func (h *Handler) budget(ctx context.Context) *delivery.Budget {
	b := &delivery.Budget{Now: h.now}
	if dl, ok := ctx.Deadline(); ok {
		b.End = dl.Add(-finalMargin)
		b.Stop = dl.Add(-h.reserve)
		b.StartBy = b.Stop.Add(-h.minCall)
	}
	return b
}

// acquire waits for a worker slot until the last start time. It reports
// false when the record cannot start (it is then deferred).
func acquire(ctx context.Context, b *delivery.Budget, sem chan struct{}) bool {
	if b.StartBy.IsZero() {
		select {
		case sem <- struct{}{}:
			return true
		case <-ctx.Done():
			return false
		}
	}
	wait := b.StartBy.Sub(b.Now())
	if wait <= 0 {
		return false
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case sem <- struct{}{}:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}
