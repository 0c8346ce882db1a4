// Package ledger is the DynamoDB ledger that makes delivery to NovaMed
// exactly once in effect.
//
// Webhook senders and SQS deliver at least once, and NovaMed has no
// idempotency key, so the bridge keeps its own record of what it has seen and
// delivered. Every state change is a conditional write, so concurrent
// intake or dispatch invocations cannot both win the same transition.
//
// # Table
//
// One table, partition key pk (string), TTL attribute expires_at (epoch
// seconds, refreshed on every write; default 30 days, see [WithTTL]). The TTL
// must outlive the longest sender retry window and the DLQ retention (at most
// 14 days), or a late replay would be delivered again. [CreateTable] creates
// it for tests and the local stack.
//
// Items hold ids, states, timestamps, counts and NovaMed ids, never PHI:
//
//	event#<event id>    pk, state, records, created_at, updated_at, claimed_until, expires_at
//	record#<record id>  pk, state, attempts, created_at, updated_at, claimed_until, novamed_id, expires_at, subject
//	subject#<subject>   pk, state, owner, digests, created_at, updated_at, claimed_until, novamed_id
//
// created_at, updated_at and claimed_until are Unix milliseconds (a lease
// needs better than one-second resolution); expires_at is Unix seconds, as
// DynamoDB TTL requires. claimed_until exists only while a claim is held;
// novamed_id only once a record is delivered.
//
// # Events (intake)
//
//	           BeginEvent                 MarkEventQueued
//	(absent) ─────────────▶ received ──────────────────────▶ queued
//	                        + claim
//
// [Ledger.BeginEvent] creates the event in state received with a short claim
// lease (claimed_until = now + event lease, see [WithEventLease]) and answers:
//
//   - [EventNew]: this call created the event; queue its records, then call
//     [Ledger.MarkEventQueued].
//   - [EventInProgress]: another intake invocation holds a live claim and is
//     queuing right now. Intake answers 503 with Retry-After (about the event
//     lease), not 202-duplicate: if that other invocation then fails (SQS
//     down), a 202 would have told the sender to stop retrying an event that
//     was never queued. After a 503 the sender retries and gets either
//     duplicate or, if the first attempt died, EventReceived.
//   - [EventReceived]: the event was seen before but queuing never completed
//     and its claim has expired (intake crashed after the ledger write, or
//     answered 503 after a partial SQS failure). This call has taken the claim
//     over; queue again. Queuing a record twice is safe because dispatch
//     deduplicates per record.
//   - [EventQueued]: fully queued before; answer 202 duplicate, queue nothing.
//
// Of any number of concurrent BeginEvent calls for a new event exactly one gets
// EventNew and the others EventInProgress; of concurrent calls that find an
// expired claim exactly one gets EventReceived.
//
// # Records (dispatch)
//
//	              ClaimDelivery             MarkDelivered
//	(absent) ──────────────────▶ delivering ───────────────▶ delivered
//	released ──────────────────▶  + claim   ──MarkNotDelivered──▶ released
//	                                        ──MarkUnconfirmed───▶ unconfirmed
//	                                        ──claim expired─────▶ unconfirmed (on the next ClaimDelivery)
//	unconfirmed ──ResolveUnconfirmed (operator)──▶ released
//	unconfirmed ──MarkDelivered (operator, with the id found in NovaMed)──▶ delivered
//
// [Ledger.ClaimDelivery] answers:
//
//   - [ClaimGranted]: call NovaMed. The record is delivering, attempts was
//     incremented, claimed_until = now + lease ([WithLease]).
//   - [AlreadyDelivered]: delete the message without calling; the stored
//     NovaMed id is in [Claim].NovaMedID.
//   - [InFlight]: another worker holds a live claim; retry later (the claim
//     ends at [Claim].ClaimedUntil).
//   - [Unconfirmed]: an earlier attempt may have reached NovaMed and no answer
//     was recorded; see the lost-response policy below.
//
// After the call, the worker records exactly one outcome:
// [Ledger.MarkDelivered] (2xx with NovaMed's id), [Ledger.MarkNotDelivered]
// (the attempt certainly created nothing: NovaMed answered an error status, or
// the connection was refused before the request was written) or
// [Ledger.MarkUnconfirmed] (the request may have reached NovaMed: a timeout
// after the request was written, a connection dropped before the response).
//
// # Lost-response policy
//
// NovaMed has no idempotency key: calling it again after an uncertain attempt
// could create a second chart. So the bridge never calls NovaMed again
// automatically for a record whose previous attempt is uncertain. Such a
// record is Unconfirmed: dispatch sends its message to the DLQ with error
// class "unconfirmed". An operator looks the record up in NovaMed and then
// either records the id they found (`redrive confirm`: [Ledger.MarkDelivered],
// [Ledger.MarkSubjectCreated], and the dead letter deleted), or releases it
// (`redrive release`, or `redrive move --confirm-unconfirmed`:
// [Ledger.ResolveUnconfirmed], which releases the subject the record owns
// too) and the message is redriven and delivered again.
//
// A crash after the call but before the outcome was recorded leaves the record
// delivering with a claim that eventually expires; the next ClaimDelivery
// turns it into unconfirmed and answers Unconfirmed, the same way.
//
// The lease must therefore exceed the longest time a worker can hold a claim
// (the dispatch function timeout): a worker must not outlive its claim.
// The Mark methods take only the record id (no fencing token), so a worker
// that did outlive its claim could still record its outcome over a newer
// attempt's state; MarkDelivered refuses to overwrite a different NovaMed id
// ([ErrConflict]), which surfaces a double creation instead of hiding it.
//
// # Subjects (one person, one NovaMed chart)
//
// NovaMed only creates, so exactly once per event is not enough: a Patient
// update, a PUT in a transaction, a re-sent form or a fetch after a second
// notification would each make a second chart. Intake gives every record
// the key of the person it describes (the subject: a keyed hash, never a
// value), and dispatch claims the subject after the record:
//
//	               ClaimSubject (granted)        MarkSubjectCreated
//	(absent) ─────────────────────────▶ creating ─────────────────────▶ created
//	                                    + owner  ──ReleaseSubject─────▶ (absent)
//	                                             ──MarkSubjectUnconfirmed / claim expired──▶ unconfirmed
//	unconfirmed ──MarkSubjectCreated (operator, id found)──▶ created
//	unconfirmed ──ReleaseSubject (operator, nothing found)──▶ (absent)
//
// [Ledger.ClaimSubject] answers [SubjectGranted] (this record creates the
// chart), [SubjectExists] (the chart's id, and the keyed digests of the
// fields it was created with: dispatch compares them with the record's and
// acknowledges an unchanged record, or dead-letters a changed one as class
// update naming the changed fields), [SubjectInFlight] (another record of
// the person is being delivered now) or [SubjectUnknown] (an earlier
// creation may have reached NovaMed). Of concurrent claims exactly one is
// granted. The owner's later outcome moves the subject with its record:
// created with NovaMed's id, released when nothing was created, unconfirmed
// with it.
//
// Subject items carry no expires_at: a person updated a year after their
// first webhook is still the same person, and the chart is still in
// NovaMed. Event and record items expire after the TTL; the subject does
// not, so a replay after an event's TTL (HMAC, Typeform and bearer carry no
// timestamp) finds the chart and creates nothing. A held record never
// touches its subject, so when the person later arrives complete, that
// record creates the chart. The record item notes its subject
// ([Ledger.RecordSubject]) so operators can look it up by record id
// (`redrive subject`).
//
// # Operators
//
// [Ledger.Event], [Ledger.Record] and [Ledger.Subject] read single items;
// [ScanEvents] lists a source's events since a time for `redrive trace`.
// The table has no index on source or time, so that is a Scan with a
// filter, billed for the whole table: an operator's occasional query with
// their own credentials, never something a function does (no Lambda role
// has dynamodb:Scan).
//
// # Errors
//
// Every DynamoDB failure other than a failed condition is an
// [*UnavailableError] matching [ErrUnavailable] (intake answers 503, dispatch
// retries). A transition the current state does not allow is a
// [*StateError] matching [ErrConflict]; an unknown id is [ErrNotFound].
// Error strings name the operation and the state, never an id or a value.
//
// Failed conditions are recognised with errors.As on
// *types.ConditionalCheckFailedException, which is what the SDK decodes from
// both DynamoDB and kumo; an error whose smithy.APIError code is
// "ConditionalCheckFailedException" is accepted as well, for emulators that
// the SDK cannot map to the typed exception. The writes ask for the old item on
// a failed condition (ReturnValuesOnConditionCheckFailure ALL_OLD) so DynamoDB
// saves a read; kumo ignores that option, and the ledger then reads the item
// with a consistent GetItem.
package ledger
