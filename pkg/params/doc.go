// Package params is the SSM Parameter Store cache shared by intake and
// dispatch.
//
// A Cache loads every parameter it is configured for (fixed names and whole
// paths) in one round, keeps them for a TTL, and serves Get from memory, so a
// batch of a thousand records costs one round of SSM calls, not a thousand.
// Concurrent callers share one in-flight load.
//
// The values are secrets (the NovaMed API key, the pseudonym key, source
// signing secrets). No value ever appears in an error, a log line, Stats or
// the String, GoString, Format or LogValue of a Cache.
//
// # Failure policy
//
// The first load must succeed: until it does, Get returns an error wrapping
// ErrUnavailable (intake answers 503, dispatch retries the message).
//
// When a reload fails after a success, the values already loaded are served
// "stale" for up to one extra grace period (WithStaleGrace, one TTL by
// default), with a warning logged (names and counts only). Rotating a key in
// SSM is not an emergency that justifies failing every request because SSM
// blinked; a key older than TTL+grace is, so after that Get fails. A forced
// Refresh that fails returns its error and leaves the loaded values in place.
//
// After a failed load, no new SSM call is made for MinRetryInterval (the same
// interval that limits forced refreshes): a stream of requests during an SSM
// outage gets the stale value or the last error at once instead of each one
// waiting for its own failing call.
package params
