package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/novamed/bridge/pkg/awsclients"
	"github.com/novamed/bridge/pkg/ledger"
	"github.com/novamed/bridge/pkg/metrics"
	"github.com/novamed/bridge/pkg/novamed"
	"github.com/novamed/bridge/pkg/phi"
	"github.com/novamed/bridge/pkg/queue"
)

// Names of the SSM parameters dispatch reads, relative to PARAM_PREFIX.
const (
	ParamAPIKey       = "api-key"
	ParamClinicID     = "clinic-id"
	ParamPseudonymKey = "pseudonym-key"
)

// Error classes dispatch adds to queue's (permanent, exhausted, malformed).
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

// SQSAPI is the part of the SQS client dispatch uses.
type SQSAPI interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

// Ledger is the part of *ledger.Ledger dispatch uses.
type Ledger interface {
	ClaimDelivery(ctx context.Context, recordID string) (ledger.Claim, error)
	MarkDelivered(ctx context.Context, recordID, novamedID string) error
	MarkNotDelivered(ctx context.Context, recordID string) error
	MarkUnconfirmed(ctx context.Context, recordID string) error
}

// Params is the part of *params.Cache dispatch uses: a shared, cached read
// of the SSM parameters, and a forced (rate-limited) re-read for rotation.
type Params interface {
	Get(ctx context.Context, name string) (string, error)
	Refresh(ctx context.Context) error
}

// Deps are the clients the handler talks to. All are required.
type Deps struct {
	SQS    SQSAPI
	Ledger Ledger
	Params Params
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
	// claimMargin keeps a NovaMed call inside the ledger claim: a worker
	// must not outlive its claim (pkg/ledger).
	claimMargin = 5 * time.Second
	// bookkeepingTimeout bounds ledger and SQS calls when the invocation has
	// no deadline (a local run).
	bookkeepingTimeout = 20 * time.Second
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
			h.deferDelay = min(d, maxVisibility)
		}
	}
}

// Handler is the dispatch function. It is safe for concurrent use (Lambda
// calls it once at a time; tests and the local stack may not).
type Handler struct {
	cfg     Config
	env     phi.Environment
	sqs     SQSAPI
	ledger  Ledger
	params  Params
	client  *novamed.Client
	backoff Backoff
	log     *slog.Logger
	metrics *metrics.Recorder
	now     func() time.Time

	httpClient  *http.Client
	callTimeout time.Duration
	reserve     time.Duration
	minCall     time.Duration
	deferDelay  time.Duration

	guardMu     sync.Mutex
	guard       *phi.Guard        // guarded by guardMu; built from guardKey and guardClinic
	guardKey    [sha256.Size]byte // guarded by guardMu; a digest, so the key itself is not kept
	guardClinic string            // guarded by guardMu
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
		env:     phi.Resolve(cfg.Stage, cfg.BaseURL),
		sqs:     deps.SQS,
		ledger:  deps.Ledger,
		params:  deps.Params,
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
	clientOpts := []novamed.Option{novamed.WithTimeout(h.callTimeout)}
	if h.httpClient != nil {
		clientOpts = append(clientOpts, novamed.WithHTTPClient(h.httpClient))
	}
	client, err := novamed.NewClient(cfg.BaseURL, h.apiKey, clientOpts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	h.client = client
	return h, nil
}

// Environment reports whether the handler's target may receive PHI.
func (h *Handler) Environment() phi.Environment { return h.env }

// Handle delivers a batch. It never returns an error: every record's fate is
// in the partial batch response, so one record's failure never re-delivers
// the others. Records still unfinished near the deadline are reported as
// failures (SQS delivers them again), never dropped. Records that could not
// start in time are made visible again after a short delay (deferRecord).
func (h *Handler) Handle(ctx context.Context, event events.SQSEvent) (events.SQSEventResponse, error) {
	var resp events.SQSEventResponse
	n := len(event.Records)
	if n == 0 {
		return resp, nil
	}
	b := h.budget(ctx)

	type done struct {
		i   int
		res result
	}
	results := make(chan done, n) // buffered: a late worker never blocks
	sem := make(chan struct{}, h.cfg.Concurrency)
	for i, msg := range event.Records {
		go func() {
			res, ok := b.acquire(ctx, sem)
			if ok {
				defer func() { <-sem }()
				res = h.process(ctx, b, msg)
			} else {
				res = h.deferRecord(ctx, b, msg, res)
			}
			h.report(msg, res)
			results <- done{i, res}
		}()
	}

	finished := make([]bool, n)
	failed := make([]bool, n)
	var hard <-chan time.Time
	if !b.end.IsZero() {
		t := time.NewTimer(max(b.end.Sub(h.now()), 0))
		defer t.Stop()
		hard = t.C
	}
wait:
	for count := 0; count < n; count++ {
		select {
		case d := <-results:
			finished[d.i], failed[d.i] = true, d.res.failed
		case <-hard:
			break wait
		}
	}
	for i, msg := range event.Records {
		if !finished[i] {
			h.log.Warn("dispatch: record unfinished at the deadline", slog.String("message_id", msg.MessageId),
				slog.String("stage", h.cfg.Stage), slog.String("outcome", outcomeDeferred))
		}
		if !finished[i] || failed[i] {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: msg.MessageId})
		}
	}
	return resp, nil
}

// budget is the time plan of one invocation. Zero times mean "no deadline".
type budget struct {
	stop time.Time // no NovaMed call runs past this
	end  time.Time // bookkeeping and Handle finish by this
	// startBy is the last moment a record may start (stop - minCall).
	startBy time.Time
	now     func() time.Time
}

func (h *Handler) budget(ctx context.Context) *budget {
	b := &budget{now: h.now}
	if dl, ok := ctx.Deadline(); ok {
		b.end = dl.Add(-finalMargin)
		b.stop = dl.Add(-h.reserve)
		b.startBy = b.stop.Add(-h.minCall)
	}
	return b
}

// acquire waits for a worker slot until the last start time. It returns a
// deferred result when the record cannot start.
func (b *budget) acquire(ctx context.Context, sem chan struct{}) (result, bool) {
	if b.startBy.IsZero() {
		select {
		case sem <- struct{}{}:
			return result{}, true
		case <-ctx.Done():
			return deferred(), false
		}
	}
	wait := b.startBy.Sub(b.now())
	if wait <= 0 {
		return deferred(), false
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case sem <- struct{}{}:
		return result{}, true
	case <-t.C:
		return deferred(), false
	case <-ctx.Done():
		return deferred(), false
	}
}

// canStart reports whether a record started now would still have time.
func (b *budget) canStart() bool { return b.startBy.IsZero() || b.now().Before(b.startBy) }

// bookkeeping returns the context of ledger and SQS calls: not cancelled
// with the invocation's context (a write that follows a NovaMed call must
// happen), but over before the function is.
func (b *budget) bookkeeping(ctx context.Context) (context.Context, context.CancelFunc) {
	base := context.WithoutCancel(ctx)
	if b.end.IsZero() {
		return context.WithTimeout(base, bookkeepingTimeout)
	}
	return context.WithDeadline(base, b.end)
}

// Outcomes, as logged.
const (
	outcomeDelivered    = "delivered"
	outcomeDuplicate    = "duplicate"
	outcomeRetry        = "retry"
	outcomeDeadLettered = "dead_lettered"
	outcomeDeferred     = "deferred"
)

// result is what became of one record. It holds slugs, numbers and ids,
// never a value.
type result struct {
	failed  bool   // report as a batch item failure
	outcome string // one of the outcome constants
	class   string // dead-letter class, or the retry's class (retryable, unauthorized, in_flight)
	code    string // error code slug
	status  int    // NovaMed's HTTP status, 0 when none

	msg     *queue.Message // nil when the body did not decode
	attempt int
	latency time.Duration // of the NovaMed call(s)
	retryIn time.Duration
	// retryAfter is NovaMed's Retry-After, zero when it sent none.
	retryAfter time.Duration
	novamedID  string
	// novamedMessage is NovaMed's error message, kept only when the
	// scrubber cleared it against every record it may echo.
	novamedMessage string
	deidentified   bool
	dropped        int      // unknown record keys dropped
	fields         []string // names of invalid fields
	note           string   // a fixed phrase for operators
}

func deferred() result {
	return result{failed: true, outcome: outcomeDeferred, class: "deadline", code: "deadline"}
}

// process delivers one message and settles it: delete (by success),
// dead-letter, or retry with backoff.
func (h *Handler) process(ctx context.Context, b *budget, sm events.SQSMessage) result {
	attempt := receiveCount(sm)
	m, err := queue.Decode(sm.Body)
	if err != nil {
		return h.deadLetter(ctx, b, sm, nil, result{attempt: attempt, class: queue.ClassMalformed, code: malformedCode(err)})
	}
	res := result{msg: &m, attempt: attempt}

	// The record NovaMed would receive, decided before anything else: a
	// record that cannot be sent is dead-lettered without a ledger write.
	orig, sent, fail, ok := h.prepare(ctx, m, &res)
	if !ok {
		if fail.class == ClassGuard {
			return h.deadLetterGuard(ctx, b, sm, m, fail)
		}
		if fail.failed {
			return h.retry(ctx, b, sm, fail)
		}
		return h.deadLetter(ctx, b, sm, &m, fail)
	}

	if !b.canStart() {
		return h.deferRecord(ctx, b, sm, deferredFor(res))
	}
	bctx, cancel := b.bookkeeping(ctx)
	defer cancel()
	claim, err := h.ledger.ClaimDelivery(bctx, m.ID)
	if err != nil {
		res.class, res.code = "retryable", "ledger_unavailable"
		return h.retry(ctx, b, sm, res)
	}
	switch claim.Status {
	case ledger.AlreadyDelivered:
		res.outcome, res.novamedID = outcomeDuplicate, claim.NovaMedID
		h.metrics.Count(MetricDuplicates, 1)
		return res
	case ledger.InFlight:
		// Another worker (or this message's previous, crashed receive) holds
		// the claim: look again once it has ended.
		res.class, res.code = "in_flight", "in_flight"
		wait := claim.ClaimedUntil.Sub(h.now()) + time.Second
		return h.retryAfter(ctx, b, sm, res, wait)
	case ledger.Unconfirmed:
		res.class, res.code = ClassUnconfirmed, "unconfirmed"
		res.note = "an earlier attempt may have reached NovaMed; not called again"
		return h.deadLetter(ctx, b, sm, &m, res)
	case ledger.ClaimGranted:
	default:
		res.class, res.code = "retryable", "ledger_unexpected"
		return h.retry(ctx, b, sm, res)
	}

	callCtx, cancelCall := h.callContext(ctx, b, claim)
	started := h.now()
	id, callErr := h.call(callCtx, sent)
	cancelCall()
	res.latency = h.now().Sub(started)
	h.metrics.Duration(MetricDeliveryLatency, res.latency)
	h.metrics.Count(MetricNovaMedAnswers, 1, "Status", answerStatus(callErr))
	return h.settle(ctx, b, sm, m, orig, sent, id, callErr, res)
}

func deferredFor(res result) result {
	d := deferred()
	d.msg, d.attempt = res.msg, res.attempt
	d.deidentified, d.dropped = res.deidentified, res.dropped
	return d
}

// callContext bounds a NovaMed call by the invocation's stop time and by
// the claim's end, whichever comes first.
func (h *Handler) callContext(ctx context.Context, b *budget, claim ledger.Claim) (context.Context, context.CancelFunc) {
	dl := b.stop
	if !claim.ClaimedUntil.IsZero() {
		if c := claim.ClaimedUntil.Add(-claimMargin); dl.IsZero() || c.Before(dl) {
			dl = c
		}
	}
	if dl.IsZero() {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, dl)
}

// prepare decodes the message's record and applies the environment guard
// against the URL about to be called. orig is the record as queued (for the
// scrubber), sent what NovaMed will receive. When ok is false, fail says
// what to do: retry (fail.failed), dead-letter with class guard, or
// dead-letter otherwise.
func (h *Handler) prepare(ctx context.Context, m queue.Message, res *result) (orig, sent novamed.Record, fail result, ok bool) {
	fail = *res
	orig, dec, err := novamed.DecodeRecord(m.Kind, m.Record)
	res.dropped = dec.Dropped
	fail.dropped = dec.Dropped
	if h.env.AllowsPHI() {
		if err != nil {
			fail.class, fail.code = queue.ClassPermanent, "invalid_record"
			return orig, sent, fail, false
		}
		sent = orig
	} else {
		// Whatever the message's deidentified flag says: the flag is
		// information, not permission.
		g, gerr := h.currentGuard(ctx)
		if gerr != nil {
			fail.failed, fail.class, fail.code = true, "retryable", "guard_unavailable"
			return orig, sent, fail, false
		}
		var rep phi.Report
		sent, rep, err = g.DeidentifyJSON(m.Kind, m.Record)
		if err != nil {
			fail.class, fail.code = ClassGuard, guardCode(err)
			return orig, sent, fail, false
		}
		res.deidentified = true
		res.dropped = rep.Dropped
		h.metrics.Count(MetricDeidentified, 1)
	}
	if err := sent.Validate(); err != nil {
		fail.class, fail.code = queue.ClassPermanent, novamed.CodeValidation
		var ve *novamed.ValidationError
		if errors.As(err, &ve) {
			fail.fields = ve.FieldNames()
		}
		return orig, sent, fail, false
	}
	return orig, sent, fail, true
}

// guardCode names a guard refusal.
func guardCode(err error) string {
	switch {
	case errors.Is(err, phi.ErrTripwire):
		return "tripwire"
	case errors.Is(err, phi.ErrInvalidOutput):
		return "invalid_output"
	case errors.Is(err, phi.ErrTooLarge):
		return "too_large"
	case errors.Is(err, phi.ErrMalformedRecord), errors.Is(err, novamed.ErrNotObject),
		errors.Is(err, novamed.ErrDuplicateKey), errors.Is(err, novamed.ErrNotString),
		errors.Is(err, novamed.ErrUnknownKind):
		return "invalid_record"
	default:
		return "refused"
	}
}

// currentGuard returns the guard for the current pseudonym key and
// development clinic, rebuilding it when SSM's values changed (rotation).
func (h *Handler) currentGuard(ctx context.Context) (*phi.Guard, error) {
	key, err := h.params.Get(ctx, ParamPseudonymKey)
	if err != nil {
		return nil, err
	}
	clinic, err := h.params.Get(ctx, ParamClinicID)
	if err != nil {
		return nil, err
	}
	h.guardMu.Lock()
	defer h.guardMu.Unlock()
	if h.guard != nil && h.guardClinic == clinic && h.guardKey == sha256.Sum256([]byte(key)) {
		return h.guard, nil
	}
	g, err := phi.NewGuardFromParameters(key, clinic)
	if err != nil {
		return nil, err
	}
	h.guard, h.guardKey, h.guardClinic = g, sha256.Sum256([]byte(key)), clinic
	return g, nil
}

// keyUse records which key a NovaMed call used, so that after a 401 the
// handler knows whether SSM holds a different one.
type keyUse struct{ key string }

type keyUseCtx struct{}

// apiKey is the novamed.KeyFunc: the cached SSM parameter.
func (h *Handler) apiKey(ctx context.Context) (string, error) {
	k, err := h.params.Get(ctx, ParamAPIKey)
	if err != nil {
		return "", err
	}
	if u, ok := ctx.Value(keyUseCtx{}).(*keyUse); ok {
		u.key = k
	}
	return k, nil
}

// call creates the record. On 401/403 it re-reads the key from SSM once
// (rotation) and, when SSM now holds a different key than the one refused,
// calls again: a refused request created nothing, so the second call cannot
// duplicate.
func (h *Handler) call(ctx context.Context, rec novamed.Record) (string, error) {
	used := &keyUse{}
	id, err := h.client.Create(context.WithValue(ctx, keyUseCtx{}, used), rec)
	if novamed.Classify(err) != novamed.ClassUnauthorized {
		return id, err
	}
	if rerr := h.params.Refresh(ctx); rerr != nil {
		h.log.Warn("dispatch: re-reading the API key failed", slog.String("error", rerr.Error()))
	}
	fresh, gerr := h.params.Get(ctx, ParamAPIKey)
	if gerr != nil || used.key == "" || subtle.ConstantTimeCompare([]byte(fresh), []byte(used.key)) == 1 {
		return "", err // SSM holds the refused key: nothing to retry with
	}
	return h.client.Create(ctx, rec)
}

// settle records the outcome of a NovaMed call in the ledger and settles
// the message.
func (h *Handler) settle(ctx context.Context, b *budget, sm events.SQSMessage, m queue.Message, orig, sent novamed.Record, id string, callErr error, res result) result {
	bctx, cancel := b.bookkeeping(ctx)
	defer cancel()

	if callErr == nil {
		res.outcome, res.novamedID = outcomeDelivered, id
		h.metrics.Count(MetricDelivered, 1)
		if err := h.ledger.MarkDelivered(bctx, m.ID, id); err != nil {
			// NovaMed has the record: the message is done. The ledger still
			// says delivering; a later copy of the message finds the claim
			// expired and is dead-lettered unconfirmed, with this log line
			// (which has NovaMed's id) to resolve it.
			res.note = "delivered but the ledger was not updated"
			h.log.Error("dispatch: ledger MarkDelivered failed after delivery",
				slog.String("id", m.ID), slog.String("novamed_id", id), slog.String("error", err.Error()))
		}
		return res
	}

	var apiErr *novamed.APIError
	if errors.As(callErr, &apiErr) {
		res.status = apiErr.StatusCode
		res.code = apiErr.Code
		res.retryAfter = apiErr.RetryAfter
		res.novamedMessage = scrubbed(apiErr.Message, orig, sent)
	} else {
		res.code = errorCode(callErr)
	}

	if maybeDelivered(callErr) {
		// Lost response: NovaMed may have created the record, and has no
		// idempotency key. Never call it again automatically.
		if err := h.ledger.MarkUnconfirmed(bctx, m.ID); err != nil {
			h.log.Error("dispatch: ledger MarkUnconfirmed failed", slog.String("id", m.ID), slog.String("error", err.Error()))
		}
		res.class = ClassUnconfirmed
		res.note = "the request may have reached NovaMed; not called again"
		return h.deadLetter(ctx, b, sm, &m, res)
	}

	// NovaMed certainly created nothing: the record may be attempted again.
	if err := h.ledger.MarkNotDelivered(bctx, m.ID); err != nil {
		h.log.Error("dispatch: ledger MarkNotDelivered failed", slog.String("id", m.ID), slog.String("error", err.Error()))
	}
	switch novamed.Classify(callErr) {
	case novamed.ClassPermanent:
		res.class = queue.ClassPermanent
		var ve *novamed.ValidationError
		if errors.As(callErr, &ve) {
			res.fields = ve.FieldNames()
		}
		return h.deadLetter(ctx, b, sm, &m, res)
	case novamed.ClassUnauthorized:
		// Still refused after a fresh read of the key: alarm-worthy, and
		// retryable (the operator puts the right key in SSM).
		res.class = "unauthorized"
		h.metrics.Count(MetricUnauthorized, 1)
		return h.retry(ctx, b, sm, res)
	default:
		res.class = "retryable"
		return h.retry(ctx, b, sm, res)
	}
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

// scrubbed returns NovaMed's message when the scrubber clears it against
// both the queued record and the record sent (NovaMed can only echo the
// latter, but the former is what must never leak), "" otherwise.
func scrubbed(msg string, orig, sent novamed.Record) string {
	if msg == "" {
		return ""
	}
	out, ok := phi.ScrubMessage(msg, sent)
	if !ok {
		return ""
	}
	if orig.Kind.Valid() {
		if _, ok := phi.ScrubMessage(msg, orig); !ok {
			return ""
		}
	}
	return out
}

// deferRecord settles a record the invocation had no time to start: it was
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
func (h *Handler) deferRecord(ctx context.Context, b *budget, sm events.SQSMessage, res result) result {
	res.attempt = receiveCount(sm)
	h.metrics.Count(MetricDeferred, 1)
	if res.msg == nil {
		// Deferred before it was read (no worker slot in time): decode it
		// for the log line and the dead letter's attributes only.
		if m, err := queue.Decode(sm.Body); err == nil {
			res.msg = &m
		}
	}
	if res.attempt >= h.cfg.MaxReceiveCount {
		res.failed = false
		res.class, res.code = queue.ClassExhausted, "deadline"
		res.note = "last allowed attempt deferred: no time left before the deadline, never sent"
		return h.deadLetter(ctx, b, sm, res.msg, res)
	}
	bctx, cancel := b.bookkeeping(ctx)
	defer cancel()
	if err := h.setVisibility(bctx, sm, h.deferDelay); err != nil {
		h.log.Warn("dispatch: making a deferred record visible failed", slog.String("message_id", sm.MessageId), slog.String("error", awsclients.ErrorCode(err)))
		return res
	}
	res.retryIn = time.Duration(visibilitySeconds(h.deferDelay)) * time.Second
	return res
}

// setVisibility makes a received message visible again after d.
func (h *Handler) setVisibility(ctx context.Context, sm events.SQSMessage, d time.Duration) error {
	_, err := h.sqs.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl:          aws.String(h.cfg.QueueURL),
		ReceiptHandle:     aws.String(sm.ReceiptHandle),
		VisibilityTimeout: visibilitySeconds(d),
	})
	return err
}

// retry reports the record as a batch item failure after setting its
// visibility for exponential backoff (honouring Retry-After), or
// dead-letters it as exhausted on the last allowed attempt.
func (h *Handler) retry(ctx context.Context, b *budget, sm events.SQSMessage, res result) result {
	return h.retryAfter(ctx, b, sm, res, h.backoff(h.cfg.BackoffBase, h.cfg.BackoffCap, max(res.attempt, 1), res.retryAfter))
}

// retryAfter is retry with a chosen delay.
func (h *Handler) retryAfter(ctx context.Context, b *budget, sm events.SQSMessage, res result, wait time.Duration) result {
	if res.attempt >= h.cfg.MaxReceiveCount {
		// SQS would move the message on its next receive, without saying
		// why: dead-letter it here, with the reason.
		res.note = "last allowed attempt (" + res.class + ")"
		res.class = queue.ClassExhausted
		return h.deadLetter(ctx, b, sm, res.msg, res)
	}
	res.failed, res.outcome = true, outcomeRetry
	res.retryIn = time.Duration(visibilitySeconds(wait)) * time.Second
	h.metrics.Count(MetricRetried, 1)
	bctx, cancel := b.bookkeeping(ctx)
	defer cancel()
	if err := h.setVisibility(bctx, sm, wait); err != nil {
		// The message comes back after the queue's visibility timeout.
		res.retryIn = 0
		h.log.Warn("dispatch: setting the retry delay failed", slog.String("message_id", sm.MessageId), slog.String("error", awsclients.ErrorCode(err)))
	}
	return res
}

// deadLetterGuard dead-letters a record the guard refused: the message
// goes to the DLQ with its record removed, so no PHI waits there.
func (h *Handler) deadLetterGuard(ctx context.Context, b *budget, sm events.SQSMessage, m queue.Message, res result) result {
	stripped := m
	stripped.Record = json.RawMessage("{}")
	body, err := stripped.Encode()
	if err != nil {
		body = "{}" // unreachable: m decoded, and {} is a valid record
	}
	res.note = "record removed"
	return h.deadLetterBody(ctx, b, sm, &m, body, res)
}

// deadLetter sends the message, body unchanged, to the DLQ with the
// attributes of res, then deletes it from the queue.
func (h *Handler) deadLetter(ctx context.Context, b *budget, sm events.SQSMessage, m *queue.Message, res result) result {
	return h.deadLetterBody(ctx, b, sm, m, sm.Body, res)
}

// deadLetterBody writes to the DLQ before deleting from the queue: a crash
// between the two leaves the message in both (a duplicate the ledger makes
// harmless), never in neither. A failed DLQ write leaves the message queued
// (batch item failure; the queue's redrive policy is the safety net).
func (h *Handler) deadLetterBody(ctx context.Context, b *budget, sm events.SQSMessage, m *queue.Message, body string, res result) result {
	res.msg = m
	if !queue.ValidSlug(res.code) {
		res.code = "unknown"
	}
	base := queue.EventAttributes(sm.MessageAttributes)
	if m != nil {
		base = m.Attributes()
	}
	attrs, err := queue.DLQAttributes{
		ErrorClass: res.class,
		ErrorCode:  res.code,
		HTTPStatus: res.status,
		Attempts:   min(max(res.attempt, 0), queue.MaxAttempts),
		FailedAt:   h.now(),
	}.MessageAttributes(base)
	if err != nil {
		// Only a programming error brings us here (classes are constants).
		res.failed, res.outcome = true, outcomeRetry
		h.log.Error("dispatch: dead-letter attributes refused", slog.String("message_id", sm.MessageId), slog.String("error", err.Error()))
		return res
	}
	bctx, cancel := b.bookkeeping(ctx)
	defer cancel()
	if _, err := h.sqs.SendMessage(bctx, &sqs.SendMessageInput{
		QueueUrl:          aws.String(h.cfg.DLQURL),
		MessageBody:       aws.String(body),
		MessageAttributes: attrs,
	}); err != nil {
		res.failed, res.outcome = true, outcomeRetry
		res.note = "dead-letter queue unavailable: " + res.class
		h.log.Error("dispatch: sending to the dead-letter queue failed", slog.String("message_id", sm.MessageId), slog.String("error", awsclients.ErrorCode(err)))
		return res
	}
	res.outcome = outcomeDeadLettered
	h.metrics.Count(MetricDeadLettered, 1, "Class", res.class)
	if _, err := h.sqs.DeleteMessage(bctx, &sqs.DeleteMessageInput{
		QueueUrl:      aws.String(h.cfg.QueueURL),
		ReceiptHandle: aws.String(sm.ReceiptHandle),
	}); err != nil {
		// Reported as a success, Lambda deletes it; if that fails too, the
		// next receive dead-letters a duplicate rather than losing it.
		h.log.Warn("dispatch: deleting a dead-lettered message failed", slog.String("message_id", sm.MessageId), slog.String("error", awsclients.ErrorCode(err)))
	}
	return res
}

// receiveCount is the message's ApproximateReceiveCount: this delivery's
// attempt number, 1 for the first. A missing or invalid count reads as 1.
func receiveCount(sm events.SQSMessage) int {
	n, err := strconv.Atoi(sm.Attributes["ApproximateReceiveCount"])
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// malformedCode turns a queue.MalformedError into a slug such as
// "record_required" or "not_json". Fields are the contract's own keys.
func malformedCode(err error) string {
	var me *queue.MalformedError
	if !errors.As(err, &me) {
		return "malformed"
	}
	s := me.Reason
	if me.Field != "" {
		s = me.Field + "_" + me.Reason
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '_':
			out = append(out, c)
		case c >= 'A' && c <= 'Z':
			out = append(out, c+'a'-'A')
		default:
			out = append(out, '_')
		}
	}
	if code := string(out); queue.ValidSlug(code) {
		return code
	}
	return "malformed"
}

// report logs one line per record: ids, slugs and numbers, never a value.
func (h *Handler) report(sm events.SQSMessage, res result) {
	if dep := dependencyOf(res.code); dep != "" {
		h.metrics.Count(MetricDependencyErrors, 1, "Dependency", dep)
	}
	attrs := []slog.Attr{
		slog.String("message_id", sm.MessageId),
		slog.String("stage", h.cfg.Stage),
		slog.String("outcome", res.outcome),
		slog.Int("attempt", res.attempt),
	}
	if res.msg != nil {
		// A queue.Message logs as its id, source and kind only.
		attrs = append(attrs, res.msg.LogValue().Group()...)
	}
	if res.class != "" {
		attrs = append(attrs, slog.String("class", res.class))
	}
	if res.status != 0 {
		attrs = append(attrs, slog.Int("status", res.status))
	}
	if res.code != "" {
		attrs = append(attrs, slog.String("error_code", res.code))
	}
	if res.latency > 0 {
		attrs = append(attrs, slog.Float64("latency_ms", float64(res.latency.Microseconds())/1000))
	}
	if res.retryIn > 0 {
		attrs = append(attrs, slog.Duration("retry_in", res.retryIn))
	}
	if res.deidentified {
		attrs = append(attrs, slog.Bool("deidentified", true))
	}
	if res.dropped > 0 {
		attrs = append(attrs, slog.Int("dropped_keys", res.dropped))
	}
	if len(res.fields) > 0 {
		attrs = append(attrs, slog.Any("fields", res.fields))
	}
	if res.novamedMessage != "" {
		attrs = append(attrs, slog.String("novamed_message", res.novamedMessage))
	}
	if res.note != "" {
		attrs = append(attrs, slog.String("note", res.note))
	}
	level := slog.LevelInfo
	switch res.outcome {
	case outcomeRetry, outcomeDeferred:
		level = slog.LevelWarn
	case outcomeDeadLettered:
		level = slog.LevelError
	}
	h.log.LogAttrs(context.Background(), level, "dispatch: record", attrs...)
}
