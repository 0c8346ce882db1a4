// Package redrive is the operators' tool for the dead-letter queue: it counts
// dead letters (Stats), shows them without their values (Peek) and moves them
// back to the delivery queue (Move, MoveNative). cmd/redrive is its command
// line; ParseArgs and Command.Run are the whole of it, so the command is
// tested here against kumo.
//
// # What never leaves the tool
//
// A dead-lettered body carries a NovaMed record, PHI in production. Nothing
// this package prints, returns in an error or writes to a progress line holds
// a record value: Stats prints error classes and codes (slugs checked by
// queue.ParseDLQAttributes), Peek prints the message's metadata and a view of
// the record de-identified by the environment guard, or the names of its
// known fields with [PHI] placeholders when no guard is configured. Errors
// name an operation and an AWS error code, never a message body. Unknown
// record keys are counted, not named: a key can carry PHI as easily as a
// value.
//
// # Visibility
//
// Reading a queue hides what is read for the visibility timeout. Every
// operation keeps the messages it received and does not act on (all of them
// for Stats, Peek and a dry run; the non-matching ones for Move) invisible
// for the rest of its pass, so a pass sees each message once, and releases
// them with ChangeMessageVisibility 0 as soon as the pass ends, whether it
// ends normally, on an error or on an interrupt. A message hidden longer than
// the visibility timeout comes back and is recognised by its message id. If
// the tool dies, SQS releases everything at the end of the timeout: a pass
// can delay a dead letter, never lose one.
//
// A pass ends when the queue appears empty: a few receives in a row
// (WithEmptyReceives) that bring no message not already seen.
//
// # The target
//
// Move copies each message with SendMessage, and MoveNative starts a move
// task; SQS applies a queue's RedriveAllowPolicy to neither, so a mistyped
// --to (or a --to overriding --stack) could copy production records, PHI,
// into another stage's queue, where dispatch would dead-letter them again
// unchanged. Both therefore check the target before they read a message,
// dry runs included, so an operator learns of a refusal before the real
// run. They read the DLQ's RedriveAllowPolicy and QueueArn and the target's
// QueueArn (GetQueueAttributes) and apply the policy:
//
//   - denyAll: refused;
//   - byQueue: the target's ARN must be in sourceQueueArns, else refused;
//   - allowAll, or no policy: refused unless the operator passes
//     AllowAnyTarget (--allow-any-target), since the policy then says
//     nothing about where the messages belong;
//   - a policy that is not JSON or names another permission: refused.
//
// template.yaml gives the DLQ a byQueue policy naming the stack's delivery
// queue, so AllowAnyTarget only matters for hand-made queues; it never
// overrides denyAll or byQueue. A refusal is a *TargetError matching
// ErrTargetNotAllowed (exit status 2 in the command); it names the queues
// (the last segment of their URLs), nothing else. A failed
// GetQueueAttributes stops the move too: the check fails closed, and the
// operator's credentials need sqs:GetQueueAttributes on both queues.
//
// # Moving: the failure policy
//
// Move sends a copy to the target (body unchanged, attributes kind, source
// and v only) and only then deletes the original from the DLQ. Once a send
// has started, the send and the delete run to completion even if the
// operator interrupts, so an interrupt never splits them. A crash between
// the two leaves the record in both queues: dispatch's ledger makes the
// second delivery a duplicate that is deleted without calling NovaMed, so
// nothing is lost and nothing reaches NovaMed twice.
//
// Move stops at the first failure and reports it (MoveSummary.Failures):
//
//   - the send fails: the original stays in the DLQ (released at once) and
//     nothing reached the target, unless SQS accepted the message and the
//     answer was lost, which is the documented duplicate again;
//   - the delete fails after a successful send: the record is in both queues
//     (Failure.InBoth), the documented duplicate. It is made visible in the
//     DLQ again, and a later Move sends it again: dispatch delivers the
//     first copy it sees and the ledger makes the other a duplicate;
//   - the ledger (ResolveUnconfirmed) is unavailable: nothing was sent.
//
// Stopping rather than continuing keeps an outage of the target queue or the
// ledger from turning into a stream of failures; a rerun continues where the
// last one stopped.
//
// # Unconfirmed records
//
// A record of class "unconfirmed" may already exist in NovaMed (its answer
// was lost), and NovaMed has no idempotency key. Move leaves such records in
// the DLQ unless the operator passes ConfirmUnconfirmed after checking
// NovaMed; the ledger entry of each is then released with ResolveUnconfirmed
// before its message is sent, so dispatch delivers it again (and the
// subject the record owns is released with it: ledger.ResolveUnconfirmed).
// A record the ledger holds as delivered is left in the DLQ.
//
// # Operator commands
//
// confirm, release, subject and trace (OperatorCommand) work on one record
// or one event across the ledger and the queues, so an operator never
// calls a Go method:
//
//   - confirm: the operator found the chart of an unconfirmed record in
//     NovaMed. The ledger first (MarkDelivered with the id; the subject
//     the record owns marked created with it, or recorded as created when
//     it has no entry, so no later record of the person creates a second
//     chart; a subject another record owns is left alone), then every dead
//     letter of the record is deleted (DeleteRecord). Each step is
//     idempotent, so a rerun finishes an interrupted confirm.
//   - release: nothing in NovaMed. The target is checked as move checks
//     it, then ResolveUnconfirmed releases the record and the subject it
//     owns, then Move (MoveOptions.RecordID) moves just that record's dead
//     letters.
//   - subject: a record's ledger entry and its subject's: states,
//     attempts, NovaMed ids, owner and the chart's field names.
//   - trace: the story of an event (Tracer): the ledger's event, record
//     and subject entries, and one pass over the DLQ for the records'
//     dead letters, as Peek reads (hidden for a short visibility timeout,
//     released at once). The delivery queue is read only with
//     --peek-queue: a receive there counts toward the queue's
//     maxReceiveCount, so looking could push a record toward the DLQ; by
//     default its place is inferred from the ledger (no entry and the
//     event queued: waiting; released: waiting for its next receive).
//
// None prints a record body: ids, states, slugs, field names, keyed
// subject hashes and timestamps only.
package redrive
