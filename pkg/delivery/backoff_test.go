package delivery

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"pgregory.net/rapid"
)

func TestFullJitterBounds(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		base := time.Duration(rapid.Int64Range(1, int64(time.Minute)).Draw(t, "base"))
		limit := base + time.Duration(rapid.Int64Range(0, int64(time.Hour)).Draw(t, "extra"))
		attempt := rapid.IntRange(1, 1000).Draw(t, "attempt")
		retryAfter := time.Duration(rapid.Int64Range(0, int64(24*time.Hour)).Draw(t, "retryAfter"))

		d := FullJitter(base, limit, attempt, retryAfter)
		ceiling := doubled(base, limit, attempt)
		if d < 0 || d > max(ceiling, min(retryAfter, MaxVisibility)) {
			t.Fatalf("delay %s outside [0, max(%s, retry-after)]", d, ceiling)
		}
		if d < min(retryAfter, MaxVisibility) {
			t.Fatalf("delay %s shorter than Retry-After %s", d, retryAfter)
		}
		if d > MaxVisibility {
			t.Fatalf("delay %s over SQS's 12h limit", d)
		}
	})
}

// doubled is base·2^(attempt-1), at most limit: the full-jitter ceiling,
// written apart from FullJitter's loop so that a mistake there shows.
func doubled(base, limit time.Duration, attempt int) time.Duration {
	shift := attempt - 1
	if shift >= 62 || base > limit>>shift {
		return limit
	}
	return base << shift
}

func TestDoubled(t *testing.T) {
	assert.Equal(t, time.Second, doubled(time.Second, time.Hour, 1))
	assert.Equal(t, 16*time.Second, doubled(time.Second, time.Hour, 5))
	assert.Equal(t, time.Hour, doubled(time.Second, time.Hour, 13), "2^12 s is over an hour")
	assert.Equal(t, time.Hour, doubled(time.Second, time.Hour, 1000))
}

func TestFullJitterSpreadsAndGrows(t *testing.T) {
	// Full jitter: the first attempt never waits more than base, the fifth
	// may wait up to 16·base, and delays are spread, not a constant.
	base, limit := time.Second, time.Hour
	seen := map[time.Duration]bool{}
	var maxFirst, maxFifth time.Duration
	for range 500 {
		d1 := FullJitter(base, limit, 1, 0)
		d5 := FullJitter(base, limit, 5, 0)
		seen[d1] = true
		maxFirst, maxFifth = max(maxFirst, d1), max(maxFifth, d5)
	}
	assert.LessOrEqual(t, maxFirst, base)
	assert.LessOrEqual(t, maxFifth, 16*base)
	assert.Greater(t, maxFifth, base, "the ceiling doubles per attempt")
	assert.Greater(t, len(seen), 100, "delays are jittered")
}

func TestFullJitterCapAndRetryAfter(t *testing.T) {
	assert.LessOrEqual(t, FullJitter(time.Second, 10*time.Second, 60, 0), 10*time.Second, "capped, and no overflow at high attempts")
	assert.Equal(t, 2*time.Minute, FullJitter(time.Millisecond, time.Millisecond, 1, 2*time.Minute), "Retry-After wins over the cap")
	assert.Equal(t, MaxVisibility, FullJitter(time.Second, time.Minute, 1, 48*time.Hour), "SQS's limit wins over Retry-After")
}

func TestVisibilitySeconds(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want int32
	}{
		{0, 0},
		{-time.Second, 0},
		{time.Millisecond, 1},
		{1500 * time.Millisecond, 2},
		{2 * time.Second, 2},
		{24 * time.Hour, 43200},
	} {
		assert.Equal(t, tc.want, VisibilitySeconds(tc.d), "%s", tc.d)
	}
}
