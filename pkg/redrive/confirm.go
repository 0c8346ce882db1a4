package redrive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/novamed/bridge/pkg/ledger"
	"github.com/novamed/bridge/pkg/queue"
)

// recordIDOf is the record id in a dead letter's body, "" when the body is
// not a queue message.
func recordIDOf(r *received) string {
	m, err := queue.Decode(r.body)
	if err != nil {
		return ""
	}
	return m.ID
}

// Deleted is a dead letter DeleteRecord deleted.
type Deleted struct {
	MessageID  string `json:"message_id"`
	ErrorClass string `json:"error_class"`
	ErrorCode  string `json:"error_code"`
}

// DeleteRecord deletes every dead letter of recordID (a crash between a
// move's send and delete can leave two) and makes every other message it
// read visible again at once. It stops at the first failed delete.
func (t *Tool) DeleteRecord(ctx context.Context, recordID string) ([]Deleted, error) {
	p := t.newPass()
	var out []Deleted
	err := p.drain(ctx, func() int32 { return 10 }, func(r *received) (bool, error) {
		if recordIDOf(r) != recordID {
			p.hold(r)
			return false, nil
		}
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
		defer cancel()
		if _, err := t.sqs.DeleteMessage(dctx, &sqs.DeleteMessageInput{
			QueueUrl: aws.String(t.dlq), ReceiptHandle: aws.String(r.handle),
		}); err != nil {
			p.hold(r)
			return true, fmt.Errorf("redrive: deleting message %s: %w", r.id, awsErr("DeleteMessage", err))
		}
		out = append(out, Deleted{MessageID: r.id, ErrorClass: r.class(), ErrorCode: r.code()})
		return false, nil
	})
	p.release(ctx)
	return out, err
}

// ConfirmResult is what confirm did.
type ConfirmResult struct {
	RecordID  string `json:"record_id"`
	NovaMedID string `json:"novamed_id"`
	// PreviousState is the record's state before.
	PreviousState string `json:"previous_state"`
	Subject       string `json:"subject,omitempty"`
	// SubjectAction: "created" (marked created with the id), "claimed"
	// (the subject had no entry: created with the id and no field
	// digests), "owned_by_other" (left alone) or "" without a subject.
	SubjectAction string `json:"subject_action,omitempty"`
	// SubjectOwner is the owner when another record owns the subject.
	SubjectOwner string    `json:"subject_owner,omitempty"`
	DeadLetters  []Deleted `json:"dead_letters_deleted"`
}

// confirm records the NovaMed id an operator found for an unconfirmed
// record: ledger first (record, then subject), then the dead letters, so a
// failure anywhere can be finished by running confirm again.
func (o *OperatorCommand) confirm(ctx context.Context, l *ledger.Ledger, dlq *Tool, stdout io.Writer) error {
	res := ConfirmResult{RecordID: o.Record, NovaMedID: o.NovaMedID, DeadLetters: []Deleted{}}
	info, err := l.Record(ctx, o.Record)
	if err != nil {
		return ledgerErr(err)
	}
	res.PreviousState = string(info.State)
	switch {
	case info.State == ledger.RecordDelivering && info.ClaimedUntil.After(time.Now()):
		return fmt.Errorf("redrive: confirm: a dispatch worker is delivering the record now (its claim ends at %s); "+
			"trace it after that", info.ClaimedUntil.Format(time.RFC3339))
	case info.State == ledger.RecordDelivered && info.NovaMedID != o.NovaMedID:
		return fmt.Errorf("redrive: confirm: the record is delivered with another NovaMed id (%s): "+
			"if both charts exist, NovaMed holds two for this person and the clinic must merge them: %w",
			info.NovaMedID, ledger.ErrConflict)
	}
	if err := l.MarkDelivered(ctx, o.Record, o.NovaMedID); err != nil {
		return ledgerErr(err)
	}
	if res.Subject, err = l.RecordSubject(ctx, o.Record); err != nil {
		return ledgerErr(err)
	}
	if res.Subject != "" {
		if err := confirmSubject(ctx, l, &res); err != nil {
			return err
		}
	}
	res.DeadLetters, err = dlq.DeleteRecord(ctx, o.Record)
	if res.DeadLetters == nil {
		res.DeadLetters = []Deleted{}
	}
	if err != nil {
		return fmt.Errorf("%w (the ledger is updated; run confirm again to delete the dead letter)", err)
	}
	if o.JSON {
		return writeJSON(stdout, res)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "record %s: delivered as %s (was %s)\n", res.RecordID, res.NovaMedID, res.PreviousState)
	switch res.SubjectAction {
	case "created":
		fmt.Fprintf(&b, "subject %s: created as %s\n", res.Subject, res.NovaMedID)
	case "claimed":
		fmt.Fprintf(&b, "subject %s: had no entry; recorded as created with %s (no field digests: "+
			"later records of the person are dead-lettered as update)\n", res.Subject, res.NovaMedID)
	case "owned_by_other":
		fmt.Fprintf(&b, "subject %s: owned by record %s, left as it is\n", res.Subject, res.SubjectOwner)
	default:
		b.WriteString("subject: none (the record was never delivered under a subject)\n")
	}
	fmt.Fprintf(&b, "dead letters deleted: %d\n", len(res.DeadLetters))
	for _, d := range res.DeadLetters {
		fmt.Fprintf(&b, "  %s (class %s, code %s)\n", d.MessageID, d.ErrorClass, d.ErrorCode)
	}
	_, err = io.WriteString(stdout, b.String())
	return err
}

// confirmSubject marks the record's subject created with the NovaMed id,
// when the record owns it. A subject without an entry is claimed first:
// the chart exists, and without an entry another record of the person
// would create a second one.
func confirmSubject(ctx context.Context, l *ledger.Ledger, res *ConfirmResult) error {
	s, err := l.Subject(ctx, res.Subject)
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		c, err := l.ClaimSubject(ctx, res.Subject, res.RecordID, nil)
		if err != nil {
			return ledgerErr(err)
		}
		if c.Status != ledger.SubjectGranted {
			res.SubjectAction, res.SubjectOwner = "owned_by_other", c.Owner
			return nil
		}
		res.SubjectAction = "claimed"
	case err != nil:
		return ledgerErr(err)
	case s.Owner != res.RecordID:
		res.SubjectAction, res.SubjectOwner = "owned_by_other", s.Owner
		return nil
	default:
		res.SubjectAction = "created"
	}
	if err := l.MarkSubjectCreated(ctx, res.Subject, res.RecordID, res.NovaMedID); err != nil {
		var se *ledger.StateError
		if errors.As(err, &se) && se.State == string(ledger.SubjectCreated) {
			return fmt.Errorf("redrive: confirm: the subject is created with another NovaMed id: %w", err)
		}
		return ledgerErr(err)
	}
	return nil
}

// ReleaseResult is what release did.
type ReleaseResult struct {
	RecordID      string `json:"record_id"`
	PreviousState string `json:"previous_state"`
	Subject       string `json:"subject,omitempty"`
	// SubjectState is the subject's state after the release: "absent"
	// when released (or never created).
	SubjectState string      `json:"subject_state,omitempty"`
	SubjectOwner string      `json:"subject_owner,omitempty"`
	Move         MoveSummary `json:"move"`
}

// release lets an unconfirmed record be delivered again: the target is
// checked first (nothing changes when it is refused), then the ledger
// releases the record and the subject it owns, then its dead letters are
// moved.
func (o *OperatorCommand) release(ctx context.Context, l *ledger.Ledger, dlq *Tool, stdout, stderr io.Writer) error {
	res := ReleaseResult{RecordID: o.Record}
	info, err := l.Record(ctx, o.Record)
	if err != nil {
		return ledgerErr(err)
	}
	res.PreviousState = string(info.State)
	if _, err := checkTarget(ctx, dlq.sqs, dlq.dlq, o.To, o.AllowAnyTarget); err != nil {
		return err
	}
	if err := l.ResolveUnconfirmed(ctx, o.Record); err != nil {
		return ledgerErr(err)
	}
	if res.Subject, err = l.RecordSubject(ctx, o.Record); err != nil {
		return ledgerErr(err)
	}
	if res.Subject != "" {
		s, err := l.Subject(ctx, res.Subject)
		switch {
		case errors.Is(err, ledger.ErrNotFound):
			res.SubjectState = "absent"
		case err != nil:
			return ledgerErr(err)
		default:
			res.SubjectState, res.SubjectOwner = string(s.State), s.Owner
		}
	}
	res.Move, err = dlq.Move(ctx, MoveOptions{
		To: o.To, RecordID: o.Record, ConfirmUnconfirmed: true, Ledger: l,
		AllowAnyTarget: o.AllowAnyTarget, Progress: stderr,
	})
	if err != nil {
		return fmt.Errorf("%w (the ledger has released the record; run release again to move its dead letter)", err)
	}
	if o.JSON {
		return writeJSON(stdout, res)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "record %s: released for redelivery (was %s)\n", res.RecordID, res.PreviousState)
	switch {
	case res.Subject == "":
		b.WriteString("subject: none\n")
	case res.SubjectState == "absent":
		fmt.Fprintf(&b, "subject %s: released (no entry: the redelivered record creates the chart)\n", res.Subject)
	default:
		fmt.Fprintf(&b, "subject %s: %s, owned by record %s (left as it is)\n", res.Subject, res.SubjectState, res.SubjectOwner)
	}
	fmt.Fprintf(&b, "dead letters moved to %s: %d\n", queueName(o.To), res.Move.Moved)
	if res.Move.Moved == 0 {
		if n := res.Move.SkippedBy[SkipNeedsNewData]; n > 0 {
			b.WriteString("note: its dead letter is held or an update, which a redrive cannot fix; left in place\n")
		} else {
			b.WriteString("note: no dead letter of the record in the DLQ: if its message is still in the delivery queue, dispatch delivers it on its next receive\n")
		}
	}
	_, err = io.WriteString(stdout, b.String())
	return err
}

// SubjectReport is what subject shows: ids, states, counts and field
// names, never a value (the ledger holds none).
type SubjectReport struct {
	RecordID string      `json:"record_id"`
	Record   LedgerTrace `json:"record"`
	// SubjectKey is the record's subject key, empty when it has none.
	SubjectKey string `json:"subject_key,omitempty"`
	// Subject is the subject's entry; State "absent" when it has none.
	Subject *SubjectTrace `json:"subject,omitempty"`
}

func (o *OperatorCommand) subject(ctx context.Context, l *ledger.Ledger, stdout io.Writer) error {
	tr := &Tracer{Ledger: l}
	rt := RecordTrace{ID: o.Record}
	if err := tr.ledgerPart(ctx, &rt); err != nil {
		return err
	}
	if rt.Ledger == nil {
		return ledgerErr(fmt.Errorf("ledger: Record: %w", ledger.ErrNotFound))
	}
	rep := SubjectReport{RecordID: o.Record, Record: *rt.Ledger, SubjectKey: rt.Subject, Subject: rt.SubjectEntry}
	if o.JSON {
		return writeJSON(stdout, rep)
	}
	var b strings.Builder
	line := func(name, value string) { fmt.Fprintf(&b, "  %-14s %s\n", name+":", value) }
	fmt.Fprintf(&b, "record %s\n", rep.RecordID)
	line("state", rep.Record.State)
	line("attempts", strconv.Itoa(rep.Record.Attempts))
	line("novamed id", orNone(rep.Record.NovaMedID))
	if !rep.Record.ClaimedUntil.IsZero() {
		line("claimed until", stamp(rep.Record.ClaimedUntil))
	}
	line("first attempt", stamp(rep.Record.FirstAttempt))
	line("last change", stamp(rep.Record.LastChange))
	line("subject", orNone(rep.SubjectKey))
	switch {
	case rep.SubjectKey == "":
		b.WriteString("the record has no subject entry (not yet past dispatch's subject claim, or the event is its own subject)\n")
	case rep.Subject == nil || rep.Subject.State == "absent":
		fmt.Fprintf(&b, "subject %s\n", rep.SubjectKey)
		line("state", "absent (released, or not yet claimed: the next record of the person creates the chart)")
	default:
		s := rep.Subject
		fmt.Fprintf(&b, "subject %s\n", rep.SubjectKey)
		line("state", s.State)
		owner := s.Owner
		if owner == rep.RecordID {
			owner += " (this record)"
		}
		line("owner", owner)
		line("novamed id", orNone(s.NovaMedID))
		line("fields", orNone(strings.Join(s.Fields, ", ")))
		if !s.ClaimedUntil.IsZero() {
			line("claimed until", stamp(s.ClaimedUntil))
		}
		line("created", stamp(s.CreatedAt))
		line("last change", stamp(s.UpdatedAt))
	}
	_, err := io.WriteString(stdout, b.String())
	return err
}

// ledgerErr names a missing entry plainly; the ledger's errors name the
// operation and state, never an id.
func ledgerErr(err error) error {
	if errors.Is(err, ledger.ErrNotFound) {
		return fmt.Errorf("redrive: no ledger entry for the record (not yet attempted, held at intake, "+
			"expired after the TTL, or the wrong --ledger-table): %w", err)
	}
	return fmt.Errorf("redrive: %w", err)
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339Nano)
}
