// Package ehr fetches what an id-only EHR notification points at: the
// Patient (or Practitioner) behind a reference, read from the sender's FHIR
// server with a SMART Backend Services token (package smart).
//
// athenaOne, Epic and Oracle Health mostly notify without the resource: an
// AuditEvent, an Encounter or an Appointment id, or a Patient id alone.
// [Fetcher.Fetch] reads the reference and follows it to the person:
//
//	AuditEvent   entity[].what   (a Patient first, else a Practitioner,
//	                              else an Encounter or Appointment to follow)
//	Encounter    subject         (a Patient)
//	Appointment  participant[].actor that is a Patient
//	Patient, Practitioner        returned as they are
//
// at most [MaxHops] reads per Fetch. The result is the raw JSON, its type and
// its logical id, to be mapped exactly as intake maps a posted resource.
//
// # SSRF guard
//
// The bridge reads only from the configured base URL: same scheme, host and
// port, under its path. A reference, or a notification's fullUrl, naming any
// other place (the instance metadata service at 169.254.169.254, another
// port on the same host) is refused with [ErrForeignReference] before any
// request; so is a reference into a contained resource, and a type outside
// [ResourceTypes]. Ids must follow FHIR's rule [A-Za-z0-9\-\.]{1,64} ("."
// and ".." are refused). Redirects are never followed; answers are bounded
// ([DefaultMaxResponseBytes]); TLS 1.2 or higher; http only for loopback.
//
// # Outcomes
//
// Every failure is an [*Error] with a [Class]:
//
//	404, 410                               NotFound      hold the record as not_found_in_ehr
//	401 or 403 again after a fresh token   Unauthorized  (one 401/403 invalidates the token and retries once)
//	429, 5xx, timeouts, connection errors  Retryable     (RetryAfter from the answer)
//	anything else                          Permanent
//
// Errors and log values name resource types, statuses and codes, never an
// id, a token or a byte of a fetched body.
package ehr
