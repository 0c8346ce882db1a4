package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/pkg/ledger"
	"github.com/novamed/bridge/pkg/queue"
)

// templateVisibility is the delivery queue's visibility timeout in
// template.yaml. Deferred records must come back well before it.
const templateVisibility = 180 * time.Second

// comeBackWithin bounds how long a test waits for deferred records to be
// visible again: a failing test's bound, far below templateVisibility, so a
// record received in time did not come back by the queue's timeout.
const comeBackWithin = 20 * time.Second

func TestDeadlineLeavesUnstartedRecordsQueued(t *testing.T) {
	e := newEnv(t, envOptions{visibilityTimeout: templateVisibility})
	nm := newSandbox(t)
	h := e.handler(e.config("dev", nm.URL), nil)
	msgs := patients(t, "evt-deadline", 4)
	e.send(msgs...)

	// Less time than the reserve plus the least call time: nothing starts.
	ev, resp := e.run(h, 4, DefaultReserve)
	assert.Len(t, resp.BatchItemFailures, 4, "reported as failures, not lost")
	assert.Zero(t, nm.Requests())
	for _, m := range msgs {
		_, err := e.ledger.Record(context.Background(), m.ID)
		assert.ErrorIs(t, err, ledger.ErrNotFound, "no claim taken")
	}
	assert.Zero(t, e.emfCount(MetricRetried), "a deferral is not a failed attempt")
	assert.EqualValues(t, 4, e.emfCount(MetricDeferred), "counted, so a batch size that does not fit the timeout shows")
	assert.Contains(t, e.logs.String(), `"retry_in":1000000000`, "visible again after DefaultDeferDelay")

	back := e.receiveWithin(4, comeBackWithin)
	assert.ElementsMatch(t, messageIDs(ev), messageIDs(back), "the deferred records, back before the queue's visibility timeout")
	for _, r := range back.Records {
		assert.Equal(t, "2", r.Attributes["ApproximateReceiveCount"])
	}
	assert.Empty(t, e.deadLetters())
}

func TestDeadlineDefersOnlyRecordsWithoutTime(t *testing.T) {
	e := newEnv(t, envOptions{visibilityTimeout: templateVisibility})
	nm := newSandbox(t)
	// NovaMed holds the first call until the other records have been
	// deferred, so which records start does not depend on the machine's
	// speed: one starts, the others wait for the one worker slot in vain.
	release, done := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	open := func() { releaseOnce.Do(func() { close(release) }) }
	gated := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		nm.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(gated.Close)
	t.Cleanup(func() { close(done); open() }) // runs before gated.Close
	go func() {
		for strings.Count(e.logs.String(), `"outcome":"deferred"`) < 2 {
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
		open()
	}()

	cfg := e.config("dev", gated.URL)
	cfg.Concurrency = 1
	// The last start is 2 s into the 4 s budget; the held call is released
	// then and has until 3 s to finish.
	h := e.handler(cfg, nil, WithReserve(time.Second, time.Second))
	msgs := patients(t, "evt-deadline-some", 3)
	e.send(msgs...)

	ev, resp := e.run(h, 3, 4*time.Second)
	require.Len(t, resp.BatchItemFailures, 2, "the two records that never started")
	require.Len(t, nm.Patients(), 1)
	deferredIDs := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		deferredIDs[f.ItemIdentifier] = true
	}
	for i, r := range ev.Records {
		m, err := queue.Decode(r.Body)
		require.NoError(t, err)
		if deferredIDs[r.MessageId] {
			_, err := e.ledger.Record(context.Background(), m.ID)
			assert.ErrorIs(t, err, ledger.ErrNotFound, "record %d: a deferred record is not claimed", i)
		} else {
			assert.Equal(t, ledger.RecordDelivered, e.record(m.ID).State, "record %d", i)
		}
	}
	assert.Zero(t, e.emfCount(MetricRetried))

	back := e.receiveWithin(2, comeBackWithin)
	got := map[string]bool{}
	for _, r := range back.Records {
		got[r.MessageId] = true
		assert.Equal(t, "2", r.Attributes["ApproximateReceiveCount"])
	}
	assert.Equal(t, deferredIDs, got, "the deferred records are back before the queue's visibility timeout")

	// The next invocation delivers them.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := h.Handle(ctx, back)
	require.NoError(t, err)
	e.settle(back, resp)
	assert.Empty(t, resp.BatchItemFailures)
	assert.Len(t, nm.Patients(), 3)
	assert.Equal(t, 3, nm.Requests(), "every record sent once")
	visible, inflight := e.counts(e.queueURL)
	assert.Zero(t, visible+inflight)
	assert.Empty(t, e.deadLetters())
}

// TestDeferredOnLastAttemptIsDeadLettered: a record deferred on its last
// allowed receive is dead-lettered by dispatch, with the reason, rather than
// moved by the redrive policy without attributes.
func TestDeferredOnLastAttemptIsDeadLettered(t *testing.T) {
	e := newEnv(t, envOptions{maxReceiveCount: DefaultMaxReceiveCount})
	nm := newSandbox(t)
	h := e.handler(e.config("dev", nm.URL), nil, WithDeferDelay(0))
	m := patients(t, "evt-deadline-last", 1)[0]
	e.send(m)
	body, err := m.Encode()
	require.NoError(t, err)

	for attempt := 1; attempt < DefaultMaxReceiveCount; attempt++ {
		ev, resp := e.run(h, 1, DefaultReserve)
		require.Equal(t, []string{ev.Records[0].MessageId}, failureIDs(resp), "receive %d is deferred", attempt)
		require.Empty(t, e.deadLetters(), "receive %d", attempt)
	}
	ev, resp := e.run(h, 1, DefaultReserve)
	require.Equal(t, "5", ev.Records[0].Attributes["ApproximateReceiveCount"])
	assert.Empty(t, resp.BatchItemFailures, "settled by dispatch")
	dls := e.deadLetters()
	require.Len(t, dls, 1, "dead-lettered once, by dispatch, not again by the redrive policy")
	d := dls[0]
	assert.Equal(t, queue.ClassExhausted, d.attrs.ErrorClass)
	assert.Equal(t, "deadline", d.attrs.ErrorCode)
	assert.Zero(t, d.attrs.HTTPStatus)
	assert.Equal(t, DefaultMaxReceiveCount, d.attrs.Attempts)
	assert.Equal(t, body, d.body, "the body is unchanged, so it can be redriven as is")
	assert.Equal(t, map[string]string{"kind": "patient", "source": "ehr-a", "v": "1"}, d.base)
	visible, inflight := e.counts(e.queueURL)
	assert.Zero(t, visible+inflight, "deleted from the queue")
	assert.Zero(t, nm.Requests(), "never sent")
	_, err = e.ledger.Record(context.Background(), m.ID)
	assert.ErrorIs(t, err, ledger.ErrNotFound, "no claim: a redrive delivers it normally")
	assert.EqualValues(t, 1, e.emfCount(MetricDeadLettered, "Class", queue.ClassExhausted))
	assert.Zero(t, e.emfCount(MetricRetried))
	assertNoCanary(t, "logs", e.logs.String())
}

// lateParams answers only once the invocation's last start time has
// passed (reserve and minCall as given to WithReserve): the record got a
// worker slot, but is ready to be sent too late.
type lateParams struct {
	Params
	reserve, minCall time.Duration
}

func (p lateParams) Get(ctx context.Context, name string) (string, error) {
	if dl, ok := ctx.Deadline(); ok {
		time.Sleep(time.Until(dl.Add(-p.reserve - p.minCall).Add(50 * time.Millisecond)))
	}
	return p.Params.Get(ctx, name)
}

func TestRecordReadyTooLateIsDeferred(t *testing.T) {
	e := newEnv(t, envOptions{visibilityTimeout: templateVisibility})
	nm := newSandbox(t)
	const reserve, minCall = time.Second, time.Second
	h, err := New(e.config("dev", nm.URL), Deps{SQS: e.sqs, Ledger: e.ledger, Params: lateParams{e.cache, reserve, minCall}},
		WithLogger(newJSONLogger(e.logs)), WithReserve(reserve, minCall))
	require.NoError(t, err)
	m := patients(t, "evt-deadline-late", 1)[0]
	e.send(m)

	ev, resp := e.run(h, 1, 3*time.Second)
	require.Equal(t, messageIDs(ev), failureIDs(resp))
	assert.Zero(t, nm.Requests())
	_, err = e.ledger.Record(context.Background(), m.ID)
	assert.ErrorIs(t, err, ledger.ErrNotFound, "no claim taken")
	logs := e.logs.String()
	assert.Contains(t, logs, `"outcome":"deferred"`)
	assert.Contains(t, logs, `"deidentified":true`, "prepared before it was deferred")

	back := e.receiveWithin(1, comeBackWithin)
	assert.Equal(t, messageIDs(ev), messageIDs(back), "back before the queue's visibility timeout")
}

// failingVisibility refuses ChangeMessageVisibility with an error whose
// message quotes a record value, as an SDK error may.
type failingVisibility struct {
	SQSAPI
}

func (failingVisibility) ChangeMessageVisibility(context.Context, *sqs.ChangeMessageVisibilityInput, ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	return nil, &smithy.GenericAPIError{Code: "InternalError", Message: "refused for " + canaryValues[0]}
}

func TestDeferredVisibilityFailureLeavesQueueTimeout(t *testing.T) {
	e := newEnv(t, envOptions{})
	nm := newSandbox(t)
	cfg := e.config("dev", nm.URL)
	h, err := New(cfg, Deps{SQS: failingVisibility{e.sqs}, Ledger: e.ledger, Params: e.cache},
		WithLogger(newJSONLogger(e.logs)))
	require.NoError(t, err)
	e.send(patients(t, "evt-deadline-cmv", 2)...)

	_, resp := e.run(h, 2, DefaultReserve)
	assert.Len(t, resp.BatchItemFailures, 2, "still reported as failures")
	_, inflight := e.counts(e.queueURL)
	assert.Equal(t, 2, inflight, "back after the queue's visibility timeout")
	logs := e.logs.String()
	assert.Contains(t, logs, `"error":"InternalError"`, "the error code is logged")
	assert.NotContains(t, logs, `"retry_in"`)
	assertNoCanary(t, "logs", logs)
}

func messageIDs(ev events.SQSEvent) []string {
	out := make([]string, len(ev.Records))
	for i, r := range ev.Records {
		out[i] = r.MessageId
	}
	return out
}

func failureIDs(resp events.SQSEventResponse) []string {
	out := make([]string, len(resp.BatchItemFailures))
	for i, f := range resp.BatchItemFailures {
		out[i] = f.ItemIdentifier
	}
	return out
}
