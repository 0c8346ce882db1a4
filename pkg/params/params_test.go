package params

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/stretchr/testify/require"
)

const secretValue = "sk_live_DO_NOT_PRINT_4242"

// fakeSSM serves fixed parameters and fails while fail is set.
type fakeSSM struct {
	mu     sync.Mutex
	values map[string]string // full name -> value
	fail   error
	block  chan struct{} // when set, calls wait for it to close
	calls  int
}

func (f *fakeSSM) GetParameters(ctx context.Context, in *ssm.GetParametersInput, _ ...func(*ssm.Options)) (*ssm.GetParametersOutput, error) {
	f.mu.Lock()
	f.calls++
	block, fail := f.block, f.fail
	f.mu.Unlock()
	if block != nil {
		<-block
	}
	if fail != nil {
		return nil, fail
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &ssm.GetParametersOutput{}
	for _, n := range in.Names {
		if v, ok := f.values[n]; ok {
			out.Parameters = append(out.Parameters, types.Parameter{Name: aws.String(n), Value: aws.String(v)})
		} else {
			out.InvalidParameters = append(out.InvalidParameters, n)
		}
	}
	return out, nil
}

func (f *fakeSSM) GetParametersByPath(context.Context, *ssm.GetParametersByPathInput, ...func(*ssm.Options)) (*ssm.GetParametersByPathOutput, error) {
	return nil, errors.New("fakeSSM: paths not supported")
}

func (f *fakeSSM) set(fail error, value string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = fail
	if value != "" {
		f.values[testPrefix+"/api-key"] = value
	}
}

func (f *fakeSSM) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// TestCacheFailureAfterSuccess walks through an SSM outage: stale values for
// one extra TTL, no call during the back-off, then ErrUnavailable, then
// recovery.
func TestCacheFailureAfterSuccess(t *testing.T) {
	fake := &fakeSSM{values: map[string]string{testPrefix + "/api-key": secretValue}}
	clock := newFakeClock()
	var logs bytes.Buffer
	c, err := New(fake, testPrefix, WithNames("api-key"), WithTTL(time.Minute), WithClock(clock.Now),
		WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
	require.NoError(t, err)
	ctx := context.Background()

	requireValue(t, c, "api-key", secretValue)
	require.Equal(t, 1, fake.callCount())

	outage := errors.New("ThrottlingException: rate exceeded")
	fake.set(outage, "")

	// Past the TTL: the reload fails, the stale value is served.
	clock.Advance(61 * time.Second)
	requireValue(t, c, "api-key", secretValue)
	require.Equal(t, 2, fake.callCount())

	// Within the back-off: no call, still stale.
	clock.Advance(2 * time.Second)
	requireValue(t, c, "api-key", secretValue)
	require.Equal(t, 2, fake.callCount())

	// A forced refresh runs (its own limit) and reports the failure, the
	// loaded value stays.
	err = c.Refresh(ctx)
	require.ErrorIs(t, err, ErrUnavailable)
	require.ErrorIs(t, err, outage)
	require.Equal(t, 3, fake.callCount())
	requireValue(t, c, "api-key", secretValue)

	// Past TTL + grace (2 minutes after the load): no more stale values.
	clock.Advance(time.Minute)
	_, err = c.Get(ctx, "api-key")
	require.ErrorIs(t, err, ErrUnavailable)
	require.Equal(t, 4, fake.callCount())

	// Within the back-off, the last error is answered without a call.
	_, err = c.Get(ctx, "api-key")
	require.ErrorIs(t, err, ErrUnavailable)
	require.Equal(t, 4, fake.callCount())

	// SSM is back, with a rotated key.
	fake.set(nil, "rotated-key")
	clock.Advance(5 * time.Second)
	requireValue(t, c, "api-key", "rotated-key")
	require.Equal(t, 5, fake.callCount())

	st := c.Stats()
	require.EqualValues(t, 2, st.Loads)
	require.EqualValues(t, 3, st.LoadFailures)
	require.EqualValues(t, 3, st.StaleServed)

	require.Contains(t, logs.String(), "serving the last loaded parameters")
	require.Equal(t, 1, strings.Count(logs.String(), "serving the last loaded"), "one warning per outage")
	if strings.Contains(logs.String(), secretValue) || strings.Contains(logs.String(), "rotated-key") {
		t.Fatal("a parameter value reached the log")
	}
}

func TestCacheFirstLoadFails(t *testing.T) {
	fake := &fakeSSM{fail: errors.New("connection refused")}
	clock := newFakeClock()
	c, err := New(fake, testPrefix, WithNames("api-key"), WithClock(clock.Now))
	require.NoError(t, err)

	_, err = c.Get(context.Background(), "api-key")
	require.ErrorIs(t, err, ErrUnavailable)
	_, err = c.Get(context.Background(), "api-key")
	require.ErrorIs(t, err, ErrUnavailable)
	require.Equal(t, 1, fake.callCount(), "back-off after a failure")
	require.Zero(t, c.Stats().StaleServed)
}

// After a failed load the error says when the cache reads SSM again, so a
// caller with retries of its own does not spend them on the back-off.
func TestCacheFailureSaysWhenItRetries(t *testing.T) {
	fake := &fakeSSM{fail: errors.New("connection refused"), values: map[string]string{}}
	clock := newFakeClock()
	c, err := New(fake, testPrefix, WithNames("api-key"), WithClock(clock.Now), WithMinRetryInterval(5*time.Second))
	require.NoError(t, err)

	_, err = c.Get(context.Background(), "api-key")
	require.ErrorIs(t, err, ErrUnavailable)
	require.Equal(t, 5*time.Second, RetryIn(err), "the failed load")
	clock.Advance(2 * time.Second)
	_, err = c.Get(context.Background(), "api-key")
	require.ErrorIs(t, err, ErrUnavailable)
	require.Equal(t, 3*time.Second, RetryIn(err), "backing off")
	require.Equal(t, 1, fake.callCount())

	clock.Advance(3 * time.Second)
	_, err = c.Get(context.Background(), "api-key")
	require.Equal(t, 2, fake.callCount(), "read again once the back-off is over")
	require.Equal(t, 5*time.Second, RetryIn(err), "and failed again")

	fake.set(nil, secretValue)
	clock.Advance(5 * time.Second)
	requireValue(t, c, "api-key", secretValue)
	_, err = c.Get(context.Background(), "missing")
	require.ErrorIs(t, err, ErrNotConfigured)
	require.Zero(t, RetryIn(err), "only a failed load's error carries a retry time")
	require.Zero(t, RetryIn(errors.New("other")))
}

func TestCacheStaleGraceZero(t *testing.T) {
	fake := &fakeSSM{values: map[string]string{testPrefix + "/api-key": secretValue}}
	clock := newFakeClock()
	c, err := New(fake, testPrefix, WithNames("api-key"), WithClock(clock.Now), WithStaleGrace(0))
	require.NoError(t, err)
	requireValue(t, c, "api-key", secretValue)
	fake.set(errors.New("down"), "")
	clock.Advance(DefaultTTL)
	_, err = c.Get(context.Background(), "api-key")
	require.ErrorIs(t, err, ErrUnavailable)
}

// TestCacheWaiterCancelDoesNotCancelLoad: a caller that gives up does not
// fail the load for the callers still waiting.
func TestCacheWaiterCancelDoesNotCancelLoad(t *testing.T) {
	block := make(chan struct{})
	fake := &fakeSSM{values: map[string]string{testPrefix + "/api-key": secretValue}, block: block}
	c, err := New(fake, testPrefix, WithNames("api-key"))
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := c.Get(ctx, "api-key")
		first <- err
	}()
	// Wait until the load is in flight, then give up on the first caller.
	require.Eventually(t, func() bool { return fake.callCount() == 1 }, 5*time.Second, time.Millisecond)
	cancel()
	require.ErrorIs(t, <-first, context.Canceled)

	second := make(chan error, 1)
	go func() {
		_, err := c.Get(context.Background(), "api-key")
		second <- err
	}()
	close(block)
	require.NoError(t, <-second)
	require.Equal(t, 1, fake.callCount())
}

func TestNewValidation(t *testing.T) {
	fake := &fakeSSM{}
	tests := []struct {
		name   string
		prefix string
		opts   []Option
	}{
		{"relative prefix", "novamed-bridge/dev", []Option{WithNames("api-key")}},
		{"empty prefix", "", []Option{WithNames("api-key")}},
		{"root prefix", "/", []Option{WithNames("api-key")}},
		{"nothing configured", "/p", nil},
		{"absolute name", "/p", []Option{WithNames("/p/api-key")}},
		{"empty name", "/p", []Option{WithNames("")}},
		{"bad character", "/p", []Option{WithNames("api key")}},
		{"absolute path", "/p", []Option{WithPath("/sources")}},
		{"zero ttl", "/p", []Option{WithNames("a"), WithTTL(0)}},
		{"negative grace", "/p", []Option{WithNames("a"), WithStaleGrace(-1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(fake, tt.prefix, tt.opts...)
			require.Error(t, err)
		})
	}
	_, err := New(nil, "/p", WithNames("a"))
	require.Error(t, err)

	c, err := New(fake, "/novamed-bridge/dev/", WithNames("api-key"), WithPath("sources/"))
	require.NoError(t, err)
	require.Equal(t, "/novamed-bridge/dev", c.prefix)
	require.Equal(t, []string{"sources"}, c.cfg.paths)
}

// TestCacheRendersWithoutValues checks every way a cache can be printed.
func TestCacheRendersWithoutValues(t *testing.T) {
	fake := &fakeSSM{values: map[string]string{testPrefix + "/api-key": secretValue}}
	c, err := New(fake, testPrefix, WithNames("api-key"))
	require.NoError(t, err)
	requireValue(t, c, "api-key", secretValue)

	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("cache", "cache", c, "values", c.values)
	out := fmt.Sprintf("%v %+v %#v %s %q %v %+v %#v", c, c, c, c, c, c.values, c.values, c.values) + logs.String()
	if strings.Contains(out, secretValue) {
		t.Fatal("a parameter value was rendered")
	}
	require.Contains(t, out, testPrefix)
}

// TestCacheErrorsCarryNoValues: errors name parameters at most.
func TestCacheErrorsCarryNoValues(t *testing.T) {
	fake := &fakeSSM{values: map[string]string{testPrefix + "/api-key": secretValue}}
	c, err := New(fake, testPrefix, WithNames("api-key", "clinic-id"), WithPath("sources"))
	require.NoError(t, err)

	_, err = c.Get(context.Background(), "clinic-id")
	require.ErrorIs(t, err, ErrUnavailable, "the path is not served by the fake")
	require.NotContains(t, err.Error(), secretValue)
}

// TestCacheConcurrentRefreshesShareOne: a burst of 401s in dispatch's
// concurrent batch makes one SSM round, and every caller sees its result.
func TestCacheConcurrentRefreshesShareOne(t *testing.T) {
	fake := &fakeSSM{values: map[string]string{testPrefix + "/api-key": "old-key"}}
	c, err := New(fake, testPrefix, WithNames("api-key"))
	require.NoError(t, err)
	requireValue(t, c, "api-key", "old-key")

	block := make(chan struct{})
	fake.mu.Lock()
	fake.block = block
	fake.values[testPrefix+"/api-key"] = "new-key"
	fake.mu.Unlock()

	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			if err := c.Refresh(context.Background()); err != nil {
				errs <- err
				return
			}
			// After Refresh returns, the rotated key is served.
			v, err := c.Get(context.Background(), "api-key")
			if err != nil || v != "new-key" {
				errs <- errors.New("stale key after Refresh")
			}
		})
	}
	require.Eventually(t, func() bool { return fake.callCount() == 2 }, 5*time.Second, time.Millisecond)
	close(block)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	require.Equal(t, 2, fake.callCount())
	st := c.Stats()
	require.EqualValues(t, 1, st.Refreshes)
	require.EqualValues(t, 19, st.RefreshesLimited)
}

// TestLoadAfterAnotherLoadEndedMakesNoCall: a caller that found no fresh
// values, then reaches the shared load after another load has finished,
// gets that load's values instead of calling SSM again (the window that let
// a waiter in TestCacheWaiterCancelDoesNotCancelLoad start a second call).
// A forced refresh still reads SSM.
func TestLoadAfterAnotherLoadEndedMakesNoCall(t *testing.T) {
	fake := &fakeSSM{values: map[string]string{testPrefix + "/api-key": secretValue}}
	c, err := New(fake, testPrefix, WithNames("api-key"))
	require.NoError(t, err)
	ctx := context.Background()

	_, err = c.load(ctx, 0) // the first load: generation 0 -> 1
	require.NoError(t, err)
	values, err := c.load(ctx, 0) // looked before it ended
	require.NoError(t, err)
	v, ok := values.lookup("api-key")
	require.True(t, ok)
	require.Equal(t, secretValue, v)
	require.Equal(t, 1, fake.callCount(), "no second call for a caller that looked before the first load ended")

	require.NoError(t, c.Refresh(ctx))
	require.Equal(t, 2, fake.callCount(), "a forced refresh reads SSM")
}
