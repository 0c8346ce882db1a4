package ledger_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/pkg/ledger"
)

const nmID = "0b9c2f44-4c1e-4f0e-9d55-3a1e2b7c9d10" // a NovaMed id, not PHI

func TestClaimStateMachine(t *testing.T) {
	srv := newServer(t)
	ctx := context.Background()
	const rec = "evt-1/0"

	t.Run("granted, delivered, then already delivered", func(t *testing.T) {
		f := srv.fixture(t)
		c, err := f.l.ClaimDelivery(ctx, rec)
		require.NoError(t, err)
		assert.Equal(t, ledger.ClaimGranted, c.Status)
		assert.Equal(t, 1, c.Attempts)
		assert.Equal(t, f.clock.Now().Add(ledger.DefaultLease), c.ClaimedUntil)

		require.NoError(t, f.l.MarkDelivered(ctx, rec, nmID))
		f.clock.Advance(time.Hour)
		c, err = f.l.ClaimDelivery(ctx, rec)
		require.NoError(t, err)
		assert.Equal(t, ledger.AlreadyDelivered, c.Status)
		assert.Equal(t, nmID, c.NovaMedID)
		assert.Equal(t, 1, c.Attempts)
	})

	t.Run("granted, not delivered, granted again", func(t *testing.T) {
		f := srv.fixture(t)
		c, err := f.l.ClaimDelivery(ctx, rec)
		require.NoError(t, err)
		require.Equal(t, ledger.ClaimGranted, c.Status)
		require.NoError(t, f.l.MarkNotDelivered(ctx, rec))

		c, err = f.l.ClaimDelivery(ctx, rec)
		require.NoError(t, err)
		assert.Equal(t, ledger.ClaimGranted, c.Status)
		assert.Equal(t, 2, c.Attempts)
		require.NoError(t, f.l.MarkDelivered(ctx, rec, nmID))

		info, err := f.l.Record(ctx, rec)
		require.NoError(t, err)
		assert.Equal(t, ledger.RecordDelivered, info.State)
		assert.Equal(t, 2, info.Attempts)
		assert.True(t, info.ClaimedUntil.IsZero(), "delivered record keeps no claim")
	})

	t.Run("granted, unconfirmed, then unconfirmed", func(t *testing.T) {
		f := srv.fixture(t)
		c, err := f.l.ClaimDelivery(ctx, rec)
		require.NoError(t, err)
		require.Equal(t, ledger.ClaimGranted, c.Status)
		require.NoError(t, f.l.MarkUnconfirmed(ctx, rec))

		for _, after := range []time.Duration{0, time.Hour, 10 * 24 * time.Hour} {
			f.clock.Advance(after)
			c, err = f.l.ClaimDelivery(ctx, rec)
			require.NoError(t, err)
			assert.Equal(t, ledger.Unconfirmed, c.Status, "ClaimDelivery after %v", after)
		}
	})

	t.Run("crash after the call: claim expires, then unconfirmed", func(t *testing.T) {
		f := srv.fixture(t, ledger.WithLease(2*time.Minute))
		c, err := f.l.ClaimDelivery(ctx, rec)
		require.NoError(t, err)
		require.Equal(t, ledger.ClaimGranted, c.Status)

		f.clock.Advance(2 * time.Minute) // claimed_until == now: expired
		c, err = f.l.ClaimDelivery(ctx, rec)
		require.NoError(t, err)
		assert.Equal(t, ledger.Unconfirmed, c.Status)
		assert.Equal(t, 1, c.Attempts, "no new attempt is counted")

		info, err := f.l.Record(ctx, rec)
		require.NoError(t, err)
		assert.Equal(t, ledger.RecordUnconfirmed, info.State, "expiry is recorded")

		c, err = f.l.ClaimDelivery(ctx, rec)
		require.NoError(t, err)
		assert.Equal(t, ledger.Unconfirmed, c.Status, "and stays until an operator resolves it")
	})

	t.Run("live claim: in flight", func(t *testing.T) {
		f := srv.fixture(t, ledger.WithLease(2*time.Minute))
		granted, err := f.l.ClaimDelivery(ctx, rec)
		require.NoError(t, err)
		require.Equal(t, ledger.ClaimGranted, granted.Status)

		f.clock.Advance(2*time.Minute - time.Millisecond)
		c, err := f.l.ClaimDelivery(ctx, rec)
		require.NoError(t, err)
		assert.Equal(t, ledger.InFlight, c.Status)
		assert.Equal(t, granted.ClaimedUntil, c.ClaimedUntil)

		// The holder finishes; the retry then sees the outcome.
		require.NoError(t, f.l.MarkDelivered(ctx, rec, nmID))
		c, err = f.l.ClaimDelivery(ctx, rec)
		require.NoError(t, err)
		assert.Equal(t, ledger.AlreadyDelivered, c.Status)
	})

	t.Run("operator resolves unconfirmed, redrive delivers", func(t *testing.T) {
		f := srv.fixture(t)
		_, err := f.l.ClaimDelivery(ctx, rec)
		require.NoError(t, err)
		require.NoError(t, f.l.MarkUnconfirmed(ctx, rec))

		require.NoError(t, f.l.ResolveUnconfirmed(ctx, rec))
		require.NoError(t, f.l.ResolveUnconfirmed(ctx, rec), "repeat is a no-op")
		c, err := f.l.ClaimDelivery(ctx, rec)
		require.NoError(t, err)
		assert.Equal(t, ledger.ClaimGranted, c.Status)
		assert.Equal(t, 2, c.Attempts)
	})

	t.Run("operator resolves an expired delivering claim", func(t *testing.T) {
		f := srv.fixture(t)
		_, err := f.l.ClaimDelivery(ctx, rec)
		require.NoError(t, err)
		err = f.l.ResolveUnconfirmed(ctx, rec)
		assertState(t, err, "delivering")

		f.clock.Advance(ledger.DefaultLease)
		require.NoError(t, f.l.ResolveUnconfirmed(ctx, rec))
		c, err := f.l.ClaimDelivery(ctx, rec)
		require.NoError(t, err)
		assert.Equal(t, ledger.ClaimGranted, c.Status)
	})

	t.Run("operator marks unconfirmed delivered with the id found", func(t *testing.T) {
		f := srv.fixture(t)
		_, err := f.l.ClaimDelivery(ctx, rec)
		require.NoError(t, err)
		require.NoError(t, f.l.MarkUnconfirmed(ctx, rec))
		require.NoError(t, f.l.MarkDelivered(ctx, rec, nmID))
		c, err := f.l.ClaimDelivery(ctx, rec)
		require.NoError(t, err)
		assert.Equal(t, ledger.AlreadyDelivered, c.Status)
		assert.Equal(t, nmID, c.NovaMedID)
	})
}

func TestRecordTransitionsRefused(t *testing.T) {
	srv := newServer(t)
	ctx := context.Background()
	const rec = "evt-2/1"

	delivered := func(t *testing.T) *fixture {
		f := srv.fixture(t)
		_, err := f.l.ClaimDelivery(ctx, rec)
		require.NoError(t, err)
		require.NoError(t, f.l.MarkDelivered(ctx, rec, nmID))
		return f
	}

	t.Run("delivered record is never released or downgraded", func(t *testing.T) {
		f := delivered(t)
		assertState(t, f.l.MarkNotDelivered(ctx, rec), "delivered")
		assertState(t, f.l.MarkUnconfirmed(ctx, rec), "delivered")
		assertState(t, f.l.ResolveUnconfirmed(ctx, rec), "delivered")
		c, err := f.l.ClaimDelivery(ctx, rec)
		require.NoError(t, err)
		assert.Equal(t, ledger.AlreadyDelivered, c.Status)
	})

	t.Run("same NovaMed id again is a no-op, another one a conflict", func(t *testing.T) {
		f := delivered(t)
		require.NoError(t, f.l.MarkDelivered(ctx, rec, nmID))
		err := f.l.MarkDelivered(ctx, rec, "6f1d1a3e-9a57-4f5e-8c3b-1f0b8e2d4c77")
		assertState(t, err, "delivered")
		info, err := f.l.Record(ctx, rec)
		require.NoError(t, err)
		assert.Equal(t, nmID, info.NovaMedID, "first id kept")
	})

	t.Run("outcomes are idempotent", func(t *testing.T) {
		f := srv.fixture(t)
		_, err := f.l.ClaimDelivery(ctx, rec)
		require.NoError(t, err)
		require.NoError(t, f.l.MarkNotDelivered(ctx, rec))
		require.NoError(t, f.l.MarkNotDelivered(ctx, rec))
		assertState(t, f.l.MarkUnconfirmed(ctx, rec), "released")

		_, err = f.l.ClaimDelivery(ctx, rec)
		require.NoError(t, err)
		require.NoError(t, f.l.MarkUnconfirmed(ctx, rec))
		require.NoError(t, f.l.MarkUnconfirmed(ctx, rec))
		// Only an operator releases an uncertain attempt.
		assertState(t, f.l.MarkNotDelivered(ctx, rec), "unconfirmed")
	})

	t.Run("unknown record", func(t *testing.T) {
		f := srv.fixture(t)
		const unknown = "evt-x/9"
		for name, err := range map[string]error{
			"MarkDelivered":      f.l.MarkDelivered(ctx, unknown, nmID),
			"MarkNotDelivered":   f.l.MarkNotDelivered(ctx, unknown),
			"MarkUnconfirmed":    f.l.MarkUnconfirmed(ctx, unknown),
			"ResolveUnconfirmed": f.l.ResolveUnconfirmed(ctx, unknown),
		} {
			assert.ErrorIs(t, err, ledger.ErrNotFound, name)
		}
		_, err := f.l.Record(ctx, unknown)
		assert.ErrorIs(t, err, ledger.ErrNotFound, "Record")
		assert.Nil(t, f.raw(t, "record#"+unknown), "no entry created")
	})

	t.Run("corrupt entry", func(t *testing.T) {
		f := srv.fixture(t)
		f.put(t, map[string]types.AttributeValue{
			"pk":    &types.AttributeValueMemberS{Value: "record#" + rec},
			"state": &types.AttributeValueMemberS{Value: "exploded"},
		})
		_, err := f.l.ClaimDelivery(ctx, rec)
		assertState(t, err, "exploded")

		f.put(t, map[string]types.AttributeValue{
			"pk":       &types.AttributeValueMemberS{Value: "record#" + rec},
			"state":    &types.AttributeValueMemberS{Value: "delivering"},
			"attempts": &types.AttributeValueMemberS{Value: "one"},
		})
		_, err = f.l.ClaimDelivery(ctx, rec)
		assert.ErrorIs(t, err, ledger.ErrCorruptItem)
	})
}

func assertState(t *testing.T, err error, state string) {
	t.Helper()
	var se *ledger.StateError
	if assert.ErrorAs(t, err, &se) {
		assert.Equal(t, state, se.State)
		assert.ErrorIs(t, err, ledger.ErrConflict)
	}
}

func TestClaimDeliveryConcurrent(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	const n = 10

	claims := claimConcurrently(t, f.l, "evt-3/0", n)
	assert.Equal(t, 1, claims[ledger.ClaimGranted], "granted claims")
	assert.Equal(t, n-1, claims[ledger.InFlight], "in-flight answers")

	// The holder died: every concurrent retry now answers Unconfirmed, none
	// is granted.
	f.clock.Advance(ledger.DefaultLease)
	claims = claimConcurrently(t, f.l, "evt-3/0", n)
	assert.Equal(t, n, claims[ledger.Unconfirmed], "unconfirmed answers")

	info, err := f.l.Record(ctx, "evt-3/0")
	require.NoError(t, err)
	assert.Equal(t, 1, info.Attempts)
}

func claimConcurrently(t *testing.T, l *ledger.Ledger, recordID string, n int) map[ledger.ClaimStatus]int {
	t.Helper()
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		counts = map[ledger.ClaimStatus]int{}
		errs   []error
	)
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			c, err := l.ClaimDelivery(context.Background(), recordID)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			counts[c.Status]++
		})
	}
	close(start)
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	return counts
}

func TestClaimStatusString(t *testing.T) {
	for st, want := range map[ledger.ClaimStatus]string{
		ledger.ClaimGranted:     "granted",
		ledger.AlreadyDelivered: "already_delivered",
		ledger.InFlight:         "in_flight",
		ledger.Unconfirmed:      "unconfirmed",
		0:                       "unknown",
	} {
		assert.Equal(t, want, st.String())
	}
}
