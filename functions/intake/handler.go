package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/novamed/bridge/pkg/inbound"
	"github.com/novamed/bridge/pkg/ledger"
	"github.com/novamed/bridge/pkg/metrics"
	"github.com/novamed/bridge/pkg/novamed"
	"github.com/novamed/bridge/pkg/params"
	"github.com/novamed/bridge/pkg/phi"
	"github.com/novamed/bridge/pkg/queue"
	"github.com/novamed/bridge/pkg/source"
	"github.com/novamed/bridge/pkg/webhookauth"
)

// SSM parameter names, relative to PARAM_PREFIX.
const (
	ParamClinicID     = "clinic-id"
	ParamPseudonymKey = "pseudonym-key"
	ParamSources      = "sources"
)

// recordEnvelope is room left in a queue message for everything but the
// record: id, source, kind, time, stage and the keys.
const recordEnvelope = 1 << 10

// Params reads SSM parameters by name relative to the prefix
// (*params.Cache: one SSM round per cold start or TTL, not per request).
type Params interface {
	Get(ctx context.Context, name string) (string, error)
}

// QueueSender queues messages (*queue.Sender).
type QueueSender interface {
	Send(ctx context.Context, msgs []queue.Message) error
}

// EventLedger records events so a repeated webhook is answered as a
// duplicate (*ledger.Ledger).
type EventLedger interface {
	BeginEvent(ctx context.Context, eventID string, records int) (ledger.EventState, error)
	MarkEventQueued(ctx context.Context, eventID string) error
	EventLease() time.Duration
}

// Config configures a Handler. Params, Queue and Ledger are required.
type Config struct {
	// Stage is STAGE: "prod", or anything else, which is "dev".
	Stage string
	// TargetURL is the NovaMed base URL the records are bound for
	// (NOVAMED_BASE_URL, default novamed.DefaultBaseURL(Stage)). With Stage
	// it decides, through phi.Resolve, whether records are de-identified
	// before they are queued. It must pass novamed.CheckStageBaseURL(Stage).
	TargetURL string
	Params    Params
	Queue     QueueSender
	// DeadLetters writes held records to the dead-letter queue (DLQ_URL).
	DeadLetters QueueSender
	Ledger      EventLedger
	// Logger receives one JSON line per request (default slog.Default()).
	Logger *slog.Logger
	// Metrics receives EMF metrics; nil records none.
	Metrics *metrics.Recorder
	// Now is the clock of receipt: signature tolerance, received_at and the
	// guard's age rule (default time.Now). Tests set it to a sample's time.
	Now func() time.Time
}

// Handler is the intake function: POST /webhooks/{source}. It is safe for
// concurrent use.
type Handler struct {
	stage       string
	env         phi.Environment
	params      Params
	queue       QueueSender
	deadLetters QueueSender
	ledger      EventLedger
	log         *slog.Logger
	metrics     *metrics.Recorder
	now         func() time.Time
	sources     sourceCache
	guards      guardCache
	keyers      keyerCache
}

// New checks cfg and returns a Handler. It makes no call: sources and keys
// are read on the first request.
func New(cfg Config) (*Handler, error) {
	switch {
	case cfg.Params == nil:
		return nil, errors.New("intake: Params is required")
	case cfg.Queue == nil:
		return nil, errors.New("intake: Queue is required")
	case cfg.DeadLetters == nil:
		return nil, errors.New("intake: DeadLetters is required")
	case cfg.Ledger == nil:
		return nil, errors.New("intake: Ledger is required")
	}
	stage := NormalizeStage(cfg.Stage)
	target := cfg.TargetURL
	if target == "" {
		target = novamed.DefaultBaseURL(stage)
	}
	if _, err := novamed.CheckStageBaseURL(stage, target); err != nil { // the stage binds the host
		return nil, fmt.Errorf("intake: target URL: %w", err)
	}
	h := &Handler{
		stage:       stage,
		env:         phi.Resolve(stage, target),
		params:      cfg.Params,
		queue:       cfg.Queue,
		deadLetters: cfg.DeadLetters,
		ledger:      cfg.Ledger,
		log:         cfg.Logger,
		metrics:     cfg.Metrics,
		now:         cfg.Now,
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.now == nil {
		h.now = time.Now
	}
	return h, nil
}

// NormalizeStage maps STAGE to queue.StageProd for exactly "prod" and to
// queue.StageDev for anything else, empty and "PROD" included.
func NormalizeStage(stage string) string {
	if stage == queue.StageProd {
		return queue.StageProd
	}
	return queue.StageDev
}

// Environment reports whether the handler queues PHI (Production) or
// de-identifies first (NonProduction).
func (h *Handler) Environment() phi.Environment { return h.env }

// outcome is what one request came to: the answer and what the log line
// and the metrics say about it. Nothing in it is a value from the payload.
type outcome struct {
	status  int
	code    string // error code slug; empty when accepted
	err     error  // the cause, for the log; value-free by the packages' contracts
	body    any
	headers map[string]string

	source       string // set once the source is known to exist
	scheme       string
	kind         string
	eventID      string
	records      int // queued: to deliver and held
	skipped      int // resources or answers that map to nothing NovaMed takes
	skippedBy    map[string]int
	held         []string // the reason of each held record
	dropped      int      // optional fields left out
	deidentified bool
	duplicate    bool
}

// MaxRecordsPerWebhook bounds the records of one webhook: 100 records are
// ten SQS batches, queued in well under the function's timeout.
const MaxRecordsPerWebhook = 100

// Handle answers one API Gateway (HTTP API, payload format 2.0) request. It
// never returns an error: every failure is an HTTP answer, so API Gateway
// never turns one into a bare 500.
func (h *Handler) Handle(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	start := time.Now()
	o := h.handle(ctx, req)
	h.record(ctx, req, o, time.Since(start))
	return respond(o), nil
}

func (h *Handler) handle(ctx context.Context, req events.APIGatewayV2HTTPRequest) *outcome {
	if req.RequestContext.HTTP.Method != http.MethodPost {
		o := fail(http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed")
		o.headers = map[string]string{"Allow": http.MethodPost}
		return o
	}

	name := sourceName(req)
	if !source.ValidName(name) {
		return fail(http.StatusNotFound, "unknown_source", "unknown source")
	}
	src, o := h.source(ctx, name)
	if o != nil {
		return o
	}
	o = &outcome{source: src.Name, scheme: src.Scheme, kind: string(src.Kind)}

	// Size first: nothing, not even the signature check, reads a body over
	// the limit.
	body, ok := h.body(req, src.MaxBodyBytes, o)
	if !ok {
		return o
	}
	defer clear(body) // the raw payload is not kept once mapped

	hdr := toHeader(req.Headers)
	verified, err := webhookauth.VerifyRequest(src.Verifier, req.RawQueryString, hdr, body, h.now()) // Jotform: ?token=
	if err != nil {
		return o.fail(http.StatusUnauthorized, authCode(err), "unauthorized")
	}

	if !acceptsContentType(src.Format, hdr.Get("Content-Type")) {
		return o.fail(http.StatusUnsupportedMediaType, "unsupported_media_type",
			"unsupported media type: send "+mediaHint(src.Format))
	}
	if src.Format == source.FormatFHIRR4 && len(bytes.TrimSpace(body)) == 0 {
		// An R4 rest-hook channel checks the endpoint with an empty POST.
		o.status = http.StatusOK
		o.body = notificationBody{Notification: notificationPing}
		return o
	}

	clinic, err := h.params.Get(ctx, ParamClinicID)
	if err != nil {
		o.err = err
		return o.fail(http.StatusServiceUnavailable, paramsCode(err), "temporarily unavailable")
	}
	res, err := inbound.Parse(inbound.Format(src.Format), body, inbound.Options{
		ClinicID: clinic, FieldMap: src.FieldMap, Kind: src.Kind,
		SubjectSystem: src.SubjectIdentifier, SubjectField: src.SubjectField,
		ContentType: hdr.Get("Content-Type"), // Formstack (URL-encoded), Jotform (multipart)
	})
	if err != nil {
		return o.parseFailed(err)
	}
	o.kind = kindOf(res.Records, src.Kind)
	// Only a delivery id the signature covers may stand for the body; an
	// id found inside the payload (Bundle.id, event numbers) proves nothing
	// about the rest of it, so the body's hash decides.
	o.eventID = queue.EventID(src.Name, verified.EventID, body)

	if res.Notification.StatusOnly() {
		o.status = http.StatusOK
		o.body = notificationBody{ID: o.eventID, Notification: string(res.Notification)}
		return o
	}
	if src.Kind != "" {
		// A source that creates one kind of record gets no other, whatever
		// its payload says.
		for _, r := range res.Records {
			if r.Kind != src.Kind {
				return o.invalid("record kind not accepted from this source", []string{"type"})
			}
		}
	}
	o.skipped, o.skippedBy = res.Skipped, res.SkippedBy
	if len(res.Records) == 0 && len(res.References) > 0 && src.FHIRServer != nil {
		// An id-only notification, or one whose focus is not a person:
		// dispatch fetches what it points at from the sender's FHIR
		// server. The references hold no PHI, so they are queued as they
		// are, in every stage.
		return h.enqueueReferences(ctx, src, res.References, o)
	}
	if len(res.Records) == 0 {
		// Nothing NovaMed takes: an empty or id-only notification, a
		// bundle of other resources. Accepted, so the sender keeps the
		// endpoint, and counted by reason, so operators see it.
		o.status = http.StatusAccepted
		o.body = acceptedBody{ID: o.eventID, Records: 0, Skipped: res.Skipped}
		return o
	}
	if len(res.Records) > MaxRecordsPerWebhook {
		// Queuing must finish well inside the function's timeout, or every
		// retry would queue part of the event again and never complete.
		return o.fail(http.StatusRequestEntityTooLarge, "too_many_records",
			"too many records in one webhook: at most "+strconv.Itoa(MaxRecordsPerWebhook))
	}
	if src.OnInvalid == source.OnInvalidReject {
		if fields := heldFields(res.Records); len(fields) > 0 {
			o = o.invalid("invalid payload", fields)
			o.code = "invalid_record"
			return o
		}
	}

	// Who each record is, decided on the record as mapped: the subject key
	// and the field digests are keyed hashes, so they leave intake in every
	// stage while the values do not.
	subjects, ok := h.subjects(ctx, src, res.Records, o)
	if !ok {
		return o
	}

	records := res.Records
	if !h.env.AllowsPHI() {
		if records, ok = h.deidentify(ctx, records, clinic, o); !ok {
			return o
		}
		o.deidentified = true
	}

	now := h.now()
	var deliver, held []queue.Message
	for i, r := range records {
		rb, err := r.Body()
		if err != nil {
			o.err = err
			return o.fail(http.StatusInternalServerError, "internal", "internal error")
		}
		if len(rb) > queue.MaxBodySize-recordEnvelope {
			return o.fail(http.StatusRequestEntityTooLarge, "record_too_large",
				fmt.Sprintf("record %d is too large to queue", i))
		}
		m := queue.Message{
			Version:      queue.Version,
			ID:           queue.RecordID(o.eventID, i),
			Source:       src.Name,
			Kind:         r.Kind,
			ReceivedAt:   now,
			Stage:        h.stage,
			Deidentified: o.deidentified,
			Record:       rb,
			Subject:      subjects[i].key,
			Digests:      subjects[i].digests,
		}
		if r.Hold == nil {
			deliver = append(deliver, m)
			continue
		}
		m.DeadLetter = &queue.DLQAttributes{
			ErrorClass: queue.ClassHeld,
			ErrorCode:  r.Hold.Reason,
			FailedAt:   now,
			Fields:     queue.CapFields(r.Hold.Fields),
		}
		held = append(held, m)
	}
	return h.enqueue(ctx, deliver, held, res.Records, o)
}

// source returns the parsed definition of the source called name.
func (h *Handler) source(ctx context.Context, name string) (*source.Source, *outcome) {
	raw, err := h.params.Get(ctx, ParamSources+"/"+name)
	switch {
	case errors.Is(err, params.ErrNotFound):
		return nil, fail(http.StatusNotFound, "unknown_source", "unknown source")
	case err != nil:
		o := fail(http.StatusServiceUnavailable, paramsCode(err), "temporarily unavailable")
		o.err = err
		return nil, o
	}
	src, err := h.sources.get(name, raw)
	if err != nil {
		// An operator's mistake, not the sender's: 503 so the sender keeps
		// the event and retries once the definition is fixed.
		o := fail(http.StatusServiceUnavailable, "invalid_source", "temporarily unavailable")
		o.source, o.err = name, err
		return nil, o
	}
	return src, nil
}

// parseFailed turns an inbound.Parse error into the answer.
func (o *outcome) parseFailed(err error) *outcome {
	var pe *inbound.PayloadError
	switch {
	case errors.As(err, &pe):
		o = o.invalid("not a payload this source takes", pe.Fields)
		o.code = "invalid_payload"
		if b, ok := o.body.(invalidBody); ok {
			b.More += pe.More
			o.body = b
		}
		return o
	case errors.Is(err, inbound.ErrNotJSON):
		// The content type was right (checked before): the body is not.
		o = o.invalid("the body is not JSON", nil)
		o.code = "not_json"
		return o
	case errors.Is(err, inbound.ErrMalformedJSON):
		o = o.invalid("malformed JSON", nil)
		o.code = "malformed_json"
		return o
	case errors.Is(err, inbound.ErrTooDeep):
		o = o.invalid(fmt.Sprintf("JSON nested deeper than %d levels", inbound.MaxDepth), nil)
		o.code = "too_deep"
		return o
	default:
		// ErrUnknownFormat, ErrInvalidOptions: the configuration (the
		// source or the clinic-id parameter) is wrong, not the sender.
		o.err = err
		return o.fail(http.StatusServiceUnavailable, "config_error", "temporarily unavailable")
	}
}

// fail returns a new outcome with an error answer.
func fail(status int, code, msg string) *outcome {
	return (&outcome{}).fail(status, code, msg)
}

func (o *outcome) fail(status int, code, msg string) *outcome {
	o.status, o.code = status, code
	o.body = errorBody{Error: msg}
	return o
}

// invalid is a 400 naming payload paths.
func (o *outcome) invalid(msg string, fields []string) *outcome {
	if fields == nil {
		fields = []string{}
	}
	o.status, o.code = http.StatusBadRequest, "invalid_payload"
	capped := capPaths(fields)
	o.body = invalidBody{Error: msg, Fields: capped, More: len(fields) - len(capped)}
	return o
}

// authCode names why verification failed, for logs and metrics.
func authCode(err error) string {
	switch {
	case errors.Is(err, webhookauth.ErrMissingSignature):
		return "missing_signature"
	case errors.Is(err, webhookauth.ErrMalformedSignature):
		return "malformed_signature"
	case errors.Is(err, webhookauth.ErrNoMatchingSignature):
		return "bad_signature"
	case errors.Is(err, webhookauth.ErrMissingTimestamp):
		return "missing_timestamp"
	case errors.Is(err, webhookauth.ErrMalformedTimestamp):
		return "malformed_timestamp"
	case errors.Is(err, webhookauth.ErrTimestampOutOfTolerance):
		return "stale_timestamp"
	case errors.Is(err, webhookauth.ErrMissingEventID):
		return "missing_event_id"
	case errors.Is(err, webhookauth.ErrMalformedEventID):
		return "malformed_event_id"
	default:
		return "unauthorized"
	}
}

// paramsCode names a parameter failure. A missing clinic-id or
// pseudonym-key is a deployment mistake; anything else is SSM being
// unavailable.
func paramsCode(err error) string {
	if errors.Is(err, params.ErrNotFound) || errors.Is(err, params.ErrNotConfigured) {
		return "config_error"
	}
	return "params_unavailable"
}

// kindOf is the kind logged for a request: the records' kind, "mixed", or
// the source's kind when there are no records.
func kindOf(recs []inbound.Record, def novamed.Kind) string {
	kind := string(def)
	for i, r := range recs {
		switch {
		case i == 0:
			kind = string(r.Kind)
		case string(r.Kind) != kind:
			return "mixed"
		}
	}
	return kind
}

// retryAfter renders d in whole seconds, rounded up, at least 1.
func retryAfter(d time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}
