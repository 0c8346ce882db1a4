package queue

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash"
	"io"
	"strconv"
	"strings"
)

// eventHashHex is the length of the hash part of an event id: 32 hex digits,
// 128 bits of SHA-256. Collisions between distinct events stay out of reach
// (about 2^64 events per source before one is likely) while the id stays
// short enough for logs and a DynamoDB key.
const eventHashHex = 32

// Domain separation: an id hashed from a sender's event id can never equal
// one hashed from a body.
const (
	senderIDDomain = "novamed-bridge/event/v1/sender-id"
	bodyDomain     = "novamed-bridge/event/v1/body"
)

// EventID returns the id of one webhook event: "<source>:<32 hex digits>".
//
// The hash covers the source and senderEventID when there is one, otherwise
// the raw body, so a sender's retry of the same event gets the same id and
// the ledger answers it as a duplicate. Intake passes only an id the
// signature covers (webhookauth.Verified.EventID: a Standard Webhooks
// webhook-id); an id found inside the payload (Bundle.id, a Typeform token,
// a notification's event number) proves nothing about the rest of the body,
// so it is never passed and counts only as part of the body. The
// sender's id is hashed rather than kept: it is an arbitrary string that
// could hold anything, and the event id goes into DynamoDB keys, queue
// bodies and logs. Only a plain SHA-256 is used (no key is available to
// intake before configuration loads and none is needed for stability):
// sender event ids are delivery ids, not identifiers of a person, and a
// body hash covers the whole record.
//
// A sender id made only of white space counts as none. A source that is not
// ValidSource is sanitised in the prefix (its exact bytes stay in the hash),
// and Encode rejects messages of such sources anyway.
func EventID(source, senderEventID string, body []byte) string {
	var sum [sha256.Size]byte
	if strings.TrimSpace(senderEventID) != "" {
		// Short: framed in a buffer on the stack and hashed at once.
		var in [192]byte
		sum = sha256.Sum256(appendField(appendField(appendField(in[:0], senderIDDomain), source), senderEventID))
	} else {
		h := sha256.New()
		writeField(h, []byte(bodyDomain))
		writeField(h, []byte(source))
		writeField(h, body)
		h.Sum(sum[:0])
	}
	return sanitiseSource(source) + ":" + hexPrefix(sum[:], eventHashHex)
}

// hexPrefix returns the first n (at most 64) hex digits of sum.
func hexPrefix(sum []byte, n int) string {
	var hx [2 * sha256.Size]byte
	hex.Encode(hx[:], sum)
	return string(hx[:n])
}

// writeField writes a length-prefixed field, so ("ab", "c") and ("a", "bc")
// hash differently.
func writeField(h io.Writer, b []byte) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(b)))
	_, _ = h.Write(n[:])
	_, _ = h.Write(b)
}

func sanitiseSource(source string) string {
	if ValidSource(source) {
		return source
	}
	var b strings.Builder
	for i := 0; i < len(source) && b.Len() < 64; i++ {
		c := source[i]
		if c == '_' || c == '.' || c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "_"
	}
	return b.String()
}

// MaxRecordIndex is the largest record index RecordID accepts in a message
// (a webhook with more records than this is refused long before).
const MaxRecordIndex = 999999

// RecordID returns the id of record index (0-based) of an event:
// "<event id>/<index>".
func RecordID(eventID string, index int) string {
	return eventID + "/" + strconv.Itoa(index)
}

// ErrInvalidRecordID is returned by ParseRecordID.
var ErrInvalidRecordID = errors.New("queue: invalid record id")

// ParseRecordID splits a record id made by RecordID(EventID(...), index)
// into its event id and index: the id must match
// ^([A-Za-z0-9][A-Za-z0-9_.\-]{0,63}:[0-9a-f]{32})/(0|[1-9][0-9]{0,5})$,
// checked by hand (every message is checked on encode and decode;
// TestShapeChecksMatchTheirRegexps pins the equivalence).
func ParseRecordID(id string) (eventID string, index int, err error) {
	eventID, idx, ok := strings.Cut(id, "/")
	if !ok || !validEventID(eventID) || !validIndex(idx) {
		return "", 0, ErrInvalidRecordID
	}
	index, err = strconv.Atoi(idx)
	if err != nil {
		return "", 0, ErrInvalidRecordID
	}
	return eventID, index, nil
}

// validEventID: a valid source, ':', 32 lower-case hex digits.
func validEventID(s string) bool {
	src, hash, ok := strings.Cut(s, ":")
	return ok && ValidSource(src) && len(hash) == eventHashHex && isLowerHex(hash)
}

// validIndex: 0, or up to six digits without a leading zero.
func validIndex(s string) bool {
	return s == "0" || len(s) >= 1 && len(s) <= 6 && s[0] != '0' && isDigits(s)
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// subjectDomain separates subject keys from every other keyed hash made
// with the same key (pseudonyms, field digests).
const subjectDomain = "novamed-bridge/subject/v1"

// SubjectKey returns the key of one person: "sub:<32 hex digits>", an
// HMAC-SHA256 under key (the deployment's pseudonym-key) of the parts that
// identify them: ("npi", <npi>) for a practitioner, across every source;
// ("source", <name>, <what>...) for a patient within one source (a FHIR
// Type/id, a configured identifier system and value, a form's identifying
// field). The parts can be PHI (an MRN, an email), so the key is keyed and
// the parts never leave intake: a plain hash of an MRN could be reversed
// by trying them all.
func SubjectKey(key []byte, parts ...string) string {
	return subjectKey(hmac.New(sha256.New, key), parts)
}

// subjectKey is SubjectKey with the keyed MAC m, reset first.
func subjectKey(m hash.Hash, parts []string) string {
	n := 8 + len(subjectDomain) + sha256.Size
	for _, p := range parts {
		n += 8 + len(p)
	}
	buf := appendField(make([]byte, 0, n), subjectDomain)
	for _, p := range parts {
		buf = appendField(buf, p)
	}
	m.Reset()
	_, _ = m.Write(buf)
	return "sub:" + hexPrefix(m.Sum(buf[:0]), eventHashHex)
}

// fieldDomain separates field digests from every other keyed hash made
// with the same key.
const fieldDomain = "novamed-bridge/field/v1"

// FieldDigests returns keyed digests (16 hex digits) of the non-empty
// fields of a NovaMed body, by field name: what the ledger compares to tell
// an unchanged person from a changed one without holding a value. Intake
// computes them from the record as mapped, before de-identification (a
// changed email would otherwise change every synthetic name). Intake,
// which holds the record itself, uses RecordDigests.
func FieldDigests(key []byte, body []byte) (map[string]string, error) {
	var fields map[string]string
	if err := json.Unmarshal(body, &fields); err != nil {
		return nil, malformed("record", ReasonWrongType)
	}
	out := make(map[string]string, len(fields))
	// One keyed MAC, reset per field: the same digests as a new MAC per
	// field, without deriving the key's pads again for each.
	m := hmac.New(sha256.New, key)
	var buf []byte
	for name, v := range fields {
		if v != "" {
			out[name], buf = fieldDigest(m, buf, name, v)
		}
	}
	return out, nil
}
