package delivery

import (
	"context"
	"crypto/subtle"
	"log/slog"
	"time"

	"github.com/novamed/bridge/pkg/ledger"
	"github.com/novamed/bridge/pkg/novamed"
)

// claim takes the ledger's claim on the record (pkg/ledger, "Records"):
// only a granted claim goes on to NovaMed. A record that no longer has time
// to be called is deferred first, before anything is written.
//
// The subject claim (one NovaMed chart per person) follows this stage when
// the pipeline has Deps.Subjects.
func (p *Pipeline) claim(ctx context.Context, r *Record) Verdict {
	if !r.Budget.CanStart() {
		return Defer
	}
	bctx, cancel := r.Budget.Bookkeeping(ctx)
	defer cancel()
	claim, err := p.ledger.ClaimDelivery(bctx, r.Result.Msg.ID)
	if err != nil {
		r.Result.Class, r.Result.Code = "retryable", "ledger_unavailable"
		return Retry
	}
	r.Claim = claim
	switch claim.Status {
	case ledger.AlreadyDelivered:
		r.Result.Outcome, r.Result.NovaMedID = OutcomeDuplicate, claim.NovaMedID
		p.metrics.Count(MetricDuplicates, 1)
		return Ack
	case ledger.InFlight:
		// Another worker (or this message's previous, crashed receive) holds
		// the claim: look again once it has ended.
		r.Result.Class, r.Result.Code = "in_flight", "in_flight"
		r.Wait = claim.ClaimedUntil.Sub(p.now()) + time.Second
		return RetryAt
	case ledger.Unconfirmed:
		r.Result.Class, r.Result.Code = ClassUnconfirmed, "unconfirmed"
		r.Result.Note = "an earlier attempt may have reached NovaMed; not called again"
		return DeadLetter
	case ledger.ClaimGranted:
		return Next
	default:
		r.Result.Class, r.Result.Code = "retryable", "ledger_unexpected"
		return Retry
	}
}

// call creates the record at NovaMed, bounded by the invocation's stop time
// and the claim's end. It always goes on: settle decides what the answer
// means.
func (p *Pipeline) call(ctx context.Context, r *Record) Verdict {
	callCtx, cancel := callContext(ctx, r.Budget, r.Claim)
	started := p.now()
	r.NovaMedID, r.CallErr = p.create(callCtx, r.Sent)
	cancel()
	r.Result.Latency = p.now().Sub(started)
	p.metrics.Duration(MetricDeliveryLatency, r.Result.Latency)
	p.metrics.Count(MetricNovaMedAnswers, 1, "Status", answerStatus(r.CallErr))
	return Next
}

// callContext bounds a NovaMed call by the invocation's stop time and by
// the claim's end, whichever comes first.
func callContext(ctx context.Context, b *Budget, claim ledger.Claim) (context.Context, context.CancelFunc) {
	dl := b.Stop
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

// create calls NovaMed. On 401/403 it re-reads the key from SSM once
// (rotation) and, when SSM now holds a different key than the one refused,
// calls again: a refused request created nothing, so the second call cannot
// duplicate.
func (p *Pipeline) create(ctx context.Context, rec novamed.Record) (string, error) {
	used := &keyUse{}
	id, err := p.client.Create(context.WithValue(ctx, keyUseCtx{}, used), rec)
	if novamed.Classify(err) != novamed.ClassUnauthorized {
		return id, err
	}
	if rerr := p.params.Refresh(ctx); rerr != nil {
		p.log.Warn("dispatch: re-reading the API key failed", slog.String("error", rerr.Error()))
	}
	fresh, gerr := p.params.Get(ctx, ParamAPIKey)
	if gerr != nil || used.key == "" || subtle.ConstantTimeCompare([]byte(fresh), []byte(used.key)) == 1 {
		return "", err // SSM holds the refused key: nothing to retry with
	}
	return p.client.Create(ctx, rec)
}

// keyUse records which key a NovaMed call used, so that after a 401 the
// pipeline knows whether SSM holds a different one.
type keyUse struct{ key string }

type keyUseCtx struct{}

// apiKey is the novamed.KeyFunc: the cached SSM parameter.
func (p *Pipeline) apiKey(ctx context.Context) (string, error) {
	k, err := p.params.Get(ctx, ParamAPIKey)
	if err != nil {
		return "", err
	}
	if u, ok := ctx.Value(keyUseCtx{}).(*keyUse); ok {
		u.key = k
	}
	return k, nil
}
