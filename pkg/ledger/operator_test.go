package ledger_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/pkg/ledger"
)

// TestResolveUnconfirmedReleasesOwnedSubject: an owner whose attempt was
// uncertain leaves its subject unconfirmed; resolving the record must
// release the subject too, or the redriven record meets its own
// unconfirmed subject and is dead-lettered again (subject_unconfirmed).
func TestResolveUnconfirmedReleasesOwnedSubject(t *testing.T) {
	srv := newServer(t)
	ctx := context.Background()
	fields := map[string]string{"email": "d1"}

	t.Run("owner", func(t *testing.T) {
		f := srv.fixture(t)
		claimRecord(t, f.l, "evt-1/0")
		c, err := f.l.ClaimSubject(ctx, subj, "evt-1/0", fields)
		require.NoError(t, err)
		require.Equal(t, ledger.SubjectGranted, c.Status)
		require.NoError(t, f.l.MarkUnconfirmed(ctx, "evt-1/0"))
		require.NoError(t, f.l.MarkSubjectUnconfirmed(ctx, subj, "evt-1/0"))

		require.NoError(t, f.l.ResolveUnconfirmed(ctx, "evt-1/0"))
		_, err = f.l.Subject(ctx, subj)
		require.ErrorIs(t, err, ledger.ErrNotFound, "the owned subject is released")
		require.NoError(t, f.l.ResolveUnconfirmed(ctx, "evt-1/0"), "repeating is a no-op")

		// The redriven record is granted both claims again.
		claimRecord(t, f.l, "evt-1/0")
		c, err = f.l.ClaimSubject(ctx, subj, "evt-1/0", fields)
		require.NoError(t, err)
		assert.Equal(t, ledger.SubjectGranted, c.Status)
	})

	t.Run("owner whose claim expired while creating", func(t *testing.T) {
		f := srv.fixture(t)
		claimRecord(t, f.l, "evt-1/0")
		_, err := f.l.ClaimSubject(ctx, subj, "evt-1/0", fields)
		require.NoError(t, err)
		f.clock.Advance(f.l.Lease() + time.Second)
		require.NoError(t, f.l.ResolveUnconfirmed(ctx, "evt-1/0"))
		_, err = f.l.Subject(ctx, subj)
		require.ErrorIs(t, err, ledger.ErrNotFound)
	})

	t.Run("another record's subject is left alone", func(t *testing.T) {
		f := srv.fixture(t)
		claimRecord(t, f.l, "evt-1/0")
		_, err := f.l.ClaimSubject(ctx, subj, "evt-1/0", fields)
		require.NoError(t, err)
		require.NoError(t, f.l.MarkUnconfirmed(ctx, "evt-1/0"))
		require.NoError(t, f.l.MarkSubjectUnconfirmed(ctx, subj, "evt-1/0"))

		// A second record of the person met the unconfirmed subject and
		// was dead-lettered (subject_unconfirmed) after releasing its claim.
		claimRecord(t, f.l, "evt-2/0")
		c, err := f.l.ClaimSubject(ctx, subj, "evt-2/0", fields)
		require.NoError(t, err)
		require.Equal(t, ledger.SubjectUnknown, c.Status)
		require.NoError(t, f.l.MarkNotDelivered(ctx, "evt-2/0"))

		require.NoError(t, f.l.ResolveUnconfirmed(ctx, "evt-2/0"), "released already: a no-op")
		info, err := f.l.Subject(ctx, subj)
		require.NoError(t, err)
		assert.Equal(t, ledger.SubjectUnconfirmed, info.State, "the owner's subject stays until the owner is resolved")
		assert.Equal(t, "evt-1/0", info.Owner)
	})

	t.Run("a created subject is never released", func(t *testing.T) {
		f := srv.fixture(t)
		claimRecord(t, f.l, "evt-1/0")
		_, err := f.l.ClaimSubject(ctx, subj, "evt-1/0", fields)
		require.NoError(t, err)
		require.NoError(t, f.l.MarkSubjectCreated(ctx, subj, "evt-1/0", nmID))
		require.NoError(t, f.l.MarkUnconfirmed(ctx, "evt-1/0"))
		require.NoError(t, f.l.ResolveUnconfirmed(ctx, "evt-1/0"))
		info, err := f.l.Subject(ctx, subj)
		require.NoError(t, err)
		assert.Equal(t, ledger.SubjectCreated, info.State)
	})
}

func TestEventAndScanEvents(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const (
		a1 = "acme-ehr:0123456789abcdef0123456789abcdef"
		a2 = "acme-ehr:fedcba9876543210fedcba9876543210"
		b1 = "acme-ehr2:0123456789abcdef0123456789abcdef"
	)
	_, err := f.l.Event(ctx, a1)
	require.ErrorIs(t, err, ledger.ErrNotFound)

	start := f.clock.Now()
	_, err = f.l.BeginEvent(ctx, a1, 2)
	require.NoError(t, err)
	f.clock.Advance(time.Minute)
	since := f.clock.Now()
	_, err = f.l.BeginEvent(ctx, a2, 1)
	require.NoError(t, err)
	require.NoError(t, f.l.MarkEventQueued(ctx, a2))
	_, err = f.l.BeginEvent(ctx, b1, 1) // another source whose name starts alike
	require.NoError(t, err)

	ev, err := f.l.Event(ctx, a1)
	require.NoError(t, err)
	assert.Equal(t, ledger.EventInfo{
		ID: a1, State: "received", Records: 2, CreatedAt: start, UpdatedAt: start,
		ClaimedUntil: start.Add(f.l.EventLease()),
	}, ev)

	all, truncated, err := ledger.ScanEvents(ctx, f.srv.client, f.table, "acme-ehr", start)
	require.NoError(t, err)
	assert.False(t, truncated)
	require.Len(t, all, 2)
	assert.Equal(t, []string{a1, a2}, []string{all[0].ID, all[1].ID}, "oldest first, this source only")
	assert.Equal(t, "queued", all[1].State)

	recent, _, err := ledger.ScanEvents(ctx, f.srv.client, f.table, "acme-ehr", since)
	require.NoError(t, err)
	require.Len(t, recent, 1)
	assert.Equal(t, a2, recent[0].ID)
}
