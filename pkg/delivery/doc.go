// Package delivery delivers one queued record to NovaMed as a pipeline of
// small stages.
//
// Delivery used to be one long function in the dispatch handler. It has since
// gained fetching records from an EHR (a queue message that names a record
// instead of carrying it), holds (records NovaMed cannot take, parked with a
// reason) and subject claims (one NovaMed chart per person). Each of those
// is a decision at a definite point between reading the message and calling
// NovaMed, so each point is a stage of its own: a function that can be read,
// replaced and unit-tested alone, and a new concern is a new stage rather
// than another branch in a long function. The dispatch function
// (functions/dispatch) keeps only batch control: concurrency, the deadline
// budget, deferral, batch item failures and the report.
//
// # Stages
//
// [Pipeline.Process] runs, in order:
//
//	resolve  queue.Decode of the body; a message of kind "reference" goes to
//	         the Resolver (Deps.Resolver; nil: references are unsupported
//	         and dead-lettered as malformed, like any unknown kind), which
//	         fetches and maps it; a fetched person NovaMed cannot take, or
//	         one the EHR does not have, is held here (class held, the
//	         reference dead-lettered as it is)
//	map      novamed.DecodeRecord of the record: Record.Orig; in production
//	         a record that does not decode is a permanent dead letter
//	         (invalid_record), elsewhere the guard decides on the raw record
//	guard    the environment guard: production sends Orig unchanged, any
//	         other target gets it de-identified whatever the message's flag
//	         says: Record.Sent; a refusal (tripwire) is class guard with the
//	         record removed from the dead letter
//	hold     a record NovaMed cannot take (Sent fails Validate): a
//	         permanent dead letter (validation_error) naming the failing
//	         fields; records held with a reason were held before this
//	         (by intake, or by the Resolver for a fetched one)
//	claim    the ledger claim (pkg/ledger, "Records"): granted goes on,
//	         already delivered is acknowledged, in flight retried when the
//	         claim ends, unconfirmed dead-lettered; a record without time
//	         left is deferred here, before anything is written
//	subject  Deps.Subjects when set: the subject claim (one chart per
//	         person): the first record of a person goes on to create the
//	         chart; a later one is acknowledged when unchanged (exists) or
//	         dead-lettered as class update when changed; one that meets
//	         another record of the person in flight waits for it; one whose
//	         person's chart is uncertain is dead-lettered unconfirmed
//	         (subject_unconfirmed)
//	call     the NovaMed call, bounded by the budget and the claim, with one
//	         re-read of the key after a 401/403
//	settle   the ledger outcome (delivered, not delivered, unconfirmed) and
//	         what becomes of the message
//
// The guard runs before hold, not after: outside production a record that
// trips the guard must leave no copy in the DLQ even when NovaMed could not
// take it anyway. Nothing is written to the ledger before claim, so a record
// stopped by resolve, map, guard or hold can be redriven as it is.
//
// # Stopping
//
// A [Stage] is func(ctx, *Record) Verdict. It reads what earlier stages put
// in the [Record] (Result.Msg, Orig, Sent, Claim, NovaMedID, CallErr) and
// returns [Next] to go on. To stop, it sets the Result fields that explain
// why (Class, Code, Note, Fields; Record.Wait for RetryAt) and returns a
// verdict: [Ack] (done: delivered or duplicate), [DeadLetter] (DLQ with the
// body unchanged), [DeadLetterStripped] (DLQ without the record), [Retry]
// (backoff, honouring NovaMed's Retry-After), [RetryAt] (Record.Wait) or
// [Defer] (no time to start). Stages never touch SQS themselves: one
// function, conclude, carries out every verdict, so "retry on the last
// allowed attempt is dead-lettered as exhausted" and "the DLQ is written
// before the message is deleted" hold for every stage, old or new.
//
// # Unconfirmed answers
//
// NovaMed has no idempotency key, so any answer that may follow a created
// record is unconfirmed (pkg/ledger, "Lost-response policy"): the ledger
// marks it, the message is dead-lettered with class unconfirmed, and NovaMed
// is not called again for it until an operator has looked. That covers a
// lost response, a 2xx without an id, a 502 or 504 (a gateway lost or gave
// up on NovaMed's answer) and a 500 unless Config.Status500 is
// [Status500Retryable]. 503 and 429 are refusals and retried.
//
// # Logs
//
// Each record gives one "dispatch: record" line ([Pipeline.Report]) with
// ids, slugs and numbers only. NovaMed's error message is logged only when
// it is one NovaMed documents (novamed.DocumentedMessage, an exact match
// after normalisation) and the scrubber clears it against the record queued
// and the record sent; any other message is logged as
// novamed_message="withheld". Looking for the record's values in the
// message was not enough: it missed partial echoes.
package delivery
