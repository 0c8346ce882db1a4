package ledger_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/pkg/ledger"
)

const subj = "sub:6c1b0f2e9a4d7c3e8b5a1f0d2c4e6a8b" // a keyed hash, not PHI

// claimRecord claims a record for delivery, as dispatch does before it
// claims the record's subject.
func claimRecord(t *testing.T, l *ledger.Ledger, rec string) {
	t.Helper()
	c, err := l.ClaimDelivery(context.Background(), rec)
	require.NoError(t, err)
	require.Equal(t, ledger.ClaimGranted, c.Status)
}

func TestSubjectStateMachine(t *testing.T) {
	srv := newServer(t)
	ctx := context.Background()
	fields := map[string]string{"email": "d1", "phone": "d2"}

	t.Run("first record creates, later ones find the chart", func(t *testing.T) {
		f := srv.fixture(t)
		claimRecord(t, f.l, "evt-1/0")
		c, err := f.l.ClaimSubject(ctx, subj, "evt-1/0", fields)
		require.NoError(t, err)
		assert.Equal(t, ledger.SubjectGranted, c.Status)
		require.NoError(t, f.l.MarkSubjectCreated(ctx, subj, "evt-1/0", nmID))
		require.NoError(t, f.l.MarkSubjectCreated(ctx, subj, "evt-1/0", nmID), "repeating is a no-op")

		claimRecord(t, f.l, "evt-2/0")
		c, err = f.l.ClaimSubject(ctx, subj, "evt-2/0", map[string]string{"email": "d1", "phone": "d3"})
		require.NoError(t, err)
		assert.Equal(t, ledger.SubjectExists, c.Status)
		assert.Equal(t, nmID, c.NovaMedID)
		assert.Equal(t, fields, c.Fields, "the chart is compared with the record that created it")
		assert.Equal(t, "evt-1/0", c.Owner)

		got, err := f.l.RecordSubject(ctx, "evt-2/0")
		require.NoError(t, err)
		assert.Equal(t, subj, got, "a subject can be looked up by record id")
		info, err := f.l.Subject(ctx, subj)
		require.NoError(t, err)
		assert.Equal(t, ledger.SubjectCreated, info.State)
		assert.Equal(t, []string{"email", "phone"}, info.Fields)
	})

	t.Run("the owner may claim again; others wait while it creates", func(t *testing.T) {
		f := srv.fixture(t)
		claimRecord(t, f.l, "evt-1/0")
		claimRecord(t, f.l, "evt-2/0")
		c, err := f.l.ClaimSubject(ctx, subj, "evt-1/0", fields)
		require.NoError(t, err)
		require.Equal(t, ledger.SubjectGranted, c.Status)
		c, err = f.l.ClaimSubject(ctx, subj, "evt-1/0", fields)
		require.NoError(t, err)
		assert.Equal(t, ledger.SubjectGranted, c.Status, "a retry of the owner")
		c, err = f.l.ClaimSubject(ctx, subj, "evt-2/0", fields)
		require.NoError(t, err)
		assert.Equal(t, ledger.SubjectInFlight, c.Status)
		assert.Equal(t, f.clock.Now().Add(ledger.DefaultLease), c.ClaimedUntil)
	})

	t.Run("released when nothing was created", func(t *testing.T) {
		f := srv.fixture(t)
		claimRecord(t, f.l, "evt-1/0")
		claimRecord(t, f.l, "evt-2/0")
		_, err := f.l.ClaimSubject(ctx, subj, "evt-1/0", fields)
		require.NoError(t, err)
		var se *ledger.StateError
		require.ErrorAs(t, f.l.ReleaseSubject(ctx, subj, "evt-2/0"), &se, "only the owner releases")
		require.NoError(t, f.l.ReleaseSubject(ctx, subj, "evt-1/0"))
		require.NoError(t, f.l.ReleaseSubject(ctx, subj, "evt-1/0"), "releasing an absent subject is a no-op")
		c, err := f.l.ClaimSubject(ctx, subj, "evt-2/0", fields)
		require.NoError(t, err)
		assert.Equal(t, ledger.SubjectGranted, c.Status)
	})

	t.Run("an owner that crashed leaves the subject unconfirmed", func(t *testing.T) {
		f := srv.fixture(t)
		claimRecord(t, f.l, "evt-1/0")
		claimRecord(t, f.l, "evt-2/0")
		_, err := f.l.ClaimSubject(ctx, subj, "evt-1/0", fields)
		require.NoError(t, err)
		f.clock.Advance(ledger.DefaultLease + time.Second)
		c, err := f.l.ClaimSubject(ctx, subj, "evt-2/0", fields)
		require.NoError(t, err)
		assert.Equal(t, ledger.SubjectUnknown, c.Status)
		assert.Equal(t, "evt-1/0", c.Owner)
		// The operator finds the chart: the subject is created with it.
		require.NoError(t, f.l.MarkSubjectCreated(ctx, subj, "evt-1/0", nmID))
		c, err = f.l.ClaimSubject(ctx, subj, "evt-2/0", fields)
		require.NoError(t, err)
		assert.Equal(t, ledger.SubjectExists, c.Status)
	})

	t.Run("an unconfirmed owner blocks creation until resolved", func(t *testing.T) {
		f := srv.fixture(t)
		claimRecord(t, f.l, "evt-1/0")
		claimRecord(t, f.l, "evt-2/0")
		_, err := f.l.ClaimSubject(ctx, subj, "evt-1/0", fields)
		require.NoError(t, err)
		require.NoError(t, f.l.MarkSubjectUnconfirmed(ctx, subj, "evt-1/0"))
		c, err := f.l.ClaimSubject(ctx, subj, "evt-2/0", fields)
		require.NoError(t, err)
		assert.Equal(t, ledger.SubjectUnknown, c.Status)
		require.NoError(t, f.l.ReleaseSubject(ctx, subj, "evt-1/0"), "nothing found in NovaMed")
		c, err = f.l.ClaimSubject(ctx, subj, "evt-2/0", fields)
		require.NoError(t, err)
		assert.Equal(t, ledger.SubjectGranted, c.Status)
	})

	t.Run("a subject outlives the events and records that named it", func(t *testing.T) {
		f := srv.fixture(t)
		claimRecord(t, f.l, "evt-1/0")
		_, err := f.l.ClaimSubject(ctx, subj, "evt-1/0", fields)
		require.NoError(t, err)
		require.NoError(t, f.l.MarkSubjectCreated(ctx, subj, "evt-1/0", nmID))
		item := f.raw(t, "subject#"+subj)
		_, expires := item["expires_at"]
		assert.False(t, expires, "subject items carry no TTL: the chart is kept for good")
		rec := f.raw(t, "record#evt-1/0")
		_, expires = rec["expires_at"]
		assert.True(t, expires, "record items do expire")
	})

	t.Run("a subject of a record never claimed is refused", func(t *testing.T) {
		f := srv.fixture(t)
		_, err := f.l.ClaimSubject(ctx, subj, "evt-9/0", fields)
		assert.ErrorIs(t, err, ledger.ErrNotFound)
	})
}

// Of concurrent records of one subject exactly one creates the chart.
func TestSubjectConcurrentClaims(t *testing.T) {
	srv := newServer(t)
	f := srv.fixture(t)
	ctx := context.Background()
	const n = 8
	recs := make([]string, n)
	for i := range recs {
		recs[i] = "evt-" + string(rune('a'+i)) + "/0"
		claimRecord(t, f.l, recs[i])
	}
	var wg sync.WaitGroup
	statuses := make([]ledger.SubjectStatus, n)
	for i := range n {
		wg.Go(func() {
			c, err := f.l.ClaimSubject(ctx, subj, recs[i], map[string]string{"email": "d"})
			if assert.NoError(t, err) {
				statuses[i] = c.Status
			}
		})
	}
	wg.Wait()
	granted := 0
	for _, s := range statuses {
		switch s {
		case ledger.SubjectGranted:
			granted++
		case ledger.SubjectInFlight:
		default:
			t.Errorf("unexpected status %v", s)
		}
	}
	assert.Equal(t, 1, granted)
}
