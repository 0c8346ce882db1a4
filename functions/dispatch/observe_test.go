package main

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNovaMedAnswersCountedByStatus: the dashboard's "NovaMed answers by
// status" reads one count per call, dimension Status.
func TestNovaMedAnswersCountedByStatus(t *testing.T) {
	for _, tc := range []struct {
		fail   int // the sandbox's answer to the first call; 0 for success
		status string
	}{
		{0, "2xx"},
		{422, "422"},
		{503, "503"},
	} {
		t.Run(tc.status, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			nm := newSandbox(t)
			if tc.fail != 0 {
				nm.FailNext(1, tc.fail, 0)
			}
			h := e.handler(e.config("dev", nm.URL), nil)
			e.send(patients(t, "evt-answers-"+tc.status, 1)...)
			e.run(h, 1, 10*time.Second)
			assert.EqualValues(t, 1, e.emfCount(MetricNovaMedAnswers, "Status", tc.status))
			assert.EqualValues(t, 1, e.emfCount(MetricNovaMedAnswers), "one answer, one count")
			assert.Zero(t, e.emfCount(MetricDependencyErrors))
		})
	}
}

// TestLedgerErrorsCounted: a ledger that cannot be reached is counted under
// DependencyErrors (Dependency "ledger"), and NovaMed is not called.
func TestLedgerErrorsCounted(t *testing.T) {
	e := newEnv(t, envOptions{})
	nm := newSandbox(t)
	h := e.handler(e.config("dev", nm.URL), nil)
	_, err := e.ddb.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(e.table)})
	require.NoError(t, err)
	e.send(patients(t, "evt-ledger-down", 2)...)
	e.run(h, 2, 10*time.Second)
	assert.EqualValues(t, 2, e.emfCount(MetricDependencyErrors, "Dependency", "ledger"))
	assert.Zero(t, e.emfCount(MetricNovaMedAnswers))
	assert.Zero(t, nm.Requests())
}
