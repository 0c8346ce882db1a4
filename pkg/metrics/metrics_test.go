package metrics

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCountWritesEMF(t *testing.T) {
	var buf bytes.Buffer
	r := New(&buf, map[string]string{"Stage": "dev"})
	r.now = func() time.Time { return time.UnixMilli(1700000000000) }
	r.Count("Rejected", 2, "Reason", "bad_signature")

	var line map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &line))
	assert.Equal(t, float64(2), line["Rejected"])
	assert.Equal(t, "dev", line["Stage"])
	assert.Equal(t, "bad_signature", line["Reason"])
	aws := line["_aws"].(map[string]any)
	assert.Equal(t, float64(1700000000000), aws["Timestamp"])
	cw := aws["CloudWatchMetrics"].([]any)[0].(map[string]any)
	assert.Equal(t, Namespace, cw["Namespace"])
	assert.Equal(t, []any{[]any{"Reason", "Stage"}}, cw["Dimensions"])
	assert.Equal(t, []any{map[string]any{"Name": "Rejected", "Unit": "Count"}}, cw["Metrics"])
}

func TestDurationInMilliseconds(t *testing.T) {
	var buf bytes.Buffer
	New(&buf, nil).Duration("DeliveryLatency", 1500*time.Microsecond)
	var line map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &line))
	assert.Equal(t, 1.5, line["DeliveryLatency"])
}

func TestFreeTextNeverBecomesADimension(t *testing.T) {
	for _, v := range []string{"John Smith", "john@example.com", "", strings.Repeat("a", 65), "Clinic not found"} {
		var buf bytes.Buffer
		New(&buf, nil).Count("DeadLettered", 1, "Class", v)
		assert.NotContains(t, buf.String(), `"Class":"`+v+`"`, "a value of length %d became a dimension", len(v))
		assert.Contains(t, buf.String(), `"Class":"other"`)
	}
}

func TestConcurrentLinesStayWhole(t *testing.T) {
	var buf bytes.Buffer
	r := New(&buf, map[string]string{"Stage": "prod"})
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() { r.Count("Delivered", 1) })
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 50)
	for _, l := range lines {
		assert.True(t, json.Valid([]byte(l)))
	}
}

func TestNilRecorderIsSilent(t *testing.T) {
	var r *Recorder
	r.Count("Accepted", 1)
}

func TestNoDimensionsIsAnEmptySetNotNull(t *testing.T) {
	var buf bytes.Buffer
	New(&buf, nil).Count("Accepted", 1)
	assert.Contains(t, buf.String(), `"Dimensions":[[]]`)
	assert.NotContains(t, buf.String(), "null")
}
