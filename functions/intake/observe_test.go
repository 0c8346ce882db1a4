//go:build !nokumo

package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// emfSum adds up the metric name over the EMF lines in out whose dimensions
// include dims (key, value pairs).
func emfSum(t *testing.T, out, name string, dims ...string) float64 {
	t.Helper()
	var total float64
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		v, ok := m[name].(float64)
		if !ok {
			continue
		}
		match := true
		for i := 0; i+1 < len(dims); i += 2 {
			match = match && m[dims[i]] == dims[i+1]
		}
		if match {
			total += v
		}
	}
	require.NoError(t, sc.Err())
	return total
}

// TestWebhooksCountedBySourceAndOutcome: the dashboard's "webhooks by
// source" reads one count per request; a source that does not exist is
// counted as "other", so a path cannot create metrics.
func TestWebhooksCountedBySourceAndOutcome(t *testing.T) {
	f := newFixture(t)
	require.Equal(t, http.StatusAccepted, f.invoke(loadEvent(t, "fhir-patient")).StatusCode)
	require.Equal(t, http.StatusUnauthorized, f.invoke(loadEvent(t, "error-bad-signature")).StatusCode)
	unknown := f.invoke(loadEvent(t, "error-unknown-source"))
	require.Equal(t, http.StatusNotFound, unknown.StatusCode)

	out := f.metrics.String()
	assert.EqualValues(t, 1, emfSum(t, out, MetricWebhooks, "Source", "ehr-fhir", "Outcome", "accepted"))
	assert.EqualValues(t, 2, emfSum(t, out, MetricWebhooks, "Outcome", "rejected", "Stage", "dev"))
	assert.EqualValues(t, 1, emfSum(t, out, MetricWebhooks, "Source", "ehr-fhir", "Outcome", "rejected"), "the bad signature")
	assert.EqualValues(t, 1, emfSum(t, out, MetricWebhooks, "Source", "other", "Outcome", "rejected"), "the unknown source")
	assert.EqualValues(t, 3, emfSum(t, out, MetricWebhooks))
	assert.Zero(t, emfSum(t, out, MetricDependencyErrors))
}

// TestDependencyErrorsCounted: a 503 caused by SQS is counted under
// DependencyErrors with the dependency it blames.
func TestDependencyErrorsCounted(t *testing.T) {
	f := newFixture(t)
	_, err := f.sqs.DeleteQueue(f.ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(f.queueURL)})
	require.NoError(t, err)
	require.Equal(t, http.StatusServiceUnavailable, f.invoke(loadEvent(t, "fhir-patient")).StatusCode)
	out := f.metrics.String()
	assert.EqualValues(t, 1, emfSum(t, out, MetricDependencyErrors, "Dependency", "sqs"))
	assert.EqualValues(t, 1, emfSum(t, out, MetricDependencyErrors))
	assert.EqualValues(t, 1, emfSum(t, out, MetricWebhooks, "Outcome", "unavailable"))
}

func TestDependencyOfCodes(t *testing.T) {
	for code, want := range map[string]string{
		"params_unavailable": "ssm", "ledger_unavailable": "ledger", "queue_unavailable": "sqs",
		"config_error": "", "bad_signature": "", "": "",
	} {
		assert.Equal(t, want, dependencyOf(code), code)
	}
}
