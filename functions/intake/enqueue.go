package main

// From parsed records to queue messages: each record's subject and field
// digests, the environment guard, and the event's claim in the ledger with
// the messages queued and the held records dead-lettered (enqueue); an
// id-only notification's references queued for dispatch to fetch
// (enqueueReferences).

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/novamed/bridge/pkg/ehr"
	"github.com/novamed/bridge/pkg/inbound"
	"github.com/novamed/bridge/pkg/ledger"
	"github.com/novamed/bridge/pkg/novamed"
	"github.com/novamed/bridge/pkg/phi"
	"github.com/novamed/bridge/pkg/queue"
	"github.com/novamed/bridge/pkg/source"
)

// subject is who one record is: its key and its field digests (both
// keyed; empty when the record names nobody beyond the event).
type subject struct {
	key     string
	digests map[string]string
}

// subjects keys every record's person (queue.SubjectKey, through the
// keyer cached for the pseudonym key): a practitioner by NPI across all
// sources, anyone else by what the source says names them. On failure it
// sets the answer in o and returns false.
func (h *Handler) subjects(ctx context.Context, src *source.Source, recs []inbound.Record, o *outcome) ([]subject, bool) {
	raw, err := h.params.Get(ctx, ParamPseudonymKey)
	if err != nil {
		o.err = err
		o.fail(http.StatusServiceUnavailable, paramsCode(err), "temporarily unavailable")
		return nil, false
	}
	keyer, err := h.keyers.get(raw)
	if err != nil {
		o.err = err
		o.fail(http.StatusServiceUnavailable, "config_error", "temporarily unavailable")
		return nil, false
	}
	out := make([]subject, len(recs))
	for i, r := range recs {
		switch {
		case r.Kind == novamed.KindPractitioner && novamed.IsNPI(r.Practitioner.NPINumber):
			out[i].key = keyer.SubjectKey("npi", r.Practitioner.NPINumber)
		case src.SubjectSource != "" && strings.HasPrefix(r.Subject, "field|"):
			// The form's field holds a FHIR source's Patient id: the
			// person is that source's Patient, whichever way they came.
			out[i].key = keyer.SubjectKey("source", src.SubjectSource, "Patient/"+strings.TrimPrefix(r.Subject, "field|"))
		case r.Subject != "":
			out[i].key = keyer.SubjectKey("source", src.Name, r.Subject)
		default:
			continue
		}
		var err error
		if out[i].digests, err = keyer.RecordDigests(r.Record); err != nil {
			o.err = err
			o.fail(http.StatusInternalServerError, "internal", "internal error")
			return nil, false
		}
	}
	return out, true
}

// enqueueReferences queues one reference message per reference the
// notification names on the source's own FHIR server. A reference to any
// other host, or that is no FHIR reference at all, is refused here (and
// counted), never fetched: dispatch fetches only from the configured host.
func (h *Handler) enqueueReferences(ctx context.Context, src *source.Source, refs []string, o *outcome) *outcome {
	if o.skippedBy == nil {
		o.skippedBy = map[string]int{}
	}
	now := h.now()
	var msgs []queue.Message
	seen := map[string]bool{}
	for _, raw := range refs {
		ref, err := ehr.ParseReference(src.FHIRServer.BaseURL, raw)
		if err != nil {
			reason := "invalid_reference"
			if errors.Is(err, ehr.ErrForeignReference) {
				reason = "foreign_reference"
			}
			o.skipped++
			o.skippedBy[reason]++
			continue
		}
		path := ref.Path()
		if seen[path] || len(msgs) == MaxRecordsPerWebhook {
			o.skipped++
			o.skippedBy[inbound.SkipDuplicate]++
			continue
		}
		seen[path] = true
		msgs = append(msgs, queue.Message{
			Version:    queue.Version,
			ID:         queue.RecordID(o.eventID, len(msgs)),
			Source:     src.Name,
			Kind:       queue.KindReference,
			ReceivedAt: now,
			Stage:      h.stage,
			Reference:  path,
		})
	}
	if len(msgs) == 0 {
		o.status = http.StatusAccepted
		o.body = acceptedBody{ID: o.eventID, Records: 0, Skipped: o.skipped}
		return o
	}
	o.kind = string(queue.KindReference)
	return h.enqueue(ctx, msgs, nil, make([]inbound.Record, len(msgs)), o)
}

// heldFields lists the paths of every held record, for a source that
// rejects instead of holding.
func heldFields(recs []inbound.Record) []string {
	var out []string
	for _, r := range recs {
		if r.Hold != nil {
			out = append(out, r.Hold.Fields...)
		}
	}
	return out
}

// deidentify applies the environment guard to every record. On failure it
// sets the answer in o and returns false.
func (h *Handler) deidentify(ctx context.Context, recs []inbound.Record, clinic string, o *outcome) ([]inbound.Record, bool) {
	key, err := h.params.Get(ctx, ParamPseudonymKey)
	if err != nil {
		o.err = err
		o.fail(http.StatusServiceUnavailable, paramsCode(err), "temporarily unavailable")
		return nil, false
	}
	g, err := h.guards.get(key, clinic, h.now)
	if err != nil {
		o.err = err
		o.fail(http.StatusServiceUnavailable, "config_error", "temporarily unavailable")
		return nil, false
	}
	out := make([]inbound.Record, len(recs))
	for i, r := range recs {
		apply := g.Deidentify
		if r.Hold != nil {
			// Held: bound for the dead-letter queue, never NovaMed, and
			// incomplete by definition; de-identified all the same.
			apply = g.DeidentifyHeld
		}
		d, _, err := apply(r.Record)
		if err != nil {
			o.err = err
			if errors.Is(err, phi.ErrPseudonym) || errors.Is(err, phi.ErrMalformedRecord) {
				o.fail(http.StatusInternalServerError, "internal", "internal error")
				return nil, false
			}
			// The record is valid but cannot be made safe for a
			// non-production target (the tripwire fired, or the synthetic
			// record fails validation): refuse it rather than queue it.
			o.invalid("record cannot be de-identified for a non-production stage",
				[]string{"records[" + strconv.Itoa(i) + "]"})
			o.code = "deidentification_failed"
			return nil, false
		}
		out[i] = r
		out[i].Record = d
	}
	return out, true
}

// enqueue records the event in the ledger, queues the records to deliver
// and dead-letters the held ones.
func (h *Handler) enqueue(ctx context.Context, msgs, held []queue.Message, recs []inbound.Record, o *outcome) *outcome {
	state, err := h.ledger.BeginEvent(ctx, o.eventID, len(msgs)+len(held))
	if err != nil {
		o.err = err
		return o.fail(http.StatusServiceUnavailable, "ledger_unavailable", "temporarily unavailable")
	}
	switch state {
	case ledger.EventQueued:
		o.duplicate = true
		o.status = http.StatusAccepted
		o.body = duplicateBody{ID: o.eventID, Duplicate: true}
		return o
	case ledger.EventInProgress:
		o = o.fail(http.StatusServiceUnavailable, "in_progress", "the same event is being queued; retry later")
		o.headers = map[string]string{"Retry-After": retryAfter(h.ledger.EventLease())}
		return o
	case ledger.EventNew, ledger.EventReceived:
	default:
		o.err = fmt.Errorf("ledger: unexpected state %v", state)
		return o.fail(http.StatusInternalServerError, "internal", "internal error")
	}

	for _, send := range []struct {
		q    QueueSender
		msgs []queue.Message
		code string
	}{{h.queue, msgs, "queue_unavailable"}, {h.deadLetters, held, "dead_letter_queue_unavailable"}} {
		if len(send.msgs) == 0 {
			continue
		}
		if err := send.q.Send(ctx, send.msgs); err != nil {
			o.err = err
			if errors.Is(err, queue.ErrMalformed) {
				return o.fail(http.StatusInternalServerError, "internal", "internal error")
			}
			// Some or all messages are not queued. The event stays
			// "received"; the sender's retry queues it again once the
			// claim expires, and dispatch deduplicates the records that
			// did go through (a held record may be dead-lettered twice,
			// which harms nothing).
			return o.fail(http.StatusServiceUnavailable, send.code, "temporarily unavailable")
		}
	}
	if err := h.ledger.MarkEventQueued(ctx, o.eventID); err != nil {
		o.err = err
		return o.fail(http.StatusServiceUnavailable, "ledger_unavailable", "temporarily unavailable")
	}
	o.status, o.records = http.StatusAccepted, len(msgs)+len(held)
	body := acceptedBody{ID: o.eventID, Records: len(recs)}
	if o.skipped > 0 {
		body.Skipped = o.skipped
	}
	var dropped []string
	for i, r := range recs {
		if r.Hold != nil {
			o.held = append(o.held, r.Hold.Reason)
			body.Held = append(body.Held, heldBody{Index: i, Reason: r.Hold.Reason, Fields: capPaths(r.Hold.Fields)})
		}
		dropped = append(dropped, r.Dropped...)
	}
	o.dropped = len(dropped)
	body.Dropped = capPaths(dropped)
	if len(dropped) > len(body.Dropped) {
		body.DroppedMore = len(dropped) - len(body.Dropped)
	}
	o.body = body
	return o
}

// capPaths keeps at most inbound.MaxErrorFields paths for an answer.
func capPaths(paths []string) []string {
	if len(paths) > inbound.MaxErrorFields {
		return paths[:inbound.MaxErrorFields:inbound.MaxErrorFields]
	}
	return paths
}
