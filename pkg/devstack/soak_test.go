package devstack

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSoakSmall is `make soak` in small, in `make test`: 300 webhooks from
// 20 senders mixing every accepted sample (id-only notifications whose
// patients dispatch fetches from the EHR sandbox among them), each function
// in two instances, 10 % repeats, NovaMed failing 20 % of calls (503 and
// 429 with Retry-After, 500, in turn) with added latency and two lost
// answers. Every accepted record ends delivered, held, dead-lettered or
// unconfirmed; nobody gets a second chart; no canary reaches the
// Development sandbox or a log line. (The killed dispatch of `make soak`
// is left out: its claim lasts the ledger lease, two minutes.)
func TestSoakSmall(t *testing.T) {
	sources, templates := localSamples(t)
	logs := NewSoakLogs(Canaries(templates, sources))
	s, err := Start(context.Background(), Options{
		Name: RandomName(), Binaries: binaries(t), Sources: sources, Canaries: Canaries(templates, sources),
		Logs: logs, BackoffBase: 50 * time.Millisecond, BackoffCap: 500 * time.Millisecond, Instances: 2,
	})
	require.NoError(t, err)
	t.Cleanup(s.Close)

	rep, err := Soak(context.Background(), s, logs, sources, templates, SoakOptions{
		N: 300, Concurrency: 20, RepeatPct: 10, HeldPct: 5, FailPct: 20, Latency: 5 * time.Millisecond, DropAfterCreate: 2, Seed: 17,
		Drain: 3 * time.Minute,
	})
	require.NoError(t, err)
	t.Logf("%+v", rep)
	assert.Positive(t, rep.Delivered)
	assert.Greater(t, rep.Accepted, rep.Webhooks/2, "most webhooks are new submissions, not resends")
	assert.Positive(t, rep.Held, "the held sample is in the mix")
	assert.Equal(t, 2, rep.Instances)
	assert.Positive(t, rep.Notifications, "id-only notifications are in the mix")
	assert.GreaterOrEqual(t, rep.EHRFetches, rep.Notifications, "each new notification's patient is read from the EHR")
	assert.GreaterOrEqual(t, rep.Unconfirmed, 2, "each lost answer (and each 500: NOVAMED_500_POLICY) is an unconfirmed record")
	assert.True(t, rep.Balanced, "accepted %d = delivered %d + held %d + dead-lettered %d + unconfirmed %d",
		rep.Accepted, rep.Delivered, rep.Held, rep.DeadLettered, rep.Unconfirmed)
	assert.Zero(t, rep.Refused)
	assert.Zero(t, rep.SecondCharts)
	assert.Zero(t, rep.SandboxCanaries)
	assert.Zero(t, rep.LogCanaries)
}

// A canary counts in a log line as a token of its own, not inside a
// longer run of letters and digits (a timestamp's nanoseconds).
func TestCanaryWriterCountsTokensOnly(t *testing.T) {
	w := NewSoakLogs([]string{"27514", "Ottoline"})
	_, err := w.Write([]byte(`{"time":"2026-12-01T07:12:16.061827514Z","msg":"x"}` + "\n" +
		`{"err":"read tcp 127.0.0.1:27514->127.0.0.1:4566: connection reset"}` + "\n" +
		`{"zip":"27514"}` + "\n" + `{"name":"ottoline quarterfield"}` + "\n" + `{"msg":"ottolines"}` + "\n" + `{"partial":"27514`))
	require.NoError(t, err)
	assert.Equal(t, 2, w.(*canaryWriter).hits, "the zip and the name; not the timestamp, the port, the longer word or an unfinished line")
}

// A soak that was to kill dispatch mid-batch fails if no kill landed in
// one: a kill between batches proves nothing about lost work.
func TestSoakReportNeedsTheKillInsideABatch(t *testing.T) {
	r := SoakReport{Balanced: true, KillAsked: true, Killed: 1}
	assert.False(t, r.OK(), "killed, but between batches")
	r.KilledMidBatch = 1
	assert.True(t, r.OK())
	assert.True(t, SoakReport{Balanced: true}.OK(), "no kill asked")
}

// The report says whether the throughput goal was met and, when it was
// not, the most the cores allow at the measured processor time per webhook
// and what the goal needs.
func TestSoakReportGoalLine(t *testing.T) {
	slow := SoakReport{Timed: 3000, Sending: 15 * time.Second, Cores: 2,
		SendingCPU: CPUTimes{Stack: 12 * time.Second, IntakeFunction: 18 * time.Second}}
	assert.InDelta(t, 200, slow.PerSecond(), 1e-9)
	assert.InDelta(t, 200, slow.Ceiling(), 1e-9, "2 cores / 10 ms per webhook")
	assert.Equal(t, "goal 1000 webhooks/s: not reached (200/s); 2 core(s) at this processor time per webhook allow at most 200/s, 1000/s needs at most 2.00 ms",
		slow.goalLine())

	fast := SoakReport{Timed: 3000, Sending: 2 * time.Second, Cores: 2,
		SendingCPU: CPUTimes{Stack: 3 * time.Second}}
	assert.Equal(t, "goal 1000 webhooks/s: reached (1500/s)", fast.goalLine())

	unmeasured := SoakReport{Timed: 3000, Sending: 15 * time.Second, Cores: 2}
	assert.Zero(t, unmeasured.Ceiling(), "no processor time read (not Linux)")
	assert.Equal(t, "goal 1000 webhooks/s: not reached (200/s)", unmeasured.goalLine())

	var out bytes.Buffer
	slow.Print(&out)
	assert.Contains(t, out.String(), "\n"+slow.goalLine()+"\n")
	out.Reset()
	SoakReport{}.Print(&out) // a soak that stopped before its senders finished
	assert.NotContains(t, out.String(), "goal")
}
