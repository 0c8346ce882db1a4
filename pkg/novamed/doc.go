// Package novamed is the bridge's one model of NovaMed's Partner API
// (edition 1.0.0 of the partner documentation): the records it creates, the
// rules it documents for them, the client that calls it and what each of
// its answers means.
//
// NovaMed is the one system the bridge writes to, and its documentation says
// little: there is no idempotency key (a repeated POST may create a second
// chart), no update endpoint, no documented rate limit, and an error
// message may echo the record. Intake and dispatch both decide from this
// package what NovaMed would do, so those gaps are answered here, once, on
// the safe side:
//
//   - Validate applies the documented field rules. Intake runs it before
//     anything is queued, so a record NovaMed would refuse is held with a
//     reason instead; dispatch runs it on the record it is about to send,
//     and the Client runs it again before any request.
//   - DecodeRecord reads a queued record strictly (a repeated key or a
//     field that is not a string is an error; a key that is no NovaMed
//     field is dropped and counted, never named). Its field tables are the
//     one place that knows NovaMed's field names, so a later edition of the
//     API adds tables here, not code in the handlers.
//   - The Client sends the API key only to the host its stage allows
//     (CheckStageBaseURL: the production key to the production host, any
//     other to the Development host or loopback), follows no redirect and
//     reads a bounded answer (pkg/outbound).
//   - Classify is the default reading of every answer, which dispatch
//     follows but for two settings of its own: a 2xx without an id counts
//     as unconfirmed there, and NOVAMED_500_POLICY=retryable retries a 500.
//     MaybeCreatedStatus (500, 502, 504) and TransportError.MaybeDelivered
//     (a lost answer) name the outcomes after which NovaMed may have created
//     the chart: with no idempotency key, dispatch never sends those again
//     automatically (a 500 only under the default policy).
//   - An APIError prints and logs its status and code, never NovaMed's
//     message: only a message NovaMed documents (DocumentedMessage) may be
//     logged, since any other may quote the record. PatientRequest and
//     PractitionerRequest render as [PHI] in fmt and slog, so a careless log
//     line cannot leak one.
//
// The sandbox that plays NovaMed in tests and on the local stack is
// novamedtest.
package novamed
