package params

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/novamed/bridge/pkg/awsclients"
)

// Reading SSM: serving the current values, loading them once for all
// callers when they are due, and keeping the last good ones within grace.

// current returns the values to answer from, loading them if they are
// missing or past their TTL.
func (c *Cache) current(ctx context.Context) (secrets, error) {
	now := c.cfg.now()
	c.mu.Lock()
	values, loadedAt, gen := c.values, c.loadedAt, c.generation
	fresh := values != nil && now.Sub(loadedAt) < c.cfg.ttl
	backingOff := !c.failedAt.IsZero() && now.Sub(c.failedAt) < c.cfg.minRetryInterval
	lastErr := c.lastErr
	c.mu.Unlock()
	if fresh {
		return values, nil
	}

	var err error
	if backingOff {
		err = lastErr
	} else {
		var loaded secrets
		loaded, err = c.load(ctx, gen)
		if err == nil {
			return loaded, nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
	}
	if values != nil && now.Sub(loadedAt) < c.cfg.ttl+c.cfg.staleGrace {
		c.staleServed.Add(1)
		c.warnStale(now.Sub(loadedAt), err)
		return values, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.failedAt.IsZero() {
		err = &RetryError{Err: err, RetryIn: c.failedAt.Add(c.cfg.minRetryInterval).Sub(c.cfg.now())}
	}
	return nil, err
}

// warnStale logs once per outage that stale values are being served.
func (c *Cache) warnStale(age time.Duration, err error) {
	c.mu.Lock()
	warned := c.staleWarned
	c.staleWarned = true
	c.mu.Unlock()
	if warned {
		return
	}
	c.cfg.logger.Warn("params: SSM reload failed, serving the last loaded parameters",
		slog.String("prefix", c.prefix),
		slog.Duration("age", age.Round(time.Second)),
		slog.Duration("max_age", c.cfg.ttl+c.cfg.staleGrace),
		slog.String("error", err.Error()),
	)
}

// load runs one shared load round and stores its result. Callers that
// arrive while a round is in flight wait for it; each stops waiting when its
// own context ends, without cancelling the round for the others.
func (c *Cache) load(ctx context.Context, seen uint64) (secrets, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ch := c.group.DoChan("load", func() (any, error) {
		// A load that finished after the caller looked (seen) has read
		// SSM since: serve it rather than call again. Without this check,
		// a caller that looked just before that load ended would start a
		// second one.
		c.mu.Lock()
		if c.generation != seen && c.values != nil {
			values := c.values
			c.mu.Unlock()
			return values, nil
		}
		c.mu.Unlock()
		started := c.cfg.now()
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.loadTimeout)
		defer cancel()
		values, err := c.fetch(lctx)

		c.mu.Lock()
		defer c.mu.Unlock()
		if err != nil {
			c.loadFailures.Add(1)
			c.failedAt, c.lastErr = c.cfg.now(), err
			return nil, err
		}
		c.loads.Add(1)
		c.values, c.loadedAt = values, started
		c.generation++
		c.failedAt, c.lastErr, c.staleWarned = time.Time{}, nil, false
		return values, nil
	})
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(secrets), nil
	}
}

// fetch reads every configured parameter. It fails as a whole: a partial
// result never replaces a complete one.
func (c *Cache) fetch(ctx context.Context) (secrets, error) {
	values := make(secrets)
	full := make([]string, len(c.cfg.names))
	for i, n := range c.cfg.names {
		full[i] = c.prefix + "/" + n
	}
	for chunk := range slices.Chunk(full, getParametersChunk) {
		c.calls.Add(1)
		out, err := c.client.GetParameters(ctx, &ssm.GetParametersInput{
			Names:          chunk,
			WithDecryption: aws.Bool(true),
		})
		if err != nil {
			// Code only: the SDK's message can quote a parameter.
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, awsclients.WrapError("GetParameters", err))
		}
		// Names SSM reports as invalid simply stay missing: Get answers
		// ErrNotFound for them, and the other parameters stay usable.
		for _, p := range out.Parameters {
			c.store(values, p.Name, p.Value)
		}
	}
	for _, sub := range c.cfg.paths {
		in := &ssm.GetParametersByPathInput{
			Path:           aws.String(c.prefix + "/" + sub),
			Recursive:      aws.Bool(true),
			WithDecryption: aws.Bool(true),
		}
		for {
			c.calls.Add(1)
			out, err := c.client.GetParametersByPath(ctx, in)
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %w", ErrUnavailable, sub, awsclients.WrapError("GetParametersByPath", err))
			}
			for _, p := range out.Parameters {
				c.store(values, p.Name, p.Value)
			}
			next := aws.ToString(out.NextToken)
			if next == "" {
				break
			}
			if next == aws.ToString(in.NextToken) {
				// A service that hands back the same token would loop forever.
				return nil, fmt.Errorf("%w: GetParametersByPath %s: repeated page token", ErrUnavailable, sub)
			}
			in.NextToken = aws.String(next)
		}
	}
	return values, nil
}

// store records one parameter under its name relative to the prefix.
func (c *Cache) store(values secrets, name, value *string) {
	n, ok := strings.CutPrefix(aws.ToString(name), c.prefix+"/")
	if !ok || n == "" || value == nil {
		return
	}
	values[n] = *value
}

// names returns the relative names currently loaded, for tests and
// diagnostics; it never exposes values.
func (c *Cache) names() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Sorted(maps.Keys(c.values))
}
