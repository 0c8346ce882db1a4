package redrive_test

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/pkg/ledger"
	"github.com/novamed/bridge/pkg/novamed"
	"github.com/novamed/bridge/pkg/queue"
	"github.com/novamed/bridge/pkg/redrive"
)

// mixedDLQ fills a DLQ with one message of each kind operators meet and
// returns their record ids by name.
func (e *env) mixedDLQ(dlq string) map[string]string {
	return map[string]string{
		"clinic":      e.put(dlq, dead{class: "permanent", code: "clinic_not_found", status: 404}),
		"validation":  e.put(dlq, dead{class: "permanent", code: "validation_error", status: 422}),
		"exhausted":   e.put(dlq, dead{class: "exhausted", code: "http_503", status: 503}),
		"unconfirmed": e.put(dlq, dead{class: "unconfirmed", code: "timeout"}),
		"malformed":   e.put(dlq, dead{class: "malformed", code: "unknown_key"}),
		"guard":       e.put(dlq, dead{class: "guard", code: "tripwire"}),
		"none":        e.put(dlq, dead{noAttrs: true}),
	}
}

// requireMoved checks the target holds exactly the named records, each with
// its body unchanged and the attributes kind, source and v only, and that
// the DLQ holds the others, all visible.
func (e *env) requireMoved(dlq, target string, ids map[string]string, moved ...string) {
	e.t.Helper()
	var want, rest []string
	for name, id := range ids {
		if slices.Contains(moved, name) {
			want = append(want, id)
		} else {
			rest = append(rest, id)
		}
	}
	got := e.contents(target)
	require.Equal(e.t, sorted(want...), recordIDs(got), "records in the target")
	for _, m := range got {
		require.Equal(e.t, e.bodies[m.recordID], m.body, "body changed")
		require.ElementsMatch(e.t, []string{"kind", "source", "v"}, slices.Collect(maps.Keys(m.attrs)))
	}
	require.Equal(e.t, sorted(rest...), recordIDs(e.requireAllVisible(dlq, len(rest))), "records left in the DLQ")
}

func TestMoveFilters(t *testing.T) {
	tests := []struct {
		name      string
		opts      redrive.MoveOptions
		moved     []string
		skippedBy map[string]int
	}{
		{
			name:      "no filter leaves unconfirmed and what cannot be redriven",
			moved:     []string{"clinic", "validation", "exhausted", "none"},
			skippedBy: map[string]int{redrive.SkipUnconfirmed: 1, redrive.SkipNotRedrivable: 2},
		},
		{
			name:      "class",
			opts:      redrive.MoveOptions{ErrorClass: "permanent"},
			moved:     []string{"clinic", "validation"},
			skippedBy: map[string]int{redrive.SkipFilter: 5},
		},
		{
			name:      "code",
			opts:      redrive.MoveOptions{ErrorCode: "validation_error"},
			moved:     []string{"validation"},
			skippedBy: map[string]int{redrive.SkipFilter: 6},
		},
		{
			name:      "class and code",
			opts:      redrive.MoveOptions{ErrorClass: "permanent", ErrorCode: "clinic_not_found"},
			moved:     []string{"clinic"},
			skippedBy: map[string]int{redrive.SkipFilter: 6},
		},
		{
			name:      "a class that is not redriven by default, by name",
			opts:      redrive.MoveOptions{ErrorClass: "malformed"},
			moved:     []string{"malformed"},
			skippedBy: map[string]int{redrive.SkipFilter: 6},
		},
		{
			name:      "messages without dead-letter attributes",
			opts:      redrive.MoveOptions{ErrorClass: redrive.ClassNone},
			moved:     []string{"none"},
			skippedBy: map[string]int{redrive.SkipFilter: 6},
		},
		{
			name:      "unconfirmed by name still needs the confirmation",
			opts:      redrive.MoveOptions{ErrorClass: "unconfirmed"},
			skippedBy: map[string]int{redrive.SkipFilter: 6, redrive.SkipUnconfirmed: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			dlq, target := e.queues()
			ids := e.mixedDLQ(dlq)
			tt.opts.To = target
			sum, err := e.tool(dlq).Move(context.Background(), tt.opts)
			require.NoError(t, err)
			require.Equal(t, len(tt.moved), sum.Moved)
			require.Equal(t, tt.skippedBy, sum.SkippedBy)
			require.Equal(t, 7-len(tt.moved), sum.Skipped)
			require.Zero(t, sum.Failed)
			require.Equal(t, redrive.StopEmpty, sum.Stopped)
			e.requireMoved(dlq, target, ids, tt.moved...)
		})
	}
}

func TestMoveDryRunMovesNothing(t *testing.T) {
	e := newEnv(t)
	dlq, target := e.queues()
	ids := e.mixedDLQ(dlq)

	sum, err := e.tool(dlq).Move(context.Background(), redrive.MoveOptions{To: target, DryRun: true})
	require.NoError(t, err)
	require.True(t, sum.DryRun)
	require.Equal(t, 4, sum.WouldMove)
	require.Zero(t, sum.Moved)
	require.Equal(t, 3, sum.Skipped)
	e.requireMoved(dlq, target, ids)
}

func TestMoveDryRunCommand(t *testing.T) {
	e := newEnv(t)
	dlq, target := e.queues()
	ids := e.mixedDLQ(dlq)
	out, errOut, err := e.run(redrive.Clients{}, "move", "--dlq", dlq, "--to", target, "--dry-run", "--error-class", "permanent", "--max", "1")
	require.NoError(t, err)
	require.Equal(t, "dry run: would move 1, skipped 0; stopped: max\n", out)
	require.Contains(t, errOut, "dry run: counting what would move from "+dlq)
	e.requireMoved(dlq, target, ids)
}

func TestMoveMax(t *testing.T) {
	e := newEnv(t)
	dlq, target := e.queues()
	ids := map[string]string{}
	for _, name := range []string{"a", "b", "c", "d", "e"} {
		ids[name] = e.put(dlq, dead{class: "exhausted", code: "http_503", status: 503})
	}
	sum, err := e.tool(dlq).Move(context.Background(), redrive.MoveOptions{To: target, Max: 2})
	require.NoError(t, err)
	require.Equal(t, 2, sum.Moved)
	require.Equal(t, redrive.StopMax, sum.Stopped)
	require.Len(t, e.contents(target), 2)
	e.requireAllVisible(dlq, 3)
}

// fakeTicker lets a test see the limiter wait and release it tick by tick.
type fakeTicker struct {
	period time.Duration
	ch     chan time.Time
	waits  chan struct{}
	onWait func()
}

func (f *fakeTicker) C() <-chan time.Time {
	if f.onWait != nil {
		f.onWait()
	}
	f.waits <- struct{}{}
	return f.ch
}

func (f *fakeTicker) Stop() {}

// countingSQS counts sends and deletes and fails the failSend-th send or
// the failDelete-th delete (1-based; 0 never).
type countingSQS struct {
	*kumoSQS
	sends, deletes       atomic.Int64
	failSend, failDelete int64
}

var errInternal = &smithy.GenericAPIError{Code: "InternalError", Message: "We encountered an internal error."}

func (c *countingSQS) SendMessage(ctx context.Context, in *sqs.SendMessageInput, o ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	if c.sends.Add(1) == c.failSend {
		return nil, errInternal
	}
	return c.Client.SendMessage(ctx, in, o...)
}

func (c *countingSQS) DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, o ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error) {
	if c.deletes.Add(1) == c.failDelete {
		return nil, errInternal
	}
	return c.Client.DeleteMessage(ctx, in, o...)
}

func TestMoveRateSendsOnePerTick(t *testing.T) {
	e := newEnv(t)
	dlq, target := e.queues()
	for range 5 {
		e.put(dlq, dead{class: "exhausted", code: "http_503", status: 503})
	}
	counting := &countingSQS{kumoSQS: e.api}
	ticker := &fakeTicker{ch: make(chan time.Time), waits: make(chan struct{})}
	tool, err := redrive.New(counting, dlq, append(fastOptions(), redrive.WithTicker(func(d time.Duration) redrive.Ticker {
		ticker.period = d
		return ticker
	}))...)
	require.NoError(t, err)

	type result struct {
		sum redrive.MoveSummary
		err error
	}
	done := make(chan result, 1)
	go func() {
		sum, err := tool.Move(context.Background(), redrive.MoveOptions{To: target, Rate: 4})
		done <- result{sum, err}
	}()
	// Each time the limiter waits, count the sends so far, then tick.
	var sendsAtWait []int64
	var res result
	for finished := false; !finished; {
		select {
		case <-ticker.waits:
			sendsAtWait = append(sendsAtWait, counting.sends.Load())
			ticker.ch <- time.Now()
		case res = <-done:
			finished = true
		}
	}
	require.NoError(t, res.err)
	require.Equal(t, 250*time.Millisecond, ticker.period)
	// The first send goes at once, then exactly one per tick.
	require.Equal(t, []int64{1, 2, 3, 4}, sendsAtWait)
	require.Equal(t, int64(5), counting.sends.Load())
	require.Equal(t, 5, res.sum.Moved)
}

func TestMoveInterruptedReleasesWhatItHolds(t *testing.T) {
	e := newEnv(t)
	dlq, target := e.queues()
	for range 4 {
		e.put(dlq, dead{class: "exhausted", code: "http_503", status: 503})
	}
	e.put(dlq, dead{class: "unconfirmed", code: "timeout"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ticker := &fakeTicker{ch: make(chan time.Time), waits: make(chan struct{}, 1), onWait: cancel}
	tool := e.tool(dlq, redrive.WithTicker(func(time.Duration) redrive.Ticker { return ticker }))

	sum, err := tool.Move(ctx, redrive.MoveOptions{To: target})
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, redrive.StopCanceled, sum.Stopped)
	require.Equal(t, 1, sum.Moved)
	require.Len(t, e.contents(target), 1)
	e.requireAllVisible(dlq, 4)
}

func TestMoveSendFailureStopsWithNothingLost(t *testing.T) {
	e := newEnv(t)
	dlq, target := e.queues()
	var all []string
	for range 5 {
		all = append(all, e.put(dlq, dead{class: "exhausted", code: "http_503", status: 503}))
	}
	flaky := &countingSQS{kumoSQS: e.api, failSend: 3}
	tool, err := redrive.New(flaky, dlq, fastOptions()...)
	require.NoError(t, err)

	sum, err := tool.Move(context.Background(), redrive.MoveOptions{To: target})
	require.ErrorIs(t, err, errInternal)
	require.Equal(t, redrive.StopFailure, sum.Stopped)
	require.Equal(t, 2, sum.Moved)
	require.Equal(t, 1, sum.Failed)
	require.Len(t, sum.Failures, 1)
	f := sum.Failures[0]
	require.Equal(t, redrive.StepSend, f.Step)
	require.False(t, f.InBoth)
	require.Equal(t, "redrive: SendMessage: InternalError", f.Error)

	inTarget, inDLQ := e.contents(target), e.requireAllVisible(dlq, 3)
	require.Len(t, inTarget, 2)
	require.Empty(t, intersect(recordIDs(inTarget), recordIDs(inDLQ)), "a record in both queues")
	require.Equal(t, sorted(all...), sorted(append(recordIDs(inTarget), recordIDs(inDLQ)...)...), "a record lost")
	e.release(dlq, inDLQ)

	// A rerun finishes the move.
	sum, err = e.tool(dlq).Move(context.Background(), redrive.MoveOptions{To: target})
	require.NoError(t, err)
	require.Equal(t, 3, sum.Moved)
	require.Equal(t, sorted(all...), recordIDs(append(inTarget, e.contents(target)...)))
	require.Empty(t, e.contents(dlq))
}

func TestMoveDeleteFailureLeavesTheDocumentedDuplicate(t *testing.T) {
	e := newEnv(t)
	dlq, target := e.queues()
	var all []string
	for range 5 {
		all = append(all, e.put(dlq, dead{class: "exhausted", code: "http_503", status: 503}))
	}
	flaky := &countingSQS{kumoSQS: e.api, failDelete: 3}
	tool, err := redrive.New(flaky, dlq, fastOptions()...)
	require.NoError(t, err)

	sum, err := tool.Move(context.Background(), redrive.MoveOptions{To: target})
	require.ErrorIs(t, err, errInternal)
	require.Equal(t, redrive.StopFailure, sum.Stopped)
	require.Equal(t, 2, sum.Moved)
	require.Len(t, sum.Failures, 1)
	require.Equal(t, redrive.StepDelete, sum.Failures[0].Step)
	require.True(t, sum.Failures[0].InBoth)
	require.Equal(t, "redrive: DeleteMessage: InternalError", sum.Failures[0].Error)

	inTarget, inDLQ := e.contents(target), e.requireAllVisible(dlq, 3)
	require.Len(t, inTarget, 3)
	require.Len(t, intersect(recordIDs(inTarget), recordIDs(inDLQ)), 1, "only the failed delete is in both")
	require.Equal(t, sorted(all...), sorted(slices.Compact(sorted(append(recordIDs(inTarget), recordIDs(inDLQ)...)...))...), "a record lost")
	e.release(dlq, inDLQ)

	// A rerun sends that record again: the target then holds it twice,
	// which dispatch's ledger turns into one delivery and one duplicate.
	sum, err = e.tool(dlq).Move(context.Background(), redrive.MoveOptions{To: target})
	require.NoError(t, err)
	require.Equal(t, 3, sum.Moved)
	final := recordIDs(append(inTarget, e.contents(target)...))
	require.Len(t, final, 6)
	require.Equal(t, sorted(all...), slices.Compact(final))
	require.Empty(t, e.contents(dlq))
}

func intersect(a, b []string) []string {
	var out []string
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// unconfirmedLedger creates a ledger table with one unconfirmed record,
// one delivered record and nothing for a third, and returns the ledger.
func (e *env) unconfirmedLedger(unconfirmed, delivered string) *ledger.Ledger {
	e.t.Helper()
	ctx := context.Background()
	table := e.prefix + "-ledger"
	require.NoError(e.t, ledger.CreateTable(ctx, e.ddb, table))
	l := ledger.New(e.ddb, table)
	for _, id := range []string{unconfirmed, delivered} {
		c, err := l.ClaimDelivery(ctx, id)
		require.NoError(e.t, err)
		require.Equal(e.t, ledger.ClaimGranted, c.Status)
	}
	require.NoError(e.t, l.MarkUnconfirmed(ctx, unconfirmed))
	require.NoError(e.t, l.MarkDelivered(ctx, delivered, "5d7c1b0e-2a7f-4c53-9a8e-6b1f0c3d2e94"))
	return l
}

func TestMoveUnconfirmed(t *testing.T) {
	e := newEnv(t)
	dlq, target := e.queues()
	ids := map[string]string{
		"unconfirmed": e.put(dlq, dead{class: "unconfirmed", code: "timeout"}),
		"delivered":   e.put(dlq, dead{class: "unconfirmed", code: "timeout"}),
		"unknown":     e.put(dlq, dead{class: "unconfirmed", code: "timeout"}),
		"exhausted":   e.put(dlq, dead{class: "exhausted", code: "http_503", status: 503}),
	}
	l := e.unconfirmedLedger(ids["unconfirmed"], ids["delivered"])
	ctx := context.Background()

	t.Run("not moved without the confirmation", func(t *testing.T) {
		sum, err := e.tool(dlq).Move(ctx, redrive.MoveOptions{To: target, ErrorClass: "unconfirmed"})
		require.NoError(t, err)
		require.Zero(t, sum.Moved)
		require.Equal(t, map[string]int{redrive.SkipUnconfirmed: 3, redrive.SkipFilter: 1}, sum.SkippedBy)
		info, err := l.Record(ctx, ids["unconfirmed"])
		require.NoError(t, err)
		require.Equal(t, ledger.RecordUnconfirmed, info.State)
	})

	t.Run("the confirmation needs the ledger", func(t *testing.T) {
		_, err := e.tool(dlq).Move(ctx, redrive.MoveOptions{To: target, ConfirmUnconfirmed: true})
		require.ErrorIs(t, err, redrive.ErrUsage)
	})

	t.Run("a dry run does not touch the ledger", func(t *testing.T) {
		sum, err := e.tool(dlq).Move(ctx, redrive.MoveOptions{To: target, ErrorClass: "unconfirmed", ConfirmUnconfirmed: true, DryRun: true})
		require.NoError(t, err)
		require.Equal(t, 3, sum.WouldMove)
		info, err := l.Record(ctx, ids["unconfirmed"])
		require.NoError(t, err)
		require.Equal(t, ledger.RecordUnconfirmed, info.State)
	})

	t.Run("confirmed: released in the ledger, then moved", func(t *testing.T) {
		sum, err := e.tool(dlq).Move(ctx, redrive.MoveOptions{To: target, ErrorClass: "unconfirmed", ConfirmUnconfirmed: true, Ledger: l})
		require.NoError(t, err)
		require.Equal(t, 1, sum.Moved)
		require.Equal(t, map[string]int{"ledger_delivered": 1, redrive.SkipLedgerNotFound: 1, redrive.SkipFilter: 1}, sum.SkippedBy)
		info, err := l.Record(ctx, ids["unconfirmed"])
		require.NoError(t, err)
		require.Equal(t, ledger.RecordReleased, info.State)
		e.requireMoved(dlq, target, ids, "unconfirmed")
	})
}

func TestMoveCommandUnconfirmed(t *testing.T) {
	e := newEnv(t)
	dlq, target := e.queues()
	ids := map[string]string{
		"unconfirmed": e.put(dlq, dead{class: "unconfirmed", code: "timeout"}),
		"delivered":   e.put(dlq, dead{class: "unconfirmed", code: "timeout"}),
	}
	e.unconfirmedLedger(ids["unconfirmed"], ids["delivered"])

	out, _, err := e.run(redrive.Clients{}, "move", "--dlq", dlq, "--to", target)
	require.NoError(t, err)
	require.Contains(t, out, "note: 2 unconfirmed records left in place")

	out, _, err = e.run(redrive.Clients{}, "move", "--dlq", dlq, "--to", target,
		"--confirm-unconfirmed", "--ledger-table", e.prefix+"-ledger")
	require.NoError(t, err)
	require.Equal(t, "moved 1, skipped 1, failed 0 (ledger_delivered 1); stopped: empty\n", out)
	e.requireMoved(dlq, target, ids, "unconfirmed")
}

func TestMoveCommandPrintsNoRecordValue(t *testing.T) {
	e := newEnv(t)
	dlq, target := e.queues()
	for i := range 12 {
		kind := novamed.KindPatient
		if i%2 == 1 {
			kind = novamed.KindPractitioner
		}
		e.put(dlq, dead{class: "exhausted", code: "http_503", status: 503, kind: kind})
	}
	e.put(dlq, dead{class: "unconfirmed", code: "timeout"})

	out, errOut, err := e.run(redrive.Clients{}, "move", "--dlq", dlq, "--to", target, "--rate", "500")
	require.NoError(t, err)
	assertNoCanary(t, "stdout", out, allCanaries(t))
	assertNoCanary(t, "stderr", errOut, allCanaries(t))
	require.Regexp(t, `(?m)^moved 10 \(skipped [01]\)$`, errOut)
	require.Equal(t, "moved 12, skipped 1, failed 0 (unconfirmed 1); stopped: empty\n"+
		"note: 1 unconfirmed records left in place; check NovaMed, then use --confirm-unconfirmed --ledger-table\n", out)
}

func TestMoveCommandJSON(t *testing.T) {
	e := newEnv(t)
	dlq, target := e.queues()
	e.put(dlq, dead{class: "exhausted", code: "http_503", status: 503})
	e.put(dlq, dead{class: "guard", code: "tripwire"})

	out, _, err := e.run(redrive.Clients{}, "move", "--dlq", dlq, "--to", target, "--json")
	require.NoError(t, err)
	var sum redrive.MoveSummary
	require.NoError(t, json.Unmarshal([]byte(out), &sum))
	require.Equal(t, redrive.MoveSummary{
		Moved: 1, Skipped: 1, SkippedBy: map[string]int{redrive.SkipNotRedrivable: 1}, Stopped: redrive.StopEmpty,
	}, sum)
}

// Held and update records stay in the DLQ whatever the filters say: what
// fixes a held record is new data from the sender, and an update is applied
// in NovaMed by hand. Stats shows them; the command says why they stay.
func TestMoveLeavesHeldAndUpdateRecords(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts redrive.MoveOptions
		skip map[string]int
	}{
		{"no filter", redrive.MoveOptions{}, map[string]int{redrive.SkipNeedsNewData: 2}},
		{"held by name", redrive.MoveOptions{ErrorClass: queue.ClassHeld}, map[string]int{redrive.SkipNeedsNewData: 1, redrive.SkipFilter: 2}},
		{"update by name", redrive.MoveOptions{ErrorClass: queue.ClassUpdate}, map[string]int{redrive.SkipNeedsNewData: 1, redrive.SkipFilter: 2}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			dlq, target := e.queues()
			ids := map[string]string{
				"held":   e.put(dlq, dead{class: queue.ClassHeld, code: "missing_email"}),
				"update": e.put(dlq, dead{class: queue.ClassUpdate, code: "changed"}),
				"perm":   e.put(dlq, dead{class: queue.ClassPermanent, code: "validation_error", status: 400}),
			}

			st, err := e.tool(dlq).Stats(context.Background())
			require.NoError(t, err)
			classes := map[string]int{}
			for _, g := range st.Groups {
				classes[g.ErrorClass] += g.Count
			}
			assert.Equal(t, map[string]int{queue.ClassHeld: 1, queue.ClassUpdate: 1, queue.ClassPermanent: 1}, classes)

			tt.opts.To = target
			sum, err := e.tool(dlq).Move(context.Background(), tt.opts)
			require.NoError(t, err)
			assert.Equal(t, tt.skip, sum.SkippedBy)
			var moved []string
			if tt.opts.ErrorClass == "" {
				moved = append(moved, "perm")
			}
			assert.Equal(t, len(moved), sum.Moved)
			e.requireMoved(dlq, target, ids, moved...)
		})
	}
}
