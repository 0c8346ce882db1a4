package params

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/stretchr/testify/require"

	"github.com/novamed/bridge/internal/awstest"
)

const testPrefix = "/novamed-bridge/test"

// kumoSSM is a real SSM client talking to kumo in-process, with a prefix of
// its own: kumo keeps one store per process, shared by every server, so
// tests must not share parameter names.
type kumoSSM struct {
	*ssm.Client
	prefix string
}

func newSSM(t testing.TB) kumoSSM {
	t.Helper()
	return kumoSSM{
		Client: awstest.Start(t).SSM(),
		prefix: testPrefix + "/" + awstest.Name(t, "params"),
	}
}

func putParam(t testing.TB, client kumoSSM, name, value string, typ types.ParameterType) {
	t.Helper()
	_, err := client.PutParameter(context.Background(), &ssm.PutParameterInput{
		Name:      aws.String(client.prefix + "/" + name),
		Value:     aws.String(value),
		Type:      typ,
		Overwrite: aws.Bool(true),
	})
	require.NoError(t, err, "put %s", name)
}

// countingSSM counts the calls that reach the real client, independently of
// Cache.Stats.
type countingSSM struct {
	SSMAPI
	getParameters, byPath atomic.Int64
}

func (c *countingSSM) GetParameters(ctx context.Context, in *ssm.GetParametersInput, o ...func(*ssm.Options)) (*ssm.GetParametersOutput, error) {
	c.getParameters.Add(1)
	return c.SSMAPI.GetParameters(ctx, in, o...)
}

func (c *countingSSM) GetParametersByPath(ctx context.Context, in *ssm.GetParametersByPathInput, o ...func(*ssm.Options)) (*ssm.GetParametersByPathOutput, error) {
	c.byPath.Add(1)
	return c.SSMAPI.GetParametersByPath(ctx, in, o...)
}

func (c *countingSSM) total() int64 { return c.getParameters.Load() + c.byPath.Load() }

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = f.t.Add(d)
}

// requireValue compares a secret without printing it on failure.
func requireValue(t testing.TB, c *Cache, name, want string) {
	t.Helper()
	got, err := c.Get(context.Background(), name)
	if err != nil {
		t.Fatalf("Get(%s): %v", name, err)
	}
	if got != want {
		t.Fatalf("Get(%s): value differs from the expected one (values not printed)", name)
	}
}

func TestCacheKumoSecureStringAndString(t *testing.T) {
	client := newSSM(t)
	putParam(t, client, "api-key", "nm_test_secret_key_1", types.ParameterTypeSecureString)
	putParam(t, client, "clinic-id", "0b5e4b8e-2f4a-4c57-9d7e-1f0d9e2c3a4b", types.ParameterTypeString)
	putParam(t, client, "sources/ehr-a", `{"format":"fhir","secrets":["s1"]}`, types.ParameterTypeSecureString)
	putParam(t, client, "sources/forms/tally", `{"format":"form"}`, types.ParameterTypeSecureString)
	// Outside the prefix: must not be visible.
	_, err := client.PutParameter(context.Background(), &ssm.PutParameterInput{
		Name: aws.String(client.prefix + "-other/api-key"), Value: aws.String("other"),
		Type: types.ParameterTypeSecureString,
	})
	require.NoError(t, err)

	counting := &countingSSM{SSMAPI: client.Client}
	c, err := New(counting, client.prefix, WithNames("api-key", "clinic-id"), WithPath("sources"))
	require.NoError(t, err)

	requireValue(t, c, "api-key", "nm_test_secret_key_1") // decrypted, not "kms:..."
	requireValue(t, c, "clinic-id", "0b5e4b8e-2f4a-4c57-9d7e-1f0d9e2c3a4b")
	requireValue(t, c, "sources/ehr-a", `{"format":"fhir","secrets":["s1"]}`)
	requireValue(t, c, "sources/forms/tally", `{"format":"form"}`) // recursive
	require.Equal(t, []string{"api-key", "clinic-id", "sources/ehr-a", "sources/forms/tally"}, c.names())

	require.EqualValues(t, 1, counting.getParameters.Load())
	require.EqualValues(t, 1, counting.byPath.Load())
	require.Equal(t, Stats{Calls: 2, Loads: 1}, c.Stats())
}

func TestCacheKumoNotFound(t *testing.T) {
	client := newSSM(t)
	putParam(t, client, "api-key", "k", types.ParameterTypeSecureString)
	putParam(t, client, "sources/ehr-a", "{}", types.ParameterTypeSecureString)
	c, err := New(client.Client, client.prefix, WithNames("api-key", "clinic-id"), WithPath("sources"))
	require.NoError(t, err)

	tests := []struct {
		name string
		want error
	}{
		{"clinic-id", ErrNotFound},       // configured, missing in SSM
		{"sources/unknown", ErrNotFound}, // intake: unknown source, 404
		{"sources/ehr-a/x", ErrNotFound}, // deeper than any parameter
		{"pseudonym-key", ErrNotConfigured},
		{"sources/", ErrNotConfigured},
		{"sources", ErrNotConfigured},
		{"other/x", ErrNotConfigured},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Get(context.Background(), tt.name)
			require.ErrorIs(t, err, tt.want)
		})
	}
	// Missing names do not cause reloads.
	require.EqualValues(t, 2, c.Stats().Calls)
}

func TestCacheKumoTTLExpiryPicksUpChange(t *testing.T) {
	client := newSSM(t)
	putParam(t, client, "api-key", "key-v1", types.ParameterTypeSecureString)
	clock := newFakeClock()
	counting := &countingSSM{SSMAPI: client.Client}
	c, err := New(counting, client.prefix, WithNames("api-key"), WithTTL(time.Minute), WithClock(clock.Now))
	require.NoError(t, err)

	requireValue(t, c, "api-key", "key-v1")
	putParam(t, client, "api-key", "key-v2", types.ParameterTypeSecureString)

	clock.Advance(59 * time.Second)
	requireValue(t, c, "api-key", "key-v1") // still fresh: no call
	require.EqualValues(t, 1, counting.total())

	clock.Advance(time.Second)
	requireValue(t, c, "api-key", "key-v2")
	require.EqualValues(t, 2, counting.total())
}

func TestCacheKumoConcurrentGetsShareOneLoad(t *testing.T) {
	client := newSSM(t)
	putParam(t, client, "api-key", "k", types.ParameterTypeSecureString)
	putParam(t, client, "sources/ehr-a", "{}", types.ParameterTypeSecureString)
	counting := &countingSSM{SSMAPI: client.Client}
	c, err := New(counting, client.prefix, WithNames("api-key"), WithPath("sources"))
	require.NoError(t, err)

	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		wg.Go(func() {
			<-start
			name := "api-key"
			if i%2 == 1 {
				name = "sources/ehr-a"
			}
			if _, err := c.Get(context.Background(), name); err != nil {
				errs <- err
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// One load round: one GetParameters chunk and one path page.
	require.EqualValues(t, 1, counting.getParameters.Load())
	require.EqualValues(t, 1, counting.byPath.Load())
	require.EqualValues(t, 1, c.Stats().Loads)
}

func TestCacheKumoRefreshRateLimit(t *testing.T) {
	client := newSSM(t)
	putParam(t, client, "api-key", "key-v1", types.ParameterTypeSecureString)
	clock := newFakeClock()
	counting := &countingSSM{SSMAPI: client.Client}
	c, err := New(counting, client.prefix, WithNames("api-key"), WithClock(clock.Now))
	require.NoError(t, err)
	requireValue(t, c, "api-key", "key-v1")

	// The key is rotated; dispatch gets a 401 and forces a refresh.
	putParam(t, client, "api-key", "key-v2", types.ParameterTypeSecureString)
	require.NoError(t, c.Refresh(context.Background()))
	requireValue(t, c, "api-key", "key-v2")
	require.EqualValues(t, 2, counting.total())

	// A stream of 401s within the interval makes no more calls.
	putParam(t, client, "api-key", "key-v3", types.ParameterTypeSecureString)
	for range 20 {
		clock.Advance(200 * time.Millisecond)
		require.NoError(t, c.Refresh(context.Background()))
	}
	require.EqualValues(t, 2, counting.total())
	requireValue(t, c, "api-key", "key-v2")

	clock.Advance(time.Second) // 5s since the last forced refresh
	require.NoError(t, c.Refresh(context.Background()))
	requireValue(t, c, "api-key", "key-v3")
	require.EqualValues(t, 3, counting.total())

	st := c.Stats()
	require.EqualValues(t, 2, st.Refreshes)
	require.EqualValues(t, 20, st.RefreshesLimited)
}

func TestCacheKumoPathPagination(t *testing.T) {
	client := newSSM(t)
	const n = 25
	for i := range n {
		putParam(t, client, fmt.Sprintf("sources/src-%02d", i), fmt.Sprintf("cfg-%02d", i), types.ParameterTypeSecureString)
	}
	counting := &countingSSM{SSMAPI: client.Client}
	c, err := New(counting, client.prefix, WithPath("sources"))
	require.NoError(t, err)

	for i := range n {
		requireValue(t, c, fmt.Sprintf("sources/src-%02d", i), fmt.Sprintf("cfg-%02d", i))
	}
	require.Len(t, c.names(), n)
	require.EqualValues(t, 3, counting.byPath.Load(), "pages of at most 10")
	require.EqualValues(t, 0, counting.getParameters.Load())
}

func TestCacheKumoNamesInChunksOfTen(t *testing.T) {
	client := newSSM(t)
	var names []string
	for i := range 23 {
		name := fmt.Sprintf("n-%02d", i)
		names = append(names, name)
		putParam(t, client, name, "v"+name, types.ParameterTypeString)
	}
	counting := &countingSSM{SSMAPI: client.Client}
	c, err := New(counting, client.prefix, WithNames(names...))
	require.NoError(t, err)
	for _, name := range names {
		requireValue(t, c, name, "v"+name)
	}
	require.EqualValues(t, 3, counting.getParameters.Load())
}

// TestCacheKumoOneRoundPerTTLFor1000Records is the batch case: dispatch reads
// the key once per record, and a thousand records cost one load round per
// TTL.
func TestCacheKumoOneRoundPerTTLFor1000Records(t *testing.T) {
	client := newSSM(t)
	putParam(t, client, "api-key", "k", types.ParameterTypeSecureString)
	putParam(t, client, "clinic-id", "c", types.ParameterTypeString)
	clock := newFakeClock()
	counting := &countingSSM{SSMAPI: client.Client}
	c, err := New(counting, client.prefix, WithNames("api-key", "clinic-id"), WithClock(clock.Now))
	require.NoError(t, err)

	for ttl := range 3 {
		for i := range 1000 {
			_, err := c.Get(context.Background(), "api-key")
			require.NoError(t, err)
			if i%100 == 0 {
				clock.Advance(time.Second)
			}
		}
		require.EqualValues(t, ttl+1, counting.total())
		clock.Advance(DefaultTTL)
	}
}

func TestCacheKumoCanceledContext(t *testing.T) {
	client := newSSM(t)
	c, err := New(client.Client, client.prefix, WithNames("api-key"))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = c.Get(ctx, "api-key")
	require.True(t, errors.Is(err, context.Canceled), "got %v", err)
}

func BenchmarkCacheGet(b *testing.B) {
	client := newSSM(b)
	putParam(b, client, "api-key", "k", types.ParameterTypeSecureString)
	counting := &countingSSM{SSMAPI: client.Client}
	c, err := New(counting, client.prefix, WithNames("api-key"))
	require.NoError(b, err)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Get(ctx, "api-key"); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(counting.total()), "ssm-calls")
}
