// Package smart gets access tokens from an EHR's authorization server with
// SMART Backend Services: the OAuth 2.0 client-credentials grant, the client
// authenticating with a JWT assertion signed by its own private key
// (private_key_jwt, RFC 7523).
//
// EHRs (athenaOne, Epic, Oracle Health) mostly send id-only notifications,
// so the bridge has to fetch what they point at, and their FHIR servers take
// only tokens issued this way. One [Client] serves one source's
// fhir_server ([source.FHIRServer]).
//
// # Assertion
//
// Every token request carries a fresh assertion, signed with go-jose (ES384
// for an EC P-384 key, RS384 for RSA) with the key's kid in its header:
// iss = sub = client id, aud = the token URL, iat = now, exp = now + 4
// minutes (SMART allows at most 5; the minute spare absorbs clock skew), and
// a random 128-bit jti the server remembers to refuse a replay.
//
// # Caching
//
// A token is cached until [DefaultExpiryMargin] before its expires_in runs
// out. Concurrent callers needing a token share one request. A caller whose
// request the FHIR server answered 401 calls [Client.Invalidate] with the
// token it used; the next [Client.Token] fetches a new one (a stale
// Invalidate, naming a token already replaced, does nothing, so a burst of
// 401s causes one new request, not many).
//
// # Errors
//
// Every failure is an [*Error] with a [Class] ([Retryable], [Unauthorized],
// [Permanent]), a short code and the status; never the token, the
// assertion, the key or the server's error_description.
//
// # Transport
//
// https only (http for a loopback host, for the sandbox), TLS 1.2 or higher,
// no redirects, a bounded answer and a timeout on each request.
package smart
