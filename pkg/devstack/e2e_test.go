package devstack

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/internal/logtest"
	"github.com/novamed/bridge/pkg/queue"
	"github.com/novamed/bridge/pkg/samples"
)

// The end-to-end suite: the real bootstrap binaries under the Lambda RIE,
// kumo, the NovaMed sandbox marked as Development. Binaries are built once
// per test binary.
var (
	buildOnce sync.Once
	built     Binaries
	buildErr  error
	buildDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

func binaries(t *testing.T) Binaries {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "devstack-e2e-")
		if buildErr == nil {
			var out bytes.Buffer
			built, buildErr = Build(context.Background(), buildDir, &out)
			if buildErr != nil {
				buildErr = fmt.Errorf("%w\n%s", buildErr, out.String())
			}
		}
	})
	require.NoError(t, buildErr)
	return built
}

type e2e struct {
	*Stack
	t         *testing.T
	sources   []samples.Source
	templates map[string]samples.Template
	canaries  []string
	logs      *logtest.Buffer
}

func startE2E(t *testing.T, mutate func(*Options)) *e2e {
	t.Helper()
	sources, ts := localSamples(t)
	e := &e2e{t: t, sources: sources, templates: map[string]samples.Template{}, canaries: Canaries(ts, sources), logs: &logtest.Buffer{}}
	for _, tpl := range ts {
		e.templates[tpl.Name] = tpl
	}
	require.NotEmpty(t, e.canaries)
	opts := Options{Name: RandomName(), Binaries: binaries(t), Sources: sources, Canaries: e.canaries, Logs: e.logs}
	if mutate != nil {
		mutate(&opts)
	}
	var err error
	e.Stack, err = Start(context.Background(), opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		e.Close()
		e.assertNoPHI()
	})
	return e
}

// localSamples returns the local stack's sources and the sample templates,
// as make local and make demo load them.
func localSamples(t testing.TB) ([]samples.Source, []samples.Template) {
	t.Helper()
	root, err := FindRoot(".")
	require.NoError(t, err)
	sources, err := LoadLocalSources(root)
	require.NoError(t, err)
	templates, err := samples.Templates()
	require.NoError(t, err)
	return sources, templates
}

// post sends a sample, freshly signed, with a distinct event id so tests
// that post the same sample twice are two events.
func (e *e2e) post(name string, eventID string) Response {
	e.t.Helper()
	tpl, ok := e.templates[name]
	require.True(e.t, ok, name)
	if eventID != "" {
		tpl.EventID = eventID
	}
	ev, err := tpl.Event(e.sources, time.Now())
	require.NoError(e.t, err)
	resp, err := e.Send(context.Background(), ev)
	require.NoError(e.t, err)
	return resp
}

func (e *e2e) drain() {
	e.t.Helper()
	require.NoError(e.t, e.WaitDrained(context.Background(), 90*time.Second), "the queue must drain")
}

func (e *e2e) delivered() int {
	return len(e.Sandbox.Patients()) + len(e.Sandbox.Practitioners())
}

// assertNoPHI: nothing of the samples' PHI reached the Development sandbox
// or any process's log output.
func (e *e2e) assertNoPHI() {
	assert.Empty(e.t, e.Sandbox.Violations(), "the Development sandbox received PHI")
	logs := e.logs.String()
	clean := true
	for i, c := range e.canaries {
		// Whole values: a ZIP canary turns up inside a nanosecond
		// timestamp or a request id by chance.
		if logtest.ContainsValue(logs, c) {
			clean = false
			e.t.Errorf("canary #%d appears in the functions' logs", i)
		}
	}
	if e.t.Failed() && clean {
		e.logProblems(logs)
	}
}

// logProblems prints the functions' warnings and errors of a failed test,
// which say what went wrong inside the stack (an SSM read that failed, a
// ledger write). Only logs just checked free of every canary are printed;
// the functions log no record values by design.
func (e *e2e) logProblems(logs string) {
	if p := problems(logs); p != "" {
		e.t.Log(p)
	}
}

// problems returns the warning and error lines of a function's logs (at
// most 40), for the message of a failed test: they name the dependency
// that failed, and hold no record values.
func problems(logs string) string {
	const most = 40
	var b strings.Builder
	n := 0
	for line := range strings.Lines(logs) {
		if strings.Contains(line, `"level":"WARN"`) || strings.Contains(line, `"level":"ERROR"`) {
			if n++; n <= most {
				b.WriteString(line)
			}
		}
	}
	if n > most {
		fmt.Fprintf(&b, "… and %d more warnings and errors\n", n-most)
	}
	return b.String()
}

func (e *e2e) deadLetters() []queue.DLQAttributes {
	e.t.Helper()
	var out []queue.DLQAttributes
	for range 3 {
		res, err := e.SQS.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(e.DLQURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 0,
			MessageAttributeNames: []string{"All"}, VisibilityTimeout: 60,
		})
		require.NoError(e.t, err)
		for _, m := range res.Messages {
			a, err := queue.ParseDLQAttributes(m.MessageAttributes)
			require.NoError(e.t, err)
			out = append(out, a)
		}
	}
	return out
}

func TestEndToEndEverySampleAnswersAsDesigned(t *testing.T) {
	e := startE2E(t, nil)
	records := 0
	var held []string
	for name, tpl := range e.templates {
		resp := e.post(name, "")
		assert.Equal(t, tpl.Expect.Status, resp.Status, "%s: %s", name, resp.Body)
		if resp.Status == 202 {
			records += tpl.Expect.Delivered()
			held = append(held, tpl.Expect.Held...)
		}
	}
	e.drain()
	assert.Equal(t, records, e.delivered(), "every queued record reaches NovaMed once")
	var got []string
	for _, a := range e.deadLetters() {
		assert.Equal(t, queue.ClassHeld, a.ErrorClass, "only held records wait in the DLQ")
		got = append(got, a.ErrorCode)
	}
	assert.ElementsMatch(t, held, got)
}

// A Patient without an email address is held: answered 202 naming it, and
// waiting in the dead-letter queue as held/missing_email, de-identified
// (the local stack is dev), never sent to NovaMed.
func TestEndToEndHeldRecord(t *testing.T) {
	e := startE2E(t, nil)
	resp := e.post("fhir-patient-held", "")
	require.Equal(t, 202, resp.Status, string(resp.Body))
	assert.Contains(t, string(resp.Body), `"reason":"missing_email"`)
	e.drain()
	assert.Zero(t, e.delivered())
	res, err := e.SQS.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(e.DLQURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
		MessageAttributeNames: []string{"All"}, VisibilityTimeout: 60,
	})
	require.NoError(t, err)
	require.Len(t, res.Messages, 1)
	a, err := queue.ParseDLQAttributes(res.Messages[0].MessageAttributes)
	require.NoError(t, err)
	assert.Equal(t, queue.ClassHeld, a.ErrorClass)
	assert.Equal(t, "missing_email", a.ErrorCode)
	assert.Equal(t, []string{"telecom"}, a.Fields)
	m, err := queue.Decode(aws.ToString(res.Messages[0].Body))
	require.NoError(t, err)
	assert.True(t, m.Deidentified)
	for _, v := range []string{"Lovelace", "Byron Street", "1985-12-10"} {
		assert.NotContains(t, string(m.Record), v, "a held record is de-identified outside production")
	}
}

func TestEndToEndDelivery(t *testing.T) {
	e := startE2E(t, nil)
	cases := []struct {
		sample                  string
		patients, practitioners int
	}{
		{"fhir-patient", 1, 0},
		{"fhir-bundle", 3, 0},
		{"form-patient", 1, 0},
		{"fhir-practitioner", 0, 1},
		{"typeform-patient", 1, 0},
		{"typeform-noref-patient", 1, 0},
		{"tally-patient", 1, 0},
		{"formstack-patient", 1, 0},
		{"formstack-handshake-practitioner", 0, 1},
		{"jotform-patient", 1, 0},
	}
	for _, c := range cases {
		t.Run(c.sample, func(t *testing.T) {
			p0, d0 := len(e.Sandbox.Patients()), len(e.Sandbox.Practitioners())
			resp := e.post(c.sample, "")
			require.Equal(t, 202, resp.Status, string(resp.Body))
			e.drain()
			patients, practitioners := e.Sandbox.Patients()[p0:], e.Sandbox.Practitioners()[d0:]
			assert.Len(t, patients, c.patients)
			assert.Len(t, practitioners, c.practitioners)
			for _, p := range patients {
				assert.Equal(t, e.Sandbox.ClinicID(), p.Request.ClinicID)
				assert.True(t, strings.HasSuffix(p.Request.Email, "@example.com") && strings.HasPrefix(p.Request.Email, "p-"), "a de-identified email")
				assert.True(t, strings.HasSuffix(p.Request.DateOfBirth, "-01-01"), "a generalised birth date")
				assert.Empty(t, p.Request.AddressLine2)
			}
		})
	}
}

func TestEndToEndDuplicateWebhookIsDeliveredOnce(t *testing.T) {
	e := startE2E(t, nil)
	var wg sync.WaitGroup
	statuses := make([]int, 5)
	for i := range statuses {
		wg.Go(func() { statuses[i] = e.post("fhir-patient", "msg_e2e_duplicate").Status })
	}
	wg.Wait()
	e.drain()
	// Concurrent copies are answered 202 (first, or duplicate) or 503 while
	// the first is being queued (the sender retries); never a second chart.
	for _, s := range statuses {
		assert.Contains(t, []int{202, 503}, s)
	}
	assert.Contains(t, statuses, 202)
	assert.Equal(t, 1, len(e.Sandbox.Patients()))
	assert.Zero(t, e.Sandbox.Duplicates())
}

func TestEndToEndNovaMedOutageIsRetriedWithBackoff(t *testing.T) {
	e := startE2E(t, nil)
	e.Sandbox.FailNext(3, 503, 0) // unavailable: nothing created, retried (a 500 is unconfirmed)
	resp := e.post("fhir-patient", "")
	require.Equal(t, 202, resp.Status)
	e.drain()
	assert.Len(t, e.Sandbox.Patients(), 1, "delivered after three 503s")
	assert.Empty(t, e.deadLetters())
}

func TestEndToEndPermanentRefusalIsDeadLetteredWithItsReason(t *testing.T) {
	e := startE2E(t, nil)
	e.Sandbox.FailNext(1, 400, 0)
	resp := e.post("fhir-patient", "")
	require.Equal(t, 202, resp.Status)
	e.drain()
	assert.Empty(t, e.Sandbox.Patients())
	dead := e.deadLetters()
	require.Len(t, dead, 1)
	assert.Equal(t, "permanent", dead[0].ErrorClass)
	assert.Equal(t, "validation_error", dead[0].ErrorCode)
	assert.Equal(t, 400, dead[0].HTTPStatus)
	assert.Equal(t, 1, dead[0].Attempts)
}

func TestEndToEndRevokedKeyWaitsForRotation(t *testing.T) {
	e := startE2E(t, func(o *Options) { o.MaxReceiveCount = 50 })
	e.Sandbox.SetAPIKey("rotated-key-0123456789abcdef")
	resp := e.post("fhir-patient", "")
	require.Equal(t, 202, resp.Status)

	// Refused while SSM holds the revoked key: the message stays queued.
	require.Eventually(t, func() bool { return e.Sandbox.Requests() >= 2 }, 30*time.Second, 100*time.Millisecond)
	assert.Empty(t, e.Sandbox.Patients())
	depth, err := e.QueueDepth(context.Background(), e.QueueURL)
	require.NoError(t, err)
	assert.Equal(t, 1, depth, "the record waits in the queue")

	require.NoError(t, e.PutParameter(context.Background(), "api-key", "rotated-key-0123456789abcdef", true))
	e.drain()
	assert.Len(t, e.Sandbox.Patients(), 1, "delivered with the rotated key")
	assert.Empty(t, e.deadLetters())
	assert.NotContains(t, e.logs.String(), "rotated-key-0123456789abcdef", "the key never reaches a log")
}
