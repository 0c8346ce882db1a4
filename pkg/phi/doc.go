// Package phi is the environment guard: it decides whether a delivery target
// may receive Protected Health Information and, when it may not,
// de-identifies NovaMed records as docs/phi-policy.md prescribes.
//
// The guard fails closed. [Resolve] answers [Production] for one exact
// combination of stage and URL and [NonProduction] for everything else. The
// [Guard] builds every de-identified record from scratch from an allow-list
// of fields, checks it with a tripwire (no input value of four or more
// characters may survive into the output) and with NovaMed's own validators,
// and returns no record at all when anything goes wrong.
//
// # Logging
//
// Values that may be PHI must never reach a log line, an error string, a
// metric or a queue attribute. Two helpers make that the easy path:
//
//   - wrap a string in [Value] before handing it to slog or fmt: it prints as
//     [PHI] whatever the verb or handler;
//   - pass any error produced while parsing or validating a PHI value (for
//     example from time.Parse or strconv, whose messages quote their input)
//     through [Redact] or [RedactField] before returning or logging it. The
//     wrapper keeps errors.Is and errors.As working, but its message names
//     only the field and the error's type.
//
// NovaMed's error messages may echo input: pass them through [ScrubMessage]
// before keeping them anywhere.
package phi
