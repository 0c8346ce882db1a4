package webhookauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks header names (https://www.standardwebhooks.com).
const (
	HeaderWebhookID        = "webhook-id"
	HeaderWebhookTimestamp = "webhook-timestamp"
	HeaderWebhookSignature = "webhook-signature"
)

// standardSecretPrefix marks a Standard Webhooks secret; what follows is
// the key in standard base64.
const standardSecretPrefix = "whsec_"

// maxTimestampDigits allows any plausible Unix time in seconds while keeping
// the parsed value far from int64 overflow when compared with now.
const maxTimestampDigits = 18

// standardSigLen is the length of a SHA-256 MAC in padded standard base64.
var standardSigLen = base64.StdEncoding.EncodedLen(sha256.Size)

// StandardWebhooks verifies requests signed as the Standard Webhooks
// specification describes: HMAC-SHA256 over "id.timestamp.body", base64,
// in a space-separated list of "v1,<signature>" entries. Entries of other
// versions are ignored. Several secrets may be configured, for rotation.
type StandardWebhooks struct {
	keys          *keyring
	tolerance     time.Duration
	maxSignatures int
}

var _ Verifier = (*StandardWebhooks)(nil)

// NewStandardWebhooks returns a verifier for the given secrets, each either
// "whsec_<base64>" or the bare base64 key, at least MinSecretBytes long once
// decoded. Options: WithTolerance, WithMaxSignatures.
func NewStandardWebhooks(secrets []string, opts ...Option) (*StandardWebhooks, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	kr, err := buildKeyring(secrets, decodeStandardSecret)
	if err != nil {
		return nil, err
	}
	return &StandardWebhooks{keys: kr, tolerance: o.tolerance, maxSignatures: o.maxSignatures}, nil
}

func decodeStandardSecret(s string) ([]byte, error) {
	if err := checkSecretText(s); err != nil {
		return nil, err
	}
	key, err := base64.StdEncoding.Strict().DecodeString(strings.TrimPrefix(s, standardSecretPrefix))
	if err != nil {
		return nil, ErrInvalidSecret
	}
	if len(key) < MinSecretBytes {
		return nil, ErrWeakSecret
	}
	return key, nil
}

// Verify checks the webhook-id, webhook-timestamp and webhook-signature
// headers against body. On success, Verified.EventID is the webhook-id.
func (v *StandardWebhooks) Verify(h http.Header, body []byte, now time.Time) (Verified, error) {
	id := headerValue(h, HeaderWebhookID)
	ts := headerValue(h, HeaderWebhookTimestamp)
	sigs := headerValues(h, HeaderWebhookSignature)
	switch {
	case id == "":
		return Verified{}, ErrMissingEventID
	case ts == "":
		return Verified{}, ErrMissingTimestamp
	case len(sigs) == 0 || strings.TrimSpace(strings.Join(sigs, "")) == "":
		return Verified{}, ErrMissingSignature
	}
	if !validEventID(id) {
		return Verified{}, ErrMalformedEventID
	}
	sec, ok := parseTimestamp(ts)
	if !ok {
		return Verified{}, ErrMalformedTimestamp
	}
	// Whole seconds, both ways: a timestamp exactly tolerance away passes.
	tol := int64(v.tolerance / time.Second)
	if d := now.Unix() - sec; d > tol || d < -tol {
		return Verified{}, ErrTimestampOutOfTolerance
	}

	// One MAC per secret, computed once; each entry is compared with all.
	macs := make([][]byte, len(v.keys.keys))
	for i, k := range v.keys.keys {
		macs[i] = standardMAC(k, id, ts, body)
	}
	examined, checked, malformed := 0, false, false
	var decoded [sha256.Size + 1]byte // 44 base64 characters decode to at most 33 bytes
	for _, value := range sigs {
		for entry := range strings.FieldsSeq(value) {
			if examined == v.maxSignatures {
				break
			}
			examined++
			version, sig, ok := strings.Cut(entry, ",")
			if !ok {
				malformed = true
				continue
			}
			if version != "v1" {
				continue // v1a (asymmetric) and future versions: not ours to check
			}
			// A SHA-256 MAC in padded base64 is exactly this long; checking
			// first also keeps Decode within the buffer.
			if len(sig) != standardSigLen {
				malformed = true
				continue
			}
			n, err := base64.StdEncoding.Strict().Decode(decoded[:], []byte(sig))
			if err != nil || n != sha256.Size {
				malformed = true
				continue
			}
			checked = true
			if equalsAny(decoded[:sha256.Size], macs) {
				return Verified{EventID: id}, nil
			}
		}
	}
	if !checked && malformed {
		return Verified{}, ErrMalformedSignature
	}
	return Verified{}, ErrNoMatchingSignature
}

// validEventID accepts visible ASCII up to MaxEventIDLen bytes: the id
// travels on into queue message ids and ledger keys.
func validEventID(id string) bool {
	if len(id) > MaxEventIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// parseTimestamp accepts only canonical decimal seconds: the header string
// itself is signed, so "+1614265330" or "01614265330" would otherwise pass
// a numeric check and then sign differently from what the sender meant.
func parseTimestamp(s string) (int64, bool) {
	if s == "" || len(s) > maxTimestampDigits || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

func standardMAC(key []byte, id, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	writeParts(m, id, ts, body)
	return m.Sum(nil)
}

func writeParts(m hash.Hash, id, ts string, body []byte) {
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
}

// SignStandardWebhooks returns the webhook-signature value ("v1,<base64>")
// for body, as a Standard Webhooks sender computes it. secret is
// "whsec_<base64>" or bare base64. The local stack and tests sign requests
// with it.
func SignStandardWebhooks(secret, id string, ts time.Time, body []byte) (string, error) {
	key, err := decodeStandardSecret(secret)
	if err != nil {
		return "", err
	}
	mac := standardMAC(key, id, strconv.FormatInt(ts.Unix(), 10), body)
	return "v1," + base64.StdEncoding.EncodeToString(mac), nil
}

// StandardWebhooksHeader returns the three Standard Webhooks headers for a
// request carrying body: webhook-id, webhook-timestamp and a signature made
// with secret.
func StandardWebhooksHeader(secret, id string, ts time.Time, body []byte) (http.Header, error) {
	sig, err := SignStandardWebhooks(secret, id, ts, body)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set(HeaderWebhookID, id)
	h.Set(HeaderWebhookTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderWebhookSignature, sig)
	return h, nil
}

func (v StandardWebhooks) describe() string {
	return fmt.Sprintf("webhookauth.StandardWebhooks{secrets: %d [REDACTED], tolerance: %s}", v.keys.count(), v.tolerance)
}

// String describes the verifier without its secrets.
func (v StandardWebhooks) String() string { return v.describe() }

// GoString describes the verifier without its secrets, for %#v.
func (v StandardWebhooks) GoString() string { return v.describe() }

// Format describes the verifier without its secrets, whatever the verb.
func (v StandardWebhooks) Format(f fmt.State, _ rune) { writeRedacted(f, v.describe()) }

// LogValue logs the scheme and the number of secrets, never a secret.
func (v StandardWebhooks) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("scheme", SchemeStandardWebhooks),
		slog.Int("secrets", v.keys.count()),
		slog.Duration("tolerance", v.tolerance),
	)
}
