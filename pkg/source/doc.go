// Package source defines a webhook source: who may post to
// POST /webhooks/{source}, how the sender proves it, what format the body
// has and how its fields map to NovaMed's.
//
// A source is stored in SSM as a SecureString parameter at
// <PARAM_PREFIX>/sources/<name> holding JSON:
//
//	{
//	  "format": "fhir-r4" | "form" | "typeform" | "tally" |    required
//	            "formstack" | "jotform",
//	  "auth": {                                                required
//	    "scheme": "standard-webhooks" | "typeform" | "hmac-sha256" | "bearer" |
//	              "formstack-handshake" | "url-token",
//	    "secrets": ["whsec_...", "..."],                       required, 1 to 10; the
//	                                                           first signs, all verify
//	    "header": "Tally-Signature",                           hmac-sha256 only, required
//	    "encoding": "hex" | "base64",                          hmac-sha256 only, required
//	    "prefix": "sha256=",                                   hmac-sha256 only, optional
//	    "tolerance_seconds": 300                               standard-webhooks only,
//	                                                           optional, 1 to 3600
//	  },
//	  "kind": "patient" | "practitioner",                      typeform, tally, formstack,
//	                                                           jotform: required;
//	                                                           form: optional (else the
//	                                                           payload's "type" says);
//	                                                           fhir-r4: not allowed
//	  "field_map": {"<sender field>": "<NovaMed field>"},     typeform, tally, formstack,
//	                                                           jotform: required;
//	                                                           form: optional;
//	                                                           fhir-r4: not allowed
//	  "max_body_bytes": 262144,                                optional, 1024 to 6 MiB;
//	                                                           default 5 MiB for fhir-r4
//	                                                           (Synthea bundles are
//	                                                           200-300 KB, real EHR bundles
//	                                                           more), 256 KiB otherwise
//	  "subject_identifier": "urn:oid:...",                    fhir-r4 only, optional: the
//	                                                           identifier system (an MRN)
//	                                                           that names a person where
//	                                                           the sender's resource ids
//	                                                           are not stable
//	  "subject_field": "patient_id",                          forms only, optional: the
//	                                                           sender field (Typeform:
//	                                                           "hidden.<name>") that names
//	                                                           the person; without it each
//	                                                           event is its own person
//	  "subject_source": "ehr-fhir",                           forms, with subject_field, optional:
//	                                                           the field holds that FHIR
//	                                                           source's Patient id, so a
//	                                                           person who arrives by form
//	                                                           and by FHIR is one chart
//	  "on_invalid": "hold" | "reject",                         optional, default hold: a
//	                                                           record NovaMed cannot take is
//	                                                           held (dead-lettered, 202);
//	                                                           reject answers 400 instead,
//	                                                           for a sender that shows
//	                                                           errors to a person
//	  "fhir_server": {                                         fhir-r4 only, optional
//	    "base_url": "https://fhir.example.org/r4",             required
//	    "token_url": "https://auth.example.org/oauth2/token",  required
//	    "client_id": "...",                                    required
//	    "scope": "system/Patient.read system/Encounter.read",  required
//	    "private_key": {"kty": "EC", "crv": "P-384", ...}      required, private JWK
//	  }
//	}
//
// Field map keys, by format: form, the payload's field names; typeform,
// field.ref, "id:<field id>", "title:<question title>" or "hidden.<name>";
// tally, a field's key or its label; formstack, field names with dotted
// paths for the parts of compound fields (Name.first, Address.zip), never
// FormID, UniqueID or HandshakeKey; jotform, rawRequest's answer keys with
// dotted parts (q3_fullName.first, q5_birthDate).
//
// Schemes and formats: tally signs with hmac-sha256 (header
// Tally-Signature, base64, no prefix); formstack with hmac-sha256 (header
// X-FS-Signature, hex, prefix "sha256=") when the form has an HMAC key,
// otherwise formstack-handshake (the HandshakeKey field of the body, that
// scheme being for formstack only); jotform cannot sign and must use
// url-token (?token=<secret> in the URL it posts to, for jotform only).
//
// Secrets: standard-webhooks takes "whsec_<base64>" or bare base64 keys of
// at least 16 bytes; url-token takes tokens of at least 32 characters of
// letters, digits, '-', '_', '.' and '~' (random ones); the other schemes
// take the secret text (bearer: the token) of at least 16 visible ASCII
// characters. Every scheme takes up to 10, for rotation.
//
// Parsing is strict: keys match exactly (no case folding), a repeated key, an
// unknown key, a value of the wrong type or a field_map target that is not a
// NovaMed field of the source's kind is an error. Errors name the source and
// the JSON path, never a value, and never a secret. Field map targets may
// not be clinic_id or assigned_clinic: the clinic comes from the
// deployment's clinic-id parameter, never from a sender.
//
// fhir_server names the sender's FHIR server, from which the bridge fetches
// what an id-only notification points at, with SMART Backend Services
// (client credentials, a JWT client assertion signed with private_key).
// base_url and token_url are https (http only for a loopback host) without
// user info, query or fragment; scope is one or more read-only SMART system
// scopes separated by single spaces (system/<Type>.read, .rs, .r or .s); the
// private_key is a private JWK with a kid: EC P-384 (signs ES384) or RSA of
// at least 2048 bits (signs RS384); "alg", if given, must match and "use",
// if given, must be "sig". Its only allowed members are the JWK's own (kty,
// kid, alg, use, crv, x, y, d, n, e, p, q, dp, dq, qi). The key is never printed, logged or part of an error;
// cmd/smart-keygen makes one.
package source
