package ledger_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/internal/awstest"
	"github.com/novamed/bridge/pkg/ledger"
)

// fakeClock is a settable clock shared by concurrent callers.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

// newFakeClock starts at the real time: kumo's TTL reaper deletes items whose
// expires_at is before the wall clock (every 30 s), so a clock set in the
// past would make items vanish from a test that runs long enough.
func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Now().UTC().Truncate(time.Millisecond)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// server is one in-process kumo shared by a test and its subtests.
type server struct {
	client *dynamodb.Client
}

func newServer(t testing.TB) *server {
	t.Helper()
	return &server{client: awstest.Start(t, config.WithRetryMaxAttempts(1)).DynamoDB()}
}

// newTable creates a fresh ledger table and returns its name.
func (s *server) newTable(t testing.TB) string {
	t.Helper()
	name := awstest.Name(t, "ledger")
	require.NoError(t, ledger.CreateTable(context.Background(), s.client, name))
	return name
}

// fixture is a ledger on a fresh table with a fake clock.
type fixture struct {
	srv   *server
	table string
	clock *fakeClock
	l     *ledger.Ledger
}

func newFixture(t testing.TB, opts ...ledger.Option) *fixture {
	t.Helper()
	srv := newServer(t)
	return srv.fixture(t, opts...)
}

func (s *server) fixture(t testing.TB, opts ...ledger.Option) *fixture {
	t.Helper()
	f := &fixture{srv: s, table: s.newTable(t), clock: newFakeClock()}
	f.l = ledger.New(s.client, f.table, append([]ledger.Option{ledger.WithClock(f.clock.Now)}, opts...)...)
	return f
}

// raw reads the stored item for pk, nil when absent.
func (f *fixture) raw(t testing.TB, pk string) map[string]types.AttributeValue {
	t.Helper()
	out, err := f.srv.client.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName:      aws.String(f.table),
		Key:            map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}},
		ConsistentRead: aws.Bool(true),
	})
	require.NoError(t, err)
	return out.Item
}

// put stores a raw item, for tests of corrupt entries.
func (f *fixture) put(t testing.TB, item map[string]types.AttributeValue) {
	t.Helper()
	_, err := f.srv.client.PutItem(context.Background(), &dynamodb.PutItemInput{
		TableName: aws.String(f.table),
		Item:      item,
	})
	require.NoError(t, err)
}
