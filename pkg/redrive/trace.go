package redrive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/novamed/bridge/pkg/ledger"
	"github.com/novamed/bridge/pkg/queue"
)

// Outcomes of a traced record.
const (
	OutcomeDelivered    = "delivered"     // NovaMed holds the chart (its id is known)
	OutcomeHeld         = "held"          // held at intake: NovaMed cannot take it as it stands
	OutcomeUpdate       = "update"        // the person has a chart; the record changes it
	OutcomeUnconfirmed  = "unconfirmed"   // an attempt may have created the chart; an operator decides
	OutcomeDeadLettered = "dead_lettered" // in the DLQ for another class
	OutcomeDelivering   = "delivering"    // a worker holds the claim now
	OutcomeRetrying     = "retrying"      // the last attempt created nothing; waits for its next receive
	OutcomeQueued       = "queued"        // queued, not yet attempted
	OutcomeReceiving    = "receiving"     // intake has not finished queuing the event
)

// Tracer reads one event's story from the ledger and the queues.
type Tracer struct {
	Ledger *ledger.Ledger
	// DLQ reads the dead-letter queue.
	DLQ *Tool
	// Queue reads the delivery queue; nil to leave it alone (every
	// receive there counts toward the queue's maxReceiveCount).
	Queue *Tool
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// EventTrace is the story of one event. It holds ids, states, slugs, field
// names and timestamps, never a record value.
type EventTrace struct {
	ID    string `json:"id"`
	State string `json:"state"`
	// Records counts the event's records, held ones included.
	Records      int           `json:"records"`
	ReceivedAt   time.Time     `json:"received_at"`
	UpdatedAt    time.Time     `json:"updated_at"`
	ClaimedUntil time.Time     `json:"claimed_until,omitzero"`
	RecordTraces []RecordTrace `json:"record_traces"`
	// QueuePeeked says whether the delivery queue was looked at.
	QueuePeeked bool `json:"queue_peeked"`
}

// RecordTrace is one record of a traced event.
type RecordTrace struct {
	ID      string `json:"id"`
	Outcome string `json:"outcome"`
	// Detail explains the outcome: a NovaMed id, a class and code, fields.
	Detail string `json:"detail"`
	// Ledger is the record's ledger entry; nil when it has none (never
	// attempted: held at intake, or still waiting in the queue).
	Ledger *LedgerTrace `json:"ledger,omitempty"`
	// Subject is the record's subject key (a keyed hash), from the ledger
	// or the dead letter; empty when it has none.
	Subject      string        `json:"subject,omitempty"`
	SubjectEntry *SubjectTrace `json:"subject_entry,omitempty"`
	DeadLetters  []Letter      `json:"dead_letters"`
	// InQueue are the record's messages found in the delivery queue
	// (only with the queue peeked).
	InQueue []Letter `json:"in_queue,omitempty"`
}

// LedgerTrace is a record's ledger entry.
type LedgerTrace struct {
	State        string    `json:"state"`
	Attempts     int       `json:"attempts"`
	NovaMedID    string    `json:"novamed_id,omitempty"`
	FirstAttempt time.Time `json:"first_attempt"`
	LastChange   time.Time `json:"last_change"`
	ClaimedUntil time.Time `json:"claimed_until,omitzero"`
}

// SubjectTrace is the entry of a record's subject.
type SubjectTrace struct {
	// State is creating, created, unconfirmed, or absent (no entry).
	State     string   `json:"state"`
	Owner     string   `json:"owner,omitempty"`
	NovaMedID string   `json:"novamed_id,omitempty"`
	Fields    []string `json:"fields,omitempty"`
	// ClaimedUntil is the owner's claim while it creates the chart.
	ClaimedUntil time.Time `json:"claimed_until,omitzero"`
	CreatedAt    time.Time `json:"created_at,omitzero"`
	UpdatedAt    time.Time `json:"updated_at,omitzero"`
}

// Letter is one message of a record found in a queue: its metadata and
// dead-letter attributes, never its body.
type Letter struct {
	MessageID    string    `json:"message_id"`
	ReceiveCount int       `json:"receive_count"`
	ErrorClass   string    `json:"error_class,omitempty"`
	ErrorCode    string    `json:"error_code,omitempty"`
	HTTPStatus   int       `json:"http_status,omitempty"`
	Attempts     int       `json:"attempts,omitempty"`
	FailedAt     time.Time `json:"failed_at,omitzero"`
	Fields       []string  `json:"fields,omitempty"`
	NovaMedID    string    `json:"novamed_id,omitempty"`
	Kind         string    `json:"kind"`
	ReceivedAt   time.Time `json:"received_at"`
	subject      string
}

// Trace tells the story of each event: the ledger's entries first, then
// one pass over the DLQ (and the delivery queue, when Queue is set) that
// collects the messages of their records and releases everything it read.
func (tr *Tracer) Trace(ctx context.Context, events []ledger.EventInfo) ([]EventTrace, error) {
	now := time.Now
	if tr.Now != nil {
		now = tr.Now
	}
	out := make([]EventTrace, len(events))
	wanted := map[string]*RecordTrace{}
	for i, ev := range events {
		et := EventTrace{
			ID: ev.ID, State: ev.State, Records: ev.Records, ReceivedAt: ev.CreatedAt, UpdatedAt: ev.UpdatedAt,
			ClaimedUntil: ev.ClaimedUntil, QueuePeeked: tr.Queue != nil, RecordTraces: make([]RecordTrace, ev.Records),
		}
		for n := range ev.Records {
			rt := &et.RecordTraces[n]
			rt.ID = queue.RecordID(ev.ID, n)
			rt.DeadLetters = []Letter{}
			if err := tr.ledgerPart(ctx, rt); err != nil {
				return nil, err
			}
		}
		out[i] = et
	}
	for i := range out {
		for n := range out[i].RecordTraces {
			rt := &out[i].RecordTraces[n]
			wanted[rt.ID] = rt
		}
	}
	letters, err := tr.DLQ.findRecords(ctx, wanted)
	if err != nil {
		return nil, err
	}
	for id, ls := range letters {
		wanted[id].DeadLetters = ls
	}
	if tr.Queue != nil {
		inQueue, err := tr.Queue.findRecords(ctx, wanted)
		if err != nil {
			return nil, err
		}
		for id, ls := range inQueue {
			wanted[id].InQueue = ls
		}
	}
	for i := range out {
		for n := range out[i].RecordTraces {
			rt := &out[i].RecordTraces[n]
			if rt.Subject == "" {
				for _, l := range slices.Concat(rt.DeadLetters, rt.InQueue) {
					if l.subject != "" {
						rt.Subject = l.subject
						break
					}
				}
				if rt.Subject != "" {
					if err := tr.subjectPart(ctx, rt); err != nil {
						return nil, err
					}
				}
			}
			decide(rt, &out[i], now())
		}
	}
	return out, nil
}

func (tr *Tracer) ledgerPart(ctx context.Context, rt *RecordTrace) error {
	info, err := tr.Ledger.Record(ctx, rt.ID)
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("redrive: trace: %w", err)
	}
	rt.Ledger = &LedgerTrace{
		State: string(info.State), Attempts: info.Attempts, NovaMedID: info.NovaMedID,
		FirstAttempt: info.CreatedAt, LastChange: info.UpdatedAt, ClaimedUntil: info.ClaimedUntil,
	}
	if rt.Subject, err = tr.Ledger.RecordSubject(ctx, rt.ID); err != nil {
		return fmt.Errorf("redrive: trace: %w", err)
	}
	if rt.Subject == "" {
		return nil
	}
	return tr.subjectPart(ctx, rt)
}

func (tr *Tracer) subjectPart(ctx context.Context, rt *RecordTrace) error {
	s, err := tr.Ledger.Subject(ctx, rt.Subject)
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		rt.SubjectEntry = &SubjectTrace{State: "absent"}
		return nil
	case err != nil:
		return fmt.Errorf("redrive: trace: %w", err)
	}
	rt.SubjectEntry = &SubjectTrace{
		State: string(s.State), Owner: s.Owner, NovaMedID: s.NovaMedID, Fields: s.Fields,
		ClaimedUntil: s.ClaimedUntil, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt,
	}
	return nil
}

// findRecords reads the whole queue once (as Peek does: every message
// hidden for the visibility timeout and released at the end) and returns
// the messages of the wanted records.
func (t *Tool) findRecords(ctx context.Context, wanted map[string]*RecordTrace) (map[string][]Letter, error) {
	found := map[string][]Letter{}
	if len(wanted) == 0 {
		return found, nil
	}
	p := t.newPass()
	err := p.drain(ctx, func() int32 { return 10 }, func(r *received) (bool, error) {
		p.hold(r)
		m, err := queue.Decode(r.body)
		if err != nil || wanted[m.ID] == nil {
			return false, nil
		}
		l := Letter{
			MessageID: r.id, ReceiveCount: r.receiveCount, Kind: string(m.Kind),
			ReceivedAt: m.ReceivedAt.UTC(), subject: m.Subject,
		}
		if r.dlqErr == nil {
			l.ErrorClass, l.ErrorCode, l.HTTPStatus = r.dlq.ErrorClass, r.dlq.ErrorCode, r.dlq.HTTPStatus
			l.Attempts, l.FailedAt, l.Fields, l.NovaMedID = r.dlq.Attempts, r.dlq.FailedAt.UTC(), r.dlq.Fields, r.dlq.NovaMedID
		}
		found[m.ID] = append(found[m.ID], l)
		return false, nil
	})
	p.release(ctx)
	return found, err
}

// decide names a record's outcome from its ledger entry and its messages.
func decide(rt *RecordTrace, ev *EventTrace, now time.Time) {
	byClass := map[string]*Letter{}
	for i := range rt.DeadLetters {
		l := &rt.DeadLetters[i]
		if _, ok := byClass[l.ErrorClass]; !ok {
			byClass[l.ErrorClass] = l
		}
	}
	state := ""
	if rt.Ledger != nil {
		state = rt.Ledger.State
	}
	switch {
	case byClass[queue.ClassHeld] != nil:
		l := byClass[queue.ClassHeld]
		rt.Outcome = OutcomeHeld
		rt.Detail = "reason " + l.ErrorCode + withFields(l.Fields) + "; fixed by new data from the sender"
	case state == string(ledger.RecordDelivered):
		rt.Outcome = OutcomeDelivered
		rt.Detail = "NovaMed id " + rt.Ledger.NovaMedID
		if len(rt.DeadLetters) > 0 {
			rt.Detail += "; a dead letter remains (redrive confirm deletes it)"
		}
	case byClass[queue.ClassUpdate] != nil:
		l := byClass[queue.ClassUpdate]
		rt.Outcome = OutcomeUpdate
		rt.Detail = "the person's chart is " + orNone(l.NovaMedID) + "; changed" + withFields(l.Fields) +
			"; apply it in NovaMed by hand"
	case state == string(ledger.RecordUnconfirmed) || byClass[ClassUnconfirmed] != nil:
		rt.Outcome = OutcomeUnconfirmed
		if l := byClass[ClassUnconfirmed]; l != nil {
			rt.Detail = "code " + l.ErrorCode
			if l.HTTPStatus != 0 {
				rt.Detail += ", http_status " + strconv.Itoa(l.HTTPStatus)
			}
			rt.Detail += "; "
		}
		if s := rt.SubjectEntry; s != nil && s.Owner != "" && s.Owner != rt.ID && s.State == string(ledger.SubjectUnconfirmed) {
			rt.Detail += "the person's chart is uncertain because of record " + s.Owner +
				": resolve that record first (confirm or release), then release this one"
		} else {
			rt.Detail += "check NovaMed, then redrive confirm (found) or release (not found)"
		}
	case len(rt.DeadLetters) > 0:
		l := rt.DeadLetters[0]
		rt.Outcome = OutcomeDeadLettered
		rt.Detail = "class " + orNone(l.ErrorClass) + ", code " + orNone(l.ErrorCode)
		if l.HTTPStatus != 0 {
			rt.Detail += ", http_status " + strconv.Itoa(l.HTTPStatus)
		}
	case state == string(ledger.RecordDelivering) && rt.Ledger.ClaimedUntil.After(now):
		rt.Outcome = OutcomeDelivering
		rt.Detail = "a dispatch worker holds the claim until " + stamp(rt.Ledger.ClaimedUntil)
	case state == string(ledger.RecordDelivering):
		rt.Outcome = OutcomeUnconfirmed
		rt.Detail = "the worker's claim expired without an outcome; dispatch dead-letters it as unconfirmed on the next receive"
	case state == string(ledger.RecordReleased):
		rt.Outcome = OutcomeRetrying
		rt.Detail = "the last attempt created nothing; waits in the delivery queue for its next receive"
	case ev.State == "queued":
		rt.Outcome = OutcomeQueued
		rt.Detail = "not yet attempted; waiting in the delivery queue"
	default:
		rt.Outcome = OutcomeReceiving
		rt.Detail = "intake has not finished queuing the event (it retries, or the sender does)"
	}
	if ev.QueuePeeked && rt.Outcome != OutcomeDelivered {
		if len(rt.InQueue) > 0 {
			rt.Detail += "; in the delivery queue"
		} else if rt.Outcome == OutcomeQueued || rt.Outcome == OutcomeRetrying {
			rt.Detail += "; not visible in the delivery queue (in flight, or backing off)"
		}
	}
}

func withFields(fields []string) string {
	if len(fields) == 0 {
		return ""
	}
	return " (fields " + strings.Join(fields, ", ") + ")"
}

// WriteTraceText writes traced events for a terminal.
func WriteTraceText(w io.Writer, events []EventTrace) error {
	var b strings.Builder
	for i, ev := range events {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "event %s\n", ev.ID)
		line := func(indent, name, value string) { fmt.Fprintf(&b, "%s%-16s %s\n", indent, name+":", value) }
		line("  ", "received", stamp(ev.ReceivedAt))
		line("  ", "state", ev.State)
		if ev.State == "queued" {
			line("  ", "queued", stamp(ev.UpdatedAt))
		} else if !ev.ClaimedUntil.IsZero() {
			line("  ", "intake claim", "until "+stamp(ev.ClaimedUntil))
		}
		line("  ", "records", strconv.Itoa(ev.Records))
		for _, rt := range ev.RecordTraces {
			fmt.Fprintf(&b, "  record %s\n", rt.ID)
			line("    ", "outcome", rt.Outcome+": "+rt.Detail)
			if l := rt.Ledger; l != nil {
				v := fmt.Sprintf("%s, attempts %d, first attempt %s, last change %s", l.State, l.Attempts, stamp(l.FirstAttempt), stamp(l.LastChange))
				if l.NovaMedID != "" {
					v += ", NovaMed id " + l.NovaMedID
				}
				if !l.ClaimedUntil.IsZero() {
					v += ", claimed until " + stamp(l.ClaimedUntil)
				}
				line("    ", "ledger", v)
			} else {
				line("    ", "ledger", "no entry (never attempted)")
			}
			if rt.Subject == "" {
				line("    ", "subject", "none")
			} else {
				v := rt.Subject
				if s := rt.SubjectEntry; s != nil {
					v += ": " + s.State
					if s.Owner != "" {
						owner := s.Owner
						if owner == rt.ID {
							owner = "this record"
						}
						v += ", owner " + owner
					}
					if s.NovaMedID != "" {
						v += ", NovaMed id " + s.NovaMedID
					}
					if len(s.Fields) > 0 {
						v += ", fields " + strings.Join(s.Fields, ", ")
					}
				}
				line("    ", "subject", v)
			}
			if len(rt.DeadLetters) == 0 {
				line("    ", "dead letters", "none")
			}
			for _, l := range rt.DeadLetters {
				line("    ", "dead letter", letterText(l))
			}
			if ev.QueuePeeked {
				if len(rt.InQueue) == 0 {
					line("    ", "delivery queue", "not visible")
				}
				for _, l := range rt.InQueue {
					line("    ", "delivery queue", fmt.Sprintf("message %s, received %d times, queued %s", l.MessageID, l.ReceiveCount, stamp(l.ReceivedAt)))
				}
			}
		}
	}
	if len(events) == 0 {
		b.WriteString("no events\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func letterText(l Letter) string {
	v := fmt.Sprintf("message %s, class %s, code %s", l.MessageID, orNone(l.ErrorClass), orNone(l.ErrorCode))
	if l.HTTPStatus != 0 {
		v += ", http_status " + strconv.Itoa(l.HTTPStatus)
	}
	if len(l.Fields) > 0 {
		v += ", fields " + strings.Join(l.Fields, ",")
	}
	if l.NovaMedID != "" {
		v += ", novamed_id " + l.NovaMedID
	}
	v += fmt.Sprintf(", attempts %d, failed_at %s", l.Attempts, stamp(l.FailedAt))
	return v
}

// trace runs the trace command.
func (o *OperatorCommand) trace(ctx context.Context, tr *Tracer, db ledger.Scanner, stdout, stderr io.Writer) error {
	var events []ledger.EventInfo
	if o.Event != "" {
		ev, err := tr.Ledger.Event(ctx, o.Event)
		if errors.Is(err, ledger.ErrNotFound) {
			return fmt.Errorf("redrive: trace: no ledger entry for the event (never received, expired after the TTL, "+
				"or the wrong --ledger-table): %w", err)
		}
		if err != nil {
			return fmt.Errorf("redrive: trace: %w", err)
		}
		events = []ledger.EventInfo{ev}
	} else {
		since := time.Now().Add(-o.Since)
		fmt.Fprintf(stderr, "scanning the ledger table for events of %s since %s (a Scan reads the whole table)\n", o.Source, stamp(since))
		evs, truncated, err := ledger.ScanEvents(ctx, db, o.LedgerTable, o.Source, since)
		if err != nil {
			return fmt.Errorf("redrive: trace: %w", err)
		}
		if truncated {
			fmt.Fprintf(stderr, "note: more than %d events; showing %d: narrow --since\n", ledger.MaxScanEvents, len(evs))
		}
		events = evs
	}
	out, err := tr.Trace(ctx, events)
	if err != nil {
		return err
	}
	if o.JSON {
		if out == nil {
			out = []EventTrace{}
		}
		return writeJSON(stdout, out)
	}
	return WriteTraceText(stdout, out)
}
