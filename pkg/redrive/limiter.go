package redrive

import (
	"context"
	"time"
)

// Ticker is the part of time.Ticker the rate limiter uses, so tests can
// drive it.
type Ticker interface {
	// C returns the channel the ticks arrive on. The limiter calls it each
	// time it waits for a tick.
	C() <-chan time.Time
	Stop()
}

type timeTicker struct{ t *time.Ticker }

func newTimeTicker(d time.Duration) Ticker { return timeTicker{time.NewTicker(d)} }
func (t timeTicker) C() <-chan time.Time   { return t.t.C }
func (t timeTicker) Stop()                 { t.t.Stop() }

// Bounds of Move's rate, in messages per second. The upper bound is SQS's
// own limit for message move tasks.
const (
	DefaultRate = 10
	MaxRate     = 500
)

// limiter is a token bucket of one token refilled by a ticker of period
// 1/rate: the first send goes at once, each later one waits for a tick. A
// time.Ticker drops ticks nobody reads, so idle time never builds up a
// burst (the bucket is bounded).
type limiter struct {
	ticker  Ticker
	started bool
}

func newLimiter(rate float64, newTicker func(time.Duration) Ticker) *limiter {
	period := max(time.Duration(float64(time.Second)/rate), time.Millisecond)
	return &limiter{ticker: newTicker(period)}
}

// wait returns when a send may go, or the context's error.
func (l *limiter) wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !l.started {
		l.started = true
		return nil
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-l.ticker.C():
		return nil
	}
}

func (l *limiter) stop() { l.ticker.Stop() }
