package redrive_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/pkg/ledger"
	"github.com/novamed/bridge/pkg/novamed"
	"github.com/novamed/bridge/pkg/redrive"
)

// run parses and runs a command line against the env's kumo.
func (e *env) run(extra redrive.Clients, args ...string) (stdout, stderr string, err error) {
	e.t.Helper()
	cmd, err := redrive.ParseArgs(args)
	require.NoError(e.t, err)
	cl := extra
	if cl.SQS == nil {
		cl.SQS = e.api
	}
	if cl.SSM == nil {
		cl.SSM = e.ssm
	}
	if cl.Ledger == nil {
		cl.Ledger = func(table string) redrive.Resolver { return ledger.New(e.ddb, table) }
	}
	cl.Options = append(fastOptions(), cl.Options...)
	var out, errOut bytes.Buffer
	err = cmd.Run(context.Background(), cl, &out, &errOut)
	return out.String(), errOut.String(), err
}

// allCanaries are every value of both fixtures: stats prints none.
func allCanaries(t *testing.T) []string {
	return append(canaries(t, novamed.KindPatient), canaries(t, novamed.KindPractitioner)...)
}

func TestStats(t *testing.T) {
	e := newEnv(t)
	dlq := e.queue("dlq")
	day := func(d int) time.Time { return time.Date(2026, 3, d, 12, 0, 0, 0, time.UTC) }
	for _, d := range []dead{
		{class: "permanent", code: "clinic_not_found", status: 404, failedAt: day(3)},
		{class: "permanent", code: "clinic_not_found", status: 404, failedAt: day(1)},
		{class: "permanent", code: "clinic_not_found", status: 404, failedAt: day(5), kind: novamed.KindPractitioner},
		{class: "permanent", code: "validation_error", status: 422, failedAt: day(2)},
		{class: "exhausted", code: "http_503", status: 503, failedAt: day(9)},
		{class: "unconfirmed", code: "timeout", failedAt: day(7)},
		{noAttrs: true},
		{class: "malformed", code: "not_json", failedAt: day(4), body: "Canaryfirst was here, not JSON"},
	} {
		e.put(dlq, d)
	}

	st, err := e.tool(dlq).Stats(context.Background())
	require.NoError(t, err)
	require.Equal(t, 8, st.Total)
	require.Equal(t, day(1), st.OldestFailedAt)
	require.Equal(t, day(9), st.NewestFailedAt)
	type row struct {
		class, code    string
		count          int
		oldest, newest time.Time
	}
	var got []row
	for _, g := range st.Groups {
		got = append(got, row{g.ErrorClass, g.ErrorCode, g.Count, g.OldestFailedAt, g.NewestFailedAt})
	}
	require.Equal(t, []row{
		{"exhausted", "http_503", 1, day(9), day(9)},
		{"malformed", "not_json", 1, day(4), day(4)},
		{"none", "none", 1, time.Time{}, time.Time{}},
		{"permanent", "clinic_not_found", 3, day(1), day(5)},
		{"permanent", "validation_error", 1, day(2), day(2)},
		{"unconfirmed", "timeout", 1, day(7), day(7)},
	}, got)

	// A pass leaves everything in place and visible.
	e.requireAllVisible(dlq, 8)
}

func TestStatsCommandPrintsNoRecordValue(t *testing.T) {
	e := newEnv(t)
	dlq := e.queue("dlq")
	e.put(dlq, dead{class: "permanent", code: "validation_error", status: 422})
	e.put(dlq, dead{class: "exhausted", code: "http_503", status: 503, kind: novamed.KindPractitioner})
	e.put(dlq, dead{noAttrs: true})

	out, errOut, err := e.run(redrive.Clients{}, "stats", "--dlq", dlq)
	require.NoError(t, err)
	assertNoCanary(t, "stdout", out, allCanaries(t))
	assertNoCanary(t, "stderr", errOut, allCanaries(t))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 5, "header, three groups, total")
	require.Regexp(t, `^ERROR_CLASS\s+ERROR_CODE\s+COUNT\s+OLDEST_FAILED_AT\s+NEWEST_FAILED_AT$`, lines[0])
	require.Regexp(t, `^exhausted\s+http_503\s+1\s+2026-03-14T09:00:00Z\s+2026-03-14T09:00:00Z$`, lines[1])
	require.Regexp(t, `^none\s+none\s+1\s+-\s+-$`, lines[2])
	require.Regexp(t, `^TOTAL\s+3\s+`, lines[4])

	out, errOut, err = e.run(redrive.Clients{}, "stats", "--dlq", dlq, "--json")
	require.NoError(t, err)
	assertNoCanary(t, "stdout", out, allCanaries(t))
	assertNoCanary(t, "stderr", errOut, allCanaries(t))
	var st redrive.Stats
	require.NoError(t, json.Unmarshal([]byte(out), &st))
	require.Equal(t, 3, st.Total)
	require.Len(t, st.Groups, 3)

	e.requireAllVisible(dlq, 3)
}

func TestStatsEmptyQueue(t *testing.T) {
	e := newEnv(t)
	st, err := e.tool(e.queue("dlq")).Stats(context.Background())
	require.NoError(t, err)
	require.Zero(t, st.Total)
	require.Empty(t, st.Groups)
}

func TestStatsMissingQueue(t *testing.T) {
	e := newEnv(t)
	_, err := e.tool(e.url + "/000000000000/" + e.prefix + "-absent").Stats(context.Background())
	require.ErrorIs(t, err, redrive.ErrQueueNotFound)
	var awsErr *redrive.AWSError
	require.ErrorAs(t, err, &awsErr)
	require.Equal(t, "ReceiveMessage", awsErr.Op)
}
