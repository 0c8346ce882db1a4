// Package inbound parses the webhook payloads the bridge accepts and maps
// them to NovaMed request bodies.
//
// One entry point, [Parse], takes a [Format], the raw body and per-source
// [Options], and returns every NovaMed record the payload describes, or an
// error that names field paths and never a value.
//
// # Formats
//
//   - [FormatFHIR] ("fhir-r4"): a FHIR R4 JSON Patient or Practitioner; a
//     Bundle of type transaction, batch, collection or searchset holding them
//     (other resource types and entries without a resource are skipped and
//     counted); or a subscription notification Bundle (type history whose
//     first entry is an R4 backport Parameters or an R4B/R5
//     SubscriptionStatus). Handshake, heartbeat and query-status
//     notifications yield no records; event-notification and query-event
//     yield the Patient and Practitioner resources of the following entries.
//   - [FormatForm] ("form"): {"type": "patient"|"practitioner", "fields":
//     {...}, "event_id": "..."} (event_id optional). Field names go through
//     Options.FieldMap. With an empty FieldMap, keys that are already NovaMed
//     field names map to themselves; with a FieldMap, only its keys map.
//     The record kind: when Options.Kind is set (the source fixes it), type
//     is optional and an absent, null or empty type means Options.Kind; a
//     type naming the other kind is a field error at path type (a sender
//     who meant another record is told so, never overridden). Without
//     Options.Kind, type is required. A type that is not a string or not
//     one of the two kinds is always a field error at type.
//   - [FormatTypeform] ("typeform"): a Typeform form_response webhook. Each
//     answer is mapped through Options.FieldMap by field.ref, else by
//     "id:<field.id>", else by "title:<question title>" (from
//     form_response.definition; older deliveries carry no ref). FieldMap
//     keys of the form "hidden.<name>" map hidden fields. Text, email,
//     phone, date, URL, choice (label or other), choices (labels joined
//     with ", "), number and boolean answers are read as text.
//   - [FormatTally] ("tally"): a Tally FORM_RESPONSE; data.fields[] mapped
//     by key, else by label; choice values (option ids) read as the
//     options' text. Event id: eventId.
//   - [FormatFormstack] ("formstack"): Formstack's flat map by field name,
//     JSON or application/x-www-form-urlencoded (its default; compound
//     fields as "name = value" lines); compound parts mapped by dotted path
//     (Name.first, Address.zip). FormID, UniqueID (the event id) and
//     HandshakeKey are never answers.
//   - [FormatJotform] ("jotform"): multipart/form-data whose rawRequest part
//     holds the answers (q<n>_<name>, parts by dotted path, dates
//     {month, day, year} read as YYYY-MM-DD). Event id: the submissionID
//     part. Parts are bounded in number and size.
//
// The form formats share one intermediate, formAnswers (answers as text
// under the field map keys they are known by, with their payload paths),
// and one mapping from it to the record. For Typeform, Tally, Formstack and
// Jotform, Options.Kind says which record the form creates and FieldMap is
// required; Options.ContentType says how Formstack and Jotform bodies are
// encoded ([Format.AcceptsContentType] says which a format takes).
//
// # Decisions
//
//   - Hold, never refuse, a person: Parse fails only for what the sender's
//     configuration can fix (not JSON, too deep, not a format the source
//     takes). Every record is normalised first (normalize.go: NFKC, phone
//     extensions, US state names to USPS codes, ZIP+4, US and dateTime
//     birth dates), then validated with novamed.Record.Validate. An
//     optional field still invalid is removed and its path listed in
//     Record.Dropped; an address that cannot be shipped to (abroad, or
//     with an invalid state or ZIP) is dropped whole, never in part. A
//     required field missing or invalid puts a Hold on the record (reason
//     slug and paths), and so do a deceased patient and the patient-animal
//     extension: the caller dead-letters it as held instead of sending it.
//     Paths are those of the sender's fields (birthDate,
//     entry[1].resource.name[0].family, fields.dob,
//     form_response.answers[2]); a required field with no source in the
//     payload is records[<i>].<novamed field>.
//   - Only the fields NovaMed takes are read. FHIR narrative (text),
//     extensions, contained resources and everything else are never decoded,
//     so they cannot leave intake.
//   - Clinic: the clinic comes from Options.ClinicID only. A form field that
//     names clinic_id or assigned_clinic is dropped and counted, and a
//     FieldMap may not target them: a sender cannot route a record to another
//     clinic.
//   - Duplicate keys: the last one wins, as in encoding/json. Key matching
//     is encoding/json's too (case-insensitive for FHIR and Typeform struct
//     fields; exact for form "fields" keys, which are map keys). This is
//     safe because only the mapped record travels on, and the environment
//     guard works on that record with its own strict allow-list.
//   - Strings only (FHIR, the generic form): a number, boolean, object or
//     array where a mapped string is expected is a field error at that
//     path. The form tools send numbers, booleans and choice lists for
//     their own answer types, which are read as text as described above. JSON null counts as absent.
//     Values are trimmed of surrounding white space.
//   - Paths come from encoding/json for shape errors (an object where an
//     array is expected): those are dotted without indices, and only the
//     first one encoding/json meets is reported. Everything else (wrong
//     leaf types, missing and invalid values) carries indices and is
//     reported in full, in payload order.
//   - Gender: male, female, other (any case); unknown, empty and "prefer not
//     to say" are omitted; any other value is a field error.
//   - FHIR choices: the official name, else the usual one, else the first
//     not marked old or ended; a name given only as text of two or more
//     words is split into first word (given) and last word (family), and
//     further given names (middle names) are never sent, NovaMed having no
//     field for them;
//     email and phone from telecom entries not marked old, preferring use
//     home or mobile; a current US address (not old, not ended), home
//     first (line
//     1 is line[0]; further lines are joined into address line 2); NPI from
//     identifier system http://hl7.org/fhir/sid/us-npi (or its OID); license
//     and DEA numbers only from identifiers typed with HL7 v2 table 0203 codes
//     MD and DEA. license_state has no unambiguous FHIR source and is never
//     set.
//   - Bundles: searchset yields its match entries; transaction and batch
//     their POST and PUT entries; message the MessageHeader's focus;
//     document the Composition's subject; collection and history every
//     entry; responses nothing. When the chosen entries hold a Patient,
//     the Practitioners among them are context (a GP, an author) and are
//     skipped; otherwise (a provider directory) they are the records. The
//     same resource twice (by Type/id, else fullUrl) is one record.
//     Result.SkippedBy counts what was left out, by reason.
//   - Subscription notifications (R4 backport history bundles, R4B/R5
//     SubscriptionStatus, R5 subscription-notification bundles): status
//     types yield nothing; events yield the Patients and Practitioners
//     included in full, else Result.References (the events' focus, else
//     the entries' fullUrls) for a source that fetches from its EHR.
//   - Subjects: a FHIR record's Subject is Type/id from the resource's
//     logical id (or a fullUrl ending in Type/id), so one person is one
//     NovaMed chart however many events name them.
//   - Event ids: Result.EventID is the id the payload gives itself
//     (Typeform event_id, form event_id, Tally eventId, Formstack UniqueID,
//     Jotform submissionID, FHIR Bundle.id, or for a
//     subscription notification "<subscription>#<event numbers>"), for
//     logs only: the bridge's event id never rests on a payload field
//     (queue.EventID hashes the body). An id longer than 128 bytes or with
//     characters outside [A-Za-z0-9._~:/#,@+=-] is replaced by
//     "sha256:<hex>" of itself.
package inbound
