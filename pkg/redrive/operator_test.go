package redrive_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/internal/awstest"
	"github.com/novamed/bridge/pkg/ledger"
	"github.com/novamed/bridge/pkg/novamed"
	"github.com/novamed/bridge/pkg/queue"
	"github.com/novamed/bridge/pkg/redrive"
)

// ops is an env with a ledger table, for the operator commands.
type ops struct {
	*env
	table string
	l     *ledger.Ledger
}

func newOps(t *testing.T) *ops {
	t.Helper()
	e := newEnv(t)
	table := awstest.Name(t, "ledger")
	require.NoError(t, ledger.CreateTable(context.Background(), e.ddb, table))
	return &ops{env: e, table: table, l: ledger.New(e.ddb, table)}
}

// run parses and runs a command line against kumo and returns stdout.
func (o *ops) run(args ...string) (string, error) {
	o.t.Helper()
	cmd, err := redrive.ParseArgs(args)
	require.NoError(o.t, err)
	var stdout, stderr bytes.Buffer
	err = cmd.Run(context.Background(), redrive.Clients{
		SQS: o.api, DynamoDB: o.ddb, Options: fastOptions(),
	}, &stdout, &stderr)
	return stdout.String() + stderr.String(), err
}

var opSeq int

// eventID returns a fresh event id of source acme-ehr.
func (o *ops) eventID() string {
	opSeq++
	return queue.EventID("acme-ehr", o.prefix+"-evt-"+strconv.Itoa(opSeq), nil)
}

// subject returns a subject key (a keyed hash, as intake makes them).
func subject(name string) string {
	return queue.SubjectKey([]byte("0123456789abcdef0123456789abcdef"), "source", "acme-ehr", name)
}

// send puts a record's message in url: a dead letter when dl is set.
func (o *ops) send(url, recordID, subj string, dl *queue.DLQAttributes) {
	o.t.Helper()
	m := queue.Message{
		ID: recordID, Source: "acme-ehr", Kind: novamed.KindPatient,
		ReceivedAt: time.Now().UTC().Add(-time.Minute), Stage: queue.StageDev,
		Record: fixture(o.t, novamed.KindPatient), Subject: subj,
	}
	body, err := m.Encode()
	require.NoError(o.t, err)
	attrs := m.Attributes()
	if dl != nil {
		attrs, err = dl.MessageAttributes(attrs)
		require.NoError(o.t, err)
	}
	_, err = o.sqs.SendMessage(context.Background(), &sqs.SendMessageInput{
		QueueUrl: aws.String(url), MessageBody: aws.String(body), MessageAttributes: attrs,
	})
	require.NoError(o.t, err)
}

func deadLetter(class, code string, status int, fields []string, nmid string) *queue.DLQAttributes {
	return &queue.DLQAttributes{
		ErrorClass: class, ErrorCode: code, HTTPStatus: status, Attempts: 1,
		FailedAt: time.Now().UTC(), Fields: fields, NovaMedID: nmid,
	}
}

// Distinctive NovaMed ids and keyed field digests: the digests are in the
// ledger and must never be printed either.
const (
	nmChart   = "nm-chart-7c41a9e0"
	nmFound   = "nm-found-2d90b7f3"
	digestOne = "d1ges7c4na4y0001"
	digestTwo = "d1ges7c4na4y0002"
)

// unconfirmedOwner leaves rec unconfirmed as dispatch does after a lost
// answer: the record and the subject it owns.
func (o *ops) unconfirmedOwner(rec, subj string) {
	o.t.Helper()
	ctx := context.Background()
	c, err := o.l.ClaimDelivery(ctx, rec)
	require.NoError(o.t, err)
	require.Equal(o.t, ledger.ClaimGranted, c.Status)
	sc, err := o.l.ClaimSubject(ctx, subj, rec, map[string]string{"email": digestOne, "phone": digestTwo})
	require.NoError(o.t, err)
	require.Equal(o.t, ledger.SubjectGranted, sc.Status)
	require.NoError(o.t, o.l.MarkUnconfirmed(ctx, rec))
	require.NoError(o.t, o.l.MarkSubjectUnconfirmed(ctx, subj, rec))
}

// noValues checks an output holds no record value of the fixture (the zip
// code is left out: five digits can occur in a nanosecond timestamp) and
// no field digest.
func noValues(t *testing.T, what, out string) {
	t.Helper()
	assertNoCanary(t, what, out, append(canaries(t, novamed.KindPatient, "zip"), digestOne, digestTwo))
}

func TestTraceEvent(t *testing.T) {
	o := newOps(t)
	ctx := context.Background()
	dlq, target := o.queues()
	ev := o.eventID()
	rec := func(i int) string { return queue.RecordID(ev, i) }
	person, other := subject("person-1"), subject("person-2")

	_, err := o.l.BeginEvent(ctx, ev, 5)
	require.NoError(t, err)
	require.NoError(t, o.l.MarkEventQueued(ctx, ev))

	// 0: delivered; it created the person's chart.
	_, err = o.l.ClaimDelivery(ctx, rec(0))
	require.NoError(t, err)
	_, err = o.l.ClaimSubject(ctx, person, rec(0), map[string]string{"email": digestOne, "phone": digestTwo})
	require.NoError(t, err)
	require.NoError(t, o.l.MarkDelivered(ctx, rec(0), nmChart))
	require.NoError(t, o.l.MarkSubjectCreated(ctx, person, rec(0), nmChart))
	// 1: held at intake: no ledger entry, a dead letter of class held.
	o.send(dlq, rec(1), subject("held-1"), deadLetter(queue.ClassHeld, "missing_email", 0, []string{"telecom"}, ""))
	// 2: the same person with a changed phone: an update.
	_, err = o.l.ClaimDelivery(ctx, rec(2))
	require.NoError(t, err)
	sc, err := o.l.ClaimSubject(ctx, person, rec(2), map[string]string{"email": digestOne, "phone": "d1ges7c4na4y0003"})
	require.NoError(t, err)
	require.Equal(t, ledger.SubjectExists, sc.Status)
	require.NoError(t, o.l.MarkNotDelivered(ctx, rec(2)))
	o.send(dlq, rec(2), person, deadLetter(queue.ClassUpdate, "changed", 0, []string{"phone"}, nmChart))
	// 3: unconfirmed after a 504.
	o.unconfirmedOwner(rec(3), other)
	o.send(dlq, rec(3), other, deadLetter(redrive.ClassUnconfirmed, "gateway_timeout", 504, nil, ""))
	// 4: still waiting in the delivery queue.
	o.send(target, rec(4), subject("person-4"), nil)
	// A dead letter of another event, which trace leaves alone.
	o.put(dlq, dead{class: queue.ClassPermanent, code: "validation_error", status: 422})

	out, err := o.run("trace", "--event", ev, "--dlq", dlq, "--queue", target, "--peek-queue",
		"--ledger-table", o.table, "--json")
	require.NoError(t, err)
	noValues(t, "trace --json", out)
	var traces []redrive.EventTrace
	require.NoError(t, json.Unmarshal([]byte(out), &traces))
	require.Len(t, traces, 1)
	got := traces[0]
	assert.Equal(t, ev, got.ID)
	assert.Equal(t, "queued", got.State)
	assert.Equal(t, 5, got.Records)
	require.Len(t, got.RecordTraces, 5)
	r := got.RecordTraces

	assert.Equal(t, redrive.OutcomeDelivered, r[0].Outcome)
	assert.Contains(t, r[0].Detail, nmChart)
	require.NotNil(t, r[0].Ledger)
	assert.Equal(t, 1, r[0].Ledger.Attempts)
	assert.Equal(t, person, r[0].Subject)
	require.NotNil(t, r[0].SubjectEntry)
	assert.Equal(t, "created", r[0].SubjectEntry.State)
	assert.Equal(t, rec(0), r[0].SubjectEntry.Owner)
	assert.Equal(t, []string{"email", "phone"}, r[0].SubjectEntry.Fields)
	assert.Empty(t, r[0].DeadLetters)

	assert.Equal(t, redrive.OutcomeHeld, r[1].Outcome)
	assert.Nil(t, r[1].Ledger, "a held record is never attempted")
	require.Len(t, r[1].DeadLetters, 1)
	assert.Equal(t, "missing_email", r[1].DeadLetters[0].ErrorCode)
	assert.Equal(t, []string{"telecom"}, r[1].DeadLetters[0].Fields)
	assert.Equal(t, subject("held-1"), r[1].Subject, "the subject comes from the dead letter")
	assert.Equal(t, "absent", r[1].SubjectEntry.State)

	assert.Equal(t, redrive.OutcomeUpdate, r[2].Outcome)
	assert.Contains(t, r[2].Detail, nmChart)
	assert.Contains(t, r[2].Detail, "phone")
	require.Len(t, r[2].DeadLetters, 1)
	assert.Equal(t, nmChart, r[2].DeadLetters[0].NovaMedID)
	assert.Equal(t, "released", r[2].Ledger.State)

	assert.Equal(t, redrive.OutcomeUnconfirmed, r[3].Outcome)
	assert.Contains(t, r[3].Detail, "gateway_timeout")
	assert.Equal(t, "unconfirmed", r[3].Ledger.State)
	assert.Equal(t, "unconfirmed", r[3].SubjectEntry.State)
	assert.Equal(t, 504, r[3].DeadLetters[0].HTTPStatus)

	assert.Equal(t, redrive.OutcomeQueued, r[4].Outcome)
	require.Len(t, r[4].InQueue, 1, "found in the delivery queue")
	assert.Empty(t, r[4].DeadLetters)

	// Everything trace read is visible again at once.
	o.release(dlq, o.requireAllVisible(dlq, 4))
	o.release(target, o.requireAllVisible(target, 1))

	// The text form tells the same story, without a value.
	text, err := o.run("trace", "--event", ev, "--dlq", dlq, "--ledger-table", o.table)
	require.NoError(t, err)
	noValues(t, "trace", text)
	for _, want := range []string{
		"record " + rec(0), "outcome:         delivered: NovaMed id " + nmChart,
		"outcome:         held: reason missing_email (fields telecom)",
		"outcome:         update: the person's chart is " + nmChart + "; changed (fields phone)",
		"outcome:         unconfirmed: code gateway_timeout, http_status 504",
		"outcome:         queued", "owner this record",
	} {
		assert.Contains(t, text, want)
	}
	assert.NotContains(t, text, "delivery queue:", "the delivery queue is left alone without --peek-queue")
	o.requireAllVisible(dlq, 4)

	_, err = o.run("trace", "--event", o.eventID(), "--dlq", dlq, "--ledger-table", o.table)
	require.ErrorIs(t, err, ledger.ErrNotFound)
}

func TestTraceSource(t *testing.T) {
	o := newOps(t)
	ctx := context.Background()
	dlq, _ := o.queues()
	a, b := o.eventID(), o.eventID()
	other := queue.EventID("acme-ehr2", o.prefix, nil)
	for _, ev := range []string{a, b, other} {
		_, err := o.l.BeginEvent(ctx, ev, 1)
		require.NoError(t, err)
	}
	out, err := o.run("trace", "--source", "acme-ehr", "--since", "1h", "--dlq", dlq, "--ledger-table", o.table, "--json")
	require.NoError(t, err)
	var traces []redrive.EventTrace
	require.NoError(t, json.Unmarshal([]byte(out[:strings.LastIndex(out, "]")+1]), &traces))
	var ids []string
	for _, tr := range traces {
		ids = append(ids, tr.ID)
		assert.Equal(t, redrive.OutcomeReceiving, tr.RecordTraces[0].Outcome)
	}
	assert.ElementsMatch(t, []string{a, b}, ids, "this source's events only")
}

func TestConfirm(t *testing.T) {
	o := newOps(t)
	ctx := context.Background()
	dlq, _ := o.queues()
	ev := o.eventID()
	rec, second := queue.RecordID(ev, 0), queue.RecordID(ev, 1)
	person := subject("person-1")
	o.unconfirmedOwner(rec, person)
	o.send(dlq, rec, person, deadLetter(redrive.ClassUnconfirmed, "gateway_timeout", 504, nil, ""))
	// A second record of the person met the unconfirmed subject.
	_, err := o.l.ClaimDelivery(ctx, second)
	require.NoError(t, err)
	sc, err := o.l.ClaimSubject(ctx, person, second, nil)
	require.NoError(t, err)
	require.Equal(t, ledger.SubjectUnknown, sc.Status)
	require.NoError(t, o.l.MarkNotDelivered(ctx, second)) // as dispatch does before dead-lettering it
	o.send(dlq, second, person, deadLetter(redrive.ClassUnconfirmed, "subject_unconfirmed", 0, nil, ""))
	keep := o.put(dlq, dead{class: redrive.ClassUnconfirmed, code: "timeout"})

	// trace points from the second record to the owner.
	_, err = o.l.BeginEvent(ctx, ev, 2)
	require.NoError(t, err)
	require.NoError(t, o.l.MarkEventQueued(ctx, ev))
	out, err := o.run("trace", "--event", ev, "--dlq", dlq, "--ledger-table", o.table)
	require.NoError(t, err)
	assert.Contains(t, out, "code subject_unconfirmed; the person's chart is uncertain because of record "+rec+
		": resolve that record first")

	out, err = o.run("confirm", "--record", rec, "--novamed-id", nmFound, "--dlq", dlq, "--ledger-table", o.table)
	require.NoError(t, err)
	noValues(t, "confirm", out)
	assert.Contains(t, out, "delivered as "+nmFound+" (was unconfirmed)")
	assert.Contains(t, out, "dead letters deleted: 1")

	info, err := o.l.Record(ctx, rec)
	require.NoError(t, err)
	assert.Equal(t, ledger.RecordDelivered, info.State)
	assert.Equal(t, nmFound, info.NovaMedID)
	s, err := o.l.Subject(ctx, person)
	require.NoError(t, err)
	assert.Equal(t, ledger.SubjectCreated, s.State)
	assert.Equal(t, nmFound, s.NovaMedID)
	left := o.requireAllVisible(dlq, 2)
	assert.Equal(t, sorted(second, keep), recordIDs(left))
	o.release(dlq, left)

	// The second record is not the subject's owner: it is marked
	// delivered, the subject is left as the owner set it.
	out, err = o.run("confirm", "--record", second, "--novamed-id", nmFound, "--dlq", dlq, "--ledger-table", o.table, "--json")
	require.NoError(t, err)
	var res redrive.ConfirmResult
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	assert.Equal(t, "owned_by_other", res.SubjectAction)
	assert.Equal(t, rec, res.SubjectOwner)
	require.Len(t, res.DeadLetters, 1)
	assert.Equal(t, "subject_unconfirmed", res.DeadLetters[0].ErrorCode)

	// Repeating is harmless; another id for a delivered record is refused.
	out, err = o.run("confirm", "--record", rec, "--novamed-id", nmFound, "--dlq", dlq, "--ledger-table", o.table)
	require.NoError(t, err)
	assert.Contains(t, out, "dead letters deleted: 0")
	_, err = o.run("confirm", "--record", rec, "--novamed-id", "nm-other-0000", "--dlq", dlq, "--ledger-table", o.table)
	require.ErrorIs(t, err, ledger.ErrConflict)
	assert.Equal(t, []string{keep}, recordIDs(o.requireAllVisible(dlq, 1)))
}

func TestRelease(t *testing.T) {
	o := newOps(t)
	ctx := context.Background()
	dlq, target := o.queues()
	stranger := o.queue("stranger")
	ev := o.eventID()
	rec := queue.RecordID(ev, 0)
	person := subject("person-1")
	o.unconfirmedOwner(rec, person)
	o.send(dlq, rec, person, deadLetter(redrive.ClassUnconfirmed, "gateway_timeout", 504, nil, ""))
	keep := o.put(dlq, dead{class: redrive.ClassUnconfirmed, code: "timeout"})

	// A target the DLQ's RedriveAllowPolicy does not name: refused before
	// the ledger changes.
	_, err := o.run("release", "--record", rec, "--dlq", dlq, "--to", stranger, "--ledger-table", o.table)
	require.ErrorIs(t, err, redrive.ErrTargetNotAllowed)
	info, err := o.l.Record(ctx, rec)
	require.NoError(t, err)
	assert.Equal(t, ledger.RecordUnconfirmed, info.State)

	out, err := o.run("release", "--record", rec, "--dlq", dlq, "--to", target, "--ledger-table", o.table)
	require.NoError(t, err)
	noValues(t, "release", out)
	assert.Contains(t, out, "released for redelivery (was unconfirmed)")
	assert.Contains(t, out, "subject "+person+": released")
	assert.Contains(t, out, "dead letters moved to "+o.prefix+"-queue: 1")

	moved := o.contents(target)
	require.Len(t, moved, 1)
	assert.Equal(t, rec, moved[0].recordID)
	assert.Equal(t, []string{keep}, recordIDs(o.requireAllVisible(dlq, 1)))

	// Dispatch's next receive is granted both claims: the record does
	// not meet its own unconfirmed subject.
	c, err := o.l.ClaimDelivery(ctx, rec)
	require.NoError(t, err)
	assert.Equal(t, ledger.ClaimGranted, c.Status)
	sc, err := o.l.ClaimSubject(ctx, person, rec, nil)
	require.NoError(t, err)
	assert.Equal(t, ledger.SubjectGranted, sc.Status)
}

// TestMoveConfirmUnconfirmedReleasesSubject: move --confirm-unconfirmed
// releases the subject the record owns too (ledger.ResolveUnconfirmed).
func TestMoveConfirmUnconfirmedReleasesSubject(t *testing.T) {
	o := newOps(t)
	ctx := context.Background()
	dlq, target := o.queues()
	rec := queue.RecordID(o.eventID(), 0)
	person := subject("person-1")
	o.unconfirmedOwner(rec, person)
	o.send(dlq, rec, person, deadLetter(redrive.ClassUnconfirmed, "gateway_timeout", 504, nil, ""))

	cmd, err := redrive.ParseArgs([]string{"move", "--dlq", dlq, "--to", target, "--confirm-unconfirmed", "--ledger-table", o.table})
	require.NoError(t, err)
	err = cmd.Run(ctx, redrive.Clients{
		SQS: o.api, Options: fastOptions(),
		Ledger: func(table string) redrive.Resolver { return ledger.New(o.ddb, table) },
	}, &bytes.Buffer{}, &bytes.Buffer{})
	require.NoError(t, err)
	_, err = o.l.Subject(ctx, person)
	require.ErrorIs(t, err, ledger.ErrNotFound, "the owned subject is released with the record")
	sc, err := o.l.ClaimSubject(ctx, person, rec, nil)
	require.NoError(t, err)
	assert.Equal(t, ledger.SubjectGranted, sc.Status)
}

func TestSubjectCommand(t *testing.T) {
	o := newOps(t)
	rec := queue.RecordID(o.eventID(), 0)
	person := subject("person-1")
	o.unconfirmedOwner(rec, person)

	out, err := o.run("subject", "--record", rec, "--ledger-table", o.table)
	require.NoError(t, err)
	noValues(t, "subject", out)
	line := func(name, value string) string { return fmt.Sprintf("  %-14s %s\n", name+":", value) }
	for _, want := range []string{
		"record " + rec + "\n", line("state", "unconfirmed"), line("attempts", "1"), line("subject", person),
		"subject " + person + "\n", line("owner", rec+" (this record)"), line("fields", "email, phone"),
	} {
		assert.Contains(t, out, want)
	}

	out, err = o.run("subject", "--record", rec, "--ledger-table", o.table, "--json")
	require.NoError(t, err)
	noValues(t, "subject --json", out)
	var rep redrive.SubjectReport
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	assert.Equal(t, person, rep.SubjectKey)
	require.NotNil(t, rep.Subject)
	assert.Equal(t, "unconfirmed", rep.Subject.State)
	assert.Equal(t, rec, rep.Subject.Owner)
	assert.Equal(t, "unconfirmed", rep.Record.State)
	assert.Equal(t, 1, rep.Record.Attempts)

	_, err = o.run("subject", "--record", queue.RecordID(o.eventID(), 0), "--ledger-table", o.table)
	require.ErrorIs(t, err, ledger.ErrNotFound)
}

func TestParseOperatorArgs(t *testing.T) {
	const dlq = "https://sqs.us-east-1.amazonaws.com/1/dlq"
	rec := queue.RecordID(queue.EventID("acme-ehr", "e", nil), 2)
	ev := queue.EventID("acme-ehr", "e", nil)

	c, err := redrive.ParseArgs([]string{"trace", "--event", ev, "--stack", "s"})
	require.NoError(t, err)
	assert.Equal(t, &redrive.OperatorCommand{Name: "trace", Event: ev, Stack: "s", Since: redrive.DefaultTraceSince,
		Visibility: redrive.DefaultTraceVisibility, Wait: redrive.DefaultWaitTime}, c.Operator)

	for _, tc := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"confirm", "--record", rec, "--dlq", dlq, "--ledger-table", "t"}, "--novamed-id must be"},
		{[]string{"confirm", "--record", "Mrs X", "--novamed-id", "n", "--stack", "s"}, "--record must be a record id"},
		{[]string{"release", "--record", rec, "--dlq", dlq, "--ledger-table", "t"}, "--to or --stack is required"},
		{[]string{"subject", "--record", rec}, "--ledger-table or --stack is required"},
		{[]string{"subject", "--record", rec, "--stack", "s", "--dlq", dlq}, "not defined: -dlq"},
		{[]string{"trace", "--stack", "s"}, "--event or --source"},
		{[]string{"trace", "--stack", "s", "--event", ev, "--source", "acme-ehr"}, "--event or --source"},
		{[]string{"trace", "--stack", "s", "--event", "acme-ehr:nothex"}, "--event must be an event id"},
		{[]string{"trace", "--stack", "s", "--event", ev, "--since", "1h"}, "--since goes with --source"},
		{[]string{"trace", "--stack", "s", "--source", "acme-ehr", "--since", "0s"}, "--since must be above 0"},
		{[]string{"trace", "--dlq", dlq, "--ledger-table", "t", "--event", ev, "--peek-queue"}, "--peek-queue needs --queue"},
	} {
		_, err := redrive.ParseArgs(tc.args)
		require.ErrorIs(t, err, redrive.ErrUsage, tc.args)
		assert.Contains(t, err.Error(), tc.wantErr, tc.args)
		assert.NotContains(t, err.Error(), "Mrs X")
	}
}

// TestOperatorStack: --stack reads the queues and the ledger table from
// the stack's outputs (QueueUrl, DeadLetterQueueUrl, LedgerTableName).
func TestOperatorStack(t *testing.T) {
	o := newOps(t)
	ctx := context.Background()
	dlq, target := o.queues()
	rec := queue.RecordID(o.eventID(), 0)
	o.unconfirmedOwner(rec, subject("person-1"))
	o.send(dlq, rec, subject("person-1"), deadLetter(redrive.ClassUnconfirmed, "gateway_timeout", 504, nil, ""))
	stacks := fakeStacks{
		"with-ledger": {"QueueUrl": target, "DeadLetterQueueUrl": dlq, redrive.OutputLedgerTable: o.table},
		"no-ledger":   {"QueueUrl": target, "DeadLetterQueueUrl": dlq},
	}
	run := func(args ...string) error {
		cmd, err := redrive.ParseArgs(args)
		require.NoError(t, err)
		return cmd.Run(ctx, redrive.Clients{SQS: o.api, DynamoDB: o.ddb, Stacks: stacks, Options: fastOptions()},
			&bytes.Buffer{}, &bytes.Buffer{})
	}
	require.ErrorIs(t, run("release", "--record", rec, "--stack", "no-ledger"), redrive.ErrStackOutput)
	require.NoError(t, run("release", "--record", rec, "--stack", "with-ledger"))
	info, err := o.l.Record(ctx, rec)
	require.NoError(t, err)
	assert.Equal(t, ledger.RecordReleased, info.State)
	assert.Equal(t, []string{rec}, recordIDs(o.contents(target)))
}
