package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/internal/nettest"
	"github.com/novamed/bridge/pkg/ledger"
	"github.com/novamed/bridge/pkg/novamed"
	"github.com/novamed/bridge/pkg/novamed/novamedtest"
	"github.com/novamed/bridge/pkg/queue"
)

// canaryValues are the values of patientJSON that must never reach a
// Development target, a log line, a metric or an attribute.
var canaryValues = []string{"Ottoline", "Quarterfield", "mailbox.example", "617-555-0142", "6175550142", "Baker Street", "Springfield"}

// assertNoCanary fails when out holds a record value; it names the test
// output, never the value found.
func assertNoCanary(t *testing.T, what, out string) {
	t.Helper()
	lower := strings.ToLower(out)
	for i, c := range canaryValues {
		if strings.Contains(lower, strings.ToLower(c)) {
			t.Errorf("%s holds record value #%d (value not printed)", what, i)
		}
	}
}

func TestDeliverBatch(t *testing.T) {
	e := newEnv(t, envOptions{})
	nm := newSandbox(t)
	nm.MarkDevelopment(canaryValues...)
	h := e.handler(e.config("dev", nm.URL), nil)
	msgs := patients(t, "evt-success", 3)
	e.send(msgs...)

	_, resp := e.run(h, 3, 10*time.Second)
	assert.Empty(t, resp.BatchItemFailures)
	assert.Equal(t, 3, len(nm.Patients()))
	assert.Empty(t, nm.Violations(), "the sandbox, marked Development, saw a canary value")
	visible, inflight := e.counts(e.queueURL)
	assert.Zero(t, visible+inflight, "delivered messages are deleted")
	for _, m := range msgs {
		info := e.record(m.ID)
		assert.Equal(t, ledger.RecordDelivered, info.State)
		assert.True(t, novamed.IsUUID(info.NovaMedID), "NovaMed's id is stored")
	}
	assert.EqualValues(t, 3, e.emfCount(MetricDelivered))
	assert.EqualValues(t, 3, e.emfCount(MetricDeidentified))
	assert.Empty(t, e.deadLetters())
	assertNoCanary(t, "logs", e.logs.String())
	assertNoCanary(t, "metrics", e.emf.String())
	assert.Contains(t, e.logs.String(), `"outcome":"delivered"`)
}

func TestErrorStatuses(t *testing.T) {
	for _, tc := range []struct {
		status int
		failed bool   // reported as a batch item failure (retry)
		class  string // DLQ class when dead-lettered
		code   string
		ledger ledger.RecordState
		unauth bool
	}{
		{status: 400, class: queue.ClassPermanent, code: novamed.CodeValidation, ledger: ledger.RecordReleased},
		{status: 404, class: queue.ClassPermanent, code: novamed.CodeNotFound, ledger: ledger.RecordReleased},
		{status: 422, class: queue.ClassPermanent, code: novamed.CodeValidation, ledger: ledger.RecordReleased},
		{status: 409, class: queue.ClassPermanent, code: novamed.CodeUnexpectedStatus, ledger: ledger.RecordReleased},
		{status: 401, failed: true, code: novamed.CodeUnauthorized, ledger: ledger.RecordReleased, unauth: true},
		{status: 403, failed: true, code: novamed.CodeForbidden, ledger: ledger.RecordReleased, unauth: true},
		{status: 429, failed: true, code: novamed.CodeRateLimited, ledger: ledger.RecordReleased},
		{status: 500, class: ClassUnconfirmed, code: novamed.CodeServerError, ledger: ledger.RecordUnconfirmed},
		{status: 502, class: ClassUnconfirmed, code: novamed.CodeServerError, ledger: ledger.RecordUnconfirmed},
		{status: 504, class: ClassUnconfirmed, code: novamed.CodeServerError, ledger: ledger.RecordUnconfirmed},
		{status: 503, failed: true, code: novamed.CodeServerError, ledger: ledger.RecordReleased},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			e := newEnv(t, envOptions{})
			nm := newSandbox(t)
			nm.FailNext(1, tc.status, 0)
			h := e.handler(e.config("dev", nm.URL), nil)
			m := patients(t, "evt-status", 1)[0]
			e.send(m)

			ev, resp := e.run(h, 1, 10*time.Second)
			assert.Equal(t, 1, nm.Requests(), "a refused key is not retried when SSM holds the same key")
			assert.Equal(t, tc.ledger, e.record(m.ID).State)
			dls := e.deadLetters()
			if tc.failed {
				require.Len(t, resp.BatchItemFailures, 1)
				assert.Equal(t, ev.Records[0].MessageId, resp.BatchItemFailures[0].ItemIdentifier)
				assert.Empty(t, dls)
				_, inflight := e.counts(e.queueURL)
				assert.Equal(t, 1, inflight, "kept, invisible for the backoff")
				assert.EqualValues(t, 1, e.emfCount(MetricRetried))
				assert.Contains(t, e.logs.String(), `"error_code":"`+tc.code+`"`)
			} else {
				assert.Empty(t, resp.BatchItemFailures)
				require.Len(t, dls, 1)
				assert.Equal(t, tc.class, dls[0].attrs.ErrorClass)
				assert.Equal(t, tc.code, dls[0].attrs.ErrorCode)
				assert.Equal(t, tc.status, dls[0].attrs.HTTPStatus)
				assert.Equal(t, 1, dls[0].attrs.Attempts)
				visible, inflight := e.counts(e.queueURL)
				assert.Zero(t, visible+inflight, "dead-lettered messages are deleted")
				assert.EqualValues(t, 1, e.emfCount(MetricDeadLettered, "Class", tc.class))
			}
			if tc.unauth {
				assert.EqualValues(t, 1, e.emfCount(MetricUnauthorized), "alarm metric")
			} else {
				assert.Zero(t, e.emfCount(MetricUnauthorized))
			}
		})
	}
}

func TestPoisonMessageAmongGoodOnes(t *testing.T) {
	e := newEnv(t, envOptions{})
	nm := newSandbox(t)
	h := e.handler(e.config("dev", nm.URL), nil)
	good := patients(t, "evt-poison", 4)
	e.send(good[:2]...)
	e.sendRaw(`{"v":1,"id":`, nil) // cut short: not JSON
	e.send(good[2:]...)
	// A valid message whose record NovaMed will refuse.
	bad := message(t, "evt-poison-2", 0, queue.StageDev, true, json.RawMessage(`{"clinic_id":"`+prodClinic+`","first_name":"A"}`))
	e.send(bad)

	ev, resp := e.run(h, 6, 10*time.Second)
	assert.Empty(t, resp.BatchItemFailures, "one bad record never re-delivers the others")
	assert.Equal(t, 4, len(nm.Patients()))
	require.Len(t, ev.Records, 6)
	dls := e.deadLetters()
	require.Len(t, dls, 2)
	classes := map[string]string{}
	for _, d := range dls {
		classes[d.attrs.ErrorClass] = d.attrs.ErrorCode
	}
	assert.Equal(t, map[string]string{queue.ClassMalformed: "id_not_json", ClassGuard: "invalid_output"}, classes)
	visible, inflight := e.counts(e.queueURL)
	assert.Zero(t, visible+inflight)
}

func TestOneRetryableFailureKeepsOnlyItsRecord(t *testing.T) {
	e := newEnv(t, envOptions{})
	nm := newSandbox(t)
	nm.FailNext(1, http.StatusServiceUnavailable, 0)
	h := e.handler(e.config("dev", nm.URL), nil)
	e.send(patients(t, "evt-one-fails", 5)...)

	_, resp := e.run(h, 5, 10*time.Second)
	require.Len(t, resp.BatchItemFailures, 1)
	assert.Equal(t, 4, len(nm.Patients()))
	_, inflight := e.counts(e.queueURL)
	assert.Equal(t, 1, inflight, "only the failed record stays")
}

func TestKeyRotationAfter401(t *testing.T) {
	e := newEnv(t, envOptions{})
	nm := newSandbox(t)
	h := e.handler(e.config("dev", nm.URL), nil)
	msgs := patients(t, "evt-rotation", 2)

	e.send(msgs[0])
	_, resp := e.run(h, 1, 10*time.Second)
	require.Empty(t, resp.BatchItemFailures)
	require.EqualValues(t, 1, e.ssmCount.calls.Load(), "the key is cached")

	// NovaMed rotates the key and the operator puts the new one in SSM.
	nm.SetAPIKey(apiKeyV2)
	e.putParam(ParamAPIKey, apiKeyV2, ssmtypes.ParameterTypeSecureString)
	e.send(msgs[1])
	_, resp = e.run(h, 1, 10*time.Second)
	assert.Empty(t, resp.BatchItemFailures, "delivered with the re-read key")
	assert.Equal(t, 2, len(nm.Patients()))
	assert.Equal(t, 3, nm.Requests(), "one refused call, one with the new key")
	assert.EqualValues(t, 2, e.ssmCount.calls.Load(), "one re-read on the 401")
	assert.Zero(t, e.emfCount(MetricUnauthorized), "a rotation picked up is not an alarm")
	assert.Equal(t, ledger.RecordDelivered, e.record(msgs[1].ID).State)
}

func TestUnauthorizedAfterReread(t *testing.T) {
	e := newEnv(t, envOptions{})
	nm := newSandbox(t)
	nm.SetAPIKey(apiKeyV2) // NovaMed revoked v1; SSM still holds v1
	h := e.handler(e.config("dev", nm.URL), nil)
	e.send(patients(t, "evt-unauth", 3)...)

	_, resp := e.run(h, 3, 10*time.Second)
	assert.Len(t, resp.BatchItemFailures, 3, "kept in the queue and retried")
	assert.Equal(t, 3, nm.Requests(), "no second call with the same refused key")
	assert.EqualValues(t, 3, e.emfCount(MetricUnauthorized))
	assert.LessOrEqual(t, e.ssmCount.calls.Load(), int64(4), "one load, at most one forced re-read per 401")
	assert.Empty(t, e.deadLetters())
}

func TestRetryAfterHonoured(t *testing.T) {
	e := newEnv(t, envOptions{})
	nm := newSandbox(t)
	nm.FailNext(1, http.StatusTooManyRequests, 120*time.Second)
	h := e.handler(e.config("dev", nm.URL), nil)
	e.send(patients(t, "evt-429", 1)...)

	_, resp := e.run(h, 1, 10*time.Second)
	require.Len(t, resp.BatchItemFailures, 1)
	assert.Contains(t, e.logs.String(), `"retry_in":120000000000`, "visibility set to NovaMed's Retry-After")
	visible, inflight := e.counts(e.queueURL)
	assert.Equal(t, 0, visible)
	assert.Equal(t, 1, inflight)
}

func TestTimeoutAfterRequestSentIsUnconfirmed(t *testing.T) {
	e := newEnv(t, envOptions{})
	nm := newSandbox(t)
	nm.SetLatency(5 * time.Second)
	h := e.handler(e.config("dev", nm.URL), nil, WithCallTimeout(300*time.Millisecond))
	m := patients(t, "evt-timeout", 1)[0]
	e.send(m)

	_, resp := e.run(h, 1, 20*time.Second)
	assert.Empty(t, resp.BatchItemFailures)
	dls := e.deadLetters()
	require.Len(t, dls, 1)
	assert.Equal(t, ClassUnconfirmed, dls[0].attrs.ErrorClass)
	assert.Equal(t, "timeout", dls[0].attrs.ErrorCode)
	assert.Equal(t, ledger.RecordUnconfirmed, e.record(m.ID).State)

	// A copy of the message (an SQS duplicate) never calls NovaMed again.
	nm.SetLatency(0)
	e.send(m)
	_, resp = e.run(h, 1, 10*time.Second)
	assert.Empty(t, resp.BatchItemFailures)
	assert.Equal(t, 1, nm.Requests())
	require.Len(t, e.deadLetters(), 1)
}

func TestConnectionRefusedIsRetried(t *testing.T) {
	e := newEnv(t, envOptions{})
	h := e.handler(e.config("dev", nettest.RefusedURL), nil)
	m := patients(t, "evt-refused", 1)[0]
	e.send(m)

	_, resp := e.run(h, 1, 10*time.Second)
	require.Len(t, resp.BatchItemFailures, 1)
	assert.Equal(t, ledger.RecordReleased, e.record(m.ID).State, "the request never left: safe to retry")
	assert.Contains(t, e.logs.String(), `"error_code":"network"`)
}

func TestDeadlineCutsSlowCalls(t *testing.T) {
	e := newEnv(t, envOptions{})
	nm := newSandbox(t)
	// Wide margins, so a loaded machine (claims taking a second) still
	// starts the first two calls long before the last start time: the
	// calls hang for a minute, the invocation has six seconds, the call
	// stop is one second before its end.
	nm.SetLatency(time.Minute)
	cfg := e.config("dev", nm.URL)
	cfg.Concurrency = 2
	h := e.handler(cfg, nil, WithReserve(time.Second, 200*time.Millisecond))
	e.send(patients(t, "evt-deadline-slow", 4)...)

	ev, resp := e.run(h, 4, 6*time.Second)
	// Two calls start and are cut at the call stop: their requests were
	// sent, so they are unconfirmed (never blindly retried); the two
	// records that never got a worker slot are reported as failures. On a
	// loaded machine a cut call's dead letter may not be written before the
	// deadline: it is then reported too (and dead-lettered unconfirmed on
	// its next receive, by the ledger). Either way none is lost and none
	// is called again.
	require.Len(t, ev.Records, 4)
	assert.Equal(t, 2, nm.Requests())
	recordOf := map[string]string{}
	for _, r := range ev.Records {
		m, err := queue.Decode(r.Body)
		require.NoError(t, err)
		recordOf[r.MessageId] = m.ID
	}
	accounted := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		accounted[recordOf[f.ItemIdentifier]] = true
	}
	dls := e.deadLetters()
	assert.LessOrEqual(t, len(dls), 2)
	for _, d := range dls {
		assert.Equal(t, ClassUnconfirmed, d.attrs.ErrorClass)
		m, err := queue.Decode(d.body)
		require.NoError(t, err)
		accounted[m.ID] = true
	}
	assert.GreaterOrEqual(t, len(resp.BatchItemFailures), 2, "the records that never started")
	assert.Len(t, accounted, 4, "every record is dead-lettered or reported for another receive")
}

func TestLastAttemptGoesToDLQ(t *testing.T) {
	e := newEnv(t, envOptions{maxReceiveCount: 5})
	nm := newSandbox(t)
	nm.FailNext(100, http.StatusServiceUnavailable, 0)
	h := e.handler(e.config("dev", nm.URL), nil, WithBackoff(zeroBackoff))
	m := patients(t, "evt-exhausted", 1)[0]
	e.send(m)
	body, err := m.Encode()
	require.NoError(t, err)

	for attempt := 1; attempt <= 4; attempt++ {
		ev, resp := e.run(h, 1, 10*time.Second)
		require.Equal(t, fmt.Sprint(attempt), ev.Records[0].Attributes["ApproximateReceiveCount"])
		require.Len(t, resp.BatchItemFailures, 1, "attempt %d is retried", attempt)
		require.Empty(t, e.deadLetters())
	}
	_, resp := e.run(h, 1, 10*time.Second)
	assert.Empty(t, resp.BatchItemFailures)
	dls := e.deadLetters()
	require.Len(t, dls, 1, "dead-lettered once, by dispatch, not again by the redrive policy")
	d := dls[0]
	assert.Equal(t, queue.ClassExhausted, d.attrs.ErrorClass)
	assert.Equal(t, novamed.CodeServerError, d.attrs.ErrorCode)
	assert.Equal(t, http.StatusServiceUnavailable, d.attrs.HTTPStatus)
	assert.Equal(t, 5, d.attrs.Attempts)
	assert.WithinDuration(t, time.Now(), d.attrs.FailedAt, time.Minute)
	assert.Equal(t, body, d.body, "the body is unchanged, so it can be redriven as is")
	assert.Equal(t, map[string]string{"kind": "patient", "source": "ehr-a", "v": "1"}, d.base)
	visible, inflight := e.counts(e.queueURL)
	assert.Zero(t, visible+inflight)
	assert.Equal(t, 5, nm.Requests())
}

func TestNotJSONIsMalformed(t *testing.T) {
	e := newEnv(t, envOptions{})
	nm := newSandbox(t)
	h := e.handler(e.config("dev", nm.URL), nil)
	e.sendRaw("this is not json", nil)

	_, resp := e.run(h, 1, 10*time.Second)
	assert.Empty(t, resp.BatchItemFailures)
	dls := e.deadLetters()
	require.Len(t, dls, 1)
	assert.Equal(t, queue.ClassMalformed, dls[0].attrs.ErrorClass)
	assert.Equal(t, "not_json", dls[0].attrs.ErrorCode)
	assert.Zero(t, dls[0].attrs.HTTPStatus)
	assert.Equal(t, "this is not json", dls[0].body)
	assert.Zero(t, nm.Requests())
	visible, inflight := e.counts(e.queueURL)
	assert.Zero(t, visible+inflight)
}

func TestDevStageSandboxSeesNoCanary(t *testing.T) {
	// prod cannot be configured against a non-production URL at all
	// (TestStageBindsHost); dev always de-identifies.
	e := newEnv(t, envOptions{})
	nm := newSandbox(t)
	nm.MarkDevelopment(canaryValues...)
	h := e.handler(e.config("dev", nm.URL), nil)
	// The messages claim to be production data, not de-identified: the flag
	// is information, not permission.
	msgs := patients(t, "evt-canary-dev", 3)
	e.send(msgs...)

	_, resp := e.run(h, 3, 10*time.Second)
	assert.Empty(t, resp.BatchItemFailures)
	assert.Equal(t, 3, len(nm.Patients()))
	assert.Empty(t, nm.Violations(), "a canary value reached the Development sandbox")
	sent := nm.Patients()[2].Request
	assert.Equal(t, devClinic, sent.ClinicID, "the development clinic from SSM")
	assert.True(t, strings.HasSuffix(sent.Email, "@example.com"))
	assertNoCanary(t, "logs", e.logs.String())
	assertNoCanary(t, "metrics", e.emf.String())
}

func TestProductionSendsRecordUnchanged(t *testing.T) {
	e := newEnv(t, envOptions{})
	nm := newSandbox(t, novamedtest.WithClinicID(prodClinic))
	// The production URL, routed to the sandbox by the transport.
	h := e.handler(e.config("prod", novamed.ProductionURL), productionClient(t, nm))
	require.True(t, h.Environment().AllowsPHI())
	m := patients(t, "evt-prod", 1)[0]
	e.send(m)

	_, resp := e.run(h, 1, 10*time.Second)
	assert.Empty(t, resp.BatchItemFailures)
	require.Len(t, nm.Patients(), 1)
	sent := nm.Patients()[0].Request
	var queued novamed.PatientRequest
	require.NoError(t, json.Unmarshal(m.Record, &queued))
	assert.True(t, sent == queued, "production receives the record as queued (values not printed)")
	assert.Zero(t, e.emfCount(MetricDeidentified))
	assertNoCanary(t, "logs", e.logs.String())
}

func TestNovaMedMessageScrubbed(t *testing.T) {
	for _, tc := range []struct {
		name, msg string
		logged    string // novamed_message as logged
	}{
		{"documented message kept", "Clinic not found", "Clinic not found"},
		{"echo of the record withheld", "Email ottoline0.q@mailbox.example is invalid", "withheld"},
		{"undocumented message withheld", "Patient already exists", "withheld"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			h := e.handler(e.config("dev", echoingNovaMed(t, http.StatusBadRequest, tc.msg)), nil)
			e.send(patients(t, "evt-scrub", 1)...)
			e.run(h, 1, 10*time.Second)
			logs := e.logs.String()
			assertNoCanary(t, "logs", logs)
			assert.Contains(t, logs, `"novamed_message":"`+tc.logged+`"`)
			dls := e.deadLetters()
			require.Len(t, dls, 1)
			for _, a := range []string{dls[0].attrs.ErrorClass, dls[0].attrs.ErrorCode} {
				assertNoCanary(t, "attributes", a)
			}
		})
	}
}

// TestPartialEchoWithheld: NovaMed echoes part of a value (issue 14, item
// 7). The value scrubber looked for whole values and let these through;
// only documented messages are logged now.
func TestPartialEchoWithheld(t *testing.T) {
	for _, tc := range []struct{ msg, fragment string }{
		{"Account sunflower already exists", "sunflower"},
		{"Christophe", "Christophe"},
	} {
		t.Run(tc.fragment, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			h := e.handler(e.config("dev", echoingNovaMed(t, http.StatusBadRequest, tc.msg)), nil)
			e.send(message(t, "evt-partial-echo", 0, queue.StageProd, false,
				patientJSON("Christopher", "Quarterfield", "sunflower77@mailbox.example")))
			e.run(h, 1, 10*time.Second)
			logs := e.logs.String()
			assert.Contains(t, logs, `"novamed_message":"withheld"`)
			assert.NotContains(t, strings.ToLower(logs), strings.ToLower(tc.fragment))
			require.Len(t, e.deadLetters(), 1)
		})
	}
}

func TestAlreadyDeliveredIsAcknowledgedWithoutCall(t *testing.T) {
	e := newEnv(t, envOptions{})
	nm := newSandbox(t)
	h := e.handler(e.config("dev", nm.URL), nil)
	m := patients(t, "evt-dup", 1)[0]
	e.send(m)
	e.run(h, 1, 10*time.Second)
	id := e.record(m.ID).NovaMedID

	e.send(m) // the same record again (intake retry, SQS duplicate, redrive)
	_, resp := e.run(h, 1, 10*time.Second)
	assert.Empty(t, resp.BatchItemFailures)
	assert.Equal(t, 1, nm.Requests(), "no second call")
	assert.Equal(t, id, e.record(m.ID).NovaMedID)
	assert.EqualValues(t, 1, e.emfCount(MetricDuplicates))
	assert.Contains(t, e.logs.String(), `"outcome":"duplicate"`)
}

// crashingLedger stands for a dispatch that dies right after NovaMed
// answered: the outcome is never recorded.
type crashingLedger struct {
	Ledger
}

var errCrashed = errors.New("simulated crash")

func (crashingLedger) MarkDelivered(context.Context, string, string) error { return errCrashed }

func TestCrashAfterCallGivesOneRecord(t *testing.T) {
	e := newEnv(t, envOptions{})
	nm := newSandbox(t)
	cfg := e.config("dev", nm.URL)
	crashing, err := New(cfg, Deps{SQS: e.sqs, Ledger: crashingLedger{e.ledger}, Params: e.cache},
		WithLogger(newJSONLogger(e.logs)), WithHTTPClient(nil))
	require.NoError(t, err)
	h := e.handler(cfg, nil, WithBackoff(zeroBackoff))
	m := patients(t, "evt-crash", 1)[0]
	e.send(m)

	// The crashed invocation: NovaMed created the record, the ledger was not
	// told, and the message was not deleted (a crash settles nothing).
	ev := e.receive(1)
	_, err = crashing.Handle(context.Background(), ev)
	require.NoError(t, err)
	require.Equal(t, 1, len(nm.Patients()))
	_, err = e.sqs.ChangeMessageVisibility(context.Background(), &sqs.ChangeMessageVisibilityInput{
		QueueUrl: aws.String(e.queueURL), ReceiptHandle: aws.String(ev.Records[0].ReceiptHandle), VisibilityTimeout: 0,
	})
	require.NoError(t, err)

	// Redelivered while the dead worker's claim lasts: wait, do not call.
	_, resp := e.run(h, 1, 10*time.Second)
	require.Len(t, resp.BatchItemFailures, 1)
	assert.Equal(t, 1, nm.Requests())
	_, err = e.sqs.ChangeMessageVisibility(context.Background(), &sqs.ChangeMessageVisibilityInput{
		QueueUrl: aws.String(e.queueURL), ReceiptHandle: aws.String(e.lastReceipt), VisibilityTimeout: 0,
	})
	require.NoError(t, err)

	// After the claim expired: unconfirmed, dead-lettered, still not called.
	e.clock.Advance(LedgerLease + time.Second)
	_, resp = e.run(h, 1, 10*time.Second)
	assert.Empty(t, resp.BatchItemFailures)
	assert.Equal(t, 1, nm.Requests(), "NovaMed is never called again after an uncertain attempt")
	assert.Equal(t, 1, len(nm.Patients()), "one record in NovaMed")
	dls := e.deadLetters()
	require.Len(t, dls, 1)
	assert.Equal(t, ClassUnconfirmed, dls[0].attrs.ErrorClass)
	assert.Equal(t, ledger.RecordUnconfirmed, e.record(m.ID).State)
}

func TestDropAfterCreateIsUnconfirmed(t *testing.T) {
	e := newEnv(t, envOptions{})
	nm := newSandbox(t)
	nm.DropAfterCreate(1)
	h := e.handler(e.config("dev", nm.URL), nil)
	m := patients(t, "evt-drop", 1)[0]
	e.send(m)

	_, resp := e.run(h, 1, 10*time.Second)
	assert.Empty(t, resp.BatchItemFailures)
	assert.Equal(t, 1, len(nm.Patients()))
	dls := e.deadLetters()
	require.Len(t, dls, 1)
	assert.Equal(t, ClassUnconfirmed, dls[0].attrs.ErrorClass)
	assert.Equal(t, ledger.RecordUnconfirmed, e.record(m.ID).State)

	e.send(m) // redelivered: never called again
	_, resp = e.run(h, 1, 10*time.Second)
	assert.Empty(t, resp.BatchItemFailures)
	assert.Equal(t, 1, nm.Requests())
	assert.Equal(t, 1, len(nm.Patients()), "one record in NovaMed")
}

func TestSSMCallsPerTTL(t *testing.T) {
	e := newEnv(t, envOptions{})
	nm := newSandbox(t)
	h := e.handler(e.config("dev", nm.URL), nil)
	const batches = 10
	for b := range batches {
		msgs := patients(t, fmt.Sprintf("evt-ssm-%d", b), 10)
		ev := events.SQSEvent{}
		for i, m := range msgs {
			body, err := m.Encode()
			require.NoError(t, err)
			ev.Records = append(ev.Records, events.SQSMessage{
				MessageId: fmt.Sprintf("m-%d-%d", b, i), ReceiptHandle: "rh", Body: body,
				Attributes: map[string]string{"ApproximateReceiveCount": "1"},
			})
		}
		resp, err := h.Handle(context.Background(), ev)
		require.NoError(t, err)
		require.Empty(t, resp.BatchItemFailures)
	}
	assert.Equal(t, batches*10, len(nm.Patients()))
	assert.EqualValues(t, 1, e.ssmCount.calls.Load(), "one SSM call per TTL, shared by concurrent records")
}

func TestHandleEmptyBatch(t *testing.T) {
	e := newEnv(t, envOptions{})
	h := e.handler(e.config("dev", "http://127.0.0.1:1"), nil)
	resp, err := h.Handle(context.Background(), events.SQSEvent{})
	require.NoError(t, err)
	assert.Empty(t, resp.BatchItemFailures)
	assert.Zero(t, e.ssmCount.calls.Load())
}

func TestTripwireHitIsNeverSent(t *testing.T) {
	e := newEnv(t, envOptions{})
	nm := newSandbox(t)
	h := e.handler(e.config("dev", nm.URL), nil)
	// Unknown fields holding every number of the fictional phone range: no
	// synthetic phone can avoid them all, so the guard refuses the record.
	rec := map[string]string{
		"first_name": "Wilhelmina", "last_name": "Tessaract", "email": "w.tessaract@practice.example",
		"npi_number": "1234567893", "assigned_clinic": prodClinic, "phone": "+1-617-555-0142",
	}
	for i := range 100 {
		rec[fmt.Sprintf("x%d", i)] = fmt.Sprintf("01%02d", i)
	}
	raw, err := json.Marshal(rec)
	require.NoError(t, err)
	m := message(t, "evt-tripwire", 0, queue.StageDev, true, raw)
	m.Kind = novamed.KindPractitioner
	e.send(m)

	_, resp := e.run(h, 1, 10*time.Second)
	assert.Empty(t, resp.BatchItemFailures)
	assert.Zero(t, nm.Requests(), "never sent")
	dls := e.deadLetters()
	require.Len(t, dls, 1)
	assert.Equal(t, ClassGuard, dls[0].attrs.ErrorClass)
	assert.Equal(t, "tripwire", dls[0].attrs.ErrorCode)
	dead, err := queue.Decode(dls[0].body)
	require.NoError(t, err, "the dead letter is still a valid message")
	assert.JSONEq(t, `{}`, string(dead.Record), "the record is removed")
	assert.Equal(t, m.ID, dead.ID)
	_, err = e.ledger.Record(context.Background(), m.ID)
	assert.ErrorIs(t, err, ledger.ErrNotFound, "no claim for a record never sent")
	assert.NotContains(t, e.logs.String(), "Tessaract")
}

// TestSuccessWithoutIDIsUnconfirmed: any 2xx that carries no NovaMed id may
// have created the record; it is never retried (a second chart) and never
// dead-lettered as permanent (a redrive would call again).
func TestSuccessWithoutIDIsUnconfirmed(t *testing.T) {
	for _, status := range []int{http.StatusOK, http.StatusCreated, http.StatusAccepted, http.StatusNoContent} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			e := newEnv(t, envOptions{})
			var calls atomic.Int32
			nm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(status)
				if status != http.StatusNoContent {
					_, _ = w.Write([]byte(`{"success":true}`))
				}
			}))
			t.Cleanup(nm.Close)
			h := e.handler(e.config("dev", nm.URL), nil)
			m := patients(t, fmt.Sprintf("evt-2xx-%d", status), 1)[0]
			e.send(m)

			_, resp := e.run(h, 1, 10*time.Second)
			assert.Empty(t, resp.BatchItemFailures)
			dls := e.deadLetters()
			require.Len(t, dls, 1)
			assert.Equal(t, ClassUnconfirmed, dls[0].attrs.ErrorClass)
			assert.Equal(t, ledger.RecordUnconfirmed, e.record(m.ID).State)

			e.send(m)
			_, _ = e.run(h, 1, 10*time.Second)
			assert.EqualValues(t, 1, calls.Load(), "NovaMed is not called again for the record")
		})
	}
}
