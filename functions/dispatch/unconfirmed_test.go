package main

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/pkg/delivery"
	"github.com/novamed/bridge/pkg/ledger"
	"github.com/novamed/bridge/pkg/novamed"
)

// TestErrorAfterCreateIsUnconfirmed: NovaMed (or its gateway) answers 502,
// 504 or, by default, 500 after it created the patient. The record is
// unconfirmed and never sent again, so NovaMed holds exactly one chart.
func TestErrorAfterCreateIsUnconfirmed(t *testing.T) {
	for _, status := range []int{http.StatusGatewayTimeout, http.StatusBadGateway, http.StatusInternalServerError} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			e := newEnv(t, envOptions{})
			nm := newSandbox(t)
			nm.FailAfterCreate(1, status)
			h := e.handler(e.config("dev", nm.URL), nil, WithBackoff(zeroBackoff))
			m := patients(t, "evt-after-create", 1)[0]
			e.send(m)

			_, resp := e.run(h, 1, 10*time.Second)
			assert.Empty(t, resp.BatchItemFailures, "not retried")
			require.Len(t, nm.Patients(), 1, "the sandbox created the patient before answering")
			dls := e.deadLetters()
			require.Len(t, dls, 1)
			assert.Equal(t, ClassUnconfirmed, dls[0].attrs.ErrorClass)
			assert.Equal(t, status, dls[0].attrs.HTTPStatus)
			assert.Equal(t, novamed.CodeServerError, dls[0].attrs.ErrorCode)
			assert.Equal(t, ledger.RecordUnconfirmed, e.record(m.ID).State)
			assert.EqualValues(t, 1, e.emfCount(MetricDeadLettered, "Class", ClassUnconfirmed))

			e.send(m) // a duplicate of the message: still never called again
			_, resp = e.run(h, 1, 10*time.Second)
			assert.Empty(t, resp.BatchItemFailures)
			assert.Equal(t, 1, nm.Requests())
			assert.Len(t, nm.Patients(), 1, "exactly one patient at NovaMed")
			assert.Zero(t, nm.Duplicates())
		})
	}
}

// TestStatus500Retryable: with NOVAMED_500_POLICY=retryable a 500 is retried
// like a 503, and when NovaMed had created the record before failing the
// retry makes a second chart: the trade-off docs/operations.md describes.
func TestStatus500Retryable(t *testing.T) {
	e := newEnv(t, envOptions{})
	nm := newSandbox(t)
	nm.FailAfterCreate(1, http.StatusInternalServerError)
	cfg := e.config("dev", nm.URL)
	cfg.Status500 = delivery.Status500Retryable
	h := e.handler(cfg, nil, WithBackoff(zeroBackoff))
	m := patients(t, "evt-500-retry", 1)[0]
	e.send(m)

	_, resp := e.run(h, 1, 10*time.Second)
	require.Len(t, resp.BatchItemFailures, 1, "retried")
	assert.Empty(t, e.deadLetters())
	assert.Equal(t, ledger.RecordReleased, e.record(m.ID).State)

	_, resp = e.run(h, 1, 10*time.Second)
	assert.Empty(t, resp.BatchItemFailures)
	assert.Equal(t, ledger.RecordDelivered, e.record(m.ID).State)
	assert.Len(t, nm.Patients(), 2)
	assert.Equal(t, 1, nm.Duplicates(), "the retry created a second chart")
}

// TestStatus503StaysRetryable: a 503 is a refusal before any work, even
// under the default 500 setting.
func TestStatus503StaysRetryable(t *testing.T) {
	e := newEnv(t, envOptions{})
	nm := newSandbox(t)
	nm.FailNext(1, http.StatusServiceUnavailable, 0)
	h := e.handler(e.config("dev", nm.URL), nil, WithBackoff(zeroBackoff))
	m := patients(t, "evt-503", 1)[0]
	e.send(m)

	_, resp := e.run(h, 1, 10*time.Second)
	require.Len(t, resp.BatchItemFailures, 1)
	_, resp = e.run(h, 1, 10*time.Second)
	assert.Empty(t, resp.BatchItemFailures)
	assert.Len(t, nm.Patients(), 1)
	assert.Equal(t, ledger.RecordDelivered, e.record(m.ID).State)
}
