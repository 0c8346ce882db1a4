package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/pkg/ledger"
)

func TestEventStateMachine(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)

	st, err := f.l.BeginEvent(ctx, "evt-1", 3)
	require.NoError(t, err)
	assert.Equal(t, ledger.EventNew, st, "first BeginEvent")

	// While the first intake is still queuing, a sender retry must not queue.
	st, err = f.l.BeginEvent(ctx, "evt-1", 3)
	require.NoError(t, err)
	assert.Equal(t, ledger.EventInProgress, st, "BeginEvent under a live claim")

	require.NoError(t, f.l.MarkEventQueued(ctx, "evt-1"))
	st, err = f.l.BeginEvent(ctx, "evt-1", 3)
	require.NoError(t, err)
	assert.Equal(t, ledger.EventQueued, st, "BeginEvent after MarkEventQueued")

	// Still queued long after any lease.
	f.clock.Advance(24 * time.Hour)
	st, err = f.l.BeginEvent(ctx, "evt-1", 3)
	require.NoError(t, err)
	assert.Equal(t, ledger.EventQueued, st, "BeginEvent a day later")

	// Marking queued twice (a retried intake) is harmless.
	require.NoError(t, f.l.MarkEventQueued(ctx, "evt-1"))
}

func TestEventRetryAfterCrash(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, ledger.WithEventLease(30*time.Second))

	// Intake wrote the ledger, then crashed (or answered 503 after a partial
	// SQS failure): no MarkEventQueued.
	st, err := f.l.BeginEvent(ctx, "evt-crash", 2)
	require.NoError(t, err)
	require.Equal(t, ledger.EventNew, st)

	f.clock.Advance(29 * time.Second)
	st, err = f.l.BeginEvent(ctx, "evt-crash", 2)
	require.NoError(t, err)
	assert.Equal(t, ledger.EventInProgress, st, "inside the lease")

	f.clock.Advance(time.Second) // claimed_until == now: expired
	st, err = f.l.BeginEvent(ctx, "evt-crash", 2)
	require.NoError(t, err)
	assert.Equal(t, ledger.EventReceived, st, "after the lease: queue again")

	// The retry took the claim over: a concurrent duplicate waits again.
	st, err = f.l.BeginEvent(ctx, "evt-crash", 2)
	require.NoError(t, err)
	assert.Equal(t, ledger.EventInProgress, st, "after takeover")

	require.NoError(t, f.l.MarkEventQueued(ctx, "evt-crash"))
	st, err = f.l.BeginEvent(ctx, "evt-crash", 2)
	require.NoError(t, err)
	assert.Equal(t, ledger.EventQueued, st)
}

func TestBeginEventConcurrent(t *testing.T) {
	srv := newServer(t)
	for _, n := range []int{5, 50} {
		t.Run(fmt.Sprintf("%d callers", n), func(t *testing.T) {
			f := srv.fixture(t)
			counts := beginConcurrently(t, f.l, "evt-race", n)
			assert.Equal(t, 1, counts[ledger.EventNew], "EventNew answers")
			assert.Equal(t, n-1, counts[ledger.EventInProgress], "EventInProgress answers")
		})
	}
}

func TestBeginEventConcurrentTakeover(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	st, err := f.l.BeginEvent(ctx, "evt-stalled", 1)
	require.NoError(t, err)
	require.Equal(t, ledger.EventNew, st)
	f.clock.Advance(f.l.EventLease())

	const n = 20
	counts := beginConcurrently(t, f.l, "evt-stalled", n)
	assert.Equal(t, 1, counts[ledger.EventReceived], "EventReceived answers (takeovers)")
	assert.Equal(t, n-1, counts[ledger.EventInProgress], "EventInProgress answers")
}

func beginConcurrently(t *testing.T, l *ledger.Ledger, eventID string, n int) map[ledger.EventState]int {
	t.Helper()
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		counts = map[ledger.EventState]int{}
		errs   []error
	)
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			st, err := l.BeginEvent(context.Background(), eventID, 1)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			counts[st]++
		})
	}
	close(start)
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	return counts
}

func TestMarkEventQueuedUnknown(t *testing.T) {
	f := newFixture(t)
	err := f.l.MarkEventQueued(context.Background(), "evt-never-seen")
	assert.ErrorIs(t, err, ledger.ErrNotFound)
	assert.Nil(t, f.raw(t, "event#evt-never-seen"), "MarkEventQueued must not create an entry")
}

func TestBeginEventCorruptState(t *testing.T) {
	f := newFixture(t)
	f.put(t, map[string]types.AttributeValue{
		"pk":    &types.AttributeValueMemberS{Value: "event#evt-odd"},
		"state": &types.AttributeValueMemberS{Value: "exploded"},
	})
	_, err := f.l.BeginEvent(context.Background(), "evt-odd", 1)
	var se *ledger.StateError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, "exploded", se.State)

	f.put(t, map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "event#evt-stateless"},
	})
	_, err = f.l.BeginEvent(context.Background(), "evt-stateless", 1)
	assert.ErrorIs(t, err, ledger.ErrCorruptItem)
}

func TestEventStateString(t *testing.T) {
	for st, want := range map[ledger.EventState]string{
		ledger.EventNew:        "new",
		ledger.EventReceived:   "received",
		ledger.EventInProgress: "in_progress",
		ledger.EventQueued:     "queued",
		0:                      "unknown",
	} {
		assert.Equal(t, want, st.String())
	}
}
