package params

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"golang.org/x/sync/singleflight"
)

// SSMAPI is the part of the SSM client the cache uses.
type SSMAPI interface {
	GetParameters(ctx context.Context, params *ssm.GetParametersInput, optFns ...func(*ssm.Options)) (*ssm.GetParametersOutput, error)
	GetParametersByPath(ctx context.Context, params *ssm.GetParametersByPathInput, optFns ...func(*ssm.Options)) (*ssm.GetParametersByPathOutput, error)
}

// Defaults of a Cache.
const (
	DefaultTTL = 5 * time.Minute
	// DefaultMinRetryInterval limits forced refreshes and retries after a
	// failed load to one per interval.
	DefaultMinRetryInterval = 5 * time.Second
	// DefaultLoadTimeout bounds one load round. A load is shared by every
	// caller waiting for it, so it does not run on any one caller's context.
	DefaultLoadTimeout = 10 * time.Second
)

// SSM's limit on names per GetParameters call.
const getParametersChunk = 10

// Errors of the package. Test them with errors.Is.
var (
	// ErrNotFound: the name is not a parameter that exists in SSM (for a
	// name under a configured path, intake answers 404 for an unknown
	// source). Missing names do not trigger a reload: a stream of unknown
	// sources must not turn into a stream of SSM calls.
	ErrNotFound = errors.New("params: parameter not found")
	// ErrNotConfigured: the name is neither a WithNames name nor under a
	// WithPath path. It is a programming error, kept apart from ErrNotFound
	// so it does not become a silent 404.
	ErrNotConfigured = errors.New("params: parameter name not configured in the cache")
	// ErrUnavailable: SSM could not be read and no usable value is cached.
	ErrUnavailable = errors.New("params: parameter store unavailable")
)

// RetryError is what Get returns after a failed load: the load's error,
// and how long until the cache reads SSM again. A failed load is retried at
// most once per MinRetryInterval, so a caller that asks sooner only gets
// the same error back; a caller with retries of its own (dispatch's
// backoff) waits at least RetryIn before the next.
type RetryError struct {
	Err     error
	RetryIn time.Duration
}

func (e *RetryError) Error() string { return e.Err.Error() }
func (e *RetryError) Unwrap() error { return e.Err }

// RetryIn returns how long until the Cache that returned err reads SSM
// again, or zero when err is not a failed load's (see RetryError).
func RetryIn(err error) time.Duration {
	var re *RetryError
	if errors.As(err, &re) {
		return max(re.RetryIn, 0)
	}
	return 0
}

// Stats counts what the cache has done since New. It holds no names and no
// values.
type Stats struct {
	// Calls is the number of SSM API calls made (each GetParameters chunk
	// and each GetParametersByPath page is one call).
	Calls uint64
	// Loads is the number of load rounds that succeeded.
	Loads uint64
	// LoadFailures is the number of load rounds that failed.
	LoadFailures uint64
	// Refreshes is the number of forced refreshes that ran a load.
	Refreshes uint64
	// RefreshesLimited is the number of forced refreshes skipped by the
	// rate limit.
	RefreshesLimited uint64
	// StaleServed is the number of Get calls answered with values past
	// their TTL because a reload failed.
	StaleServed uint64
}

// Cache is a TTL cache of SSM parameters. It is safe for concurrent use.
// Create it with New.
type Cache struct {
	client SSMAPI
	prefix string
	cfg    config
	group  singleflight.Group

	mu          sync.Mutex
	values      secrets        // guarded by mu; nil until the first successful load
	loadedAt    time.Time      // guarded by mu; start of the last successful load
	generation  uint64         // guarded by mu; successful loads so far
	failedAt    time.Time      // guarded by mu; end of the last failed load, zero after a success
	lastErr     error          // guarded by mu; the error of the last failed load
	forced      *forcedRefresh // guarded by mu; the last forced refresh
	staleWarned bool           // guarded by mu; one warning per outage, not per Get

	calls, loads, loadFailures, refreshes, refreshesLimited, staleServed atomic.Uint64
}

// secrets holds parameter values. It renders without them in every format,
// so printing a Cache or its fields by mistake cannot leak a value.
type secrets map[string]string

func (s secrets) String() string                    { return fmt.Sprintf("[%d secret values]", len(s)) }
func (s secrets) GoString() string                  { return s.String() }
func (s secrets) Format(f fmt.State, _ rune)        { _, _ = f.Write([]byte(s.String())) }
func (s secrets) LogValue() slog.Value              { return slog.IntValue(len(s)) }
func (s secrets) lookup(name string) (string, bool) { v, ok := s[name]; return v, ok }

// SSM parameter names: letters, digits and ._-/ (the name is checked here so
// a typo fails at start-up rather than as an SSM validation error later).
var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*$`)

// New returns a cache of the parameters under prefix (for example
// "/novamed-bridge/dev") named by WithNames and WithPath. It makes no call:
// the first Get loads.
func New(client SSMAPI, prefix string, opts ...Option) (*Cache, error) {
	if client == nil {
		return nil, errors.New("params: nil SSM client")
	}
	cfg := config{
		ttl:              DefaultTTL,
		minRetryInterval: DefaultMinRetryInterval,
		loadTimeout:      DefaultLoadTimeout,
		now:              time.Now,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if !cfg.staleGraceSet {
		cfg.staleGrace = cfg.ttl
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}

	prefix = strings.TrimRight(prefix, "/")
	if !strings.HasPrefix(prefix, "/") || !nameRE.MatchString(prefix[1:]) {
		return nil, fmt.Errorf("params: prefix %q must be an absolute SSM path such as /novamed-bridge/dev", prefix)
	}
	if len(cfg.names) == 0 && len(cfg.paths) == 0 {
		return nil, errors.New("params: no names or paths configured")
	}
	for _, n := range cfg.names {
		if !nameRE.MatchString(n) {
			return nil, fmt.Errorf("params: name %q must be relative to the prefix, without a leading slash", n)
		}
	}
	for i, p := range cfg.paths {
		p = strings.TrimRight(p, "/")
		if !nameRE.MatchString(p) {
			return nil, fmt.Errorf("params: path %q must be relative to the prefix, without a leading slash", p)
		}
		cfg.paths[i] = p
	}
	cfg.names = slices.Compact(slices.Sorted(slices.Values(cfg.names)))
	cfg.paths = slices.Compact(slices.Sorted(slices.Values(cfg.paths)))
	if cfg.ttl <= 0 || cfg.staleGrace < 0 || cfg.minRetryInterval < 0 || cfg.loadTimeout <= 0 {
		return nil, errors.New("params: TTL and load timeout must be positive, grace and retry interval not negative")
	}
	return &Cache{client: client, prefix: prefix, cfg: cfg}, nil
}

// Get returns the value of name, relative to the prefix ("api-key",
// "sources/ehr-a"). It loads every configured parameter on first use and
// after the TTL expires; otherwise it answers from memory.
//
// Errors: ErrNotFound (the parameter does not exist), ErrNotConfigured,
// ErrUnavailable (SSM failed and nothing usable is cached; a *RetryError
// says when the cache reads SSM again), or the context's error.
func (c *Cache) Get(ctx context.Context, name string) (string, error) {
	if !c.configured(name) {
		return "", fmt.Errorf("%w: %q", ErrNotConfigured, name)
	}
	values, err := c.current(ctx)
	if err != nil {
		return "", err
	}
	v, ok := values.lookup(name)
	if !ok {
		if slices.Contains(c.cfg.names, name) {
			// A fixed name comes from code, not from input: naming it helps
			// the operator who forgot to create it.
			return "", fmt.Errorf("%w: %q", ErrNotFound, name)
		}
		// A name under a path is built from request input (the source in
		// the URL): it is not repeated.
		return "", ErrNotFound
	}
	return v, nil
}

// Refresh reloads every parameter now, for a caller that knows its value is
// stale (dispatch after NovaMed answers 401, to pick up a rotated key).
//
// Forced refreshes are limited to one per MinRetryInterval so a stream of
// 401s cannot hammer SSM. A caller within the interval makes no call: it
// waits for the refresh that started the interval, if it is still running,
// and gets that refresh's result (nil when it succeeded: the values were
// re-read moments ago). A failed refresh leaves the loaded values in place.
func (c *Cache) Refresh(ctx context.Context) error {
	now := c.cfg.now()
	c.mu.Lock()
	if c.forced != nil && now.Sub(c.forced.started) < c.cfg.minRetryInterval {
		r := c.forced
		c.mu.Unlock()
		c.refreshesLimited.Add(1)
		select {
		case <-r.done:
			return r.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r := &forcedRefresh{started: now, done: make(chan struct{})}
	c.forced = r
	c.mu.Unlock()

	c.refreshes.Add(1)
	c.mu.Lock()
	gen := c.generation
	c.mu.Unlock()
	_, r.err = c.load(ctx, gen)
	close(r.done)
	return r.err
}

// forcedRefresh is one forced refresh; err is set before done is closed.
type forcedRefresh struct {
	started time.Time
	done    chan struct{}
	err     error
}

// Stats returns the counters of the cache.
func (c *Cache) Stats() Stats {
	return Stats{
		Calls:            c.calls.Load(),
		Loads:            c.loads.Load(),
		LoadFailures:     c.loadFailures.Load(),
		Refreshes:        c.refreshes.Load(),
		RefreshesLimited: c.refreshesLimited.Load(),
		StaleServed:      c.staleServed.Load(),
	}
}

// String describes the cache without its values.
func (c *Cache) String() string {
	return fmt.Sprintf("params.Cache{prefix: %s, names: %d, paths: %d}", c.prefix, len(c.cfg.names), len(c.cfg.paths))
}

// GoString describes the cache without its values.
func (c *Cache) GoString() string { return c.String() }

// Format keeps values out of every fmt verb, %+v and %#v included.
func (c *Cache) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(c.String())) }

// LogValue describes the cache without its values.
func (c *Cache) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("prefix", c.prefix),
		slog.Int("names", len(c.cfg.names)),
		slog.Int("paths", len(c.cfg.paths)),
	)
}

// configured reports whether name is a fixed name or lies under a path.
func (c *Cache) configured(name string) bool {
	if _, ok := slices.BinarySearch(c.cfg.names, name); ok {
		return true
	}
	for _, p := range c.cfg.paths {
		if strings.HasPrefix(name, p+"/") && len(name) > len(p)+1 {
			return true
		}
	}
	return false
}
