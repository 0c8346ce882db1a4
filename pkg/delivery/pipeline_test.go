package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/pkg/ledger"
	"github.com/novamed/bridge/pkg/metrics"
	"github.com/novamed/bridge/pkg/novamed"
	"github.com/novamed/bridge/pkg/phi"
	"github.com/novamed/bridge/pkg/queue"
)

// Small fakes of this package's unit tests; the real clients are exercised
// by functions/dispatch's handler tests (kumo and the NovaMed sandbox).

type fakeSQS struct {
	mu         sync.Mutex
	sent       []*sqs.SendMessageInput
	deleted    int
	visibility []int32
}

func (f *fakeSQS) SendMessage(_ context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, in)
	return &sqs.SendMessageOutput{}, nil
}

func (f *fakeSQS) DeleteMessage(context.Context, *sqs.DeleteMessageInput, ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deleted++
	return &sqs.DeleteMessageOutput{}, nil
}

func (f *fakeSQS) ChangeMessageVisibility(_ context.Context, in *sqs.ChangeMessageVisibilityInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.visibility = append(f.visibility, in.VisibilityTimeout)
	return &sqs.ChangeMessageVisibilityOutput{}, nil
}

type fakeLedger struct {
	claim ledger.Claim
	err   error
	marks []string
}

func (f *fakeLedger) ClaimDelivery(context.Context, string) (ledger.Claim, error) {
	return f.claim, f.err
}
func (f *fakeLedger) MarkDelivered(_ context.Context, _, _ string) error {
	f.marks = append(f.marks, "delivered")
	return nil
}
func (f *fakeLedger) MarkNotDelivered(context.Context, string) error {
	f.marks = append(f.marks, "not_delivered")
	return nil
}
func (f *fakeLedger) MarkUnconfirmed(context.Context, string) error {
	f.marks = append(f.marks, "unconfirmed")
	return nil
}

type fakeParams map[string]string

func (f fakeParams) Get(_ context.Context, name string) (string, error) {
	if v, ok := f[name]; ok {
		return v, nil
	}
	return "", errors.New("no such parameter")
}
func (fakeParams) Refresh(context.Context) error { return nil }

const testClinic = "7d1c2a3b-4e5f-4a6b-8c7d-9e0f1a2b3c4d"

var testParams = fakeParams{
	ParamAPIKey:       "nm_test_key_one_0001",
	ParamClinicID:     testClinic,
	ParamPseudonymKey: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
}

// rig is a pipeline over fakes and a NovaMed that counts its calls.
type rig struct {
	p      *Pipeline
	sqs    *fakeSQS
	ledger *fakeLedger
	calls  *atomic.Int64
	logs   *bytes.Buffer
}

func newRig(t *testing.T, deps Deps) *rig {
	t.Helper()
	calls := &atomic.Int64{}
	nm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"success":true,"data":{"patient_id":"0b5e4b8e-2f4a-4c57-9d7e-1f0d9e2c3a4b"}}`))
	}))
	t.Cleanup(nm.Close)
	r := &rig{sqs: &fakeSQS{}, ledger: &fakeLedger{}, calls: calls, logs: &bytes.Buffer{}}
	deps.SQS, deps.Ledger, deps.Params = r.sqs, r.ledger, testParams
	deps.Log = slog.New(slog.NewJSONHandler(r.logs, nil))
	deps.Metrics = metrics.New(&bytes.Buffer{}, map[string]string{"Stage": "dev"})
	p, err := New(Config{
		Stage: "dev", BaseURL: nm.URL, QueueURL: "q", DLQURL: "dlq", MaxReceiveCount: 5,
		BackoffBase: time.Second, BackoffCap: time.Minute,
	}, deps)
	require.NoError(t, err)
	r.p = p
	return r
}

func patientBody(t *testing.T, email string) string {
	t.Helper()
	rec, err := json.Marshal(novamed.PatientRequest{
		ClinicID: testClinic, FirstName: "Ottoline", LastName: "Quarterfield", DateOfBirth: "1984-07-19",
		Email: email, Gender: "female", City: "Springfield", State: "MA", Zip: "02139",
	})
	require.NoError(t, err)
	body, err := queue.Message{
		ID: queue.RecordID(queue.EventID("ehr-a", "evt-unit", nil), 0), Source: "ehr-a", Kind: novamed.KindPatient,
		ReceivedAt: time.Now().UTC(), Stage: queue.StageDev, Record: rec,
	}.Encode()
	require.NoError(t, err)
	return body
}

func sqsMessage(body string) events.SQSMessage {
	return events.SQSMessage{MessageId: "m-1", ReceiptHandle: "rh-1", Body: body,
		Attributes: map[string]string{"ApproximateReceiveCount": "1"}}
}

func noDeadline() *Budget { return &Budget{Now: time.Now} }

func TestProcessDelivers(t *testing.T) {
	r := newRig(t, Deps{})
	r.ledger.claim = ledger.Claim{Status: ledger.ClaimGranted, ClaimedUntil: time.Now().Add(time.Minute)}
	res := r.p.Process(context.Background(), noDeadline(), sqsMessage(patientBody(t, "o.q@mailbox.example")))
	assert.Equal(t, OutcomeDelivered, res.Outcome)
	assert.False(t, res.Failed)
	assert.True(t, res.Deidentified, "dev de-identifies")
	assert.EqualValues(t, 1, r.calls.Load())
	assert.Equal(t, []string{"delivered"}, r.ledger.marks)
	assert.Empty(t, r.sqs.sent)
}

func TestResolveWithoutResolverRefusesReference(t *testing.T) {
	r := newRig(t, Deps{})
	rec := &Record{SQS: sqsMessage(`{"v":1,"kind":"reference","id":"x"}`), Budget: noDeadline()}
	assert.Equal(t, DeadLetter, r.p.resolve(context.Background(), rec))
	assert.Equal(t, queue.ClassMalformed, rec.Result.Class)
	assert.Nil(t, rec.Result.Msg)
}

type resolverFunc func(ctx context.Context, body string) (queue.Message, error)

func (f resolverFunc) Resolve(ctx context.Context, body string) (queue.Message, error) {
	return f(ctx, body)
}

func TestResolveHandsReferencesToTheResolver(t *testing.T) {
	fetched, err := queue.Decode(patientBody(t, "fetched@mailbox.example"))
	require.NoError(t, err)
	var got string
	r := newRig(t, Deps{Resolver: resolverFunc(func(_ context.Context, body string) (queue.Message, error) {
		got = body
		return fetched, nil
	})})
	ref := `{"v":1,"kind":"reference","id":"x"}`
	rec := &Record{SQS: sqsMessage(ref), Budget: noDeadline()}
	require.Equal(t, Next, r.p.resolve(context.Background(), rec))
	assert.Equal(t, ref, got)
	assert.Equal(t, fetched.ID, rec.Result.Msg.ID)

	// Not a reference: decoded as before, the resolver is not asked.
	got = ""
	rec = &Record{SQS: sqsMessage(patientBody(t, "o.q@mailbox.example")), Budget: noDeadline()}
	require.Equal(t, Next, r.p.resolve(context.Background(), rec))
	assert.Empty(t, got)

	// A failing EHR is retried.
	r = newRig(t, Deps{Resolver: resolverFunc(func(context.Context, string) (queue.Message, error) {
		return queue.Message{}, errors.New("ehr down")
	})})
	rec = &Record{SQS: sqsMessage(ref), Budget: noDeadline()}
	assert.Equal(t, Retry, r.p.resolve(context.Background(), rec))
	assert.Equal(t, "resolve_unavailable", rec.Result.Code)
}

func TestHoldStopsWhatNovaMedCannotTake(t *testing.T) {
	r := newRig(t, Deps{})
	rec := &Record{Sent: novamed.Record{Kind: novamed.KindPatient, Patient: &novamed.PatientRequest{ClinicID: testClinic}}}
	assert.Equal(t, DeadLetter, r.p.hold(context.Background(), rec))
	assert.Equal(t, queue.ClassPermanent, rec.Result.Class)
	assert.Equal(t, novamed.CodeValidation, rec.Result.Code)
	assert.NotEmpty(t, rec.Result.Fields)
}

func TestClaimVerdicts(t *testing.T) {
	until := time.Now().Add(30 * time.Second)
	for _, tc := range []struct {
		claim ledger.Claim
		err   error
		want  Verdict
		class string
	}{
		{ledger.Claim{Status: ledger.ClaimGranted, ClaimedUntil: until}, nil, Next, ""},
		{ledger.Claim{Status: ledger.AlreadyDelivered, NovaMedID: "id-1"}, nil, Ack, ""},
		{ledger.Claim{Status: ledger.InFlight, ClaimedUntil: until}, nil, RetryAt, "in_flight"},
		{ledger.Claim{Status: ledger.Unconfirmed}, nil, DeadLetter, ClassUnconfirmed},
		{ledger.Claim{}, errors.New("ddb down"), Retry, "retryable"},
	} {
		r := newRig(t, Deps{})
		r.ledger.claim, r.ledger.err = tc.claim, tc.err
		m, err := queue.Decode(patientBody(t, "o.q@mailbox.example"))
		require.NoError(t, err)
		rec := &Record{Budget: noDeadline(), Result: Result{Msg: &m}}
		assert.Equal(t, tc.want, r.p.claim(context.Background(), rec), "claim %v", tc.claim.Status)
		assert.Equal(t, tc.class, rec.Result.Class, "claim %v", tc.claim.Status)
		if tc.want == RetryAt {
			assert.Greater(t, rec.Wait, 20*time.Second, "retried once the claim has ended")
		}
	}
}

func TestClaimDefersWithoutTime(t *testing.T) {
	r := newRig(t, Deps{})
	b := &Budget{Now: time.Now, StartBy: time.Now().Add(-time.Second)}
	m, err := queue.Decode(patientBody(t, "o.q@mailbox.example"))
	require.NoError(t, err)
	assert.Equal(t, Defer, r.p.claim(context.Background(), &Record{Budget: b, Result: Result{Msg: &m}}))
}

// fakeSubjects answers every claim with claim and records the calls.
type fakeSubjects struct {
	claim  ledger.SubjectClaim
	fields map[string]string // the digests of the last claim
	marks  []string
}

func (f *fakeSubjects) ClaimSubject(_ context.Context, _, _ string, fields map[string]string) (ledger.SubjectClaim, error) {
	f.fields = fields
	return f.claim, nil
}
func (f *fakeSubjects) MarkSubjectCreated(context.Context, string, string, string) error {
	f.marks = append(f.marks, "created")
	return nil
}
func (f *fakeSubjects) ReleaseSubject(context.Context, string, string) error {
	f.marks = append(f.marks, "released")
	return nil
}
func (f *fakeSubjects) MarkSubjectUnconfirmed(context.Context, string, string) error {
	f.marks = append(f.marks, "unconfirmed")
	return nil
}

// withSubject gives a queued patient a subject key.
func withSubject(t *testing.T, body string) string {
	t.Helper()
	m, err := queue.Decode(body)
	require.NoError(t, err)
	key := []byte("unit-test-key-0123456789abcdef")
	m.Subject = queue.SubjectKey(key, "source", "ehr-a", "Patient/7")
	m.Digests, err = queue.FieldDigests(key, m.Record)
	require.NoError(t, err)
	out, err := m.Encode()
	require.NoError(t, err)
	return out
}

func TestSubjectStage(t *testing.T) {
	granted := ledger.Claim{Status: ledger.ClaimGranted, ClaimedUntil: time.Now().Add(time.Minute)}

	t.Run("granted: the call creates the chart and the subject", func(t *testing.T) {
		subj := &fakeSubjects{claim: ledger.SubjectClaim{Status: ledger.SubjectGranted}}
		r := newRig(t, Deps{Subjects: subj})
		r.ledger.claim = granted
		body := withSubject(t, patientBody(t, "o.q@mailbox.example"))
		res := r.p.Process(context.Background(), noDeadline(), sqsMessage(body))
		assert.Equal(t, OutcomeDelivered, res.Outcome)
		assert.Equal(t, int64(1), r.calls.Load())
		assert.Equal(t, []string{"created"}, subj.marks)
		m, err := queue.Decode(body)
		require.NoError(t, err)
		require.NotEmpty(t, m.Digests["email"])
		assert.Equal(t, m.Digests, subj.fields, "the digests intake computed before de-identification")
	})

	t.Run("a message without digests: computed from the record", func(t *testing.T) {
		subj := &fakeSubjects{claim: ledger.SubjectClaim{Status: ledger.SubjectGranted}}
		r := newRig(t, Deps{Subjects: subj})
		r.ledger.claim = granted
		m, err := queue.Decode(withSubject(t, patientBody(t, "o.q@mailbox.example")))
		require.NoError(t, err)
		m.Digests = nil
		body, err := m.Encode()
		require.NoError(t, err)
		res := r.p.Process(context.Background(), noDeadline(), sqsMessage(body))
		assert.Equal(t, OutcomeDelivered, res.Outcome)
		key, err := phi.ParsePseudonymKey(testParams[ParamPseudonymKey])
		require.NoError(t, err)
		want, err := queue.FieldDigests(key, m.Record)
		require.NoError(t, err)
		require.NotEmpty(t, want["email"])
		assert.Equal(t, want, subj.fields)
	})

	t.Run("exists and unchanged: acknowledged without a call", func(t *testing.T) {
		first := &fakeSubjects{claim: ledger.SubjectClaim{Status: ledger.SubjectGranted}}
		r := newRig(t, Deps{Subjects: first})
		r.ledger.claim = granted
		body := withSubject(t, patientBody(t, "o.q@mailbox.example"))
		r.p.Process(context.Background(), noDeadline(), sqsMessage(body))

		subj := &fakeSubjects{claim: ledger.SubjectClaim{Status: ledger.SubjectExists, NovaMedID: "nm-1", Fields: first.fields}}
		r = newRig(t, Deps{Subjects: subj})
		r.ledger.claim = granted
		res := r.p.Process(context.Background(), noDeadline(), sqsMessage(body))
		assert.Equal(t, OutcomeExists, res.Outcome)
		assert.Zero(t, r.calls.Load())
		assert.Equal(t, []string{"delivered"}, r.ledger.marks)
	})

	t.Run("exists and changed: an update dead letter naming the fields", func(t *testing.T) {
		first := &fakeSubjects{claim: ledger.SubjectClaim{Status: ledger.SubjectGranted}}
		r := newRig(t, Deps{Subjects: first})
		r.ledger.claim = granted
		r.p.Process(context.Background(), noDeadline(), sqsMessage(withSubject(t, patientBody(t, "o.q@mailbox.example"))))

		subj := &fakeSubjects{claim: ledger.SubjectClaim{Status: ledger.SubjectExists, NovaMedID: "nm-1", Fields: first.fields}}
		r = newRig(t, Deps{Subjects: subj})
		r.ledger.claim = granted
		res := r.p.Process(context.Background(), noDeadline(), sqsMessage(withSubject(t, patientBody(t, "other.address@mailbox.example"))))
		assert.Equal(t, OutcomeDeadLettered, res.Outcome)
		assert.Zero(t, r.calls.Load())
		assert.Equal(t, []string{"not_delivered"}, r.ledger.marks, "the record is released, nothing was created")
		require.Len(t, r.sqs.sent, 1)
		attrs := r.sqs.sent[0].MessageAttributes
		assert.Equal(t, queue.ClassUpdate, aws.ToString(attrs[queue.AttrErrorClass].StringValue))
		assert.Equal(t, "email", aws.ToString(attrs[queue.AttrFields].StringValue))
		assert.Equal(t, "nm-1", aws.ToString(attrs[queue.AttrNovaMedID].StringValue))
		for name, v := range attrs {
			assert.NotContains(t, aws.ToString(v.StringValue), "mailbox", "%s: attributes name fields, never values", name)
		}
	})

	t.Run("in flight: looked at again after the backoff, no later than the other claim's end", func(t *testing.T) {
		for _, tc := range []struct {
			name     string
			attempt  string
			backoff  time.Duration
			until    time.Duration
			wantSecs float64
		}{
			{"early attempt: the backoff", "1", 3 * time.Second, 41 * time.Second, 3},
			{"early attempt, claim ending sooner: its end", "2", 30 * time.Second, 9 * time.Second, 10},
			{"early attempt, no backoff: a second at least", "1", 0, 41 * time.Second, 1},
			{"last but one attempt: the claim's end", "4", 3 * time.Second, 41 * time.Second, 42},
		} {
			t.Run(tc.name, func(t *testing.T) {
				subj := &fakeSubjects{claim: ledger.SubjectClaim{Status: ledger.SubjectInFlight, ClaimedUntil: time.Now().Add(tc.until)}}
				r := newRig(t, Deps{Subjects: subj, Backoff: func(_, _ time.Duration, _ int, _ time.Duration) time.Duration { return tc.backoff }})
				r.ledger.claim = granted
				msg := sqsMessage(withSubject(t, patientBody(t, "o.q@mailbox.example")))
				msg.Attributes["ApproximateReceiveCount"] = tc.attempt
				res := r.p.Process(context.Background(), noDeadline(), msg)
				assert.Zero(t, r.calls.Load(), "NovaMed is not called")
				assert.True(t, res.Failed)
				assert.Equal(t, OutcomeRetry, res.Outcome)
				assert.Equal(t, []string{"not_delivered"}, r.ledger.marks)
				require.Len(t, r.sqs.visibility, 1)
				assert.InDelta(t, tc.wantSecs, r.sqs.visibility[0], 1)
			})
		}
	})

	t.Run("a record without a subject skips the stage", func(t *testing.T) {
		subj := &fakeSubjects{claim: ledger.SubjectClaim{Status: ledger.SubjectInFlight}}
		r := newRig(t, Deps{Subjects: subj})
		r.ledger.claim = granted
		res := r.p.Process(context.Background(), noDeadline(), sqsMessage(patientBody(t, "o.q@mailbox.example")))
		assert.Equal(t, OutcomeDelivered, res.Outcome)
		assert.Nil(t, subj.fields)
	})
}

func TestDeadLetterStrippedRemovesTheRecord(t *testing.T) {
	r := newRig(t, Deps{})
	body := patientBody(t, "o.q@mailbox.example")
	m, err := queue.Decode(body)
	require.NoError(t, err)
	rec := &Record{SQS: sqsMessage(body), Budget: noDeadline(), Result: Result{Msg: &m, Class: ClassGuard, Code: "tripwire"}}
	res := r.p.conclude(context.Background(), rec, DeadLetterStripped)
	assert.Equal(t, OutcomeDeadLettered, res.Outcome)
	require.Len(t, r.sqs.sent, 1)
	dead, err := queue.Decode(aws.ToString(r.sqs.sent[0].MessageBody))
	require.NoError(t, err)
	assert.JSONEq(t, `{}`, string(dead.Record))
	assert.Equal(t, 1, r.sqs.deleted)
}
