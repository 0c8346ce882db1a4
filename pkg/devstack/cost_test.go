package devstack

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/novamed/bridge/pkg/samples"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMeterCountsTheWorkOfWebhooks runs webhooks through the local stack
// with a Meter: the functions' AWS calls pass through it (intake's
// SendMessageBatch, one per webhook), the event source's receives and
// deletes too, SSM is read from the cache rather than per webhook, and
// the functions' log output and invocations are counted.
func TestMeterCountsTheWorkOfWebhooks(t *testing.T) {
	meter := NewMeter()
	t.Cleanup(meter.Close)
	e := startE2E(t, func(o *Options) { o.Meter = meter })

	setup := meter.Snapshot()
	assert.GreaterOrEqual(t, setup.Count("ssm", "PutParameter"), 3, "the stack's own SSM calls pass through the meter")

	templates := make([]samples.Template, 0, len(e.templates))
	for _, tpl := range e.templates {
		templates = append(templates, tpl)
	}
	const n = 8
	u, err := MeasureWebhooks(context.Background(), e.Stack, meter, e.sources, templates, n)
	require.NoError(t, err)

	assert.Equal(t, n, u.Count("sqs", "SendMessageBatch"), "intake queues each webhook's record in one batch")
	assert.Positive(t, u.Count("sqs", "ReceiveMessage"))
	assert.Positive(t, u.Count("sqs", "DeleteMessageBatch"))
	assert.Zero(t, u.Count("ssm", "PutParameter"), "set-up calls are not counted")
	ssmReads := u.Count("ssm", "GetParametersByPath") + u.Count("ssm", "GetParameters") + u.Count("ssm", "GetParameter")
	assert.Less(t, ssmReads, n/2, "parameters are cached, not read per webhook")
	writes := 0
	for c, cc := range u.Calls {
		if c.Service == "dynamodb" && dynamoWrites[c.Operation] {
			writes += cc.Calls
		}
	}
	assert.GreaterOrEqual(t, writes, n, "at least the ledger's event item per webhook")

	assert.GreaterOrEqual(t, u.Logs.Invocations, int64(n+1), "n intake invocations and at least one dispatch batch")
	assert.GreaterOrEqual(t, u.Logs.EMFLines, int64(2*n), "intake writes at least two metric lines a webhook")
	assert.Greater(t, u.Logs.Bytes, u.Logs.EMFBytes)
	assert.Positive(t, u.Logs.BilledMS)
	assert.Equal(t, n+costWarmUp, len(e.Sandbox.Patients()), "every webhook was delivered")
}

func TestCallOfNamesOperations(t *testing.T) {
	for _, c := range []struct {
		header, auth, body string
		want               Call
	}{
		{header: "AmazonSQS.SendMessageBatch", want: Call{"sqs", "SendMessageBatch"}},
		{header: "DynamoDB_20120810.UpdateItem", want: Call{"dynamodb", "UpdateItem"}},
		{header: "AmazonSSM.GetParametersByPath", want: Call{"ssm", "GetParametersByPath"}},
		{header: "Logs_20140328.PutLogEvents", want: Call{"Logs_20140328", "PutLogEvents"}},
		{auth: "AWS4-HMAC-SHA256 Credential=local/20261201/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=00",
			body: "Action=ReceiveMessage&Version=2012-11-05", want: Call{"sqs", "ReceiveMessage"}},
		{body: "Action=DeleteMessage", want: Call{"unknown", "DeleteMessage"}},
	} {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(c.body))
		if c.header != "" {
			r.Header.Set("X-Amz-Target", c.header)
		}
		if c.auth != "" {
			r.Header.Set("Authorization", c.auth)
		}
		assert.Equal(t, c.want, callOf(r, []byte(c.body)))
	}
}

// TestMeterCountsLogLines: function lines and EMF lines count, the
// emulator's own lines do not, REPORT lines give invocations and billed
// milliseconds (rounded up), and a line split across writes counts once.
func TestMeterCountsLogLines(t *testing.T) {
	m := NewMeter()
	var sink strings.Builder
	w := m.wrapLogs(&sink)
	lines := []string{
		`{"level":"INFO","msg":"intake","outcome":"accepted"}`,
		`{"Accepted":1,"Stage":"dev","_aws":{"CloudWatchMetrics":[{"Dimensions":[["Stage"]],"Metrics":[{"Name":"Accepted","Unit":"Count"}],"Namespace":"NovaMedBridge"}],"Timestamp":1}}`,
		`01 Dec 2026 06:00:00,000 [INFO] (rapid) exec '/var/runtime/bootstrap' (cwd=/tmp, handler=)`,
		`REPORT RequestId: 6a1c  Init Duration: 0.31 ms  Duration: 12.20 ms  Billed Duration: 13 ms  Memory Size: 3008 MB  Max Memory Used: 3008 MB`,
		`REPORT RequestId: 7b2d	Duration: 3.00 ms	Billed Duration: 3 ms	Memory Size: 3008 MB	Max Memory Used: 3008 MB`,
	}
	all := strings.Join(lines, "\n") + "\n"
	_, err := w.Write([]byte(all[:40]))
	require.NoError(t, err)
	_, err = w.Write([]byte(all[40:]))
	require.NoError(t, err)
	assert.Equal(t, all, sink.String(), "the output passes through unchanged")

	l := m.Snapshot().Logs
	assert.EqualValues(t, 4, l.Lines)
	assert.EqualValues(t, len(lines[0])+len(lines[1])+len(lines[3])+len(lines[4])+4, l.Bytes)
	assert.EqualValues(t, 1, l.EMFLines)
	assert.EqualValues(t, len(lines[1])+1, l.EMFBytes)
	assert.EqualValues(t, 2, l.Invocations)
	assert.InDelta(t, 13+3, l.BilledMS, 1e-9)
}

// TestCostModelArithmetic checks the model on known counts: per million
// webhooks, one SendMessageBatch each is a million SQS requests ($0.40).
func TestCostModelArithmetic(t *testing.T) {
	u := Usage{
		Calls: map[Call]CallCount{
			{"sqs", "SendMessageBatch"}: {Calls: 10, MaxRequest: 900},
			{"dynamodb", "UpdateItem"}:  {Calls: 20, MaxRequest: 1500}, // two units each
			{"dynamodb", "GetItem"}:     {Calls: 10, MaxRequest: 300},
		},
		Logs: LogCount{Invocations: 20, BilledMS: 1000},
	}
	lines := map[string]float64{}
	for _, l := range CostModel(u, 10).Lines {
		lines[l.Item] = l.Dollars
	}
	assert.InDelta(t, 0.40, lines["SQS requests"], 1e-9)
	assert.InDelta(t, 2*2*0.625, lines["DynamoDB writes"], 1e-9)
	assert.InDelta(t, 0.125, lines["DynamoDB reads"], 1e-9)
	assert.InDelta(t, 2*0.20, lines["Lambda requests"], 1e-9)
	// 100 ms a webhook at 256 MB: 25,000 GB-s per million.
	assert.InDelta(t, 25000*0.0000133334, lines["Lambda duration, measured"], 1e-9)
}
