package delivery

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/novamed/bridge/pkg/ledger"
	"github.com/novamed/bridge/pkg/params"
	"github.com/novamed/bridge/pkg/phi"
	"github.com/novamed/bridge/pkg/queue"
)

// SubjectLedger is the part of *ledger.Ledger the subject stage uses (one
// NovaMed chart per person; pkg/ledger, "Subjects").
type SubjectLedger interface {
	ClaimSubject(ctx context.Context, subject, recordID string, fields map[string]string) (ledger.SubjectClaim, error)
	MarkSubjectCreated(ctx context.Context, subject, recordID, novamedID string) error
	ReleaseSubject(ctx context.Context, subject, recordID string) error
	MarkSubjectUnconfirmed(ctx context.Context, subject, recordID string) error
}

// Outcomes and metrics of the subject stage.
const (
	// OutcomeExists: the person already has a NovaMed chart and the record
	// changes none of its fields; acknowledged without a call.
	OutcomeExists = "exists"
	// MetricExists counts such records.
	MetricExists = "Exists"
	// MetricUpdates counts records that change an existing chart
	// (dead-lettered as class update).
	MetricUpdates = "Updates"
	// MetricHeld counts fetched records that are held (once without and
	// once with the Reason dimension, as intake counts its own).
	MetricHeld = "Held"
	// MetricFetched counts references resolved into records.
	MetricFetched = "Fetched"
)

// claimSubject is the subject stage: after the record's own claim, the
// person's. The first record of a person creates the chart; a later one
// whose fields are unchanged is acknowledged, a changed one is dead-lettered
// as class update with the chart's id and the changed field names (NovaMed
// has no update endpoint), and one that meets another record of the person
// being delivered waits for it. A record without a subject is its own.
//
// The comparison uses keyed digests of the fields of the record as mapped,
// before de-identification, in every stage (fieldDigests: the ones intake
// queued with the message, or for a record dispatch fetched, computed here
// from Orig), so a changed field is named the same way in production and
// elsewhere. Digests, never the values: the ledger holds no PHI.
func (p *Pipeline) claimSubject(ctx context.Context, r *Record) Verdict {
	m := r.Result.Msg
	if m.Subject == "" {
		return Next
	}
	bctx, cancel := r.Budget.Bookkeeping(ctx)
	defer cancel()
	// Until the subject is settled the record's claim must not block its
	// next receive: every path that does not go on to NovaMed releases it.
	release := func() {
		if err := p.ledger.MarkNotDelivered(bctx, m.ID); err != nil {
			p.log.Error("dispatch: ledger MarkNotDelivered failed", slog.String("id", m.ID), slog.String("error", err.Error()))
		}
	}
	digests, err := p.fieldDigests(ctx, r)
	if err != nil {
		release()
		r.Result.Class, r.Result.Code = "retryable", "params_unavailable"
		r.Result.RetryAfter = params.RetryIn(err)
		return Retry
	}
	sc, err := p.subjects.ClaimSubject(bctx, m.Subject, m.ID, digests)
	if err != nil {
		release()
		r.Result.Class, r.Result.Code = "retryable", "ledger_unavailable"
		return Retry
	}
	switch sc.Status {
	case ledger.SubjectGranted:
		r.SubjectOwned = true
		return Next
	case ledger.SubjectExists:
		changed := changedFields(sc.Fields, digests)
		r.Result.NovaMedID = sc.NovaMedID
		if len(changed) == 0 {
			if err := p.ledger.MarkDelivered(bctx, m.ID, sc.NovaMedID); err != nil {
				p.log.Error("dispatch: ledger MarkDelivered failed for an existing chart", slog.String("id", m.ID), slog.String("error", err.Error()))
			}
			r.Result.Outcome = OutcomeExists
			p.metrics.Count(MetricExists, 1)
			return Ack
		}
		release()
		r.Result.Class, r.Result.Code, r.Result.Fields = queue.ClassUpdate, "changed", changed
		r.Result.Note = "the person already has a NovaMed chart; NovaMed has no update endpoint"
		p.metrics.Count(MetricUpdates, 1)
		return DeadLetter
	case ledger.SubjectInFlight:
		release()
		r.Result.Class, r.Result.Code = "in_flight", "subject_in_flight"
		r.Wait = p.subjectWait(r.Result.Attempt, sc.ClaimedUntil)
		return RetryAt
	case ledger.SubjectUnknown:
		release()
		r.Result.Class, r.Result.Code = ClassUnconfirmed, "subject_unconfirmed"
		r.Result.Note = "another record of this person may have created the chart; resolve that record first"
		return DeadLetter
	default:
		release()
		r.Result.Class, r.Result.Code = "retryable", "ledger_unexpected"
		return Retry
	}
}

// subjectWait is how long a record waits for another record of its person.
// That record's claim usually ends within one NovaMed call (a sender's
// create and update seconds apart, or an EHR's two notifications), so
// early attempts look again after the usual backoff, no later than the
// claim's end. A crashed owner holds the claim until its lease ends, so the
// attempts from the last but one on wait for that end: the record never
// spends its last attempt on a claim that is still live.
func (p *Pipeline) subjectWait(attempt int, claimedUntil time.Time) time.Duration {
	untilEnd := claimedUntil.Sub(p.now()) + time.Second
	if attempt >= p.cfg.MaxReceiveCount-1 {
		return untilEnd
	}
	return min(untilEnd, max(time.Second, p.backoff(p.cfg.BackoffBase, p.cfg.BackoffCap, max(attempt, 1), 0)))
}

// settleSubject moves an owned subject with its record's outcome: created
// with NovaMed's id, released when nothing was created, unconfirmed when
// the call may have created it.
func (p *Pipeline) settleSubject(ctx context.Context, r *Record, outcome string) {
	if !r.SubjectOwned {
		return
	}
	m := r.Result.Msg
	var err error
	switch outcome {
	case OutcomeDelivered:
		err = p.subjects.MarkSubjectCreated(ctx, m.Subject, m.ID, r.NovaMedID)
	case ClassUnconfirmed:
		err = p.subjects.MarkSubjectUnconfirmed(ctx, m.Subject, m.ID)
	default:
		err = p.subjects.ReleaseSubject(ctx, m.Subject, m.ID)
	}
	if err != nil {
		// The record's own ledger entry says what happened; a subject left
		// creating turns unconfirmed when its claim expires, which an
		// operator resolves with the record.
		p.log.Error("dispatch: settling the subject failed", slog.String("id", m.ID), slog.String("error", err.Error()))
	}
}

// fieldDigests are the record's keyed field digests: the ones intake
// computed before de-identification when the message carries them,
// otherwise (a record dispatch fetched and mapped itself) computed here
// from the record as mapped.
func (p *Pipeline) fieldDigests(ctx context.Context, r *Record) (map[string]string, error) {
	if d := r.Result.Msg.Digests; len(d) > 0 {
		return d, nil
	}
	raw, err := p.params.Get(ctx, ParamPseudonymKey)
	if err != nil {
		return nil, err
	}
	key, err := phi.ParsePseudonymKey(raw)
	if err != nil {
		return nil, err
	}
	body, err := r.Orig.Body()
	if err != nil {
		return nil, err
	}
	return queue.FieldDigests(key, body)
}

// changedFields names the fields whose digests differ (added, removed or
// changed), sorted.
func changedFields(chart, rec map[string]string) []string {
	var out []string
	for name, d := range rec {
		if chart[name] != d {
			out = append(out, name)
		}
	}
	for name := range chart {
		if _, ok := rec[name]; !ok {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}
