package main

import (
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/internal/awstest"
	"github.com/novamed/bridge/pkg/ledger"
	"github.com/novamed/bridge/pkg/params"
)

// faultyEnv is an env whose SSM parameters and ledger are reached through a
// Faults proxy in front of the same kumo, so a test can make SSM or
// DynamoDB fail on the wire while SQS keeps working.
type faultyEnv struct {
	*env
	faults *awstest.Faults
}

func newFaultyEnv(t *testing.T) *faultyEnv {
	t.Helper()
	e := newEnv(t, envOptions{})
	proxied, faults := awstest.StartFaultsFor(t, aws.ToString(e.ssm.Options().BaseEndpoint), awsconfig.WithRetryMaxAttempts(2))
	var err error
	e.cache, err = params.New(proxied.SSM(), e.prefix,
		params.WithNames(ParamAPIKey, ParamClinicID, ParamPseudonymKey),
		params.WithTTL(time.Minute), params.WithStaleGrace(time.Minute), params.WithMinRetryInterval(0),
		params.WithClock(e.clock.Now))
	require.NoError(t, err)
	e.ledger = ledger.New(proxied.DynamoDB(), e.table, ledger.WithLease(LedgerLease), ledger.WithClock(e.clock.Now))
	return &faultyEnv{env: e, faults: faults}
}

// TestFaultSSMUnavailableAtColdStart: with SSM down before the first load,
// dispatch cannot read the NovaMed key: every record stays queued for a
// retry, NovaMed is not called, nothing is dead-lettered. Once SSM is back,
// each record is delivered once.
func TestFaultSSMUnavailableAtColdStart(t *testing.T) {
	e := newFaultyEnv(t)
	nm := newSandbox(t)
	h := e.handler(e.config("dev", nm.URL), nil, WithBackoff(zeroBackoff))
	e.send(patients(t, "evt-ssm-cold", 2)...)

	e.faults.Set("SSM", awstest.Unavailable)
	_, resp := e.run(h, 2, 10*time.Second)
	assert.Len(t, resp.BatchItemFailures, 2, "both records retried")
	assert.Positive(t, e.faults.Hits("SSM"))
	assert.Zero(t, nm.Requests(), "no key, no call")
	assert.Empty(t, e.deadLetters(), "an outage dead-letters nothing")
	assert.EqualValues(t, 2, e.emfCount(MetricDependencyErrors, "Dependency", "ssm"))

	e.faults.Set("SSM", awstest.Pass)
	_, resp = e.run(h, 2, 10*time.Second)
	assert.Empty(t, resp.BatchItemFailures)
	assert.Len(t, nm.Patients(), 2, "each record delivered once")
	assert.Equal(t, 2, nm.Requests())
}

// TestFaultSSMUnavailableMidRun: SSM fails after the key was loaded. Within
// TTL+grace the loaded key keeps delivering; past it the records are
// retried without a call; when SSM is back they are delivered once.
func TestFaultSSMUnavailableMidRun(t *testing.T) {
	e := newFaultyEnv(t)
	nm := newSandbox(t)
	h := e.handler(e.config("dev", nm.URL), nil, WithBackoff(zeroBackoff))
	e.send(patients(t, "evt-ssm-mid-1", 1)...)
	_, resp := e.run(h, 1, 10*time.Second)
	require.Empty(t, resp.BatchItemFailures)

	e.faults.Set("SSM", awstest.Unavailable)
	e.clock.Advance(90 * time.Second) // past the TTL, inside the grace
	e.send(patients(t, "evt-ssm-mid-2", 1)...)
	_, resp = e.run(h, 1, 10*time.Second)
	assert.Empty(t, resp.BatchItemFailures, "the stale key serves within the grace")
	assert.Len(t, nm.Patients(), 2)

	e.clock.Advance(2 * time.Minute) // past TTL+grace
	e.send(patients(t, "evt-ssm-mid-3", 2)...)
	_, resp = e.run(h, 2, 10*time.Second)
	assert.Len(t, resp.BatchItemFailures, 2, "no key older than TTL+grace is used")
	assert.Equal(t, 2, nm.Requests(), "no call without a key")
	assert.Empty(t, e.deadLetters())

	e.faults.Set("SSM", awstest.Pass)
	_, resp = e.run(h, 2, 10*time.Second)
	assert.Empty(t, resp.BatchItemFailures)
	assert.Len(t, nm.Patients(), 4, "every record delivered once")
	assert.Equal(t, 4, nm.Requests())
}

// TestFaultSSMDownWaitsOutTheCachesBackOff: after a failed SSM read the
// parameter cache does not read SSM again for its retry interval (5 s), so
// a retry sooner would meet the same error and spend one of the record's
// attempts. The records are made invisible for at least that long, even
// with a backoff that would retry at once.
func TestFaultSSMDownWaitsOutTheCachesBackOff(t *testing.T) {
	e := newFaultyEnv(t)
	proxied, faults := awstest.StartFaultsFor(t, aws.ToString(e.ssm.Options().BaseEndpoint), awsconfig.WithRetryMaxAttempts(1))
	// The cache's clock stands still, so the wait it asks for is its whole
	// retry interval, whatever the machine's load.
	frozen := time.Now()
	var err error
	e.cache, err = params.New(proxied.SSM(), e.prefix,
		params.WithNames(ParamAPIKey, ParamClinicID, ParamPseudonymKey),
		params.WithMinRetryInterval(5*time.Second), params.WithClock(func() time.Time { return frozen }))
	require.NoError(t, err)
	nm := newSandbox(t)
	var mu sync.Mutex
	var asked []time.Duration
	backoff := func(_, _ time.Duration, _ int, retryAfter time.Duration) time.Duration {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, retryAfter)
		return retryAfter
	}
	h := e.handler(e.config("dev", nm.URL), nil, WithBackoff(backoff))
	e.send(patients(t, "evt-ssm-backoff", 2)...)

	faults.Set("SSM", awstest.Unavailable)
	_, resp := e.run(h, 2, 10*time.Second)
	assert.Len(t, resp.BatchItemFailures, 2, "both records retried")
	require.Len(t, asked, 2)
	for _, d := range asked {
		assert.Equal(t, 5*time.Second, d, "the wait the cache's back-off needs")
	}
	visible, inflight := e.counts(e.queueURL)
	assert.Equal(t, [2]int{0, 2}, [2]int{visible, inflight}, "both invisible until the cache reads SSM again")
	assert.Zero(t, nm.Requests())
	assert.Empty(t, e.deadLetters())
}

// TestFaultDynamoDBThrottling: the ledger answers
// ProvisionedThroughputExceededException (after the SDK's own retry).
// Dispatch cannot claim the records, so it does not call NovaMed, counts a
// ledger dependency error and leaves them queued; after the throttling
// ends each is delivered once.
func TestFaultDynamoDBThrottling(t *testing.T) {
	e := newFaultyEnv(t)
	nm := newSandbox(t)
	h := e.handler(e.config("dev", nm.URL), nil, WithBackoff(zeroBackoff))
	e.send(patients(t, "evt-throttle", 3)...)

	e.faults.Set("DynamoDB", awstest.Throttled)
	_, resp := e.run(h, 3, 10*time.Second)
	assert.Len(t, resp.BatchItemFailures, 3)
	assert.GreaterOrEqual(t, e.faults.Hits("DynamoDB"), 6, "the SDK retried each throttled call once")
	assert.Zero(t, nm.Requests())
	assert.Empty(t, e.deadLetters())
	assert.EqualValues(t, 3, e.emfCount(MetricDependencyErrors, "Dependency", "ledger"))

	e.faults.Set("DynamoDB", awstest.Pass)
	_, resp = e.run(h, 3, 10*time.Second)
	assert.Empty(t, resp.BatchItemFailures)
	assert.Len(t, nm.Patients(), 3)
	assert.Equal(t, 3, nm.Requests())
}
