package ledger_test

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/pkg/ledger"
)

// TestItemAttributes pins the stored vocabulary: ids, states, timestamps,
// counts and NovaMed ids, nothing else.
func TestItemAttributes(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	now := f.clock.Now()
	ttl := strconv.FormatInt(now.Add(30*24*time.Hour).Unix(), 10)
	ms := func(tm time.Time) string { return strconv.FormatInt(tm.UnixMilli(), 10) }

	steps := []struct {
		name string
		do   func() error
		pk   string
		want map[string]string // attribute -> value ("*" = any)
	}{
		{
			name: "event received",
			do:   func() error { _, err := f.l.BeginEvent(ctx, "evt-a", 4); return err },
			pk:   "event#evt-a",
			want: map[string]string{
				"pk": "event#evt-a", "state": "received", "records": "4",
				"created_at": ms(now), "updated_at": ms(now),
				"claimed_until": ms(now.Add(ledger.DefaultEventLease)), "expires_at": ttl,
			},
		},
		{
			name: "event queued",
			do:   func() error { return f.l.MarkEventQueued(ctx, "evt-a") },
			pk:   "event#evt-a",
			want: map[string]string{
				"pk": "event#evt-a", "state": "queued", "records": "4",
				"created_at": ms(now), "updated_at": ms(now), "expires_at": ttl,
			},
		},
		{
			name: "record delivering",
			do:   func() error { _, err := f.l.ClaimDelivery(ctx, "evt-a/0"); return err },
			pk:   "record#evt-a/0",
			want: map[string]string{
				"pk": "record#evt-a/0", "state": "delivering", "attempts": "1",
				"created_at": ms(now), "updated_at": ms(now),
				"claimed_until": ms(now.Add(ledger.DefaultLease)), "expires_at": ttl,
			},
		},
		{
			name: "record released",
			do:   func() error { return f.l.MarkNotDelivered(ctx, "evt-a/0") },
			pk:   "record#evt-a/0",
			want: map[string]string{
				"pk": "record#evt-a/0", "state": "released", "attempts": "1",
				"created_at": ms(now), "updated_at": ms(now), "expires_at": ttl,
			},
		},
		{
			name: "record delivered",
			do: func() error {
				if _, err := f.l.ClaimDelivery(ctx, "evt-a/0"); err != nil {
					return err
				}
				return f.l.MarkDelivered(ctx, "evt-a/0", nmID)
			},
			pk: "record#evt-a/0",
			want: map[string]string{
				"pk": "record#evt-a/0", "state": "delivered", "attempts": "2", "novamed_id": nmID,
				"created_at": ms(now), "updated_at": ms(now), "expires_at": ttl,
			},
		},
		{
			name: "record unconfirmed",
			do: func() error {
				if _, err := f.l.ClaimDelivery(ctx, "evt-a/1"); err != nil {
					return err
				}
				return f.l.MarkUnconfirmed(ctx, "evt-a/1")
			},
			pk: "record#evt-a/1",
			want: map[string]string{
				"pk": "record#evt-a/1", "state": "unconfirmed", "attempts": "1",
				"created_at": ms(now), "updated_at": ms(now), "expires_at": ttl,
			},
		},
	}
	for _, s := range steps {
		require.NoError(t, s.do(), s.name)
		got := flatten(t, f.raw(t, s.pk))
		assert.Equal(t, slices.Sorted(maps.Keys(s.want)), slices.Sorted(maps.Keys(got)), "%s: attribute set", s.name)
		assert.Equal(t, s.want, got, "%s: attribute values", s.name)
	}
}

// flatten renders a raw item as attribute -> scalar string, failing on any
// type the ledger does not write.
func flatten(t *testing.T, item map[string]types.AttributeValue) map[string]string {
	t.Helper()
	out := make(map[string]string, len(item))
	for name, v := range item {
		switch v := v.(type) {
		case *types.AttributeValueMemberS:
			out[name] = v.Value
		case *types.AttributeValueMemberN:
			out[name] = v.Value
		default:
			t.Fatalf("attribute %s has unexpected type %T", name, v)
		}
	}
	return out
}

func TestTTLRefreshedOnWrite(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, ledger.WithTTL(48*time.Hour))

	_, err := f.l.ClaimDelivery(ctx, "evt-t/0")
	require.NoError(t, err)
	assert.Equal(t, strconv.FormatInt(f.clock.Now().Add(48*time.Hour).Unix(), 10),
		flatten(t, f.raw(t, "record#evt-t/0"))["expires_at"], "expires_at after claim")

	f.clock.Advance(90 * time.Second)
	require.NoError(t, f.l.MarkDelivered(ctx, "evt-t/0", nmID))
	assert.Equal(t, strconv.FormatInt(f.clock.Now().Add(48*time.Hour).Unix(), 10),
		flatten(t, f.raw(t, "record#evt-t/0"))["expires_at"], "expires_at after delivery")
}

func TestCreateTable(t *testing.T) {
	ctx := context.Background()
	srv := newServer(t)
	require.NoError(t, ledger.CreateTable(ctx, srv.client, "ledger-ct"))
	require.NoError(t, ledger.CreateTable(ctx, srv.client, "ledger-ct"), "existing table is fine")

	desc, err := srv.client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("ledger-ct")})
	require.NoError(t, err)
	require.Len(t, desc.Table.KeySchema, 1)
	assert.Equal(t, "pk", aws.ToString(desc.Table.KeySchema[0].AttributeName))
	assert.Equal(t, types.KeyTypeHash, desc.Table.KeySchema[0].KeyType)
	require.NotNil(t, desc.Table.BillingModeSummary)
	assert.Equal(t, types.BillingModePayPerRequest, desc.Table.BillingModeSummary.BillingMode)

	ttl, err := srv.client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String("ledger-ct")})
	require.NoError(t, err)
	assert.Equal(t, "expires_at", aws.ToString(ttl.TimeToLiveDescription.AttributeName))
	assert.Equal(t, types.TimeToLiveStatusEnabled, ttl.TimeToLiveDescription.TimeToLiveStatus)
}
