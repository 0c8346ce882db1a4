package delivery

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/novamed/bridge/pkg/ledger"
	"github.com/novamed/bridge/pkg/metrics"
	"github.com/novamed/bridge/pkg/novamed"
	"github.com/novamed/bridge/pkg/phi"
)

// Names of the SSM parameters the pipeline reads, relative to PARAM_PREFIX.
const (
	ParamAPIKey       = "api-key"
	ParamClinicID     = "clinic-id"
	ParamPseudonymKey = "pseudonym-key"
)

// claimMargin keeps a NovaMed call inside the ledger claim: a worker must not
// outlive its claim (pkg/ledger).
const claimMargin = 5 * time.Second

// SQSAPI is the part of the SQS client the pipeline uses.
type SQSAPI interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

// Ledger is the part of *ledger.Ledger the pipeline uses.
type Ledger interface {
	ClaimDelivery(ctx context.Context, recordID string) (ledger.Claim, error)
	MarkDelivered(ctx context.Context, recordID, novamedID string) error
	MarkNotDelivered(ctx context.Context, recordID string) error
	MarkUnconfirmed(ctx context.Context, recordID string) error
}

// Params is the part of *params.Cache the pipeline uses: a shared, cached
// read of the SSM parameters, and a forced (rate-limited) re-read for
// rotation.
type Params interface {
	Get(ctx context.Context, name string) (string, error)
	Refresh(ctx context.Context) error
}

// Verdict is what a stage decides. Next hands the record to the next
// stage; every other verdict ends the pipeline for the record and is carried
// out by [Pipeline.conclude] (see doc.go, "Stopping").
type Verdict int

// The verdicts.
const (
	// Next: go on to the next stage.
	Next Verdict = iota
	// Ack: done, nothing to send (delivered, duplicate). Lambda deletes the
	// message because it is not a batch item failure.
	Ack
	// DeadLetter: to the DLQ with the body unchanged, then deleted.
	DeadLetter
	// DeadLetterStripped: to the DLQ with its record removed (the guard).
	DeadLetterStripped
	// Retry: a batch item failure, visible again after the backoff
	// (honouring Result.RetryAfter); exhausted on the last attempt.
	Retry
	// RetryAt: as Retry, but visible again after Record.Wait exactly.
	RetryAt
	// Defer: never started for lack of time; no backoff, no attempt spent
	// on NovaMed (see [Pipeline.Defer]).
	Defer
)

// Stage is one step of the pipeline. It reads and fills the Record and
// returns Next to go on, or the verdict that ends the record here; before
// stopping it sets the Result fields the verdict needs (Class, Code, Note,
// Fields).
type Stage func(ctx context.Context, r *Record) Verdict

// Record is one queue message on its way through the stages. Each stage
// fills the fields named after it; Result is what gets reported.
type Record struct {
	// SQS is the received message.
	SQS events.SQSMessage
	// Budget is the invocation's time plan.
	Budget *Budget

	// Orig (map) is the record as queued; the zero Record when it did not
	// decode. MapErr is why it did not.
	Orig   novamed.Record
	MapErr error
	// Sent (guard) is what NovaMed receives: Orig in production, the
	// de-identified record elsewhere.
	Sent novamed.Record
	// Claim (claim) is the ledger's answer.
	Claim ledger.Claim
	// SubjectOwned (claim subject): this record creates its person's
	// chart, so settle moves the subject with the record's outcome.
	SubjectOwned bool
	// NovaMedID and CallErr (call) are the call's answer.
	NovaMedID string
	CallErr   error
	// Wait is the delay of a RetryAt verdict.
	Wait time.Duration

	Result Result
}

// Budget is the time plan of one invocation. Zero times mean "no deadline"
// (a local run).
type Budget struct {
	// Stop: no NovaMed call runs past this.
	Stop time.Time
	// End: bookkeeping (ledger, SQS) finishes by this.
	End time.Time
	// StartBy is the last moment a record may start its call.
	StartBy time.Time
	// Now is the clock.
	Now func() time.Time
}

// bookkeepingTimeout bounds ledger and SQS calls when the invocation has no
// deadline (a local run).
const bookkeepingTimeout = 20 * time.Second

// CanStart reports whether a record started now would still have time.
func (b *Budget) CanStart() bool { return b.StartBy.IsZero() || b.Now().Before(b.StartBy) }

// Bookkeeping returns the context of ledger and SQS calls: not cancelled
// with the invocation's context (a write that follows a NovaMed call must
// happen), but over before the function is.
func (b *Budget) Bookkeeping(ctx context.Context) (context.Context, context.CancelFunc) {
	base := context.WithoutCancel(ctx)
	if b.End.IsZero() {
		return context.WithTimeout(base, bookkeepingTimeout)
	}
	return context.WithDeadline(base, b.End)
}

// Config configures a Pipeline. It holds names and URLs, never a secret.
type Config struct {
	// Stage is "prod" or "dev" (normalised), for metrics and logs.
	Stage string
	// BaseURL is NovaMed's base URL (already vetted by the caller's config).
	BaseURL string
	// QueueURL is the delivery queue, DLQURL its dead-letter queue.
	QueueURL, DLQURL string
	// MaxReceiveCount is the queue's maxReceiveCount: on that attempt a
	// retryable failure is dead-lettered as exhausted.
	MaxReceiveCount int
	// BackoffBase and BackoffCap parameterise the retry delay.
	BackoffBase, BackoffCap time.Duration
	// DeferDelay is how long a deferred record stays invisible.
	DeferDelay time.Duration
	// Status500 is what a 500 from NovaMed means: Status500Unconfirmed (the
	// default, when empty) or Status500Retryable.
	Status500 string
}

// Deps are the pipeline's clients and collaborators. SQS, Ledger and Params
// are required; the rest have defaults.
type Deps struct {
	SQS    SQSAPI
	Ledger Ledger
	Params Params

	// Resolver fetches referenced records (resolve). nil: references are not
	// supported, and a reference message is dead-lettered as malformed.
	Resolver Resolver
	// Subjects is the ledger of people (one NovaMed chart per person),
	// claimed after the record. nil: no subject claim (every record is its
	// own person).
	Subjects SubjectLedger

	HTTPClient  *http.Client  // NovaMed calls; nil for the default
	CallTimeout time.Duration // one NovaMed call; 0 for novamed.DefaultTimeout
	Backoff     Backoff       // nil for FullJitter
	Log         *slog.Logger  // nil for JSON to stdout
	Metrics     *metrics.Recorder
	Now         func() time.Time
}

// Pipeline delivers one record at a time through the stages. It is safe for
// concurrent use.
type Pipeline struct {
	cfg      Config
	env      phi.Environment
	sqs      SQSAPI
	ledger   Ledger
	params   Params
	client   *novamed.Client
	resolver Resolver
	subjects SubjectLedger
	backoff  Backoff
	log      *slog.Logger
	metrics  *metrics.Recorder
	now      func() time.Time
	stages   []Stage

	guardMu     sync.Mutex
	guard       *phi.Guard        // guarded by guardMu; built from guardKey and guardClinic
	guardKey    [sha256.Size]byte // guarded by guardMu; a digest, so the key itself is not kept
	guardClinic string            // guarded by guardMu
}

// ErrNovaMedClient wraps a refusal of the NovaMed client's configuration.
var ErrNovaMedClient = errors.New("delivery: NovaMed client")

// New returns a pipeline. It makes no call.
func New(cfg Config, deps Deps) (*Pipeline, error) {
	if deps.SQS == nil || deps.Ledger == nil || deps.Params == nil {
		return nil, errors.New("delivery: SQS, Ledger and Params are required")
	}
	if err := CheckStatus500(cfg.Status500); err != nil {
		return nil, err
	}
	p := &Pipeline{
		cfg:      cfg,
		env:      phi.Resolve(cfg.Stage, cfg.BaseURL),
		sqs:      deps.SQS,
		ledger:   deps.Ledger,
		params:   deps.Params,
		resolver: deps.Resolver,
		subjects: deps.Subjects,
		backoff:  deps.Backoff,
		log:      deps.Log,
		metrics:  deps.Metrics,
		now:      deps.Now,
	}
	if p.backoff == nil {
		p.backoff = FullJitter
	}
	if p.log == nil {
		p.log = slog.New(slog.NewJSONHandler(os.Stdout, nil))
	}
	if p.metrics == nil {
		p.metrics = metrics.New(os.Stdout, map[string]string{"Stage": cfg.Stage})
	}
	if p.now == nil {
		p.now = time.Now
	}
	clientOpts := []novamed.Option{novamed.WithTimeout(deps.CallTimeout)}
	if deps.HTTPClient != nil {
		clientOpts = append(clientOpts, novamed.WithHTTPClient(deps.HTTPClient))
	}
	client, err := novamed.NewClient(cfg.BaseURL, p.apiKey, clientOpts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNovaMedClient, err)
	}
	p.client = client

	p.stages = []Stage{p.resolve, p.mapRecord, p.guardRecord, p.hold, p.claim}
	if deps.Subjects != nil {
		p.stages = append(p.stages, p.claimSubject)
	}
	p.stages = append(p.stages, p.call, p.settle)
	return p, nil
}

// Environment reports whether the pipeline's target may receive PHI.
func (p *Pipeline) Environment() phi.Environment { return p.env }

// Process runs one message through the stages and carries out the verdict
// that ends it.
func (p *Pipeline) Process(ctx context.Context, b *Budget, sm events.SQSMessage) Result {
	r := &Record{SQS: sm, Budget: b, Result: Result{Attempt: receiveCount(sm)}}
	for _, stage := range p.stages {
		if v := stage(ctx, r); v != Next {
			return p.conclude(ctx, r, v)
		}
	}
	// settle always decides; reaching here is a programming error, and a
	// retry is the safe answer.
	r.Result.Class, r.Result.Code = "retryable", "unexpected"
	return p.conclude(ctx, r, Retry)
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
