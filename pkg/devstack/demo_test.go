package devstack

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/internal/logtest"
)

// TestDemoReportCountsEveryAcceptedWebhook runs make demo's flow and checks
// that "webhooks accepted" counts every webhook answered 202 in its own
// output: the table's rows, the repeated one and the one carrying the
// record NovaMed refuses.
func TestDemoReportCountsEveryAcceptedWebhook(t *testing.T) {
	root, err := FindRoot(".")
	require.NoError(t, err)
	var out logtest.Buffer
	require.NoError(t, Demo(context.Background(), DemoOptions{Root: root, BuildDir: t.TempDir(), Out: &out}), out.String())
	report := out.String()

	row := regexp.MustCompile(`^   \S+(?: \(sent again\))?\s+\S+\s+(\d{3})\s+\d{3}\s`)
	answered202 := 0
	for _, line := range strings.Split(report, "\n") {
		if m := row.FindStringSubmatch(line); m != nil && m[1] == "202" {
			answered202++
		}
		if strings.HasPrefix(line, "   form-patient (new event): 202 ") {
			answered202++
		}
	}
	m := regexp.MustCompile(`webhooks accepted:\s+(\d+) \((\d+) of them a repeat`).FindStringSubmatch(report)
	require.NotNil(t, m, report)
	accepted, _ := strconv.Atoi(m[1])
	assert.Equal(t, answered202, accepted, report)
	assert.Equal(t, "1", m[2], "one repeated webhook")
	assert.Contains(t, report, "== OK")
}
