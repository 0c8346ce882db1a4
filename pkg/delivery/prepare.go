package delivery

import (
	"context"
	"crypto/sha256"
	"errors"

	"github.com/novamed/bridge/pkg/novamed"
	"github.com/novamed/bridge/pkg/params"
	"github.com/novamed/bridge/pkg/phi"
	"github.com/novamed/bridge/pkg/queue"
)

// The stages that decide what NovaMed would receive, before anything is
// written to the ledger: a record that cannot be sent is settled without a
// claim.

// mapRecord turns the message's record into a NovaMed record (Orig). In
// production a record that does not decode is a permanent dead letter. Outside
// production the guard decides on the raw record instead (it removes the
// record from the dead letter), so nothing undecoded waits in a
// non-production DLQ without the guard having looked at it.
func (p *Pipeline) mapRecord(_ context.Context, r *Record) Verdict {
	m := r.Result.Msg
	orig, dec, err := novamed.DecodeRecord(m.Kind, m.Record)
	r.Orig, r.MapErr = orig, err
	r.Result.Dropped = dec.Dropped
	if err != nil && p.env.AllowsPHI() {
		r.Result.Class, r.Result.Code = queue.ClassPermanent, "invalid_record"
		return DeadLetter
	}
	return Next
}

// guardRecord is the environment guard against the URL about to be called:
// production sends Orig unchanged; every other target gets the record
// de-identified, whatever the message's deidentified flag says (the flag is
// information, not permission). A guard refusal (tripwire) dead-letters the
// message with its record removed.
//
// It runs before hold: outside production a record that trips the guard
// must be stripped even when NovaMed could not take it anyway, or a real
// record would wait in a non-production DLQ.
func (p *Pipeline) guardRecord(ctx context.Context, r *Record) Verdict {
	if p.env.AllowsPHI() {
		r.Sent = r.Orig
		return Next
	}
	g, err := p.currentGuard(ctx)
	if err != nil {
		r.Result.Class, r.Result.Code = "retryable", "guard_unavailable"
		r.Result.RetryAfter = params.RetryIn(err)
		return Retry
	}
	m := r.Result.Msg
	sent, rep, err := g.DeidentifyJSON(m.Kind, m.Record)
	if err != nil {
		r.Result.Class, r.Result.Code = ClassGuard, guardCode(err)
		return DeadLetterStripped
	}
	r.Sent = sent
	r.Result.Deidentified = true
	r.Result.Dropped = rep.Dropped
	p.metrics.Count(MetricDeidentified, 1)
	return Next
}

// hold stops a record NovaMed cannot take (it fails Validate): a permanent
// dead letter, code validation_error, naming the invalid NovaMed fields.
// Records are held with a reason before this (by intake before queuing, by
// the resolve stage for a fetched one), so this is the last check before
// the call: nothing NovaMed would refuse is sent.
func (p *Pipeline) hold(_ context.Context, r *Record) Verdict {
	err := r.Sent.Validate()
	if err == nil {
		return Next
	}
	r.Result.Class, r.Result.Code = queue.ClassPermanent, novamed.CodeValidation
	var ve *novamed.ValidationError
	if errors.As(err, &ve) {
		r.Result.Fields = ve.FieldNames()
	}
	return DeadLetter
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
func (p *Pipeline) currentGuard(ctx context.Context) (*phi.Guard, error) {
	key, err := p.params.Get(ctx, ParamPseudonymKey)
	if err != nil {
		return nil, err
	}
	clinic, err := p.params.Get(ctx, ParamClinicID)
	if err != nil {
		return nil, err
	}
	p.guardMu.Lock()
	defer p.guardMu.Unlock()
	if p.guard != nil && p.guardClinic == clinic && p.guardKey == sha256.Sum256([]byte(key)) {
		return p.guard, nil
	}
	g, err := phi.NewGuardFromParameters(key, clinic)
	if err != nil {
		return nil, err
	}
	p.guard, p.guardKey, p.guardClinic = g, sha256.Sum256([]byte(key)), clinic
	return g, nil
}
