package params

import (
	"log/slog"
	"time"
)

// Option configures a Cache.
type Option func(*config)

type config struct {
	names            []string
	paths            []string
	ttl              time.Duration
	staleGrace       time.Duration
	staleGraceSet    bool
	minRetryInterval time.Duration
	loadTimeout      time.Duration
	now              func() time.Time
	logger           *slog.Logger
}

// WithNames adds fixed parameter names, relative to the prefix ("api-key",
// "clinic-id"). They are read with GetParameters, ten names per call.
func WithNames(names ...string) Option {
	return func(c *config) { c.names = append(c.names, names...) }
}

// WithPath adds every parameter under prefix/sub ("sources"), read
// recursively with GetParametersByPath, following every page. Get names them
// relative to the prefix: "sources/ehr-a".
func WithPath(sub string) Option {
	return func(c *config) { c.paths = append(c.paths, sub) }
}

// WithTTL sets how long loaded values are fresh (default DefaultTTL).
func WithTTL(d time.Duration) Option {
	return func(c *config) { c.ttl = d }
}

// WithStaleGrace sets how long past the TTL the last loaded values are
// still served while reloads fail (default: one TTL). Zero disables stale
// serving.
func WithStaleGrace(d time.Duration) Option {
	return func(c *config) { c.staleGrace, c.staleGraceSet = d, true }
}

// WithMinRetryInterval sets the least time between two forced refreshes, and
// between a failed load and the next attempt (default
// DefaultMinRetryInterval).
func WithMinRetryInterval(d time.Duration) Option {
	return func(c *config) { c.minRetryInterval = d }
}

// WithLoadTimeout bounds one load round (default DefaultLoadTimeout).
func WithLoadTimeout(d time.Duration) Option {
	return func(c *config) { c.loadTimeout = d }
}

// WithClock replaces time.Now, for tests.
func WithClock(now func() time.Time) Option {
	return func(c *config) { c.now = now }
}

// WithLogger sets the logger for reload warnings (default slog.Default()).
// The cache logs names, counts and error classes, never values.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}
