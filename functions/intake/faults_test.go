//go:build !nokumo

package main

import (
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/internal/awstest"
	"github.com/novamed/bridge/pkg/ledger"
	"github.com/novamed/bridge/pkg/params"
	"github.com/novamed/bridge/pkg/queue"
	"github.com/novamed/bridge/pkg/samples"
)

// faultyFixture routes the fixture's SSM and ledger through a Faults proxy
// in front of the same kumo; SQS stays direct.
func faultyFixture(t *testing.T) (*fixture, *awstest.Faults) {
	t.Helper()
	f := newFixture(t)
	proxied, faults := awstest.StartFaultsFor(t, aws.ToString(f.ssm.Options().BaseEndpoint), config.WithRetryMaxAttempts(2))
	cache, err := params.New(proxied.SSM(), f.prefix,
		params.WithNames(ParamClinicID, ParamPseudonymKey), params.WithPath(ParamSources),
		params.WithTTL(testParamTTL), params.WithMinRetryInterval(0), params.WithClock(f.clock.Now),
		params.WithLogger(slog.New(slog.NewJSONHandler(f.logs, nil))))
	require.NoError(t, err)
	sender, err := queue.NewSender(f.sqs, f.queueURL)
	require.NoError(t, err)
	f.ledger = ledger.New(proxied.DynamoDB(), f.table, ledger.WithClock(f.clock.Now))
	f.handler = f.newHandler(Config{Stage: "dev", Params: cache, Queue: sender, Ledger: f.ledger})
	return f, faults
}

// TestFaultSSMUnavailableMidRun: SSM fails after intake loaded the sources.
// Within TTL+grace the loaded definitions keep accepting; past it the
// sender gets 503 (and retries), nothing is queued; when SSM is back the
// retried webhook is accepted and queued once.
func TestFaultSSMUnavailableMidRun(t *testing.T) {
	f, faults := faultyFixture(t)
	body := sampleBody(t, "fhir-patient")
	resp := f.post("ehr-fhir", body, nil, samples.WithEventID("msg_ssm_mid_1"))
	require.Equal(t, http.StatusAccepted, resp.StatusCode, lastErrorCode(f))
	require.Len(t, f.messages(), 1)

	faults.Set("SSM", awstest.Unavailable)
	f.clock.Advance(testParamTTL + time.Minute) // stale, inside the grace
	resp = f.post("ehr-fhir", body, nil, samples.WithEventID("msg_ssm_mid_2"))
	assert.Equal(t, http.StatusAccepted, resp.StatusCode, "the stale definitions serve within the grace")
	assert.Len(t, f.messages(), 1)

	f.clock.Advance(2 * testParamTTL) // past TTL+grace
	resp = f.post("ehr-fhir", body, nil, samples.WithEventID("msg_ssm_mid_3"))
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "params_unavailable params: parameter store unavailable: GetParameters: ServiceUnavailable", lastErrorCode(f))
	assert.Positive(t, faults.Hits("SSM"))
	assert.Empty(t, f.messages(), "nothing queued while SSM is down")

	faults.Set("SSM", awstest.Pass)
	resp = f.post("ehr-fhir", body, nil, samples.WithEventID("msg_ssm_mid_3"))
	require.Equal(t, http.StatusAccepted, resp.StatusCode, lastErrorCode(f))
	assert.Len(t, f.messages(), 1, "the retried webhook is queued once")
}

// TestFaultDynamoDBThrottling: the ledger answers
// ProvisionedThroughputExceededException (after the SDK's own retry).
// The sender gets 503 and nothing is queued; its retry after the
// throttling is accepted and queued once; a further retry is a duplicate.
func TestFaultDynamoDBThrottling(t *testing.T) {
	f, faults := faultyFixture(t)
	body := sampleBody(t, "fhir-bundle") // three patients
	faults.Set("DynamoDB", awstest.Throttled)
	resp := f.post("ehr-fhir", body, nil, samples.WithEventID("msg_throttle"))
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "ledger_unavailable ledger: BeginEvent: unavailable: ProvisionedThroughputExceededException", lastErrorCode(f))
	assert.GreaterOrEqual(t, faults.Hits("DynamoDB"), 2, "the SDK retried the throttled call")
	assert.Empty(t, f.messages())

	faults.Set("DynamoDB", awstest.Pass)
	resp = f.post("ehr-fhir", body, nil, samples.WithEventID("msg_throttle"))
	require.Equal(t, http.StatusAccepted, resp.StatusCode, lastErrorCode(f))
	assert.Len(t, f.messages(), 3, "each record queued once")
	resp = f.post("ehr-fhir", body, nil, samples.WithEventID("msg_throttle"))
	assert.True(t, decodeAnswer(t, resp.Body).Duplicate)
	assert.Empty(t, f.messages())
}
