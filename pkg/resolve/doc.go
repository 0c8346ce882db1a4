// Package resolve turns a reference message into a record: dispatch's
// resolve stage for id-only subscription notifications.
//
// The EHRs the bridge exists for mostly do not put the patient in the
// webhook (athenaOne sends one id-only AuditEvent per event; Epic and Oracle
// Health subscriptions are commonly id-only; the backport IG's examples
// point at an Encounter). Intake therefore queues a reference ("kind":
// "reference", a relative Type/id, no PHI) and answers at once; dispatch
// resolves it here, with the source's own fhir_server configuration:
//
//  1. the source definition is read from the parameter cache (the same
//     SecureString intake reads; the private key never leaves it);
//  2. pkg/ehr fetches the reference from the configured base URL's host
//     only, with a SMART Backend Services token, following an AuditEvent,
//     Encounter or Appointment to its Patient;
//  3. the fetched resource is mapped exactly as intake maps a posted one
//     (pkg/inbound, the source's options), so the same person posted or
//     fetched is the same record and the same subject (Type/id within the
//     source, or the source's identifier system; a practitioner by NPI);
//  4. the subject key and field digests are computed from the record as
//     fetched, before the guard de-identifies it (as intake does).
//
// What cannot become a record is a *delivery.ResolveError, value-free: the
// EHR does not have it (held, not_found_in_ehr), the person cannot be taken
// as they stand (held, with intake's reasons), the reference or the EHR's
// answer is refused (permanent), the EHR or SSM is unavailable (retried,
// honouring Retry-After).
package resolve
