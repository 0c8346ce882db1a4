package delivery

import (
	"math/rand/v2"
	"time"
)

// MaxVisibility is SQS's largest visibility timeout (12 hours).
const MaxVisibility = 12 * time.Hour

// Backoff returns how long a message that failed its attempt-th delivery
// (1 for the first) stays invisible before the next one. retryAfter is
// NovaMed's Retry-After, zero when it sent none. Modelled on
// go-retryablehttp's Backoff: the policy is a function, so tests and the
// local stack can swap it.
type Backoff func(base, limit time.Duration, attempt int, retryAfter time.Duration) time.Duration

// FullJitter is the default Backoff: a uniform pick in
// [0, min(limit, base·2^(attempt-1))] ("full jitter", which spreads a burst of
// failures best), but never less than retryAfter, and never more than SQS's
// 12-hour visibility limit. Retry-After wins over limit: NovaMed asked for it.
func FullJitter(base, limit time.Duration, attempt int, retryAfter time.Duration) time.Duration {
	ceiling := base
	for i := 1; i < attempt && ceiling < limit; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, limit)
	var d time.Duration
	if ceiling > 0 {
		d = rand.N(ceiling + 1)
	}
	return min(max(d, retryAfter), MaxVisibility)
}

// VisibilitySeconds converts a delay to the whole seconds SQS takes,
// rounding up so a Retry-After of 1.5s is not cut short, within [0, 12h].
func VisibilitySeconds(d time.Duration) int32 {
	d = min(max(d, 0), MaxVisibility)
	secs := d / time.Second
	if d%time.Second != 0 {
		secs++
	}
	return int32(secs)
}
